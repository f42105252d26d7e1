package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
)

// Group-to-grant mappings and the nested-groups setting (migration 0003), for orgs.Service.
//
// A mapping change and the recomputation of its users' effective grants are one transaction.
// It locks the group and every group nested in it before reading who is in them: membership
// changes lock the group they change (Groups.UpdateGroup, DeleteGroup), so none can slip in
// between reading the users and committing, and a membership change that waited for the lock
// sees the new mapping. The users are then locked in id order, so that the recomputation, a
// statement of its own, sees every change committed to them before.

// mappingRetries is how often a mapping change is tried when PostgreSQL aborts it for a
// deadlock with concurrent group or user changes.
const mappingRetries = 3

// mappingTx runs fn in a transaction, again when it fails with a deadlock or a serialization
// failure.
func (o *Orgs) mappingTx(ctx context.Context, fn func(pgx.Tx) error) error {
	var err error
	for range mappingRetries {
		err = pgx.BeginFunc(ctx, o.pool, fn)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || (pgErr.Code != "40P01" && pgErr.Code != "40001") {
			return err
		}
	}
	return err
}

// lockGroupTree locks group and the groups nested in it, and returns the group's name. A group
// not of the organization is orgs.ErrNotFound (orgs.ErrNoOrg without the organization).
func lockGroupTree(ctx context.Context, tx pgx.Tx, org, group string) (string, error) {
	var name string
	err := tx.QueryRow(ctx, `SELECT display_name FROM groups WHERE org_id = $1 AND id = $2 FOR UPDATE`, org, group).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", orgMissing(ctx, tx, org, orgs.ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	// Lock the nested groups until no unlocked one is found: a group nested meanwhile in a
	// group just locked shows on the next round.
	locked := []string{group}
	for {
		rows, err := tx.Query(ctx, `WITH RECURSIVE down (id) AS (
				SELECT $2::uuid
				UNION
				SELECT m.member_id FROM group_members m JOIN down d
					ON m.org_id = $1 AND m.group_id = d.id AND m.member_type = 'Group'
			)
			SELECT g.id::text FROM groups g JOIN down d ON g.org_id = $1 AND g.id = d.id
			WHERE g.id <> ALL ($3::uuid[]) ORDER BY g.id FOR UPDATE OF g`, org, group, locked)
		if err != nil {
			return "", err
		}
		more, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return "", err
		}
		if len(more) == 0 {
			return name, nil
		}
		locked = append(locked, more...)
	}
}

