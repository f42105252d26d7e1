package orgs_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/scimerr"
)

// insertMember makes member ("User" or "Group") a member of group, straight in the database:
// effective grants are not refreshed.
func insertMember(t *testing.T, pool *pgxpool.Pool, org, group, member, typ string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		VALUES ($1, $2, $3, $4)`, org, group, member, typ)
	require.NoError(t, err)
}

// effective is a user's stored effective grants.
func effective(t *testing.T, pool *pgxpool.Pool, org, user string) grants.Grants {
	t.Helper()
	var g grants.Grants
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT eff_org_role, eff_account_role,
			coalesce((SELECT array_agg(product ORDER BY product) FROM user_effective_products p
				WHERE p.org_id = u.org_id AND p.user_id = u.id), '{}')
		FROM users u WHERE org_id = $1 AND id = $2`, org, user).Scan(&g.OrgRole, &g.AccountRole, &g.Products))
	return g
}

// refusedMapping runs fn, which must fail with kind, and requires that nothing stored changed,
// mappings and effective grants included.
func (f *fixture) refusedMapping(kind scimerr.Kind, fn func() error, fragments ...string) {
	f.t.Helper()
	before, beforeOrgs := orgstest.MappingState(f.t, f.pool), orgstest.Snapshot(f.t, f.pool)
	requireErr(f.t, fn(), kind, fragments...)
	require.Equal(f.t, before, orgstest.MappingState(f.t, f.pool), "a refused request must change nothing")
	require.Equal(f.t, beforeOrgs, orgstest.Snapshot(f.t, f.pool), "a refused request must change nothing")
}

func strp(s string) *string { return &s }

