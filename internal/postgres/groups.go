package postgres

import (
	"context"
	"errors"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/schema"
)

// groups maps the Group resource type onto the groups table. Members live in group_members, one
// row each; nothing here reads a group's member list except EachMember, which streams it.
type groups struct {
	table   table
	members child
}

const groupColumns = "g.id::text, g.version, g.created_at, g.last_modified, g.display_name, g.external_id"

func newGroups(rt *schema.ResourceType) *groups {
	s := &groups{}
	s.members = child{
		from: "group_members c WHERE c.org_id = {p}.org_id AND c.group_id = {p}.id",
		columns: map[string]string{
			"value": uuidPrefix + "c.member_id",
			"type":  "c.member_type",
			"display": "(SELECT coalesce(mu.display_name, mu.user_name) FROM users mu " +
				"WHERE mu.org_id = c.org_id AND mu.id = c.member_user)",
		},
	}
	s.table = table{rt: rt, name: "groups", alias: "g", columns: map[string]string{
		"id":                uuidPrefix + "g.id",
		"displayName":       "g.display_name",
		"externalId":        "g.external_id",
		"meta.created":      "g.created_at",
		"meta.lastModified": "g.last_modified",
	}, children: map[string]child{"members": s.members},
		unique: map[string]bool{"id": true, "displayName": true}} // groups_display_name_key
	return s
}

// scanGroup reads a row of groupColumns.
func scanGroup(row pgx.Row) (*directory.Resource, error) {
	g := &directory.Resource{Doc: map[string]any{}}
	var name string
	var ext *string
	if err := row.Scan(&g.ID, &g.Version, &g.Created, &g.LastModified, &name, &ext); err != nil {
		return nil, err
	}
	g.Doc["displayName"] = name
	if ext != nil {
		g.Doc["externalId"] = *ext
	}
	return g, nil
}

