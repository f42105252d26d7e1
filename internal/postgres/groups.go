package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Groups stores Group resources. Members live in group_members, one row each; nothing here
// reads a group's member list except EachMember, which streams it.
type Groups struct {
	pool    *pgxpool.Pool
	rt      *schema.ResourceType
	table   table
	members child
}

const groupColumns = "g.id::text, g.version, g.created_at, g.last_modified, g.display_name, g.external_id"

// NewGroups returns the group store over pool for the Group resource type rt.
func NewGroups(pool *pgxpool.Pool, rt *schema.ResourceType) *Groups {
	s := &Groups{pool: pool, rt: rt}
	s.members = child{
		from: "group_members c WHERE c.org_id = {p}.org_id AND c.group_id = {p}.id",
		columns: map[string]string{
			"value": uuidPrefix + "c.member_id",
			"type":  "c.member_type",
			"display": "(SELECT coalesce(mu.display_name, mu.user_name) FROM users mu " +
				"WHERE mu.org_id = c.org_id AND mu.id = c.member_id)",
		},
	}
	s.table = table{rt: rt, alias: "g", columns: map[string]string{
		"id":                uuidPrefix + "g.id",
		"displayName":       "g.display_name",
		"externalId":        "g.external_id",
		"meta.created":      "g.created_at",
		"meta.lastModified": "g.last_modified",
	}, children: map[string]child{"members": s.members}}
	return s
}

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

func groupNotFound(id string) error {
	return scimerr.NotFound("no Group with id %q", id)
}

func (s *Groups) mapErr(err error, doc map[string]any) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "groups_display_name_key" {
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "a Group with displayName %q already exists in this organization", doc["displayName"])
	}
	return err
}

func groupValues(doc map[string]any) (name, ext any) {
	return doc["displayName"], doc["externalId"]
}

// CreateGroup implements directory.GroupStore.
func (s *Groups) CreateGroup(ctx context.Context, org string, g *directory.Resource, members []directory.MemberRef) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	g.ID = id.String()
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		name, ext := groupValues(g.Doc)
		err := tx.QueryRow(ctx, `INSERT INTO groups (org_id, id, display_name, external_id) VALUES ($1, $2, $3, $4)
			RETURNING version, created_at, last_modified`, org, g.ID, name, ext).
			Scan(&g.Version, &g.Created, &g.LastModified)
		if err != nil {
			return s.mapErr(err, g.Doc)
		}
		return (&memberChanges{ctx: ctx, tx: tx, org: org, group: g.ID, s: s}).Add(members)
	})
}

