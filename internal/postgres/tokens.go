package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/auth"
)

// LookupToken implements auth.Lookup.
func (o *Orgs) LookupToken(ctx context.Context, org, id string) (auth.Stored, bool, error) {
	var st auth.Stored
	var issuer, role *string
	var active *bool
	err := o.pool.QueryRow(ctx, `SELECT t.secret_hash, t.issuer_user_id::text, t.expires_at, t.revoked_at,
			u.eff_org_role, u.active
		FROM tokens t LEFT JOIN users u ON u.org_id = t.org_id AND u.id = t.issuer_user_id
		WHERE t.org_id = $1 AND t.id = $2`, org, id).
		Scan(&st.Hash, &issuer, &st.ExpiresAt, &st.RevokedAt, &role, &active)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, false, nil
	}
	if issuer != nil {
		st.IssuerID = *issuer
	}
	if role != nil {
		st.IssuerRole = *role
	}
	st.IssuerActive = active != nil && *active
	return st, err == nil, err
}