func TestGroupMappingSetListRemove(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.a.ID
	admin := orgstest.InsertUser(t, f.pool, org, "admin@acme.example", "admin", true)
	ada := orgstest.InsertUser(t, f.pool, org, "ada@acme.example", "user", true)
	bob := orgstest.InsertUser(t, f.pool, org, "bob@acme.example", "user", true)
	off := orgstest.InsertUser(t, f.pool, org, "off@acme.example", "user", false)
	orgstest.Grant(t, f.pool, org, bob, "training")
	_, err := f.pool.Exec(f.ctx, `INSERT INTO user_effective_products (org_id, user_id, product) VALUES ($1, $2, 'training')`, org, bob)
	require.NoError(t, err)
	eng := orgstest.InsertGroup(t, f.pool, org, "Engineering")
	all := orgstest.InsertGroup(t, f.pool, org, "all staff")
	insertMember(t, f.pool, org, eng, ada, "User")
	insertMember(t, f.pool, org, eng, bob, "User")
	insertMember(t, f.pool, org, eng, off, "User")

	// A new mapping: roles are case-insensitive, products deduplicated and sorted.
	set, err := f.svc.SetGroupMapping(f.ctx, org, eng, orgs.MappingInput{OrgRole: "Admin-ReadOnly", Products: []string{"webinar", "meeting", "meeting"}})
	require.NoError(t, err)
	require.True(t, set.Created)
	require.Equal(t, eng, set.GroupID)
	require.Equal(t, "Engineering", set.GroupName)
	require.Equal(t, strp("admin-readonly"), set.OrgRole)
	require.Nil(t, set.AccountRole)
	require.Equal(t, []string{"meeting", "webinar"}, set.Products)
	require.Equal(t, 2, set.UsersChanged, "ada and bob; the suspended user gets nothing")
	require.Len(t, set.Changes, 2)
	byUser := map[string]directory.GrantChange{}
	for _, c := range set.Changes {
		byUser[c.UserID] = c
	}
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "member", Products: []string{}}, byUser[ada].Before)
	require.Equal(t, grants.Grants{OrgRole: "admin-readonly", AccountRole: "member", Products: []string{"meeting", "webinar"}}, byUser[ada].After)
	require.Equal(t, []string{"meeting", "training", "webinar"}, byUser[bob].After.Products)

	require.Equal(t, grants.Grants{OrgRole: "admin-readonly", AccountRole: "member", Products: []string{"meeting", "webinar"}}, effective(t, f.pool, org, ada))
	require.Equal(t, grants.Grants{OrgRole: "admin-readonly", AccountRole: "member", Products: []string{"meeting", "training", "webinar"}}, effective(t, f.pool, org, bob))
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "member", Products: []string{}}, effective(t, f.pool, org, off))
	require.Equal(t, grants.Grants{OrgRole: "admin", AccountRole: "member", Products: []string{}}, effective(t, f.pool, org, admin))
	require.Equal(t, 1, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_mappings WHERE org_id = $1 AND group_id = $2
		AND org_role = 'admin-readonly' AND account_role IS NULL`, org, eng))
	require.Equal(t, 2, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_mapping_products WHERE org_id = $1 AND group_id = $2`, org, eng))
	// The direct grants are untouched.
	require.Equal(t, 1, orgstest.Count(t, f.pool, `SELECT count(*) FROM users WHERE id = $1 AND org_role = 'user'`, ada))
	require.Equal(t, 0, orgstest.Count(t, f.pool, `SELECT count(*) FROM user_products WHERE user_id = $1`, ada))

	// Setting the same mapping again changes nobody.
	set, err = f.svc.SetGroupMapping(f.ctx, org, eng, orgs.MappingInput{OrgRole: "admin-readonly", Products: []string{"meeting", "webinar"}})
	require.NoError(t, err)
	require.False(t, set.Created)
	require.Zero(t, set.UsersChanged)

	// Replacing it replaces all of it.
	set, err = f.svc.SetGroupMapping(f.ctx, org, eng, orgs.MappingInput{AccountRole: "admin", Products: []string{"meeting"}})
	require.NoError(t, err)
	require.False(t, set.Created)
	require.Equal(t, 2, set.UsersChanged)
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "admin", Products: []string{"meeting"}}, effective(t, f.pool, org, ada))
	require.Equal(t, 1, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_mapping_products WHERE org_id = $1 AND group_id = $2`, org, eng))

	// A group nested in a mapped group passes the mapping on; the highest role wins.
	_, err = f.svc.SetNestedGroups(f.ctx, org, true)
	require.NoError(t, err)
	insertMember(t, f.pool, org, all, eng, "Group")
	set, err = f.svc.SetGroupMapping(f.ctx, org, all, orgs.MappingInput{OrgRole: "admin-readonly", AccountRole: "member", Products: []string{"connect"}})
	require.NoError(t, err)
	require.True(t, set.Created)
	require.Equal(t, 2, set.UsersChanged)
	require.Equal(t, grants.Grants{OrgRole: "admin-readonly", AccountRole: "admin", Products: []string{"connect", "meeting"}}, effective(t, f.pool, org, ada))

	list, err := f.svc.ListGroupMappings(f.ctx, org)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, all, list[0].GroupID, "by name, case-insensitively")
	require.Equal(t, "all staff", list[0].GroupName)
	require.Equal(t, strp("admin-readonly"), list[0].OrgRole)
	require.Equal(t, strp("member"), list[0].AccountRole)
	require.Equal(t, []string{"connect"}, list[0].Products)
	require.Equal(t, eng, list[1].GroupID)
	require.Nil(t, list[1].OrgRole)
	require.Equal(t, strp("admin"), list[1].AccountRole)
	require.False(t, list[1].Updated.IsZero())
	other, err := f.svc.ListGroupMappings(f.ctx, f.b.ID)
	require.NoError(t, err)
	require.Empty(t, other)
	require.NotNil(t, other, "an empty list, not null")

	// A product granted through a mapping cannot be withdrawn.
	f.refusedMapping(scimerr.KindConflict, func() error { return f.svc.RemoveProduct(f.ctx, org, "connect") }, "still granted")

	removed, err := f.svc.RemoveGroupMapping(f.ctx, org, all)
	require.NoError(t, err)
	require.Equal(t, &orgs.MappingRemoved{GroupID: all, Removed: true, UsersChanged: 2, Changes: removed.Changes}, removed)
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "admin", Products: []string{"meeting"}}, effective(t, f.pool, org, ada))
	removed, err = f.svc.RemoveGroupMapping(f.ctx, org, eng)
	require.NoError(t, err)
	require.Equal(t, 2, removed.UsersChanged)
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "member", Products: []string{}}, effective(t, f.pool, org, ada))
	require.Equal(t, grants.Grants{OrgRole: "user", AccountRole: "member", Products: []string{"training"}}, effective(t, f.pool, org, bob))
	require.Equal(t, 0, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_mappings`))
	require.Equal(t, 0, orgstest.Count(t, f.pool, `SELECT count(*) FROM group_mapping_products`))
	require.NoError(t, f.svc.RemoveProduct(f.ctx, org, "connect"))

	f.refusedMapping(scimerr.KindNotFound, func() error {
		_, err := f.svc.RemoveGroupMapping(f.ctx, org, eng)
		return err
	}, "group "+eng+" of organization "+org+" has no mapping")
}

func TestGroupMappingRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.a.ID
	ada := orgstest.InsertUser(t, f.pool, org, "ada@acme.example", "user", true)
	eng := orgstest.InsertGroup(t, f.pool, org, "Engineering")
	insertMember(t, f.pool, org, eng, ada, "User")
	theirs := orgstest.InsertGroup(t, f.pool, f.b.ID, "Globex staff")
	_, err := f.svc.SetGroupMapping(f.ctx, org, eng, orgs.MappingInput{Products: []string{"meeting"}})
	require.NoError(t, err)

	set := func(org, group string, in orgs.MappingInput) func() error {
		return func() error {
			_, err := f.svc.SetGroupMapping(f.ctx, org, group, in)
			return err
		}
	}
	remove := func(org, group string) func() error {
		return func() error {
			_, err := f.svc.RemoveGroupMapping(f.ctx, org, group)
			return err
		}
	}
	ok := orgs.MappingInput{OrgRole: "admin"}
	missing := uuid.NewString()
	f.refusedMapping(scimerr.KindNotFound, set(org, missing, ok), "organization "+org+" has no group \""+missing+"\"")
	f.refusedMapping(scimerr.KindNotFound, set(org, "not-a-uuid", ok), `has no group "not-a-uuid"`)
	f.refusedMapping(scimerr.KindNotFound, set(org, theirs, ok), "has no group")
	f.refusedMapping(scimerr.KindNotFound, set(f.b.ID, eng, ok), "has no group")
	f.refusedMapping(scimerr.KindNotFound, set(uuid.NewString(), eng, ok), "there is no organization")
	f.refusedMapping(scimerr.KindNotFound, set("nope", eng, ok), `there is no organization "nope"`)
	f.refusedMapping(scimerr.KindNotFound, remove(org, missing), "has no group")
	f.refusedMapping(scimerr.KindNotFound, remove(f.b.ID, eng), "has no group")
	f.refusedMapping(scimerr.KindNotFound, remove(org, theirs), "has no group")
	f.refusedMapping(scimerr.KindNotFound, func() error {
		_, err := f.svc.ListGroupMappings(f.ctx, uuid.NewString())
		return err
	}, "there is no organization")

	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{Products: []string{"meeting", "whiteboard"}}),
		`product "whiteboard" is not licensed by organization `+org+"; licensed products are connect, meeting, openvoice, training, webinar")
	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{OrgRole: "owner"}),
		`org_role "owner" is not valid; use admin, admin-readonly, user`)
	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{AccountRole: "admin-readonly"}),
		`account_role "admin-readonly" is not valid; use admin, member`)
	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{}), "a mapping needs an org_role, an account_role or products")
	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{Products: []string{" "}}), "a product name is empty")

	// A product licensed to another organization only is not licensed here.
	require.NoError(t, f.svc.AddProduct(f.ctx, f.b.ID, "whiteboard"))
	f.refusedMapping(scimerr.KindInvalid, set(org, eng, orgs.MappingInput{Products: []string{"whiteboard"}}), `product "whiteboard" is not licensed`)
}

