package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

// Org implements directory.OrgStore: one indexed read of the settings the provisioning rules
// need.
func (o *Orgs) Org(ctx context.Context, id string) (*directory.Org, error) {
	org := &directory.Org{}
	err := o.pool.QueryRow(ctx, `SELECT o.default_locale,
			coalesce((SELECT array_agg(d.domain ORDER BY d.domain) FROM org_domains d
				WHERE d.org_id = o.id AND d.verified_at IS NOT NULL), '{}'),
			coalesce((SELECT array_agg(p.product ORDER BY p.product) FROM org_products p WHERE p.org_id = o.id), '{}')
		FROM organizations o WHERE o.id = $1`, id).Scan(&org.DefaultLocale, &org.VerifiedDomains, &org.Products)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, scimerr.NotFound("no organization %q", id)
	}
	return org, err
}
