package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/orgs"
)

// Product data of accounts (migration 0005), for orgs.Service. Each row references its user
// (org_id, user_id), so an insert for a user that does not exist, or is being deleted, fails
// on the foreign key, and the purge of a user deletes the user's product data with it (ON
// DELETE CASCADE).

// productDataErr maps a foreign key violation (the user does not exist) to orgs.ErrNotFound,
// or orgs.ErrNoOrg without the organization.
func (o *Orgs) productDataErr(ctx context.Context, org string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return err
}

// InsertMeeting implements orgs.Store. The details are answered as stored (jsonb: duplicate
// keys collapsed, keys reordered).
func (o *Orgs) InsertMeeting(ctx context.Context, org string, m orgs.Meeting) (*orgs.Meeting, error) {
	err := o.pool.QueryRow(ctx, `INSERT INTO meeting_history (org_id, user_id, id, topic, started_at, ended_at, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at, details::text`,
		org, m.UserID, m.ID, m.Topic, m.StartedAt, m.EndedAt, string(m.Details)).Scan(&m.Created, (*[]byte)(&m.Details))
	if err != nil {
		return nil, o.productDataErr(ctx, org, err)
	}
	m.Created = m.Created.UTC()
	return &m, nil
}

// InsertScheduledMeeting implements orgs.Store.
func (o *Orgs) InsertScheduledMeeting(ctx context.Context, org string, m orgs.ScheduledMeeting) (*orgs.ScheduledMeeting, error) {
	err := o.pool.QueryRow(ctx, `INSERT INTO scheduled_meetings (org_id, user_id, id, topic, starts_at, duration_min, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING created_at, details::text`,
		org, m.UserID, m.ID, m.Topic, m.StartsAt, m.DurationMin, string(m.Details)).Scan(&m.Created, (*[]byte)(&m.Details))
	if err != nil {
		return nil, o.productDataErr(ctx, org, err)
	}
	m.Created = m.Created.UTC()
	return &m, nil
}

// InsertProductRecord implements orgs.Store.
func (o *Orgs) InsertProductRecord(ctx context.Context, org string, r orgs.ProductRecord) (*orgs.ProductRecord, error) {
	err := o.pool.QueryRow(ctx, `INSERT INTO product_records (org_id, user_id, id, product, kind, payload, recorded_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING payload::text`,
		org, r.UserID, r.ID, r.Product, r.Kind, string(r.Payload), r.RecordedAt).Scan((*[]byte)(&r.Payload))
	if err != nil {
		return nil, o.productDataErr(ctx, org, err)
	}
	return &r, nil
}

// ListProductData implements orgs.Store. The user is checked in the snapshot the items are
// read from. Each branch of the union reads one user's rows through its primary key; the
// keyset condition (at, id) < cursor is pushed into every branch.
func (o *Orgs) ListProductData(ctx context.Context, org, user string, cursor orgs.ProductDataCursor, limit int) ([]orgs.ProductData, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("list product data: limit %d is not positive", limit)
	}
	var out []orgs.ProductData
	err := pgx.BeginTxFunc(ctx, o.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND id = $2)`, org, user).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return orgMissing(ctx, tx, org, orgs.ErrNotFound)
		}
		var curAt *time.Time
		var curID *string
		if !cursor.IsZero() {
			curAt, curID = &cursor.At, &cursor.ID
		}
		rows, err := tx.Query(ctx, `SELECT type, id::text, at, topic, ended_at, duration_min, doc, product, kind, created_at FROM (
				SELECT 'meeting' AS type, id, started_at AS at, topic, ended_at, NULL::integer AS duration_min,
					details::text AS doc, NULL::text AS product, NULL::text AS kind, created_at
				FROM meeting_history WHERE org_id = $1 AND user_id = $2
				UNION ALL
				SELECT 'scheduled_meeting', id, starts_at, topic, NULL, duration_min,
					details::text, NULL, NULL, created_at
				FROM scheduled_meetings WHERE org_id = $1 AND user_id = $2
				UNION ALL
				SELECT 'record', id, recorded_at, NULL, NULL, NULL,
					payload::text, product, kind, NULL
				FROM product_records WHERE org_id = $1 AND user_id = $2
			) items
			WHERE $3::timestamptz IS NULL OR (at, id) < ($3::timestamptz, $4::uuid)
			ORDER BY at DESC, id DESC
			LIMIT $5`, org, user, curAt, curID, limit)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.ProductData, error) {
			var (
				typ, id, doc         string
				at                   time.Time
				topic, product, kind *string
				endedAt, created     *time.Time
				durationMin          *int
			)
			if err := r.Scan(&typ, &id, &at, &topic, &endedAt, &durationMin, &doc, &product, &kind, &created); err != nil {
				return nil, err
			}
			at = at.UTC()
			switch typ {
			case orgs.TypeMeeting:
				m := &orgs.Meeting{Type: typ, ID: id, UserID: user, Topic: *topic, StartedAt: at,
					Details: []byte(doc), Created: created.UTC()}
				if endedAt != nil {
					e := endedAt.UTC()
					m.EndedAt = &e
				}
				return m, nil
			case orgs.TypeScheduledMeeting:
				return &orgs.ScheduledMeeting{Type: typ, ID: id, UserID: user, Topic: *topic, StartsAt: at,
					DurationMin: *durationMin, Details: []byte(doc), Created: created.UTC()}, nil
			default:
				return &orgs.ProductRecord{Type: typ, ID: id, UserID: user, Product: *product, Kind: *kind,
					Payload: []byte(doc), RecordedAt: at}, nil
			}
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
