package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/journal"
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
	s.table = table{rt: rt, name: "groups", alias: "g", columns: map[string]string{
		"id":                uuidPrefix + "g.id",
		"displayName":       "g.display_name",
		"externalId":        "g.external_id",
		"meta.created":      "g.created_at",
		"meta.lastModified": "g.last_modified",
	}, children: map[string]child{"members": s.members}}
	return s
}

// scanGroup reads a row of groupColumns, followed by the columns into extra.
func scanGroup(row pgx.Row, extra ...any) (*directory.Resource, error) {
	g := &directory.Resource{Doc: map[string]any{}}
	var name string
	var ext *string
	if err := row.Scan(append([]any{&g.ID, &g.Version, &g.Created, &g.LastModified, &name, &ext}, extra...)...); err != nil {
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
		mc, err := s.memberChanges(ctx, tx, org, g.ID)
		if err != nil {
			return err
		}
		if err := mc.Add(members); err != nil {
			return err
		}
		changes := map[string]any{}
		for k, c := range journal.Diff(nil, g.Doc) {
			changes[k] = c
		}
		mc.auditMembers(changes)
		return audit(ctx, tx, org, actionCreate, "Group", g.ID, changes)
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
//
// The group's row is not locked while fn runs: member changes are single-row writes that
// commute, so concurrent membership changes of one group (the common case, and the one that
// must cost the same at any group size) wait for each other only for the final version bump
// and commit. When fn sets Guard (it changed the group's own attributes, or the request carries
// a precondition), the bump succeeds only if the version is still the one fn saw; otherwise the
// whole transaction runs again on a fresh read, where a stale If-Match now fails.
func (s *Groups) UpdateGroup(ctx context.Context, org, id string, fn func(*directory.Resource, directory.MemberChanges) error) (*directory.Resource, error) {
	if !validID(id) {
		return nil, groupNotFound(id)
	}
	const attempts = 10
	for range attempts {
		out, err := s.updateGroup(ctx, org, id, fn)
		if !errors.Is(err, errStale) {
			return out, err
		}
	}
	return nil, scimerr.New(scimerr.KindConflict, "", "the group changed concurrently %d times in a row; retry the request", attempts)
}

// errStale ends an update attempt whose guarded version bump found a newer version.
var errStale = errors.New("group changed concurrently")

func (s *Groups) updateGroup(ctx context.Context, org, id string, fn func(*directory.Resource, directory.MemberChanges) error) (*directory.Resource, error) {
	var out *directory.Resource
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		mc := &memberChanges{ctx: ctx, tx: tx, org: org, group: id, s: s}
		// Whether the group maps to grants is read after the version bump locks its row.
		g, err := scanGroup(tx.QueryRow(ctx, "SELECT "+groupColumns+`, o.nested_groups
			FROM groups g JOIN organizations o ON o.id = g.org_id WHERE g.org_id = $1 AND g.id = $2`, org, id),
			&mc.nested)
		if errors.Is(err, pgx.ErrNoRows) {
			return groupNotFound(id)
		}
		if err != nil {
			return err
		}
		out = g
		read := g.Version
		old := schema.Clone(g.Doc)
		if err := fn(g, mc); err != nil {
			return err
		}
		name, ext := groupValues(g.Doc)
		guard := ""
		args := []any{org, id, name, ext}
		if g.Guard {
			guard = " AND version = $5"
			args = append(args, read)
		}
		err = tx.QueryRow(ctx, `UPDATE groups SET display_name = $3, external_id = $4,
			version = version + 1, last_modified = clock_timestamp()
			WHERE org_id = $1 AND id = $2`+guard+` RETURNING version, last_modified`, args...).
			Scan(&g.Version, &g.LastModified)
		if errors.Is(err, pgx.ErrNoRows) {
			return errStale
		}
		if err != nil {
			return s.mapErr(err, g.Doc)
		}
		changes := map[string]any{}
		for k, c := range journal.Diff(old, g.Doc) {
			changes[k] = c
		}
		mc.auditMembers(changes)
		// Whether the group maps to grants is read only now that its row is locked: a mapping
		// set concurrently committed before the lock was granted, so a statement run now sees
		// it. The audit insert is that statement.
		sql, args := auditSQL(ctx, org, actionUpdate, "Group", id, changes)
		if err := tx.QueryRow(ctx, sql+" RETURNING "+mappedSQL("$8::uuid"), args...).Scan(&mc.mapped); err != nil {
			return err
		}
		g.Changes, err = mc.refresh()
		return err
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
		// The group's users lose what it (or a group containing it) mapped them to.
		mc, err := s.memberChanges(ctx, tx, org, id)
		if err != nil {
			return err
		}
		var users []string
		if mc.mapped {
			if err := tx.QueryRow(ctx, "SELECT coalesce(array_agg(user_id::text), '{}') FROM group_users($1, $2)", org, id).Scan(&users); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, "DELETE FROM group_members WHERE org_id = $1 AND member_id = $2", org, id); err != nil {
			return err
		}
		if _, err = tx.Exec(ctx, "DELETE FROM groups WHERE org_id = $1 AND id = $2", org, id); err != nil {
			return err
		}
		if _, err = refreshGrants(ctx, tx, org, users); err != nil {
			return err
		}
		return audit(ctx, tx, org, actionDelete, "Group", id, map[string]any{})
	})
}

