package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
)

// row is pool.QueryRow for a read outside a transaction that runs once more, on another
// connection, when the connection failed under it (readAgain). After PostgreSQL restarts, fails
// over or terminates a backend, the pool still holds connections used within the last second,
// which it does not ping before reuse; without this the first read on each answered 503. A
// read changes nothing, so unlike a change (Store.Update, which repeats only what never
// reached the server) it may run again whether or not the server saw it.
func (s *Store) row(ctx context.Context, sql string, args ...any) pgx.Row {
	return retriedRow{ctx: ctx, pool: s.pool, sql: sql, args: args}
}

type retriedRow struct {
	ctx  context.Context
	pool *pgxpool.Pool
	sql  string
	args []any
}

func (r retriedRow) Scan(dest ...any) error {
	err := r.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	if readAgain(r.ctx, err) {
		err = r.pool.QueryRow(r.ctx, r.sql, r.args...).Scan(dest...)
	}
	return err
}

// readBatch sends the reads that queue puts in a batch, outside a transaction, and sends them
// once more on another connection when the connection failed under them (readAgain), as row
// does for one read. queue runs anew for the second attempt: it must reset what its reads fill.
func (s *Store) readBatch(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	queue(b)
	err := s.pool.SendBatch(ctx, b).Close()
	if readAgain(ctx, err) {
		b = &pgx.Batch{}
		queue(b)
		err = s.pool.SendBatch(ctx, b).Close()
	}
	return err
}

// readAgain reports whether a read that failed with err should run once more: the database was
// unavailable to it (Unavailable: its connection lost or closed, its backend terminated...)
// while the caller still waits. Not when the pool had no connection to give in time or is
// closed, nor for a statement that ran into statement_timeout: another attempt would only add
// to the load that caused them.
func readAgain(ctx context.Context, err error) bool {
	// No rows is the common answer of a lookup (an identity provider asking whether a user
	// exists before it creates one): told apart before the error chain is walked.
	if err == nil || err == pgx.ErrNoRows || ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, puddle.ErrClosedPool) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" { // query_canceled: statement_timeout
		return false
	}
	return Unavailable(err)
}
