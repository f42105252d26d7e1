package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
)

// What effective grants follow from, and where they are kept (migration 0003): direct grants in
// users.org_role, account_role and user_products; group mappings in group_mappings and
// group_mapping_products; effective grants in users.eff_org_role, eff_account_role and
// user_effective_products, written as the directory computes them.

// mappedSQL is a boolean SQL expression: whether the group whose id is the expression group,
// or a group containing it, maps to grants ($1 is the organization).
func mappedSQL(group string) string {
	return `EXISTS (
			WITH RECURSIVE up (id) AS (
				SELECT ` + group + `
				UNION
				SELECT gm.group_id FROM group_members gm JOIN up ON gm.org_id = $1 AND gm.member_group = up.id
			)
			SELECT 1 FROM up JOIN group_mappings mp ON mp.org_id = $1 AND mp.group_id = up.id)`
}

// Mapped implements directory.Tx.
func (t *tx) Mapped(group string) (bool, error) {
	var mapped bool
	err := t.send(func(b *pgx.Batch) {
		b.Queue("SELECT "+mappedSQL("$2::uuid"), t.org, group).QueryRow(func(row pgx.Row) error { return row.Scan(&mapped) })
	})
	return mapped, err
}

// UsersIn implements directory.Tx.
func (t *tx) UsersIn(groups []string) ([]string, error) {
	var out []string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`WITH RECURSIVE down (id, user_id) AS (
				SELECT m.member_group, m.member_user FROM group_members m WHERE m.org_id = $1 AND m.group_id = ANY($2::uuid[])
				UNION
				SELECT m.member_group, m.member_user FROM down d JOIN group_members m ON m.org_id = $1 AND m.group_id = d.id
			)
			SELECT DISTINCT user_id::text FROM down WHERE user_id IS NOT NULL`, t.org, groups).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	})
	return out, err
}

