package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// The console's sign-ins and the users tab (migration 0011, directory/console.go).

// ConsoleSession implements directory.Store.
func (s *Store) ConsoleSession(ctx context.Context, org, id string) (*directory.StoredSession, error) {
	st := &directory.StoredSession{}
	err := s.row(ctx, `SELECT id::text, user_id::text, secret_hash, created_at, last_seen_at
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

// The users tab's walk (migration 0011 defines the text and the index users_search).
const (
	searchTextSQL = "user_search_text(u.sign_in, u.user_name, u.display_name, u.given_name, u.family_name)"
	// browseWindow is how many users, in order, the first step of a text search reads at
	// most.
	browseWindow = 10000
	// browseSample is how many users having the text the second step reads at most.
	browseSample = 5000
)

// BrowseUsers implements directory.Store, in at most two steps whose cost does not grow with
// the organization, a text search of any frequency answering in tens of milliseconds at a
// million users (README, "The Organization Center"):
//
//  1. Up to browseWindow users are read in order (users_user_name_key), testing the text on
//     each, until a page of them have it: a text that one user in 200 has fills the page
//     there.
//  2. Else the users after the window that have the text are looked up in the trigram index
//     users_search, and sorted. Their number is bounded: the bitmap scan stops after
//     browseSample of them, in the order of the table. A text that one user in 200 has at
//     most (5,000 of a million) is found whole; with more, the page lists the first by name
//     among those read, and is partial. That takes a text common overall but rare where the
//     walk had reached, as a part of a given name that thousands of users starting with "k"
//     have, and finding the first by name among all of them would read them all.
//
// PostgreSQL, left to itself, would choose between walking and looking up by the share of users
// it expects to have the text, and cannot know where in the order they are: it would walk
// from "a" for a text that users starting with "s" have, or read and sort a hundred thousand
// matches. A text without three letters or digits in a row (punctuation included, see the
// migration) has no trigram to look up, so it is only walked, as is a list without text.
// Queries are planned with their values (unnamed statements, never a generic cached plan).
func (s *Store) BrowseUsers(ctx context.Context, org string, b directory.Browse) ([]*directory.User, bool, error) {
	if b.Text == "" || !searchable(b.Text) {
		users, err := s.browse(ctx, org, b)
		return users, false, err
	}
	ids, end, full, err := s.browseHead(ctx, org, b)
	if err != nil {
		return nil, false, err
	}
	ids = ids[:min(len(ids), b.Limit)]
	partial := false
	if len(ids) < b.Limit && full {
		rest := b
		rest.Limit = b.Limit - len(ids)
		if b.Before != "" {
			rest.Before = end
		} else {
			rest.After = end
		}
		var more []string
		if more, partial, err = s.browseSample(ctx, org, rest); err != nil {
			return nil, false, err
		}
		ids = append(ids, more...)
	}
	users, err := s.usersByID(ctx, org, ids, b)
	return users, partial, err
}

// searchable tells whether a search text has a trigram pg_trgm can look up: three letters,
// digits or translated punctuation in a row.
func searchable(text string) bool {
	run := 0
	for _, r := range text {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".@-_+' ", r) {
			if run++; run == 3 {
				return true
			}
		} else {
			run = 0
		}
	}
	return false
}

// browseWhere is the condition of a walk and the arguments it refers to ($1 is the
// organization), and its order. The statement is unnamed, so planned with its values; it is
// described before it runs, so that its rows come in the binary format user reads decode
// (wire.go), at the cost of a round trip.
func browseWhere(org string, b directory.Browse) (where, order string, args []any) {
	args = []any{pgx.QueryExecModeDescribeExec, org}
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args)-1)
	}
	where, order = "u.org_id = $1", "lower(u.user_name)"
	switch {
	case b.Before != "":
		where += " AND lower(u.user_name) < lower(" + arg(b.Before) + ")"
		order += " DESC"
	case b.After != "":
		where += " AND lower(u.user_name) > lower(" + arg(b.After) + ")"
	}
	if b.Role != "" {
		where += " AND u.eff_org_role = " + arg(b.Role)
	}
	if b.Text != "" {
		where += " AND " + searchTextSQL + " LIKE user_search_pattern(" + arg(b.Text) + ")"
	}
	return where, order, args
}

// browse reads a page of the walk, as PostgreSQL chooses to.
func (s *Store) browse(ctx context.Context, org string, b directory.Browse) ([]*directory.User, error) {
	where, order, args := browseWhere(org, b)
	return s.readUsers(ctx, fmt.Sprintf("%s WHERE %s ORDER BY %s LIMIT %d", s.users.selectFrom(b.Projection, false), where, order, b.Limit), args)
}

// browseSample is step 2: the ids of the first b.Limit users by name among at most
// browseSample that have the text, found in the trigram index (the settings keep PostgreSQL
// from walking an index in order or reading the whole table instead); partial tells that
// there were more.
func (s *Store) browseSample(ctx context.Context, org string, b directory.Browse) (ids []string, partial bool, err error) {
	where, order, args := browseWhere(org, b)
	order = strings.Replace(order, "lower(u.user_name)", "s.k", 1)
	sql := fmt.Sprintf(`SELECT s.id, s.n FROM (SELECT m.id, m.k, count(*) OVER () AS n FROM (
			SELECT u.id::text AS id, lower(u.user_name) AS k FROM users u WHERE %s LIMIT %d) m) s
		ORDER BY %s LIMIT %d`, where, browseSample, order, b.Limit)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off"); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			ids, partial = append(ids, id), n == browseSample
		}
		return rows.Err()
	})
	return ids, partial, err
}

// browseHead is step 1: the ids of the users of the window that have the text, in order, at
// most b.Limit; the userName of the window's last user; and whether the window was read to its
// end and was full (more users may follow). The window streams: it stops as soon as a page of
// users having the text is found.
func (s *Store) browseHead(ctx context.Context, org string, b directory.Browse) (ids []string, end string, full bool, err error) {
	text, role := b.Text, b.Role
	b.Text, b.Role = "", ""
	where, order, args := browseWhere(org, b)
	hit := []string{searchTextSQL + " LIKE user_search_pattern($" + fmt.Sprint(len(args)) + ")"}
	args = append(args, text)
	if role != "" {
		hit = append(hit, "u.eff_org_role = $"+fmt.Sprint(len(args)))
		args = append(args, role)
	}
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT w.id, w.user_name, w.hit, w.n FROM (
			SELECT u.id::text AS id, u.user_name, %s AS hit, row_number() OVER (ORDER BY %s) AS n
			FROM users u WHERE %s ORDER BY %s LIMIT %d) w
		WHERE w.hit OR w.n = %d LIMIT %d`,
		strings.Join(hit, " AND "), order, where, order, browseWindow, browseWindow, b.Limit), args...)
	if err != nil {
		return nil, "", false, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, name string
		var match bool
		var n int
		if err := rows.Scan(&id, &name, &match, &n); err != nil {
			return nil, "", false, err
		}
		if match {
			ids = append(ids, id)
		}
		if n == browseWindow {
			end, full = name, true
		}
	}
	return ids, end, full, rows.Err()
}

// usersByID reads users by id, in the walk's order.
func (s *Store) usersByID(ctx context.Context, org string, ids []string, b directory.Browse) ([]*directory.User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	order := "lower(u.user_name)"
	if b.Before != "" {
		order += " DESC"
	}
	return s.readUsers(ctx, s.users.selectFrom(b.Projection, false)+" WHERE u.org_id = $1 AND u.id = ANY($2::uuid[]) ORDER BY "+order,
		[]any{org, ids})
}

func (s *Store) readUsers(ctx context.Context, sql string, args []any) ([]*directory.User, error) {
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