// lockGroupUsers locks the users in group, directly or through nested groups, in id order and
// returns their ids.
func lockGroupUsers(ctx context.Context, tx pgx.Tx, org, group string) ([]string, error) {
	rows, err := tx.Query(ctx, `SELECT u.id::text FROM users u
		WHERE u.org_id = $1 AND u.id IN (SELECT gu.user_id FROM group_users($1, $2) gu)
		ORDER BY u.id FOR NO KEY UPDATE`, org, group)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SetGroupMapping implements orgs.Store.
func (o *Orgs) SetGroupMapping(ctx context.Context, org string, m orgs.GroupMapping) (*orgs.MappingSet, error) {
	if m.Products == nil {
		m.Products = []string{} // nil would be a NULL array, which matches nothing
	}
	var out *orgs.MappingSet
	err := o.mappingTx(ctx, func(tx pgx.Tx) error {
		name, err := lockGroupTree(ctx, tx, org, m.GroupID)
		if err != nil {
			return err
		}
		set := &orgs.MappingSet{GroupMapping: m}
		set.GroupName = name
		set.Products = append([]string{}, m.Products...)
		err = tx.QueryRow(ctx, `INSERT INTO group_mappings (org_id, group_id, org_role, account_role)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, group_id) DO UPDATE
				SET org_role = excluded.org_role, account_role = excluded.account_role, updated_at = now()
			RETURNING xmax = 0, updated_at`, org, m.GroupID, m.OrgRole, m.AccountRole).Scan(&set.Created, &set.Updated)
		if err != nil {
			return err
		}
		set.Updated = set.Updated.UTC()
		if _, err := tx.Exec(ctx, `DELETE FROM group_mapping_products
			WHERE org_id = $1 AND group_id = $2 AND product <> ALL ($3::text[])`, org, m.GroupID, m.Products); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO group_mapping_products (org_id, group_id, product)
			SELECT $1, $2, p FROM unnest($3::text[]) AS p ON CONFLICT DO NOTHING`, org, m.GroupID, m.Products)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23503" {
			return orgs.ErrNotLicensed
		}
		if err != nil {
			return err
		}
		users, err := lockGroupUsers(ctx, tx, org, m.GroupID)
		if err != nil {
			return err
		}
		if set.Changes, err = refreshGrants(ctx, tx, org, users); err != nil {
			return err
		}
		out = set
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ListGroupMappings implements orgs.Store: by group name, then id.
func (o *Orgs) ListGroupMappings(ctx context.Context, org string) ([]orgs.GroupMapping, error) {
	if err := orgMissing(ctx, o.pool, org, nil); err != nil {
		return nil, err
	}
	rows, err := o.pool.Query(ctx, `SELECT gm.group_id::text, g.display_name, gm.org_role, gm.account_role,
			coalesce((SELECT array_agg(p.product ORDER BY p.product) FROM group_mapping_products p
				WHERE p.org_id = gm.org_id AND p.group_id = gm.group_id), '{}'),
			gm.updated_at
		FROM group_mappings gm JOIN groups g ON g.org_id = gm.org_id AND g.id = gm.group_id
		WHERE gm.org_id = $1 ORDER BY lower(g.display_name), gm.group_id`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.GroupMapping, error) {
		var m orgs.GroupMapping
		var at time.Time
		err := r.Scan(&m.GroupID, &m.GroupName, &m.OrgRole, &m.AccountRole, &m.Products, &at)
		m.Updated = at.UTC()
		return m, err
	})
	if out == nil && err == nil {
		out = []orgs.GroupMapping{}
	}
	return out, err
}

// DeleteGroupMapping implements orgs.Store.
func (o *Orgs) DeleteGroupMapping(ctx context.Context, org, group string) ([]directory.GrantChange, error) {
	var out []directory.GrantChange
	err := o.mappingTx(ctx, func(tx pgx.Tx) error {
		if _, err := lockGroupTree(ctx, tx, org, group); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM group_mappings WHERE org_id = $1 AND group_id = $2`, org, group)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return orgs.ErrNoMapping
		}
		users, err := lockGroupUsers(ctx, tx, org, group)
		if err != nil {
			return err
		}
		out, err = refreshGrants(ctx, tx, org, users)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SetNestedGroups implements orgs.Store. The organization's row is locked first, so that the
// count of group-in-group memberships holds until the setting is stored.
func (o *Orgs) SetNestedGroups(ctx context.Context, org string, enabled bool) error {
	return pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		var cur bool
		err := tx.QueryRow(ctx, `SELECT nested_groups FROM organizations WHERE id = $1 FOR NO KEY UPDATE`, org).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return orgs.ErrNoOrg
		}
		if err != nil {
			return err
		}
		if cur == enabled {
			return nil
		}
		if !enabled {
			// Driven by the organization's groups, through group_members_member (org_id,
			// member_id): the number of memberships does not matter.
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM groups g
				JOIN group_members m ON m.org_id = g.org_id AND m.member_id = g.id AND m.member_type = 'Group'
				WHERE g.org_id = $1`, org).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return &orgs.NestedInUseError{Memberships: n}
			}
		}
		_, err = tx.Exec(ctx, `UPDATE organizations SET nested_groups = $2 WHERE id = $1`, org, enabled)
		return err
	})
}