// ListGroups implements directory.GroupStore; members are not read here (see EachMember).
func (s *Groups) ListGroups(ctx context.Context, org string, q directory.Query) (*directory.Page, error) {
	return list(ctx, s.pool, &s.table, "SELECT "+groupColumns+" FROM groups g", org, q,
		func(row pgx.Row) (*directory.Resource, error) { return scanGroup(row) })
}

// memberChanges implements directory.MemberChanges inside an update's transaction. Each change
// is one statement touching only the rows it names. When the group or a group containing it
// maps to grants, the users whose membership changed are collected so that their effective
// grants are refreshed before the transaction ends.
type memberChanges struct {
	ctx    context.Context
	tx     pgx.Tx
	org    string
	group  string
	s      *Groups
	nested bool // the organization allows groups as members
	mapped bool // the group or one containing it maps to grants
	// added and removed are the members added and removed, as "User:<id>" or "Group:<id>".
	added, removed []string
}

func (s *Groups) memberChanges(ctx context.Context, tx pgx.Tx, org, group string) (*memberChanges, error) {
	m := &memberChanges{ctx: ctx, tx: tx, org: org, group: group, s: s}
	err := tx.QueryRow(ctx, "SELECT o.nested_groups, "+mappedSQL("$2::uuid")+" FROM organizations o WHERE o.id = $1",
		org, group).Scan(&m.nested, &m.mapped)
	return m, err
}

// mappedSQL is a boolean SQL expression: whether the group whose id is the expression group,
// or a group containing it, maps to grants ($1 is the organization).
func mappedSQL(group string) string {
	return `EXISTS (
			WITH RECURSIVE up (id) AS (
				SELECT ` + group + `
				UNION
				SELECT gm.group_id FROM group_members gm JOIN up ON gm.org_id = $1 AND gm.member_id = up.id
			)
			SELECT 1 FROM up JOIN group_mappings mp ON mp.org_id = $1 AND mp.group_id = up.id)`
}

// refresh recomputes the effective grants of every user whose membership changed, directly or
// through a nested group.
func (m *memberChanges) refresh() ([]directory.GrantChange, error) {
	affected := append(append([]string{}, m.added...), m.removed...)
	if !m.mapped || len(affected) == 0 {
		return nil, nil
	}
	var users []string
	err := m.tx.QueryRow(m.ctx, `SELECT coalesce(array_agg(DISTINCT u), '{}') FROM (
			SELECT split_part(a, ':', 2)::uuid AS u FROM unnest($2::text[]) a WHERE a LIKE 'User:%'
			UNION ALL
			SELECT gu.user_id FROM unnest($2::text[]) a, group_users($1, split_part(a, ':', 2)::uuid) gu
			WHERE a LIKE 'Group:%') x`, m.org, affected).Scan(&users)
	if err != nil {
		return nil, err
	}
	return refreshGrants(m.ctx, m.tx, m.org, users)
}

// exec runs a statement that inserts or deletes members, and notes which in into.
func (m *memberChanges) exec(into *[]string, sql string, args ...any) error {
	rows, err := m.tx.Query(m.ctx, sql+" RETURNING member_id::text, member_type", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			return err
		}
		*into = append(*into, typ+":"+id)
	}
	return rows.Err()
}

// auditMembers describes the membership changes for the audit log, listing at most 100 ids of
// each kind so that a change to a huge group stays a small record.
func (m *memberChanges) auditMembers(changes map[string]any) {
	for name, list := range map[string][]string{"added": m.added, "removed": m.removed} {
		if len(list) == 0 {
			continue
		}
		shown := list
		if len(shown) > 100 {
			shown = shown[:100]
		}
		changes["members."+name] = map[string]any{"count": len(list), "members": shown}
	}
}

// ids returns the valid ids of refs in canonical (lower-case) form, as the database prints them.
func ids(refs []directory.MemberRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		if validID(r.Value) {
			out = append(out, strings.ToLower(r.Value))
		}
	}
	return out
}

