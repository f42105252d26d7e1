package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/orgs"
)

var _ orgs.SignInStore = (*Orgs)(nil)

// SignIn implements orgs.SignInStore from the effective grants (migration 0003), which are
// kept current in the transaction of every change and are empty while a user is suspended.
func (o *Orgs) SignIn(ctx context.Context, org, user string) (*orgs.SignIn, error) {
	si := &orgs.SignIn{UserID: user}
	var active bool
	err := o.pool.QueryRow(ctx, `SELECT u.active, u.eff_org_role, u.eff_account_role,
			ARRAY(SELECT p.product FROM user_effective_products p
				WHERE p.org_id = u.org_id AND p.user_id = u.id ORDER BY p.product)
		FROM users u WHERE u.org_id = $1 AND u.id = $2`, org, user).
		Scan(&active, &si.OrgRole, &si.AccountRole, &si.Products)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	si.CanSignIn, si.Status = active, orgs.StatusSuspended
	if active {
		si.Status = orgs.StatusActive
	}
	if si.Products == nil {
		si.Products = []string{}
	}
	return si, nil
}
