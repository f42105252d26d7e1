package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/orgs"
)

// ListOrgs implements orgs.Store, through organizations_created.
func (o *Orgs) ListOrgs(ctx context.Context, after *orgs.OrgCursor, limit int) ([]orgs.OrgSummary, error) {
	args := []any{limit}
	where := ""
	if after != nil {
		where = "WHERE (created_at, id) > ($2, $3)"
		args = append(args, after.Created, after.ID)
	}
	rows, err := o.pool.Query(ctx, `SELECT id::text, name, default_locale, created_at FROM organizations `+where+`
		ORDER BY created_at, id LIMIT $1`, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.OrgSummary, error) {
		var s orgs.OrgSummary
		err := r.Scan(&s.ID, &s.Name, &s.DefaultLocale, &s.Created)
		s.Created = s.Created.UTC()
		return s, err
	})
}

// UpdateOrg implements orgs.Store.
func (o *Orgs) UpdateOrg(ctx context.Context, org string, ch orgs.OrgChange) error {
	tag, err := o.pool.Exec(ctx, `UPDATE organizations SET name = coalesce($2, name), default_locale = coalesce($3, default_locale)
		WHERE id = $1`, org, ch.Name, ch.DefaultLocale)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return orgs.ErrNoOrg
	}
	return nil
}

// purgeTimeout bounds an organization's purge, which deletes every row of it in one
// transaction and may take far longer than the statement timeout of a request.
const purgeTimeout = 30 * time.Minute

// DeleteOrg implements orgs.Store. The organization's row takes every table of it with it
// (foreign keys ON DELETE CASCADE, directly or through its users and groups); the event is
// queued first, to the endpoints about to go, and its deliveries carry their endpoint's URL
// and secret, so they outlive it.
func (o *Orgs) DeleteOrg(ctx context.Context, org string, p orgs.OrgPurge) error {
	note := tokenNote("o", org)
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT set_config('statement_timeout', $1, true)", strconv.FormatInt(purgeTimeout.Milliseconds(), 10)); err != nil {
			return err
		}
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE`, org).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return orgs.ErrNoOrg
		}
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(queueEventSQL, org, p.EventID, orgs.EventOrganizationPurged, p.Event)
		// Grants reference licensed products without a cascade (a granted product cannot be
		// withdrawn), so they go before the products do.
		b.Queue(`DELETE FROM group_mapping_products WHERE org_id = $1`, org)
		b.Queue(`DELETE FROM user_products WHERE org_id = $1`, org)
		b.Queue(`DELETE FROM organizations WHERE id = $1`, org)
		b.Queue(`INSERT INTO organization_tombstones (id, actor, request_id) VALUES ($1, $2, $3)`, org, p.Actor, p.RequestID)
		// Its tokens stop: at once here, and in other processes when they hear of it.
		b.Queue(`SELECT pg_notify($1, $2)`, tokenChannel, note)
		return tx.SendBatch(ctx, b).Close()
	})
	if err == nil && o.tokens != nil {
		o.tokens.drop(note)
	}
	return err
}