// Add implements directory.MemberChanges: existing members are left as they are; an id that is
// not a user of the organization (or, with nesting, a group that would not form a cycle)
// refuses the whole request.
func (m *memberChanges) Add(refs []directory.MemberRef) error {
	if len(refs) == 0 {
		return nil
	}
	for _, r := range refs {
		if !validID(r.Value) {
			return scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", r.Value)
		}
	}
	// One statement classifies every id (a user, a group, or nothing of this organization)
	// and, when all are users (the common case), adds them.
	var added, groups, missing []string
	err := m.tx.QueryRow(m.ctx, `WITH wanted AS (SELECT DISTINCT unnest($3::uuid[]) AS id),
		kinds AS (
			SELECT w.id, u.id IS NOT NULL AS is_user, g.id IS NOT NULL AS is_group FROM wanted w
			LEFT JOIN users u ON u.org_id = $1 AND u.id = w.id
			LEFT JOIN groups g ON g.org_id = $1 AND g.id = w.id),
		ins AS (
			INSERT INTO group_members (org_id, group_id, member_id, member_type)
			SELECT $1, $2, k.id, 'User' FROM kinds k
			WHERE k.is_user AND NOT EXISTS (SELECT 1 FROM kinds WHERE NOT is_user)
			ON CONFLICT DO NOTHING RETURNING member_id)
		SELECT coalesce((SELECT array_agg(member_id::text) FROM ins), '{}'),
		       coalesce((SELECT array_agg(id::text) FROM kinds WHERE NOT is_user AND is_group), '{}'),
		       coalesce((SELECT array_agg(id::text) FROM kinds WHERE NOT is_user AND NOT is_group), '{}')`,
		m.org, m.group, ids(refs)).Scan(&added, &groups, &missing)
	if err != nil {
		return err
	}
	for _, id := range added {
		m.added = append(m.added, "User:"+id)
	}
	if len(missing) > 0 {
		return scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", missing[0])
	}
	if len(groups) == 0 {
		return nil
	}
	// Group-in-group changes are serialised per organization, so that two opposite
	// additions cannot both pass the cycle check and nesting cannot be disabled meanwhile.
	if err := m.tx.QueryRow(m.ctx, "SELECT nested_groups FROM organizations WHERE id = $1 FOR NO KEY UPDATE", m.org).Scan(&m.nested); err != nil {
		return err
	}
	if !m.nested {
		return scimerr.Invalid(scimerr.InvalidValue, "member %q is a Group; nested groups are not enabled for this organization", groups[0])
	}
	// A group may not contain itself, directly or through the groups it contains.
	var cycle *string
	err = m.tx.QueryRow(m.ctx, `WITH RECURSIVE down (id, top) AS (
			SELECT g, g FROM unnest($3::uuid[]) g
			UNION
			SELECT gm.member_id, d.top FROM group_members gm JOIN down d
				ON gm.org_id = $1 AND gm.group_id = d.id AND gm.member_type = 'Group'
		)
		SELECT top::text FROM down WHERE id = $2 LIMIT 1`, m.org, m.group, groups).Scan(&cycle)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return err
	}
	if cycle != nil {
		return scimerr.Invalid(scimerr.InvalidValue, "adding group %q as a member would make a cycle: it is or contains this group", *cycle)
	}
	// Groups among the members: nothing was added above, so users and groups are added now.
	var users []string
	for _, r := range ids(refs) {
		if !slices.Contains(groups, r) {
			users = append(users, r)
		}
	}
	return m.exec(&m.added, `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		SELECT $1, $2, x.id, x.type FROM (
			SELECT unnest($3::uuid[]) AS id, 'User' AS type UNION ALL SELECT unnest($4::uuid[]), 'Group'
		) x
		ON CONFLICT DO NOTHING`, m.org, m.group, users, groups)
}

// Remove implements directory.MemberChanges; ids that are not members are ignored.
func (m *memberChanges) Remove(refs []directory.MemberRef) error {
	if len(refs) == 0 {
		return nil
	}
	return m.exec(&m.removed, "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = ANY($3::uuid[])",
		m.org, m.group, ids(refs))
}

// RemoveWhere implements directory.MemberChanges: it removes the members matching a value
// filter such as `value eq "id"`, through the same whitelist as list filters.
func (m *memberChanges) RemoveWhere(f filter.Expr) error {
	q := &query{args: []any{m.org, m.group}}
	cond, err := m.s.members.where(q, f)
	if err != nil {
		return err
	}
	return m.exec(&m.removed, "DELETE FROM group_members c WHERE c.org_id = $1 AND c.group_id = $2 AND "+cond, q.args...)
}

// Replace implements directory.MemberChanges: members not in refs are removed, new ones added.
func (m *memberChanges) Replace(refs []directory.MemberRef) error {
	if err := m.exec(&m.removed, `DELETE FROM group_members WHERE org_id = $1 AND group_id = $2
		AND member_id <> ALL($3::uuid[])`, m.org, m.group, ids(refs)); err != nil {
		return err
	}
	return m.Add(refs)
}

// Clear implements directory.MemberChanges.
func (m *memberChanges) Clear() error {
	return m.exec(&m.removed, "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2", m.org, m.group)
}