// GrantInputs implements directory.Tx. The users are locked in a statement of their own
// first: the read after it then sees whatever a concurrent transaction that changed them
// committed, instead of computing from grants read before it.
func (t *tx) GrantInputs(users []string) ([]directory.GrantInput, error) {
	var out []directory.GrantInput
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT 1 FROM users WHERE org_id = $1 AND id = ANY($2::uuid[]) ORDER BY id FOR NO KEY UPDATE`, t.org, users)
		b.Queue(`WITH RECURSIVE memberships (user_id, group_id) AS (
				SELECT m.member_user, m.group_id FROM group_members m
				WHERE m.org_id = $1 AND m.member_user = ANY($2::uuid[])
				UNION
				SELECT ms.user_id, m.group_id FROM memberships ms
				JOIN group_members m ON m.org_id = $1 AND m.member_group = ms.group_id
			)
			SELECT u.id::text, u.active, u.org_role, u.account_role,
				ARRAY(SELECT p.product FROM user_products p WHERE p.org_id = $1 AND p.user_id = u.id ORDER BY 1),
				u.eff_org_role, u.eff_account_role, u.eff_products,
				(SELECT json_agg(json_build_array(gm.org_role, gm.account_role,
					ARRAY(SELECT p.product FROM group_mapping_products p WHERE p.org_id = $1 AND p.group_id = gm.group_id)))
				 FROM memberships ms JOIN group_mappings gm ON gm.org_id = $1 AND gm.group_id = ms.group_id
				 WHERE ms.user_id = u.id)
			FROM users u WHERE u.org_id = $1 AND u.id = ANY($2::uuid[])`, t.org, users).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, scanGrantInput)
			return err
		})
	})
	return out, err
}

func scanGrantInput(r pgx.CollectableRow) (directory.GrantInput, error) {
	var in directory.GrantInput
	var mapped []byte
	err := r.Scan(&in.UserID, &in.Active, &in.Direct.OrgRole, &in.Direct.AccountRole, &in.Direct.Products,
		&in.Effective.OrgRole, &in.Effective.AccountRole, &in.Effective.Products, &mapped)
	if err != nil || mapped == nil {
		return in, err
	}
	var rows [][3]json.RawMessage
	if err := json.Unmarshal(mapped, &rows); err != nil {
		return in, err
	}
	for _, row := range rows {
		var m grants.Mapping
		var orgRole, accountRole *string
		if err := json.Unmarshal(row[0], &orgRole); err != nil {
			return in, err
		}
		if err := json.Unmarshal(row[1], &accountRole); err != nil {
			return in, err
		}
		if err := json.Unmarshal(row[2], &m.Products); err != nil {
			return in, err
		}
		if orgRole != nil {
			m.OrgRole = *orgRole
		}
		if accountRole != nil {
			m.AccountRole = *accountRole
		}
		in.Mapped = append(in.Mapped, m)
	}
	return in, nil
}

// SetEffective implements directory.Tx.
func (t *tx) SetEffective(changes []directory.GrantChange) error {
	ids := make([]string, len(changes))
	orgRoles := make([]string, len(changes))
	accountRoles := make([]string, len(changes))
	var pUsers, pProducts []string
	for i, c := range changes {
		ids[i], orgRoles[i], accountRoles[i] = c.UserID, c.After.OrgRole, c.After.AccountRole
		for _, p := range c.After.Products {
			pUsers, pProducts = append(pUsers, c.UserID), append(pProducts, p)
		}
	}
	// The products of each user as a JSON array (arrays of arrays must be rectangular).
	products := make([]string, len(changes))
	for i, c := range changes {
		b, err := json.Marshal(nonNil(c.After.Products))
		if err != nil {
			return err
		}
		products[i] = string(b)
	}
	t.queue(`UPDATE users u SET eff_org_role = c.org_role, eff_account_role = c.account_role,
			eff_products = ARRAY(SELECT jsonb_array_elements_text(c.products::jsonb))
		FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS c (id, org_role, account_role, products)
		WHERE u.org_id = $1 AND u.id = c.id`, t.org, ids, orgRoles, accountRoles, products)
	t.queue(`DELETE FROM user_effective_products WHERE org_id = $1 AND user_id = ANY($2::uuid[])`, t.org, ids)
	if len(pUsers) > 0 {
		t.queue(`INSERT INTO user_effective_products (org_id, user_id, product)
			SELECT $1, u, p FROM unnest($2::uuid[], $3::text[]) AS x (u, p)`, t.org, pUsers, pProducts)
	}
	// A token acts with its issuer's effective orgRole.
	t.notifyIssuers(ids)
	return nil
}

// AnyActiveAdmin implements directory.Tx, through the partial index users_eff_admins.
func (t *tx) AnyActiveAdmin() (bool, error) {
	var ok bool
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT EXISTS (SELECT 1 FROM users WHERE org_id = $1 AND eff_org_role = 'admin' AND active)`, t.org).
			QueryRow(func(row pgx.Row) error { return row.Scan(&ok) })
	})
	return ok, err
}

