package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/notify"
)

// Notifications is the notification outbox (migration 0004) as delivery workers use it: the
// producers insert rows in the transactions of the changes they announce (journal.go).
type Notifications struct {
	pool *pgxpool.Pool
}

var _ notify.Queue = (*Notifications)(nil)

// NewNotifications returns the outbox over pool.
func NewNotifications(pool *pgxpool.Pool) *Notifications { return &Notifications{pool: pool} }

// Claim implements notify.Queue. The rows are locked FOR UPDATE SKIP LOCKED, so concurrent
// workers claim disjoint batches without waiting for each other, and a row stays locked (and
// invisible to other claims) until the batch commits or rolls back. The query walks the
// partial index notifications_due, which holds unsent rows only.
func (q *Notifications) Claim(ctx context.Context, limit int) (notify.Batch, error) {
	c, err := claim(ctx, q.pool, "notification", `SELECT n.org_id::text, n.id::text, o.name, n.user_id::text, n.recipient,
			n.recipient_name, n.language, n.kind, n.data, n.attempts, n.created_at
		FROM notifications n JOIN organizations o ON o.id = n.org_id
		WHERE n.sent_at IS NULL AND n.next_attempt_at <= now()
		ORDER BY n.next_attempt_at
		LIMIT $1
		FOR UPDATE OF n SKIP LOCKED`, limit, func(r pgx.CollectableRow) (notify.Notification, error) {
		var n notify.Notification
		var data []byte
		err := r.Scan(&n.OrgID, &n.ID, &n.OrgName, &n.UserID, &n.Recipient, &n.RecipientName,
			&n.Language, &n.Kind, &data, &n.Attempts, &n.CreatedAt)
		n.Data = data
		return n, err
	})
	if err != nil {
		return nil, err
	}
	return notificationBatch{c}, nil
}

// notificationBatch is a claimed batch of notifications.
type notificationBatch struct{ *claimed[notify.Notification] }

// Sent implements notify.Batch; attempts counts the successful send too.
func (c notificationBatch) Sent(ctx context.Context, n *notify.Notification) error {
	return c.mark(ctx, n.OrgID, n.ID, `UPDATE notifications SET sent_at = clock_timestamp(), attempts = attempts + 1
		WHERE org_id = $1 AND id = $2 AND sent_at IS NULL`)
}

// Failed implements notify.Batch. The next attempt is timed by the database's clock, the one
// claims compare with, so the workers' clocks do not matter.
func (c notificationBatch) Failed(ctx context.Context, n *notify.Notification, lastError string, retryIn time.Duration) error {
	return c.mark(ctx, n.OrgID, n.ID, `UPDATE notifications SET attempts = attempts + 1, last_error = $3,
			next_attempt_at = clock_timestamp() + $4 * interval '1 microsecond'
		WHERE org_id = $1 AND id = $2 AND sent_at IS NULL`, lastError, retryIn.Microseconds())
}
