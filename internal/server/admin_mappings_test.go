package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// refusedMapping is refused, with the mapping tables and effective grants also unchanged.
func (a *adminAPI) refusedMapping(status int, method, path string, body any, fragments ...string) {
	a.t.Helper()
	before := orgstest.MappingState(a.t, a.pool)
	a.refused(status, method, path, body, fragments...)
	require.Equal(a.t, before, orgstest.MappingState(a.t, a.pool), "%s %s must change nothing", method, path)
}

func (a *adminAPI) effOrgRole(user string) string {
	a.t.Helper()
	var r string
	require.NoError(a.t, a.pool.QueryRow(context.Background(), "SELECT eff_org_role FROM users WHERE id = $1", user).Scan(&r))
	return r
}

func TestAdminGroupMappings(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	ada := orgstest.InsertUser(t, a.pool, org, "ada@acme.example", "user", true)
	orgstest.InsertUser(t, a.pool, org, "root@acme.example", "admin", true)
	gid := orgstest.InsertGroup(a.t, a.pool, org, "Engineering", ada)
	path := "/admin/v1/orgs/" + org + "/group-mappings/" + gid

	r := a.must(http.StatusCreated, http.MethodPut, path, map[string]any{"org_role": "admin-readonly", "products": []string{"webinar", "meeting"}})
	require.Equal(t, gid, r.Body["group_id"])
	require.Equal(t, "Engineering", r.Body["group_name"])
	require.Equal(t, "admin-readonly", r.Body["org_role"])
	require.Contains(t, r.Body, "account_role")
	require.Nil(t, r.Body["account_role"])
	require.Equal(t, []any{"meeting", "webinar"}, r.Body["products"])
	require.EqualValues(t, 1, r.Body["users_changed"])
	require.NotEmpty(t, r.Body["updated"])
	require.Equal(t, "admin-readonly", a.effOrgRole(ada))
	require.Equal(t, 2, orgstest.Count(t, a.pool, "SELECT count(*) FROM user_effective_products WHERE user_id = $1", ada))

	// Replacing: 200; a body without Content-Type is accepted.
	r = a.callWith(http.Header{"Authorization": {"Bearer " + a.token}}, http.MethodPut, path, `{"account_role": "admin"}`)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	require.Nil(t, r.Body["org_role"])
	require.Equal(t, "admin", r.Body["account_role"])
	require.Equal(t, []any{}, r.Body["products"])
	require.EqualValues(t, 1, r.Body["users_changed"])
	require.Equal(t, "user", a.effOrgRole(ada))
	require.Zero(t, orgstest.Count(t, a.pool, "SELECT count(*) FROM group_mapping_products WHERE group_id = $1", gid))

	l := a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+org+"/group-mappings", nil)
	require.Len(t, l.Body["group_mappings"], 1)
	m := l.Body["group_mappings"].([]any)[0].(map[string]any)
	require.Equal(t, gid, m["group_id"])
	require.Equal(t, "admin", m["account_role"])
	require.Equal(t, "no-store", l.Header.Get("Cache-Control"))

	r = a.must(http.StatusOK, http.MethodDelete, path, nil)
	require.Equal(t, map[string]any{"group_id": gid, "removed": true, "users_changed": float64(1)}, r.Body)
	require.Zero(t, orgstest.Count(t, a.pool, "SELECT count(*) FROM group_mappings"))
	require.Equal(t, map[string]any{"group_mappings": []any{}}, a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+org+"/group-mappings", nil).Body)
	a.refusedMapping(http.StatusNotFound, http.MethodDelete, path, nil, "group "+gid+" of organization "+org+" has no mapping")
}

