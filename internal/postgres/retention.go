package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Retention deletes old rows for internal/retention, a batch per statement through the
// indexes on time (audit_log_at leads with org_id, so the audit prune walks it per
// organization; delivered rows have no index of their own and are few compared with the
// audit log).
type Retention struct {
	pool *pgxpool.Pool
}

// NewRetention returns the pruning over pool.
func NewRetention(pool *pgxpool.Pool) *Retention { return &Retention{pool: pool} }

// PruneAudit implements retention.Store.
func (r *Retention) PruneAudit(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := r.pool.Exec(ctx, `DELETE FROM audit_log a USING (
			SELECT a.org_id, a.id FROM organizations o
			CROSS JOIN LATERAL (SELECT l.org_id, l.id FROM audit_log l WHERE l.org_id = o.id AND l.at < $1
				ORDER BY l.at LIMIT $2) a
			LIMIT $2) old
		WHERE a.org_id = old.org_id AND a.id = old.id`, before, limit)
	return tag.RowsAffected(), err
}

// PruneDelivered implements retention.Store.
func (r *Retention) PruneDelivered(ctx context.Context, before time.Time, limit int) (int64, error) {
	var total int64
	for _, sql := range []string{
		`DELETE FROM notifications n USING (SELECT org_id, id FROM notifications WHERE sent_at < $1 LIMIT $2) old
			WHERE n.org_id = old.org_id AND n.id = old.id`,
		`DELETE FROM webhook_deliveries d USING (SELECT org_id, id FROM webhook_deliveries WHERE delivered_at < $1 LIMIT $2) old
			WHERE d.org_id = old.org_id AND d.id = old.id`,
	} {
		tag, err := r.pool.Exec(ctx, sql, before, limit)
		total += tag.RowsAffected()
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
