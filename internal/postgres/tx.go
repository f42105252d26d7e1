package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/directory"
)

// tx implements directory.Tx on one connection. It pipelines: writes are queued and sent with
// the next read or with the COMMIT, and the transaction's BEGIN and its read of the
// organization's settings, or the check that the settings the store kept are current
// (orgcache.go), go with its first read. A PATCH of a user is then two round trips: BEGIN,
// settings, lock and read of the user; then the writes and COMMIT. A create, whose rules need
// only the settings before its writes, is one when the settings are kept.
type tx struct {
	ctx   context.Context
	s     *Store
	conn  *pgx.Conn
	org   string
	began bool
	done  bool
	// implicit marks a transaction sent whole in one round trip, without BEGIN and COMMIT
	// (commit).
	implicit bool
	// queued are the writes not sent yet; each may carry a function that reads its result.
	queued *pgx.Batch
	// settings are the organization's settings as first read (nil before).
	settings *directory.Org
	orgFound bool
	// cached says that settings are the store's kept copy, at version: the transaction's first
	// round trip checks that they are current instead of reading them.
	cached  bool
	version int64
	// notes are the token cache notifications the transaction sends; they are applied to
	// this process's cache as soon as it commits (tokencache.go).
	notes []string
}

// notifyTokens sends a token cache notification with the commit, for each note.
func (t *tx) notifyTokens(notes ...string) {
	t.notes = append(t.notes, notes...)
	t.queue(`SELECT pg_notify($1, n) FROM unnest($2::text[]) AS n`, tokenChannel, notes)
}

// errStale ends an attempt whose guarded write found the row changed since it was read; the
// store runs the attempt again.
var errStale = errors.New("changed concurrently")

// queue adds a write to be sent with the next round trip.
func (t *tx) queue(sql string, args ...any) *pgx.QueuedQuery {
	return t.queued.Queue(sql, args...)
}

// send sends the queued writes, then the statements add queues, in one round trip. The first
// round trip of the transaction begins it and reads the organization's settings.
func (t *tx) send(add func(b *pgx.Batch)) error {
	b := t.queued
	t.queued = &pgx.Batch{}
	if !t.began {
		first := &pgx.Batch{}
		if !t.implicit {
			first.Queue("BEGIN")
		}
		if t.useCached(); t.cached {
			first.Queue("SELECT org_settings_unchanged($1, $2)", t.org, t.version)
		} else {
			t.readSettings(first, true)
		}
		first.QueuedQueries = append(first.QueuedQueries, b.QueuedQueries...)
		b = first
		t.began = true
	}
	if add != nil {
		add(b)
	}
	if b.Len() == 0 {
		return nil
	}
	return mapErr(t.conn.SendBatch(t.ctx, b).Close())
}

// commit sends what is queued with the COMMIT. A transaction that sent nothing before (a
// create, on kept settings) is sent whole in one round trip without BEGIN and COMMIT:
// PostgreSQL runs the statements of a pipeline up to its Sync, which pgx sends once after a
// batch, as one implicit transaction, committed at the Sync, or rolled back if one fails.
func (t *tx) commit() error {
	if !t.began && t.queued.Len() == 0 {
		t.done = true
		return nil
	}
	if !t.began {
		return t.sendWhole()
	}
	err := t.send(func(b *pgx.Batch) { b.Queue("COMMIT") })
	t.done = err == nil
	return err
}

// sendWhole sends the transaction, which has sent nothing yet, as one implicit transaction;
// whatever its outcome, nothing is left open on the connection.
func (t *tx) sendWhole() error {
	t.implicit = true
	err := t.send(nil)
	t.done = true
	return err
}

// rollback ends a transaction that did not commit. It runs even when the request's context is
// gone, so that the connection goes back to the pool clean, but not for longer than
// rollbackTimeout: on a connection whose network went silent it would wait forever, and a
// connection whose ROLLBACK failed is closed, not reused.
func (t *tx) rollback() {
	if !t.began || t.done {
		return
	}
	t.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), rollbackTimeout)
	defer cancel()
	_, _ = t.conn.Exec(ctx, "ROLLBACK")
}

const rollbackTimeout = 5 * time.Second

// mapErr turns violations of the constraints that keep the data whole into the errors the
// directory explains; anything else is returned as it is.
func mapErr(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case "23505": // unique_violation
		switch pgErr.ConstraintName {
		case "users_user_name_key":
			return directory.ErrUserNameTaken
		case "groups_display_name_key":
			return directory.ErrDisplayNameTaken
		case "console_identities_pkey", "console_identities_org_id_user_id_issuer_key":
			return directory.ErrBound
		}
	case "23503": // foreign_key_violation
		switch pgErr.TableName {
		case "user_products", "group_mapping_products":
			return directory.ErrNotLicensed
		case "group_members", "users", "tokens", "console_identities", "console_sessions", "console_links":
			// A member, a manager, a token's issuer, or the user a console sign-in is for,
			// that was deleted while the change ran.
			return directory.ErrGone
		}
	case "40P01", "40001": // deadlock_detected, serialization_failure
		return errRetry
	}
	return err
}

// errRetry marks a transaction that PostgreSQL aborted for a conflict with a concurrent one;
// it is run again.
var errRetry = errors.New("transaction conflicted with a concurrent one")

// useCached takes the organization's settings from the store's cache, if it has them, before
// the transaction begins.
func (t *tx) useCached() {
	if t.began || t.cached {
		return
	}
	if o, ok := t.s.orgs.get(t.org); ok {
		t.settings, t.orgFound, t.cached, t.version = o.settings, true, true, o.version
	}
}

// Org implements directory.Tx. With settings kept by the store it costs no round trip: the check
// that they are current goes with the transaction's first statements.
func (t *tx) Org() (*directory.Org, error) {
	if t.useCached(); !t.began && !t.cached {
		if err := t.send(nil); err != nil {
			return nil, err
		}
	}
	if !t.orgFound {
		return nil, directory.ErrNoOrg
	}
	return t.settings, nil
}

// LockOrg implements directory.Tx: the lock first, then the settings in a statement of its own,
// which sees whatever the transaction that held the lock committed.
func (t *tx) LockOrg() (*directory.Org, error) {
	err := t.send(func(b *pgx.Batch) {
		b.Queue("SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE", t.org)
		t.readSettings(b, false)
	})
	if err != nil {
		return nil, err
	}
	if !t.orgFound {
		return nil, directory.ErrNoOrg
	}
	return t.settings, nil
}

// readSettings queues a read of the organization's settings into t.settings. With keep, the
// store keeps them too: only for a read that comes before the transaction's own writes, which
// could otherwise give the cache a version that its rollback would leave to another state.
func (t *tx) readSettings(b *pgx.Batch, keep bool) {
	b.Queue(orgSettingsSQL, t.org).Query(func(rows pgx.Rows) error {
		t.orgFound = false
		for rows.Next() {
			o, err := scanOrgSettings(rows)
			if err != nil {
				return err
			}
			t.settings, t.orgFound = o.settings, true
			if keep {
				t.s.orgs.put(t.org, o)
			}
		}
		return rows.Err()
	})
}
