package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/orgs"
)

// OpenID Connect settings of the console's sign-in (migration 0011, orgs/oidc.go).

// GetOIDC implements orgs.Store.
func (o *Orgs) GetOIDC(ctx context.Context, org string) (*orgs.OIDCClient, time.Time, error) {
	c := &orgs.OIDCClient{}
	var updated time.Time
	err := o.pool.QueryRow(ctx, `SELECT issuer, client_id, client_secret, updated_at FROM org_oidc WHERE org_id = $1`, org).
		Scan(&c.Issuer, &c.ClientID, &c.ClientSecret, &updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, updated, orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return c, updated, err
}

// PutOIDC implements orgs.Store.
func (o *Orgs) PutOIDC(ctx context.Context, org, issuer, clientID string, secret *string) (bool, error) {
	if secret == nil {
		tag, err := o.pool.Exec(ctx, `UPDATE org_oidc SET issuer = $2, client_id = $3, updated_at = now() WHERE org_id = $1`,
			org, issuer, clientID)
		if err == nil && tag.RowsAffected() == 0 {
			return false, orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
		}
		return false, err
	}
	var created bool
	err := o.pool.QueryRow(ctx, `INSERT INTO org_oidc AS c (org_id, issuer, client_id, client_secret) VALUES ($1, $2, $3, $4)
		ON CONFLICT (org_id) DO UPDATE SET issuer = excluded.issuer, client_id = excluded.client_id,
			client_secret = excluded.client_secret, updated_at = now()
		RETURNING (xmax = 0)`, org, issuer, clientID, *secret).Scan(&created)
	return created, orgsPgError(err)
}

// DeleteOIDC implements orgs.Store.
func (o *Orgs) DeleteOIDC(ctx context.Context, org string) error {
	tag, err := o.pool.Exec(ctx, `DELETE FROM org_oidc WHERE org_id = $1`, org)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return nil
}

// SignInOrgs implements orgs.Store. A domain is found through the primary keys of org_domains
// and org_oidc; no index leads with the domain, so the lookup reads every organization's row
// of it, which is few.
func (o *Orgs) SignInOrgs(ctx context.Context, domain string) ([]orgs.SignInOrg, error) {
	rows, err := o.pool.Query(ctx, `SELECT o.id::text, o.name FROM org_domains d
		JOIN organizations o ON o.id = d.org_id JOIN org_oidc c ON c.org_id = d.org_id
		WHERE d.domain = $1 AND d.verified_at IS NOT NULL ORDER BY o.name, o.id`, domain)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.SignInOrg, error) {
		var s orgs.SignInOrg
		return s, r.Scan(&s.ID, &s.Name)
	})
}