// GetGroup implements directory.GroupStore. It never reads members.
func (s *Groups) GetGroup(ctx context.Context, org, id string) (*directory.Resource, error) {
	if !validID(id) {
		return nil, groupNotFound(id)
	}
	g, err := scanGroup(s.pool.QueryRow(ctx, "SELECT "+groupColumns+" FROM groups g WHERE g.org_id = $1 AND g.id = $2", org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, groupNotFound(id)
	}
	return g, err
}

// EachMember implements directory.GroupStore: it streams the members of the given groups, group
// by group in the order given, without holding them in memory.
func (s *Groups) EachMember(ctx context.Context, org string, groups []string, fn func(group string, m directory.Member) error) error {
	rows, err := s.pool.Query(ctx, `SELECT m.group_id::text, m.member_id::text, m.member_type,
			coalesce(u.display_name, u.user_name, mg.display_name)
		FROM group_members m
		LEFT JOIN users u ON m.member_type = 'User' AND u.org_id = m.org_id AND u.id = m.member_id
		LEFT JOIN groups mg ON m.member_type = 'Group' AND mg.org_id = m.org_id AND mg.id = m.member_id
		WHERE m.org_id = $1 AND m.group_id = ANY($2::uuid[])
		ORDER BY array_position($2::uuid[], m.group_id), m.member_id`, org, groups)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var g string
		var m directory.Member
		var display *string
		if err := rows.Scan(&g, &m.Value, &m.Type, &display); err != nil {
			return err
		}
		if display != nil {
			m.Display = *display
		}
		if err := fn(g, m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// UpdateGroup implements directory.GroupStore.
func (s *Groups) UpdateGroup(ctx context.Context, org, id string, fn func(*directory.Resource, directory.MemberChanges) error) (*directory.Resource, error) {
	if !validID(id) {
		return nil, groupNotFound(id)
	}
	var out *directory.Resource
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		g, err := scanGroup(tx.QueryRow(ctx, "SELECT "+groupColumns+" FROM groups g WHERE g.org_id = $1 AND g.id = $2 FOR UPDATE", org, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return groupNotFound(id)
		}
		if err != nil {
			return err
		}
		out = g
		mc := &memberChanges{ctx: ctx, tx: tx, org: org, group: id, s: s}
		if err := fn(g, mc); err != nil {
			return err
		}
		name, ext := groupValues(g.Doc)
		err = tx.QueryRow(ctx, `UPDATE groups SET display_name = $3, external_id = $4,
			version = version + 1, last_modified = clock_timestamp()
			WHERE org_id = $1 AND id = $2 RETURNING version, last_modified`, org, id, name, ext).
			Scan(&g.Version, &g.LastModified)
		return s.mapErr(err, g.Doc)
	})
	if errors.Is(err, directory.ErrUnchanged) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteGroup implements directory.GroupStore. Its member rows go with it (ON DELETE CASCADE),
// as do its memberships in other groups.
func (s *Groups) DeleteGroup(ctx context.Context, org, id string, check func(int64) error) error {
	if !validID(id) {
		return groupNotFound(id)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var version int64
		err := tx.QueryRow(ctx, "SELECT version FROM groups WHERE org_id = $1 AND id = $2 FOR UPDATE", org, id).Scan(&version)
		if errors.Is(err, pgx.ErrNoRows) {
			return groupNotFound(id)
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(version); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM group_members WHERE org_id = $1 AND member_id = $2", org, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM groups WHERE org_id = $1 AND id = $2", org, id)
		return err
	})
}

// ListGroups implements directory.GroupStore; members are not read here (see EachMember).
func (s *Groups) ListGroups(ctx context.Context, org string, q directory.Query) (*directory.Page, error) {
	return list(ctx, s.pool, &s.table, "groups g", "SELECT "+groupColumns+" FROM groups g", org, q, scanGroup)
}

// memberChanges implements directory.MemberChanges inside an update's transaction. Each change
// is one statement touching only the rows it names.
type memberChanges struct {
	ctx   context.Context
	tx    pgx.Tx
	org   string
	group string
	s     *Groups
}

func (m *memberChanges) ids(refs []directory.MemberRef) ([]string, error) {
	ids := make([]string, 0, len(refs))
	for _, r := range refs {
		if !validID(r.Value) {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", r.Value)
		}
		ids = append(ids, r.Value)
	}
	return ids, nil
}

// Add implements directory.MemberChanges: existing members are left as they are; an id that is
// not a user of the organization refuses the whole request.
func (m *memberChanges) Add(refs []directory.MemberRef) error {
	if len(refs) == 0 {
		return nil
	}
	ids, err := m.ids(refs)
	if err != nil {
		return err
	}
	var missing []string
	err = m.tx.QueryRow(m.ctx, `WITH wanted AS (SELECT DISTINCT unnest($3::uuid[]) AS id),
		ins AS (
			INSERT INTO group_members (org_id, group_id, member_id, member_type)
			SELECT $1, $2, u.id, 'User' FROM wanted w JOIN users u ON u.org_id = $1 AND u.id = w.id
			ON CONFLICT DO NOTHING)
		SELECT coalesce(array_agg(w.id::text), '{}') FROM wanted w
		WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.org_id = $1 AND u.id = w.id)`,
		m.org, m.group, ids).Scan(&missing)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		if m.isGroup(missing[0]) {
			return scimerr.Invalid(scimerr.InvalidValue, "member %q is a Group; nested groups are not enabled for this organization", missing[0])
		}
		return scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", missing[0])
	}
	return nil
}

func (m *memberChanges) isGroup(id string) bool {
	var ok bool
	_ = m.tx.QueryRow(m.ctx, "SELECT EXISTS (SELECT 1 FROM groups WHERE org_id = $1 AND id = $2)", m.org, id).Scan(&ok)
	return ok
}

// Remove implements directory.MemberChanges; ids that are not members are ignored.
func (m *memberChanges) Remove(refs []directory.MemberRef) error {
	var ids []string
	for _, r := range refs {
		if validID(r.Value) {
			ids = append(ids, r.Value)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := m.tx.Exec(m.ctx, "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = ANY($3::uuid[])",
		m.org, m.group, ids)
	return err
}

// RemoveWhere implements directory.MemberChanges: it removes the members matching a value
// filter such as `value eq "id"`, through the same whitelist as list filters.
func (m *memberChanges) RemoveWhere(f filter.Expr) error {
	q := &query{args: []any{m.org, m.group}}
	cond, err := m.s.members.where(q, f)
	if err != nil {
		return err
	}
	_, err = m.tx.Exec(m.ctx, "DELETE FROM group_members c WHERE c.org_id = $1 AND c.group_id = $2 AND "+cond, q.args...)
	return err
}

// Replace implements directory.MemberChanges: members not in refs are removed, new ones added.
func (m *memberChanges) Replace(refs []directory.MemberRef) error {
	ids, err := m.ids(refs)
	if err != nil {
		return err
	}
	if _, err := m.tx.Exec(m.ctx, `DELETE FROM group_members WHERE org_id = $1 AND group_id = $2
		AND member_id <> ALL($3::uuid[])`, m.org, m.group, ids); err != nil {
		return err
	}
	return m.Add(refs)
}

// Clear implements directory.MemberChanges.
func (m *memberChanges) Clear() error {
	_, err := m.tx.Exec(m.ctx, "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2", m.org, m.group)
	return err
}

// list runs a filtered, sorted, paged read and its count in one round trip.
func list(ctx context.Context, pool *pgxpool.Pool, t *table, from, selectFrom, org string, q directory.Query,
	scan func(pgx.Row) (*directory.Resource, error)) (*directory.Page, error) {
	qb := &query{args: []any{org}}
	where := t.alias + ".org_id = $1"
	if q.Filter != nil {
		cond, err := t.where(qb, q.Filter)
		if err != nil {
			return nil, err
		}
		where += " AND " + cond
	}
	order, err := t.orderBy(q.SortBy, q.Descending)
	if err != nil {
		return nil, err
	}
	page := &directory.Page{}
	b := &pgx.Batch{}
	b.Queue("SELECT count(*) FROM "+from+" WHERE "+where, qb.args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&page.Total)
	})
	if q.Count > 0 {
		args := append(append([]any{}, qb.args...), q.Count, q.StartIndex-1)
		sql := fmt.Sprintf("%s WHERE %s ORDER BY %s LIMIT $%d OFFSET $%d", selectFrom, where, order, len(args)-1, len(args))
		b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				r, err := scan(rows)
				if err != nil {
					return err
				}
				page.Resources = append(page.Resources, r)
			}
			return rows.Err()
		})
	}
	if err := pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return page, nil
}