// The organization's only active admin holds the role through a group mapping: changing or
// removing the mapping is refused, and the refusal changes nothing.
func TestGroupMappingKeepsAnAdmin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.a.ID
	ada := orgstest.InsertUser(t, f.pool, org, "ada@acme.example", "user", true)
	admins := orgstest.InsertGroup(t, f.pool, org, "Admins")
	insertMember(t, f.pool, org, admins, ada, "User")
	set, err := f.svc.SetGroupMapping(f.ctx, org, admins, orgs.MappingInput{OrgRole: "admin"})
	require.NoError(t, err)
	require.Equal(t, 1, set.UsersChanged)
	require.Equal(t, "admin", effective(t, f.pool, org, ada).OrgRole)

	f.refusedMapping(scimerr.KindConflict, func() error {
		_, err := f.svc.SetGroupMapping(f.ctx, org, admins, orgs.MappingInput{OrgRole: "admin-readonly", Products: []string{"meeting"}})
		return err
	}, "without an active admin")
	f.refusedMapping(scimerr.KindConflict, func() error {
		_, err := f.svc.RemoveGroupMapping(f.ctx, org, admins)
		return err
	}, "without an active admin")

	// With another admin, the mapping can go.
	orgstest.InsertUser(t, f.pool, org, "root@acme.example", "admin", true)
	removed, err := f.svc.RemoveGroupMapping(f.ctx, org, admins)
	require.NoError(t, err)
	require.Equal(t, 1, removed.UsersChanged)
	require.Equal(t, "user", effective(t, f.pool, org, ada).OrgRole)
}

func TestNestedGroupsSetting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.a.ID
	nested := func(org string) bool {
		var v bool
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT nested_groups FROM organizations WHERE id = $1`, org).Scan(&v))
		return v
	}
	require.False(t, nested(org), "off by default")

	o, err := f.svc.SetNestedGroups(f.ctx, org, true)
	require.NoError(t, err)
	require.True(t, o.NestedGroups)
	require.Equal(t, org, o.ID)
	require.Equal(t, "Acme", o.Name)
	require.True(t, nested(org))
	require.False(t, nested(f.b.ID), "another organization's setting is its own")
	_, err = f.svc.SetNestedGroups(f.ctx, org, true)
	require.NoError(t, err, "enabling twice is fine")

	a, b, c := orgstest.InsertGroup(t, f.pool, org, "A"), orgstest.InsertGroup(t, f.pool, org, "B"), orgstest.InsertGroup(t, f.pool, org, "C")
	insertMember(t, f.pool, org, a, b, "Group")
	insertMember(t, f.pool, org, b, c, "Group")
	insertMember(t, f.pool, org, a, orgstest.InsertUser(t, f.pool, org, "ada@acme.example", "user", true), "User")
	// The other organization's nested memberships do not count here.
	x, y := orgstest.InsertGroup(t, f.pool, f.b.ID, "X"), orgstest.InsertGroup(t, f.pool, f.b.ID, "Y")
	insertMember(t, f.pool, f.b.ID, x, y, "Group")

	f.refusedMapping(scimerr.KindConflict, func() error {
		_, err := f.svc.SetNestedGroups(f.ctx, org, false)
		return err
	}, "nested groups cannot be disabled for organization "+org+": 2 group-in-group memberships exist")
	_, err = f.pool.Exec(f.ctx, `DELETE FROM group_members WHERE org_id = $1 AND member_type = 'Group'`, org)
	require.NoError(t, err)
	o, err = f.svc.SetNestedGroups(f.ctx, org, false)
	require.NoError(t, err)
	require.False(t, o.NestedGroups)
	require.False(t, nested(org))
	_, err = f.svc.SetNestedGroups(f.ctx, f.b.ID, false)
	require.NoError(t, err, "disabling what is disabled is fine, memberships or not")

	f.refusedMapping(scimerr.KindNotFound, func() error {
		_, err := f.svc.SetNestedGroups(f.ctx, uuid.NewString(), true)
		return err
	}, "there is no organization")
	f.refusedMapping(scimerr.KindNotFound, func() error {
		_, err := f.svc.SetNestedGroups(f.ctx, "nope", true)
		return err
	}, `there is no organization "nope"`)
}