// Group implements directory.Store. It never reads members.
func (s *Store) Group(ctx context.Context, org, id string) (*directory.Resource, error) {
	g, err := scanGroup(s.row(ctx, "SELECT "+groupColumns+" FROM groups g WHERE g.org_id = $1 AND g.id = $2", org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.ErrNotFound
	}
	return g, err
}

// Groups implements directory.Store; members are not read here (see EachMember).
func (s *Store) Groups(ctx context.Context, org string, q directory.Query) ([]*directory.Resource, directory.PageInfo, error) {
	return list(ctx, s, &s.groups.table, "SELECT "+groupColumns+" FROM groups g", org, q, scanGroup)
}

// memberChunk is how many members of a group EachMember reads at a time.
const memberChunk = 1000

// EachMember implements directory.Store: it streams the members of the given groups, group by
// group in the order given, by member id. Members are read memberChunk per group at a time:
// the first chunk of every group in one round trip, then the rest of a larger group chunk by
// chunk, each through the primary key in order. Each read's connection goes back to the pool
// before fn sees its rows, so fn may write to a slow client without holding a database
// connection, and a group of any size costs bounded memory.
func (s *Store) EachMember(ctx context.Context, org string, groups []string, fn func(group string, m directory.Member) error) error {
	firsts := make([][]directory.Member, len(groups))
	err := s.readBatch(ctx, func(b *pgx.Batch) {
		for i, g := range groups {
			b.Queue(memberChunkSQL, org, g, "").Query(func(rows pgx.Rows) error {
				var err error
				firsts[i], err = pgx.CollectRows(rows, scanMember)
				return err
			})
		}
	})
	if err != nil {
		return err
	}
	for i, g := range groups {
		chunk := firsts[i]
		for {
			for _, m := range chunk {
				if err := fn(g, m); err != nil {
					return err
				}
			}
			if len(chunk) < memberChunk {
				break
			}
			after := chunk[len(chunk)-1].Value
			err := s.readBatch(ctx, func(b *pgx.Batch) {
				b.Queue(memberChunkSQL, org, g, after).Query(func(rows pgx.Rows) error {
					var err error
					chunk, err = pgx.CollectRows(rows, scanMember)
					return err
				})
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// memberChunkSQL reads the next memberChunk members of group $2 after member id $3 ("" for the
// first).
var memberChunkSQL = `SELECT m.member_id::text, m.member_type, coalesce(u.display_name, u.user_name, mg.display_name)
	FROM group_members m
	LEFT JOIN users u ON u.org_id = m.org_id AND u.id = m.member_user
	LEFT JOIN groups mg ON mg.org_id = m.org_id AND mg.id = m.member_group
	WHERE m.org_id = $1 AND m.group_id = $2 AND m.member_id > coalesce(nullif($3, '')::uuid, '00000000-0000-0000-0000-000000000000')
	ORDER BY m.member_id LIMIT ` + strconv.Itoa(memberChunk)

func scanMember(r pgx.CollectableRow) (directory.Member, error) {
	var m directory.Member
	var display *string
	err := r.Scan(&m.Value, &m.Type, &display)
	if display != nil {
		m.Display = *display
	}
	return m, err
}

// Group implements directory.Tx.
func (t *tx) Group(id string, lock bool) (*directory.Resource, error) {
	var g *directory.Resource
	sql := "SELECT " + groupColumns + " FROM groups g WHERE g.org_id = $1 AND g.id = $2"
	if lock {
		sql += " FOR UPDATE"
	}
	err := t.send(func(b *pgx.Batch) {
		b.Queue(sql, t.org, id).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				var err error
				g, err = scanGroup(rows)
				return err
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, directory.ErrNotFound
	}
	return g, nil
}

// InsertGroup implements directory.Tx.
func (t *tx) InsertGroup(g *directory.Resource) error {
	t.queue(`INSERT INTO groups (org_id, id, display_name, external_id) VALUES ($1, $2, $3, $4)
		RETURNING version, created_at, last_modified`, t.org, g.ID, g.Doc["displayName"], g.Doc["externalId"]).
		QueryRow(func(row pgx.Row) error { return row.Scan(&g.Version, &g.Created, &g.LastModified) })
	return nil
}

// UpdateGroup implements directory.Tx.
func (t *tx) UpdateGroup(g *directory.Resource, guard bool) error {
	sql := `UPDATE groups SET display_name = $3, external_id = $4, version = version + 1, last_modified = clock_timestamp()
		WHERE org_id = $1 AND id = $2`
	args := []any{t.org, g.ID, g.Doc["displayName"], g.Doc["externalId"]}
	if guard {
		sql += " AND version = $5"
		args = append(args, g.Version)
	}
	t.queue(sql+" RETURNING version, last_modified", args...).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&g.Version, &g.LastModified)
		if errors.Is(err, pgx.ErrNoRows) {
			return errStale
		}
		return err
	})
	return nil
}

// DeleteGroup implements directory.Tx. Its member rows, and its memberships in other groups,
// go with it (foreign keys ON DELETE CASCADE), as does its mapping.
func (t *tx) DeleteGroup(id string) error {
	t.queue("DELETE FROM groups WHERE org_id = $1 AND id = $2", t.org, id)
	return nil
}

// members runs a statement that adds or removes member rows and returns them; sql must end in
// RETURNING member_id::text, member_type.
func (t *tx) members(sql string, args ...any) ([]directory.Member, error) {
	var out []directory.Member
	err := t.send(func(b *pgx.Batch) {
		b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Member, error) {
				var m directory.Member
				return m, r.Scan(&m.Value, &m.Type)
			})
			return err
		})
	})
	return out, err
}

// AddUsers implements directory.Tx: one statement classifies every id and, when all are users
// (the common case), adds them. The foreign key on member_user holds each user until the
// transaction ends, so a user deleted meanwhile is either never added or deleted with its row.
func (t *tx) AddUsers(group string, ids []string) ([]directory.Member, []string, error) {
	var added, others []string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`WITH wanted AS (SELECT DISTINCT unnest($3::uuid[]) AS id),
			kinds AS (SELECT w.id, u.id IS NOT NULL AS is_user FROM wanted w LEFT JOIN users u ON u.org_id = $1 AND u.id = w.id),
			ins AS (
				INSERT INTO group_members (org_id, group_id, member_id, member_type)
				SELECT $1, $2, k.id, 'User' FROM kinds k
				WHERE k.is_user AND NOT EXISTS (SELECT 1 FROM kinds WHERE NOT is_user)
				ON CONFLICT DO NOTHING RETURNING member_id)
			SELECT coalesce((SELECT array_agg(member_id::text) FROM ins), '{}'),
			       coalesce((SELECT array_agg(id::text) FROM kinds WHERE NOT is_user), '{}')`,
			t.org, group, ids).QueryRow(func(row pgx.Row) error { return row.Scan(&added, &others) })
	})
	if err != nil {
		return nil, nil, err
	}
	out := make([]directory.Member, len(added))
	for i, id := range added {
		out[i] = directory.Member{Value: id, Type: directory.MemberUser}
	}
	return out, others, nil
}

