package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// claimed is a batch of rows of an outbox table (notifications, webhook deliveries), locked by
// the transaction that claimed them until it commits or rolls back; tx is nil for an empty
// batch. The delivery workers mark each row and then commit, so no two workers ever hold, or
// deliver, the same row.
type claimed[T any] struct {
	tx    pgx.Tx
	items []T
	what  string // names a row in errors: "notification", "webhook delivery"
}

// claim runs query (which must lock its rows FOR UPDATE SKIP LOCKED, so concurrent workers
// claim disjoint batches without waiting for each other) in a new transaction and keeps it open
// while the batch holds rows.
func claim[T any](ctx context.Context, pool *pgxpool.Pool, what, query string, limit int,
	scan func(pgx.CollectableRow) (T, error)) (*claimed[T], error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim: limit %d is not positive", limit)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, query, limit)
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	items, err := pgx.CollectRows(rows, scan)
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	if len(items) == 0 {
		// Nothing to hold: end the transaction at once.
		return &claimed[T]{what: what}, tx.Rollback(ctx)
	}
	return &claimed[T]{tx: tx, items: items, what: what}, nil
}

// Items returns the claimed rows.
func (c *claimed[T]) Items() []T { return c.items }

// mark runs one UPDATE of the claimed row (org, id) and requires it to touch the row; its
// first two parameters are org and id.
func (c *claimed[T]) mark(ctx context.Context, org, id, sql string, args ...any) error {
	if c.tx == nil {
		return fmt.Errorf("%s batch: nothing claimed", c.what)
	}
	tag, err := c.tx.Exec(ctx, sql, append([]any{org, id}, args...)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("%s %s is no longer queued", c.what, id)
	}
	return nil
}

// Commit ends the batch, keeping its marks.
func (c *claimed[T]) Commit(ctx context.Context) error {
	if c.tx == nil {
		return nil
	}
	return c.tx.Commit(ctx)
}

// Rollback ends the batch, dropping its marks: its rows are due again.
func (c *claimed[T]) Rollback(ctx context.Context) error {
	if c.tx == nil {
		return nil
	}
	err := c.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}
