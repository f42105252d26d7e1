package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// refreshSQL recomputes the effective grants of users (migration 0003) and returns the users
// whose effective grants changed.
const refreshSQL = "SELECT user_id::text, org_role_before, org_role_after, account_role_before, account_role_after," +
	" products_before, products_after FROM refresh_grants($1, $2::uuid[])"

// scanGrantChanges reads the rows of refreshSQL.
func scanGrantChanges(rows pgx.Rows) ([]directory.GrantChange, error) {
	var out []directory.GrantChange
	for rows.Next() {
		var c directory.GrantChange
		if err := rows.Scan(&c.UserID, &c.Before.OrgRole, &c.After.OrgRole, &c.Before.AccountRole,
			&c.After.AccountRole, &c.Before.Products, &c.After.Products); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// refreshGrants recomputes the effective grants of users inside tx, refuses the change if it
// took away the organization's last active admin, and journals what changed (audit records
// and notifications).
func refreshGrants(ctx context.Context, tx pgx.Tx, org string, users []string) ([]directory.GrantChange, error) {
	return refreshFor(ctx, tx, org, users, "", "")
}

// refreshFor is refreshGrants for a write of user self, whose own audit record shows its
// grant changes and whose activity ("suspended", "reactivated" or "") is announced instead.
func refreshFor(ctx context.Context, tx pgx.Tx, org string, users []string, self, activity string) ([]directory.GrantChange, error) {
	if len(users) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, refreshSQL, org, users)
	if err != nil {
		return nil, err
	}
	changes, err := scanGrantChanges(rows)
	rows.Close()
	if err != nil {
		return nil, err
	}
	if err := checkAdminsKept(ctx, tx, org, changes); err != nil {
		return nil, err
	}
	return changes, journalGrants(ctx, tx, org, changes, self, activity)
}

// checkAdminsKept refuses changes that took the admin role from someone when no active admin
// is left. The organization row is locked first, so that two requests demoting the last two
// admins cannot both see the other one still there.
func checkAdminsKept(ctx context.Context, tx pgx.Tx, org string, changes []directory.GrantChange) error {
	for _, c := range changes {
		if c.Before.OrgRole == grants.OrgAdmin && c.After.OrgRole != grants.OrgAdmin {
			return ensureAnAdmin(ctx, tx, org)
		}
	}
	return nil
}

func ensureAnAdmin(ctx context.Context, tx pgx.Tx, org string) error {
	if _, err := tx.Exec(ctx, "SELECT 1 FROM organizations WHERE id = $1 FOR NO KEY UPDATE", org); err != nil {
		return err
	}
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND eff_org_role = 'admin' AND active)`,
		org).Scan(&ok)
	if err != nil {
		return err
	}
	if !ok {
		return scimerr.New(scimerr.KindConflict, "",
			"the change would leave the organization without an active admin; make another user admin first")
	}
	return nil
}
