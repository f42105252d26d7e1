package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/webhook"
)

// Webhook endpoints (for orgs.Service) and the delivery queue (for webhook.Worker), migration
// 0005. Deliveries are inserted by the purge, in its transaction (users.go).

// InsertWebhook implements orgs.Store. The organization's row is locked (FOR NO KEY UPDATE,
// which foreign key checks do not wait for) so that two registrations of one URL cannot both
// pass the check for an existing one.
func (o *Orgs) InsertWebhook(ctx context.Context, org string, w orgs.Webhook, secret string) (*orgs.Webhook, error) {
	out := w
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, org).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return orgs.ErrNoOrg
		}
		if err != nil {
			return err
		}
		var existing string
		err = tx.QueryRow(ctx, `SELECT id::text FROM webhook_endpoints WHERE org_id = $1 AND url = $2
			ORDER BY created_at LIMIT 1`, org, w.URL).Scan(&existing)
		if err == nil {
			return &orgs.WebhookExistsError{ID: existing}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO webhook_endpoints (org_id, id, url, secret) VALUES ($1, $2, $3, $4)
			RETURNING created_at`, org, w.ID, w.URL, secret).Scan(&out.Created); err != nil {
			return orgsPgError(err)
		}
		out.Created = out.Created.UTC()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListWebhooks implements orgs.Store: oldest first.
func (o *Orgs) ListWebhooks(ctx context.Context, org string) ([]orgs.Webhook, error) {
	if err := orgMissing(ctx, o.pool, org, nil); err != nil {
		return nil, err
	}
	rows, err := o.pool.Query(ctx, `SELECT id::text, url, created_at FROM webhook_endpoints
		WHERE org_id = $1 ORDER BY created_at, id`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.Webhook, error) {
		var w orgs.Webhook
		err := r.Scan(&w.ID, &w.URL, &w.Created)
		w.Created = w.Created.UTC()
		return w, err
	})
	if out == nil && err == nil {
		out = []orgs.Webhook{}
	}
	return out, err
}

// DeleteWebhook implements orgs.Store. The endpoint's deliveries not made yet go with it; one a
// worker is attempting is deleted once the attempt is recorded.
func (o *Orgs) DeleteWebhook(ctx context.Context, org, id string) error {
	var n int64
	err := pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM webhook_endpoints WHERE org_id = $1 AND id = $2`, org, id)
		if err != nil {
			return err
		}
		if n = tag.RowsAffected(); n == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `DELETE FROM webhook_deliveries WHERE org_id = $1 AND endpoint_id = $2 AND delivered_at IS NULL`, org, id)
		return err
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return nil
}

// WebhookQueue is the webhook delivery queue as workers use it.
type WebhookQueue struct {
	pool *pgxpool.Pool
}

var _ webhook.Queue = (*WebhookQueue)(nil)

// NewWebhookQueue returns the delivery queue over pool.
func NewWebhookQueue(pool *pgxpool.Pool) *WebhookQueue { return &WebhookQueue{pool: pool} }

// Claim implements webhook.Queue. The rows are locked FOR UPDATE SKIP LOCKED, so concurrent
// workers claim disjoint batches without waiting for each other, and a row stays locked (and
// invisible to other claims) until the batch commits or rolls back; a worker that claims a row
// just marked and committed by another re-checks it and skips it. The query walks the partial
// index webhook_deliveries_due, which holds undelivered rows only. The payload is read as
// text: the bytes sent and signed.
func (q *WebhookQueue) Claim(ctx context.Context, limit int) (webhook.Batch, error) {
	c, err := claim(ctx, q.pool, "webhook delivery", `SELECT d.org_id::text, d.id::text, d.endpoint_id::text, d.event_id::text,
			d.event_type, d.payload::text, d.attempts, d.created_at, d.url, d.secret
		FROM webhook_deliveries d
		WHERE d.delivered_at IS NULL AND d.next_attempt_at <= now()
		ORDER BY d.next_attempt_at
		LIMIT $1
		FOR UPDATE OF d SKIP LOCKED`, limit, func(r pgx.CollectableRow) (webhook.Delivery, error) {
		var d webhook.Delivery
		var payload string
		err := r.Scan(&d.OrgID, &d.ID, &d.EndpointID, &d.EventID, &d.EventType, &payload, &d.Attempts,
			&d.Created, &d.URL, &d.Secret)
		d.Payload = []byte(payload)
		d.Created = d.Created.UTC()
		return d, err
	})
	if err != nil {
		return nil, err
	}
	return deliveryBatch{c}, nil
}

// deliveryBatch is a claimed batch of webhook deliveries.
type deliveryBatch struct{ *claimed[webhook.Delivery] }

// Delivered implements webhook.Batch; attempts counts the successful attempt too.
func (c deliveryBatch) Delivered(ctx context.Context, d *webhook.Delivery) error {
	return c.mark(ctx, d.OrgID, d.ID, `UPDATE webhook_deliveries SET delivered_at = clock_timestamp(), attempts = attempts + 1
		WHERE org_id = $1 AND id = $2 AND delivered_at IS NULL`)
}

// Failed implements webhook.Batch. The next attempt is timed by the database's clock, the one
// claims compare with.
func (c deliveryBatch) Failed(ctx context.Context, d *webhook.Delivery, lastError string, retryIn time.Duration) error {
	return c.mark(ctx, d.OrgID, d.ID, `UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $3,
			next_attempt_at = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE org_id = $1 AND id = $2 AND delivered_at IS NULL`, lastError, retryIn.Microseconds())
}
