package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/orgs"
)

// Settings implements orgs.Store.
func (o *Orgs) Settings(ctx context.Context, org string) (orgs.Settings, error) {
	var s orgs.Settings
	err := o.pool.QueryRow(ctx, `SELECT nested_groups, notify FROM organizations WHERE id = $1`, org).
		Scan(&s.NestedGroups, &s.Notify)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, orgs.ErrNoOrg
	}
	return s, err
}

// SetNotify implements orgs.Store. Provisioning transactions read the setting when
// they queue notifications, so a change applies to the writes that start after it.
func (o *Orgs) SetNotify(ctx context.Context, org string, notify bool) error {
	tag, err := o.pool.Exec(ctx, `UPDATE organizations SET notify = $2 WHERE id = $1`, org, notify)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return orgs.ErrNoOrg
	}
	return nil
}