func TestAdminGroupMappingRefusals(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	other := a.createOrg("Globex", "globex.example")
	ada := orgstest.InsertUser(t, a.pool, org, "ada@acme.example", "user", true)
	gid := orgstest.InsertGroup(a.t, a.pool, org, "Admins", ada)
	theirs := orgstest.InsertGroup(a.t, a.pool, other, "Globex staff")
	base := "/admin/v1/orgs/" + org + "/group-mappings/"
	a.must(http.StatusCreated, http.MethodPut, base+gid, map[string]any{"org_role": "admin"})
	require.Equal(t, "admin", a.effOrgRole(ada))

	ok := map[string]any{"products": []string{"meeting"}}
	missing := uuid.NewString()
	a.refusedMapping(http.StatusNotFound, http.MethodPut, base+missing, ok, "organization "+org+" has no group \""+missing+"\"")
	a.refusedMapping(http.StatusNotFound, http.MethodPut, base+"nope", ok, `has no group "nope"`)
	a.refusedMapping(http.StatusNotFound, http.MethodPut, base+theirs, ok, "has no group")
	a.refusedMapping(http.StatusNotFound, http.MethodPut, "/admin/v1/orgs/"+other+"/group-mappings/"+gid, ok, "has no group")
	a.refusedMapping(http.StatusNotFound, http.MethodDelete, "/admin/v1/orgs/"+other+"/group-mappings/"+gid, nil, "has no group")
	a.refusedMapping(http.StatusNotFound, http.MethodPut, "/admin/v1/orgs/"+missing+"/group-mappings/"+gid, ok, "there is no organization")
	a.refusedMapping(http.StatusNotFound, http.MethodGet, "/admin/v1/orgs/"+missing+"/group-mappings", nil, "there is no organization")
	require.Equal(t, map[string]any{"group_mappings": []any{}},
		a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+other+"/group-mappings", nil).Body, "another organization's mappings are its own")

	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{"org_role": "admin", "products": []string{"whiteboard"}},
		`product "whiteboard" is not licensed by organization `+org+"; licensed products are connect, meeting, openvoice, training, webinar")
	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{"org_role": "owner"}, `org_role "owner" is not valid`)
	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{"account_role": "user"}, `account_role "user" is not valid`)
	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{}, "a mapping needs")
	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{"orgRole": "admin"}, "unknown field")
	a.refusedMapping(http.StatusBadRequest, http.MethodPut, base+gid, map[string]any{"products": "meeting"}, "not a valid JSON object")
	a.refusedMapping(http.StatusConflict, http.MethodPut, base+gid, map[string]any{"org_role": "admin-readonly"}, "without an active admin")
	a.refusedMapping(http.StatusConflict, http.MethodDelete, base+gid, nil, "without an active admin")

	before := orgstest.MappingState(a.t, a.pool)
	r := a.callWith(http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {"Bearer " + a.token}},
		http.MethodPut, base+gid, `org_role=user`)
	requireAdminError(t, r, http.StatusUnsupportedMediaType)
	r = a.callWith(http.Header{}, http.MethodPut, base+gid, map[string]any{"org_role": "user"})
	requireAdminError(t, r, http.StatusUnauthorized)
	r = a.callWith(http.Header{"Authorization": {"Bearer wrong-token-0123456789"}}, http.MethodDelete, base+gid, nil)
	requireAdminError(t, r, http.StatusUnauthorized)
	require.Equal(t, before, orgstest.MappingState(a.t, a.pool))
	require.Equal(t, "admin", a.effOrgRole(ada))
}

func TestAdminNestedGroupsSetting(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	other := a.createOrg("Globex", "globex.example")
	path := "/admin/v1/orgs/" + org
	nested := func(org string) bool {
		var v bool
		require.NoError(t, a.pool.QueryRow(context.Background(), "SELECT nested_groups FROM organizations WHERE id = $1", org).Scan(&v))
		return v
	}

	r := a.must(http.StatusOK, http.MethodPatch, path, map[string]any{"nested_groups": true})
	require.Equal(t, true, r.Body["nested_groups"])
	require.Equal(t, org, r.Body["id"])
	require.Equal(t, "Acme", r.Body["name"])
	require.True(t, nested(org))
	require.False(t, nested(other))

	parent, child := orgstest.InsertGroup(a.t, a.pool, org, "Parent"), orgstest.InsertGroup(a.t, a.pool, org, "Child")
	_, err := a.pool.Exec(context.Background(), `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		VALUES ($1, $2, $3, 'Group')`, org, parent, child)
	require.NoError(t, err)
	a.refusedMapping(http.StatusConflict, http.MethodPatch, path, map[string]any{"nested_groups": false},
		"nested groups cannot be disabled for organization "+org+": 1 group-in-group memberships exist")
	a.refusedMapping(http.StatusBadRequest, http.MethodPatch, path, map[string]any{}, "nothing to change")
	a.refusedMapping(http.StatusBadRequest, http.MethodPatch, path, map[string]any{"nested_groups": "no"}, "not a valid JSON object")
	a.refusedMapping(http.StatusBadRequest, http.MethodPatch, path, map[string]any{"colour": "blue"}, "unknown field")
	a.refusedMapping(http.StatusBadRequest, http.MethodPatch, path, map[string]any{"name": " ", "notify": false}, "needs a name")
	a.refusedMapping(http.StatusNotFound, http.MethodPatch, "/admin/v1/orgs/"+uuid.NewString(), map[string]any{"nested_groups": true}, "there is no organization")
	requireAdminError(t, a.callWith(http.Header{}, http.MethodPatch, path, map[string]any{"nested_groups": false}), http.StatusUnauthorized)
	require.True(t, nested(org))

	_, err = a.pool.Exec(context.Background(), `DELETE FROM group_members WHERE org_id = $1`, org)
	require.NoError(t, err)
	r = a.must(http.StatusOK, http.MethodPatch, path, map[string]any{"nested_groups": false})
	require.Equal(t, false, r.Body["nested_groups"])
	require.False(t, nested(org))
}
