package main

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// failsMapping is fails, with the mapping tables and effective grants also unchanged.
func (c *cli) failsMapping(args []string, fragments ...string) {
	c.t.Helper()
	before := orgstest.MappingState(c.t, c.pool)
	c.fails(args, fragments...)
	require.Equal(c.t, before, orgstest.MappingState(c.t, c.pool))
}

func (c *cli) eff(user string) (orgRole, accountRole string, products []string) {
	c.t.Helper()
	require.NoError(c.t, c.pool.QueryRow(context.Background(), `SELECT eff_org_role, eff_account_role,
			coalesce((SELECT array_agg(product ORDER BY product) FROM user_effective_products p WHERE p.user_id = u.id), '{}')
		FROM users u WHERE id = $1`, user).Scan(&orgRole, &accountRole, &products))
	return
}

func TestCLIGroupMappings(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	other := c.createOrg("--name", "Globex")
	ada := orgstest.InsertUser(t, c.pool, org, "ada@acme.example", "user", true)
	bob := orgstest.InsertUser(t, c.pool, org, "bob@acme.example", "user", true)
	eng := orgstest.InsertGroup(c.t, c.pool, org, "Engineering", ada, bob)
	ops := orgstest.InsertGroup(c.t, c.pool, org, "Operations", ada)
	theirs := orgstest.InsertGroup(c.t, c.pool, other, "Globex staff")

	out := c.ok("group-mapping", "set", "--org", org, "--group", eng, "--products", "meeting, webinar", "--org-role", "admin-readonly")
	require.Equal(t, "group "+eng+" (Engineering) of organization "+org+" maps to orgRole admin-readonly, accountRole -, products meeting,webinar\n"+
		"effective grants of 2 users changed\n", out)
	role, account, products := c.eff(ada)
	require.Equal(t, "admin-readonly", role)
	require.Equal(t, "member", account)
	require.Equal(t, []string{"meeting", "webinar"}, products)

	m := c.json("group-mapping", "set", "--org", org, "--group", ops, "--account-role", "admin", "--products", "connect", "--products", "meeting")
	require.Equal(t, ops, m["group_id"])
	require.Equal(t, "Operations", m["group_name"])
	require.Nil(t, m["org_role"])
	require.Equal(t, "admin", m["account_role"])
	require.Equal(t, []any{"connect", "meeting"}, m["products"])
	require.EqualValues(t, 1, m["users_changed"])
	_, account, products = c.eff(ada)
	require.Equal(t, "admin", account)
	require.Equal(t, []string{"connect", "meeting", "webinar"}, products)

	list := c.json("group-mapping", "list", "--org", org)["group_mappings"].([]any)
	require.Len(t, list, 2)
	require.Equal(t, eng, list[0].(map[string]any)["group_id"])
	require.Equal(t, ops, list[1].(map[string]any)["group_id"])
	text := c.ok("group-mapping", "list", "--org", org)
	require.Regexp(t, `GROUP\s+NAME\s+ORG ROLE\s+ACCOUNT ROLE\s+PRODUCTS\n`, text)
	require.Regexp(t, eng+`\s+Engineering\s+admin-readonly\s+-\s+meeting,webinar\n`, text)
	require.Regexp(t, ops+`\s+Operations\s+-\s+admin\s+connect,meeting\n`, text)
	require.Equal(t, map[string]any{"group_mappings": []any{}}, c.json("group-mapping", "list", "--org", other))

	require.Equal(t, "mapping of group "+ops+" removed from organization "+org+"\neffective grants of 1 user changed\n",
		c.ok("group-mapping", "remove", "--org", org, "--group", ops))
	require.Equal(t, map[string]any{"group_id": eng, "removed": true, "users_changed": float64(2)},
		c.json("group-mapping", "remove", "--org", org, "--group", eng))
	role, account, products = c.eff(ada)
	require.Equal(t, []any{"user", "member", []string{}}, []any{role, account, products})
	require.Zero(t, orgstest.Count(t, c.pool, "SELECT count(*) FROM group_mappings"))

	// Refusals change nothing.
	missing := uuid.NewString()
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--products", "meeting"}, "--group is required")
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", missing, "--products", "meeting"}, "organization "+org+" has no group \""+missing+"\"")
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", theirs, "--products", "meeting"}, "has no group")
	c.failsMapping([]string{"group-mapping", "set", "--org", other, "--group", eng, "--products", "meeting"}, "has no group")
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", eng, "--products", "meeting,whiteboard"},
		`product "whiteboard" is not licensed by organization `+org+"; licensed products are connect, meeting, openvoice, training, webinar")
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", eng, "--org-role", "root"}, `org_role "root" is not valid`)
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", eng, "--account-role", "owner"}, `account_role "owner" is not valid`)
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", eng}, "a mapping needs")
	c.failsMapping([]string{"group-mapping", "remove", "--org", org, "--group", eng}, "has no mapping")
	c.failsMapping([]string{"group-mapping", "remove", "--org", other, "--group", eng}, "has no group")
	c.failsMapping([]string{"group-mapping", "list"}, "--org is required")
	c.failsMapping([]string{"group-mapping", "list", "--org", uuid.NewString()}, "there is no organization")
	c.failsMapping([]string{"group-mapping", "show", "--org", org}, `unknown command "group-mapping show"`)

	// The last active admin, admin through a group, keeps the role.
	c.ok("group-mapping", "set", "--org", org, "--group", eng, "--org-role", "admin")
	c.failsMapping([]string{"group-mapping", "remove", "--org", org, "--group", eng}, "without an active admin")
	c.failsMapping([]string{"group-mapping", "set", "--org", org, "--group", eng, "--org-role", "user"}, "without an active admin")

	require.Contains(t, c.ok("help", "admin"), "group-mapping set")
}

func TestCLIOrgSet(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	nested := func() bool {
		var v bool
		require.NoError(t, c.pool.QueryRow(context.Background(), "SELECT nested_groups FROM organizations WHERE id = $1", org).Scan(&v))
		return v
	}

	require.Contains(t, c.ok("org", "set", "--org", org, "--nested-groups=true"), "organization "+org+" (Acme, default locale en-US): nested groups enabled")
	require.True(t, nested())
	o := c.json("org", "set", "--org", org, "--nested-groups")
	require.Equal(t, true, o["nested_groups"])
	require.Equal(t, "Acme", o["name"])

	parent, child := orgstest.InsertGroup(c.t, c.pool, org, "Parent"), orgstest.InsertGroup(c.t, c.pool, org, "Child")
	_, err := c.pool.Exec(context.Background(), `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		VALUES ($1, $2, $3, 'Group')`, org, parent, child)
	require.NoError(t, err)
	c.failsMapping([]string{"org", "set", "--org", org, "--nested-groups=false"}, "1 group-in-group memberships exist")
	c.failsMapping([]string{"org", "set", "--org", org}, "nothing to change")
	c.failsMapping([]string{"org", "set", "--org", org, "--nested-groups=maybe"}, "want true or false")
	c.failsMapping([]string{"org", "set", "--org", uuid.NewString(), "--nested-groups=true"}, "there is no organization")
	require.True(t, nested())

	_, err = c.pool.Exec(context.Background(), `DELETE FROM group_members WHERE org_id = $1`, org)
	require.NoError(t, err)
	require.Equal(t, false, c.json("org", "set", "--org", org, "--nested-groups=false")["nested_groups"])
	require.Contains(t, c.ok("org", "set", "--org", org, "--nested-groups=false"), "organization "+org+" (Acme, default locale en-US): nested groups disabled")
	require.False(t, nested())
}
