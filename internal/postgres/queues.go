package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// QueueDepth is the state of one delivery queue (an outbox table): what is waiting, what of it
// is due, and how late the oldest due row is.
type QueueDepth struct {
	Queue string // "notifications" or "webhooks"
	// Pending rows are not delivered yet, due or waiting for a retry.
	Pending int64
	// Due rows are pending and their next attempt time has come.
	Due int64
	// OldestDueSeconds is how long the oldest due row has been due; 0 when none is.
	OldestDueSeconds float64
}

// QueueDepths reads both delivery queues in one statement. Both read only the rows of their
// partial "due" index (undelivered rows), so the cost grows with the backlog, not the history.
func QueueDepths(ctx context.Context, pool *pgxpool.Pool) ([]QueueDepth, error) {
	rows, err := pool.Query(ctx, `
		SELECT 'notifications', count(*), count(*) FILTER (WHERE next_attempt_at <= now()),
			COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)::float8
		FROM notifications WHERE sent_at IS NULL
		UNION ALL
		SELECT 'webhooks', count(*), count(*) FILTER (WHERE next_attempt_at <= now()),
			COALESCE(EXTRACT(EPOCH FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)::float8
		FROM webhook_deliveries WHERE delivered_at IS NULL`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (QueueDepth, error) {
		var q QueueDepth
		err := row.Scan(&q.Queue, &q.Pending, &q.Due, &q.OldestDueSeconds)
		return q, err
	})
}
