package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// Provisioning tokens (migrations 0001 and 0006): stored hashed, each either acting as the user
// who issued it or a service token with a role of its own.

const tokenColumns = `t.id::text, coalesce(t.issuer_user_id::text, ''), coalesce(t.role, ''), t.label, t.created_at,
	t.expires_at, t.revoked_at`

func scanToken(row pgx.Row, extra ...any) (directory.Token, error) {
	var t directory.Token
	if err := row.Scan(append([]any{&t.ID, &t.IssuerUserID, &t.Role, &t.Label, &t.Created, &t.ExpiresAt, &t.RevokedAt}, extra...)...); err != nil {
		return t, err
	}
	t.Created = t.Created.UTC()
	for _, p := range []**time.Time{&t.ExpiresAt, &t.RevokedAt} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return t, nil
}

// Token implements directory.Store: the token and its issuer's state, from the token cache or
// in one indexed read.
func (s *Store) Token(ctx context.Context, org, id string) (*directory.StoredToken, error) {
	now := time.Now()
	if st, gen := s.tokens.get(org, id, now); st != nil {
		return st, nil
	} else if st, err := s.readToken(ctx, org, id); err != nil {
		return nil, err
	} else {
		s.tokens.put(st, org, gen, now)
		return st, nil
	}
}

func (s *Store) readToken(ctx context.Context, org, id string) (*directory.StoredToken, error) {
	st := &directory.StoredToken{}
	var role *string
	var active *bool
	tok, err := scanToken(s.row(ctx, `SELECT `+tokenColumns+`, t.secret_hash, u.eff_org_role, u.active
		FROM tokens t LEFT JOIN users u ON u.org_id = t.org_id AND u.id = t.issuer_user_id
		WHERE t.org_id = $1 AND t.id = $2`, org, id), &st.Hash, &role, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	st.Token = tok
	st.IssuerFound = active != nil
	st.IssuerActive = active != nil && *active
	if role != nil {
		st.IssuerRole = *role
	}
	return st, nil
}

// Tokens implements directory.Store: oldest first.
func (s *Store) Tokens(ctx context.Context, org string) ([]directory.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens t WHERE t.org_id = $1 ORDER BY t.created_at, t.id`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return []directory.Token{}, s.orgExists(ctx, org, nil)
	}
	return out, nil
}

// InsertToken implements directory.Tx.
func (t *tx) InsertToken(tok *directory.Token, hash []byte) error {
	t.queue(`INSERT INTO tokens (org_id, id, secret_hash, issuer_user_id, role, label, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.org, tok.ID, hash, nullIfEmpty(tok.IssuerUserID), nullIfEmpty(tok.Role),
		tok.Label, tok.Created, tok.ExpiresAt)
	return nil
}

// RevokeToken implements directory.Tx.
func (t *tx) RevokeToken(id string, at time.Time) (*directory.Token, error) {
	var out *directory.Token
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`UPDATE tokens t SET revoked_at = coalesce(revoked_at, $3) WHERE org_id = $1 AND id = $2 RETURNING `+tokenColumns,
			t.org, id, at).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				tok, err := scanToken(rows)
				out = &tok
				return err
			}
			return rows.Err()
		})
	})
	if err == nil && out == nil {
		return nil, directory.ErrNotFound
	}
	t.notifyTokens(tokenNote("t", t.org, id))
	return out, err
}

// RevokeTokens implements directory.Tx.
func (t *tx) RevokeTokens(issuers []string, at time.Time) error {
	t.queue(`UPDATE tokens SET revoked_at = $3 WHERE org_id = $1 AND issuer_user_id = ANY($2::uuid[]) AND revoked_at IS NULL`,
		t.org, issuers, at)
	t.notifyIssuers(issuers)
	return nil
}

// notifyIssuers sends a token cache notification for each of users that issued tokens, and
// drops all of users from this process's cache on commit.
func (t *tx) notifyIssuers(users []string) {
	for _, u := range users {
		t.notes = append(t.notes, tokenNote("u", t.org, u))
	}
	t.queue(`SELECT pg_notify($1, 'u ' || $2::text || ' ' || i.issuer)
		FROM (SELECT DISTINCT issuer_user_id::text AS issuer FROM tokens WHERE org_id = $3 AND issuer_user_id = ANY($4::uuid[])) AS i`,
		tokenChannel, t.org, t.org, users)
}