// LockGroupTree implements directory.Tx. Membership changes lock the group they change (the
// version bump), so once the tree is locked none can slip in until the transaction ends.
func (t *tx) LockGroupTree(group string) (string, error) {
	var name *string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT display_name FROM groups WHERE org_id = $1 AND id = $2 FOR UPDATE`, t.org, group).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				return rows.Scan(&name)
			}
			return rows.Err()
		})
	})
	if err != nil {
		return "", err
	}
	if name == nil {
		return "", directory.ErrNotFound
	}
	// Lock the nested groups until no unlocked one is found: a group nested meanwhile in a
	// group just locked shows on the next round.
	locked := []string{group}
	for {
		var more []string
		err := t.send(func(b *pgx.Batch) {
			b.Queue(`WITH RECURSIVE down (id) AS (
					SELECT $2::uuid
					UNION
					SELECT m.member_group FROM group_members m JOIN down d
						ON m.org_id = $1 AND m.group_id = d.id AND m.member_group IS NOT NULL
				)
				SELECT g.id::text FROM groups g JOIN down d ON g.org_id = $1 AND g.id = d.id
				WHERE g.id <> ALL ($3::uuid[]) ORDER BY g.id FOR UPDATE OF g`, t.org, group, locked).Query(func(rows pgx.Rows) error {
				var err error
				more, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			})
		})
		if err != nil {
			return "", err
		}
		if len(more) == 0 {
			return *name, nil
		}
		locked = append(locked, more...)
	}
}

// PutMapping implements directory.Tx.
func (t *tx) PutMapping(m *directory.Mapping) (bool, error) {
	var created bool
	products := m.Products
	if products == nil {
		products = []string{} // a NULL array would match nothing
	}
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`INSERT INTO group_mappings (org_id, group_id, org_role, account_role) VALUES ($1, $2, $3, $4)
			ON CONFLICT (org_id, group_id) DO UPDATE
				SET org_role = excluded.org_role, account_role = excluded.account_role, updated_at = now()
			RETURNING xmax = 0, updated_at`, t.org, m.GroupID, m.OrgRole, m.AccountRole).
			QueryRow(func(row pgx.Row) error {
				var at time.Time
				err := row.Scan(&created, &at)
				m.Updated = at.UTC()
				return err
			})
		b.Queue(`DELETE FROM group_mapping_products WHERE org_id = $1 AND group_id = $2 AND product <> ALL ($3::text[])`,
			t.org, m.GroupID, products)
		b.Queue(`INSERT INTO group_mapping_products (org_id, group_id, product)
			SELECT $1, $2, p FROM unnest($3::text[]) AS p ON CONFLICT DO NOTHING`, t.org, m.GroupID, products)
	})
	return created, err
}

// DeleteMapping implements directory.Tx.
func (t *tx) DeleteMapping(group string) error {
	var n int64
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`DELETE FROM group_mappings WHERE org_id = $1 AND group_id = $2`, t.org, group).
			Exec(func(tag pgconn.CommandTag) error { n = tag.RowsAffected(); return nil })
	})
	if err == nil && n == 0 {
		return directory.ErrNotFound
	}
	return err
}

// Mappings implements directory.Store: by group name, then id.
func (s *Store) Mappings(ctx context.Context, org string) ([]directory.Mapping, error) {
	rows, err := s.pool.Query(ctx, `SELECT gm.group_id::text, g.display_name, gm.org_role, gm.account_role,
			coalesce((SELECT array_agg(p.product ORDER BY p.product) FROM group_mapping_products p
				WHERE p.org_id = gm.org_id AND p.group_id = gm.group_id), '{}'),
			gm.updated_at
		FROM group_mappings gm JOIN groups g ON g.org_id = gm.org_id AND g.id = gm.group_id
		WHERE gm.org_id = $1 ORDER BY lower(g.display_name), gm.group_id`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Mapping, error) {
		var m directory.Mapping
		var at time.Time
		err := r.Scan(&m.GroupID, &m.GroupName, &m.OrgRole, &m.AccountRole, &m.Products, &at)
		m.Updated = at.UTC()
		return m, err
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return []directory.Mapping{}, s.orgExists(ctx, org, nil)
	}
	return out, nil
}

// Memberships implements directory.Store.
func (s *Store) Memberships(ctx context.Context, org, user string) ([]directory.Membership, error) {
	rows, err := s.pool.Query(ctx, `SELECT g.id::text, g.display_name, gm.group_id IS NOT NULL, gm.org_role, gm.account_role,
			ARRAY(SELECT p.product FROM group_mapping_products p WHERE p.org_id = g.org_id AND p.group_id = g.id ORDER BY 1)
		FROM group_members m JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id
		LEFT JOIN group_mappings gm ON gm.org_id = g.org_id AND gm.group_id = g.id
		WHERE m.org_id = $1 AND m.member_user = $2 ORDER BY lower(g.display_name), g.id`, org, user)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Membership, error) {
		var ms directory.Membership
		var mapped bool
		var orgRole, accountRole *string
		var products []string
		if err := r.Scan(&ms.GroupID, &ms.GroupName, &mapped, &orgRole, &accountRole, &products); err != nil {
			return ms, err
		}
		if mapped {
			ms.Mapping = &grants.Mapping{Products: products}
			if orgRole != nil {
				ms.Mapping.OrgRole = *orgRole
			}
			if accountRole != nil {
				ms.Mapping.AccountRole = *accountRole
			}
		}
		return ms, nil
	})
}
