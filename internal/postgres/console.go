package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// The console's sign-ins and the users tab (migration 0011, directory/console.go).

// ConsoleSession implements directory.Store.
func (s *Store) ConsoleSession(ctx context.Context, org, id string) (*directory.StoredSession, error) {
	st := &directory.StoredSession{}
	err := s.pool.QueryRow(ctx, `SELECT id::text, user_id::text, secret_hash, created_at, last_seen_at
		FROM console_sessions WHERE org_id = $1 AND id = $2`, org, id).
		Scan(&st.ID, &st.UserID, &st.Hash, &st.Created, &st.LastSeen)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.ErrNotFound
	}
	st.Created, st.LastSeen = st.Created.UTC(), st.LastSeen.UTC()
	return st, err
}

// TouchSession implements directory.Store.
func (s *Store) TouchSession(ctx context.Context, org, id string, at time.Time) error {
	_, err := s.pool.Exec(ctx, `UPDATE console_sessions SET last_seen_at = greatest(last_seen_at, $3)
		WHERE org_id = $1 AND id = $2`, org, id, at)
	return err
}

// DeleteSession implements directory.Store.
func (s *Store) DeleteSession(ctx context.Context, org, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM console_sessions WHERE org_id = $1 AND id = $2`, org, id)
	if err == nil && tag.RowsAffected() == 0 {
		return directory.ErrNotFound
	}
	return err
}

// searchTextSQL is the users tab's text, as the index users_search holds it.
const searchTextSQL = "user_search_text(u.sign_in, u.user_name, u.display_name, u.given_name, u.family_name)"

// likeEscaper escapes LIKE's wildcards (and its escape character) in a search text.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// BrowseUsers implements directory.Store. The first page walks users_user_name_key; a text of
// three characters or more can use the trigram index users_search, and PostgreSQL chooses
// between walking the names until a page of matches is found (when many users match) and
// collecting the matches from the trigram index and sorting them (when few do). The query is
// planned with its values (an unnamed statement, never a cached generic plan), since the
// choice depends on how many users the text matches.
func (s *Store) BrowseUsers(ctx context.Context, org string, b directory.Browse) ([]*directory.User, error) {
	args := []any{pgx.QueryExecModeExec, org}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)-1)
	}
	where := "u.org_id = $1"
	if b.Text != "" {
		where += " AND " + searchTextSQL + " LIKE '%' || lower(" + arg(likeEscaper.Replace(b.Text)) + ") || '%'"
	}
	if b.Role != "" {
		where += " AND u.eff_org_role = " + arg(b.Role)
	}
	order := "lower(u.user_name)"
	switch {
	case b.Before != "":
		where += " AND lower(u.user_name) < lower(" + arg(b.Before) + ")"
		order += " DESC"
	case b.After != "":
		where += " AND lower(u.user_name) > lower(" + arg(b.After) + ")"
	}
	sql := fmt.Sprintf("%s WHERE %s ORDER BY %s LIMIT %d", s.users.selectFrom(b.Projection, false), where, order, b.Limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*directory.User
	for rows.Next() {
		u, err := s.users.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// IdentityUser implements directory.Tx.
func (t *tx) IdentityUser(issuer, subject string) (string, error) {
	var user string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT user_id::text FROM console_identities WHERE org_id = $1 AND issuer = $2 AND subject = $3`,
			t.org, issuer, subject).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				return rows.Scan(&user)
			}
			return rows.Err()
		})
	})
	if err == nil && user == "" {
		return "", directory.ErrNotFound
	}
	return user, err
}

// UsersBySignIn implements directory.Tx, through users_sign_in.
func (t *tx) UsersBySignIn(addr string) ([]string, error) {
	var out []string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT id::text FROM users WHERE org_id = $1 AND sign_in IS NOT NULL AND lower(sign_in) = lower($2) ORDER BY id`,
			t.org, addr).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	})
	return out, err
}

// HasIdentity implements directory.Tx.
func (t *tx) HasIdentity(user, issuer string) (bool, error) {
	var found bool
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT EXISTS (SELECT 1 FROM console_identities WHERE org_id = $1 AND user_id = $2 AND issuer = $3)`,
			t.org, user, issuer).QueryRow(func(row pgx.Row) error { return row.Scan(&found) })
	})
	return found, err
}

// BindIdentity implements directory.Tx.
func (t *tx) BindIdentity(b directory.Binding) error {
	t.queue(`INSERT INTO console_identities (org_id, issuer, subject, user_id) VALUES ($1, $2, $3, $4)`,
		t.org, b.Issuer, b.Subject, b.UserID)
	return nil
}

// InsertSession implements directory.Tx.
func (t *tx) InsertSession(s *directory.Session, hash []byte) error {
	t.queue(`INSERT INTO console_sessions (org_id, id, user_id, secret_hash, created_at, last_seen_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.org, s.ID, s.UserID, hash, s.Created, s.LastSeen)
	return nil
}

// PruneSessions implements directory.Tx.
func (t *tx) PruneSessions(user string, idleBefore, createdBefore time.Time) error {
	t.queue(`DELETE FROM console_sessions WHERE org_id = $1 AND user_id = $2 AND (last_seen_at < $3 OR created_at < $4)`,
		t.org, user, idleBefore, createdBefore)
	return nil
}

// EndSessions implements directory.Tx.
func (t *tx) EndSessions(users []string) error {
	t.queue(`DELETE FROM console_sessions WHERE org_id = $1 AND user_id = ANY($2::uuid[])`, t.org, users)
	return nil
}

// InsertLink implements directory.Tx.
func (t *tx) InsertLink(l *directory.Link, hash []byte) error {
	t.queue(`INSERT INTO console_links (org_id, id, user_id, secret_hash, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, t.org, l.ID, l.UserID, hash, l.Created, l.ExpiresAt)
	return nil
}

// PruneLinks implements directory.Tx.
func (t *tx) PruneLinks(user string, now time.Time) error {
	t.queue(`DELETE FROM console_links WHERE org_id = $1 AND user_id = $2 AND (used_at IS NOT NULL OR expires_at <= $3)`,
		t.org, user, now)
	return nil
}

// LockLink implements directory.Tx.
func (t *tx) LockLink(id string) (*directory.StoredLink, error) {
	var l *directory.StoredLink
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT id::text, user_id::text, secret_hash, created_at, expires_at, used_at
			FROM console_links WHERE org_id = $1 AND id = $2 FOR UPDATE`, t.org, id).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				l = &directory.StoredLink{}
				return rows.Scan(&l.ID, &l.UserID, &l.Hash, &l.Created, &l.ExpiresAt, &l.UsedAt)
			}
			return rows.Err()
		})
	})
	if err == nil && l == nil {
		return nil, directory.ErrNotFound
	}
	return l, err
}

// UseLink implements directory.Tx.
func (t *tx) UseLink(id string, at time.Time) error {
	t.queue(`UPDATE console_links SET used_at = $3 WHERE org_id = $1 AND id = $2`, t.org, id, at)
	return nil
}
