package main

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// The command line's cells of the rule × path matrix (internal/server/matrix_test.go has the
// SCIM and admin API ones): the rules the operator's commands reach through group mappings and
// tokens. The operator has no user of the organization, so self-protection never stops it; the
// last admin and the revocation of a demoted issuer's tokens apply to it as to any path.

// revokedAt is when a token was revoked, nil while it is not.
func (c *cli) revokedAt(id string) *time.Time {
	c.t.Helper()
	var at *time.Time
	require.NoError(c.t, c.pool.QueryRow(context.Background(), "SELECT revoked_at FROM tokens WHERE id = $1", id).Scan(&at))
	return at
}

// nest makes group child a member of group parent, nesting being enabled for org.
func (c *cli) nest(org, parent, child string) {
	c.t.Helper()
	c.ok("org", "set", "--org", org, "--nested-groups=true")
	_, err := c.pool.Exec(context.Background(), `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		VALUES ($1, $2, $3, 'Group')`, org, parent, child)
	require.NoError(c.t, err)
}

// Rule 8: no mapping change leaves the organization without an active admin.
func TestCLIMatrixLastAdmin(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, tc := range []struct {
		name           string
		nested         bool // the admin is in a group nested in the mapped one
		suspendedAdmin bool // another admin exists, suspended
		args           []string
	}{
		{"removing the mapping", false, false, []string{"group-mapping", "remove"}},
		{"removing the mapping, another admin suspended", false, true, []string{"group-mapping", "remove"}},
		{"removing the outer group's mapping", true, false, []string{"group-mapping", "remove"}},
		{"mapping to admin-readonly", false, false, []string{"group-mapping", "set", "--org-role", "admin-readonly"}},
		{"mapping to user", true, true, []string{"group-mapping", "set", "--org-role", "user"}},
		{"mapping to products only", false, false, []string{"group-mapping", "set", "--products", "meeting"}},
	} {
		org := c.createOrg("--name", "Acme", "--domain", "acme.example")
		a := orgstest.InsertUser(t, c.pool, org, "a@acme.example", "user", true)
		mapped := orgstest.InsertGroup(t, c.pool, org, "Admins", a)
		if tc.nested {
			outer := orgstest.InsertGroup(t, c.pool, org, "Outer")
			c.nest(org, outer, mapped)
			mapped = outer
		}
		if tc.suspendedAdmin {
			orgstest.InsertUser(t, c.pool, org, "b@acme.example", "admin", false)
		}
		c.ok("group-mapping", "set", "--org", org, "--group", mapped, "--org-role", "admin")
		role, _, _ := c.eff(a)
		require.Equal(t, "admin", role, tc.name)
		c.failsMapping(append(tc.args, "--org", org, "--group", mapped), "without an active admin")
	}
}

// Rules 3 and 6: the operator may demote an admin through a mapping; the demoted issuer's tokens
// are revoked at that moment and stay revoked when the mapping makes the issuer admin again.
// Tokens are issued only for active admin and admin-readonly users.
func TestCLIMatrixTokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	other := c.createOrg("--name", "Globex", "--domain", "globex.example")
	orgstest.InsertUser(t, c.pool, org, "keeper@acme.example", "admin", true)
	u := orgstest.InsertUser(t, c.pool, org, "u@acme.example", "user", true)
	g := orgstest.InsertGroup(t, c.pool, org, "Admins", u)
	c.ok("group-mapping", "set", "--org", org, "--group", g, "--org-role", "admin")

	// Admin only through the group, u may issue tokens.
	first := c.json("token", "create", "--org", org, "--issuer", u)["id"].(string)
	require.Nil(t, c.revokedAt(first))

	for _, step := range []struct {
		name string
		args []string
		role string // u's orgRole afterwards
	}{
		{"mapping removed", []string{"group-mapping", "remove", "--org", org, "--group", g}, "user"},
		{"mapping lowered to admin-readonly", []string{"group-mapping", "set", "--org", org, "--group", g, "--org-role", "admin-readonly"}, "admin-readonly"},
		{"mapping lowered to user", []string{"group-mapping", "set", "--org", org, "--group", g, "--org-role", "user"}, "user"},
	} {
		c.ok("group-mapping", "set", "--org", org, "--group", g, "--org-role", "admin")
		token := c.json("token", "create", "--org", org, "--issuer", u)["id"].(string)
		before := time.Now()
		require.Contains(t, c.ok(step.args...), "effective grants of 1 user changed", step.name)
		role, _, _ := c.eff(u)
		require.Equal(t, step.role, role, step.name)
		at := c.revokedAt(token)
		require.NotNil(t, at, "%s: the demoted issuer's token is revoked", step.name)
		require.WithinRange(t, *at, before.Add(-time.Second), time.Now().Add(time.Second), step.name)

		c.ok("group-mapping", "set", "--org", org, "--group", g, "--org-role", "admin")
		role, _, _ = c.eff(u)
		require.Equal(t, "admin", role, step.name)
		require.Equal(t, at, c.revokedAt(token), "%s: revoked for good", step.name)
	}
	require.NotNil(t, c.revokedAt(first))

	// Revoking is for good too, and revoking again keeps the first time.
	token := c.json("token", "create", "--org", org, "--issuer", u)["id"].(string)
	revoked := c.json("token", "revoke", "--org", org, "--id", token)["revoked_at"]
	require.NotNil(t, revoked)
	require.Equal(t, revoked, c.json("token", "revoke", "--org", org, "--id", token)["revoked_at"])

	plain := orgstest.InsertUser(t, c.pool, org, "plain@acme.example", "user", true)
	suspended := orgstest.InsertUser(t, c.pool, org, "s@acme.example", "admin", false)
	stranger := orgstest.InsertUser(t, c.pool, other, "x@globex.example", "admin", true)
	c.fails([]string{"token", "create", "--org", org, "--issuer", plain}, `has the orgRole "user"`)
	c.fails([]string{"token", "create", "--org", org, "--issuer", suspended}, "is suspended")
	c.fails([]string{"token", "create", "--org", org, "--issuer", stranger}, "is not a user of organization "+org)
}