// ClassifyMembers implements directory.Tx.
func (t *tx) ClassifyMembers(ids []string) (users, groups []string, err error) {
	err = t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT
				coalesce((SELECT array_agg(u.id::text) FROM users u WHERE u.org_id = $1 AND u.id = ANY($2::uuid[])), '{}'),
				coalesce((SELECT array_agg(g.id::text) FROM groups g WHERE g.org_id = $1 AND g.id = ANY($2::uuid[])), '{}')`,
			t.org, ids).QueryRow(func(row pgx.Row) error { return row.Scan(&users, &groups) })
	})
	return users, groups, err
}

// AddMembers implements directory.Tx.
func (t *tx) AddMembers(group string, users, groups []string) ([]directory.Member, error) {
	return t.members(`INSERT INTO group_members (org_id, group_id, member_id, member_type)
		SELECT $1, $2, x.id, x.type FROM (
			SELECT unnest($3::uuid[]) AS id, 'User' AS type UNION ALL SELECT unnest($4::uuid[]), 'Group'
		) x
		ON CONFLICT DO NOTHING RETURNING member_id::text, member_type`, t.org, group, users, groups)
}

// RemoveMembers implements directory.Tx.
func (t *tx) RemoveMembers(group string, ids []string) ([]directory.Member, error) {
	return t.members(`DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = ANY($3::uuid[])
		RETURNING member_id::text, member_type`, t.org, group, ids)
}

// RemoveMembersWhere implements directory.Tx, through the same whitelist as list filters.
func (t *tx) RemoveMembersWhere(group string, f filter.Expr) ([]directory.Member, error) {
	q := &query{args: []any{t.org, group}}
	cond, err := t.s.groups.members.where(q, f)
	if err != nil {
		return nil, err
	}
	return t.members("DELETE FROM group_members c WHERE c.org_id = $1 AND c.group_id = $2 AND "+cond+
		" RETURNING member_id::text, member_type", q.args...)
}

// RemoveMembersExcept implements directory.Tx.
func (t *tx) RemoveMembersExcept(group string, ids []string) ([]directory.Member, error) {
	if ids == nil {
		ids = []string{} // a NULL array would match nothing
	}
	return t.members(`DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id <> ALL($3::uuid[])
		RETURNING member_id::text, member_type`, t.org, group, ids)
}

// Contains implements directory.Tx.
func (t *tx) Contains(groups []string, target string) (string, error) {
	var found *string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`WITH RECURSIVE down (id, top) AS (
				SELECT g, g FROM unnest($3::uuid[]) g
				UNION
				SELECT gm.member_group, d.top FROM group_members gm JOIN down d
					ON gm.org_id = $1 AND gm.group_id = d.id AND gm.member_group IS NOT NULL
			)
			SELECT top::text FROM down WHERE id = $2 LIMIT 1`, t.org, target, groups).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				return rows.Scan(&found)
			}
			return rows.Err()
		})
	})
	if err != nil || found == nil {
		return "", err
	}
	return *found, nil
}

// NestedMemberships implements directory.Tx, driven by the organization's groups through
// group_members_group: the number of memberships does not matter.
func (t *tx) NestedMemberships() (int, error) {
	var n int
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT count(*) FROM groups g JOIN group_members m ON m.org_id = g.org_id AND m.member_group = g.id
			WHERE g.org_id = $1`, t.org).QueryRow(func(row pgx.Row) error { return row.Scan(&n) })
	})
	return n, err
}

// SetNestedGroups implements directory.Tx.
func (t *tx) SetNestedGroups(enabled bool) error {
	t.queue(`UPDATE organizations SET nested_groups = $2 WHERE id = $1`, t.org, enabled)
	return nil
}
