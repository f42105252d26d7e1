package server_test

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// members is the stored member set of a group, sorted.
func (e *env) members(gid string) []string {
	e.t.Helper()
	var out []string
	require.NoError(e.t, e.pool.QueryRow(e.t.Context(),
		"SELECT coalesce(array_agg(member_id::text ORDER BY member_id), '{}') FROM group_members WHERE org_id = $1 AND group_id = $2",
		e.org, gid).Scan(&out))
	return out
}

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func memberList(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

func (e *env) group(name string, members ...string) string {
	e.t.Helper()
	return e.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{
		"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": name, "members": memberList(members...),
	}, nil).Body["id"].(string)
}

func TestGroupMembershipShapes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1, u2, u3 := e.user("m1", nil), e.user("m2", nil), e.user("m3", nil)
	for _, tc := range []struct {
		name    string
		initial []string
		ops     []map[string]any
		want    []string
	}{
		{"Entra add with $ref null", nil, []map[string]any{op("Add", "members", []any{map[string]any{"$ref": nil, "value": u1}})}, sorted(u1)},
		{"Okta add with display", []string{u1}, []map[string]any{op("add", "members", []any{map[string]any{"value": u2, "display": "m2@example.com"}})}, sorted(u1, u2)},
		{"add with type", nil, []map[string]any{op("add", "members", []any{map[string]any{"value": u2, "type": "User"}})}, sorted(u2)},
		{"add an existing member", []string{u1}, []map[string]any{op("add", "members", memberList(u1))}, sorted(u1)},
		{"remove by filter", []string{u1, u2}, []map[string]any{op("remove", `members[value eq "`+u1+`"]`, nil)}, sorted(u2)},
		{"remove a non-member by filter", []string{u1}, []map[string]any{op("remove", `members[value eq "`+u3+`"]`, nil)}, sorted(u1)},
		{"Entra remove with value list", []string{u1, u2, u3}, []map[string]any{op("Remove", "members", memberList(u1, u3))}, sorted(u2)},
		{"remove all", []string{u1, u2}, []map[string]any{op("remove", "members", nil)}, sorted()},
		{"replace members", []string{u1, u2}, []map[string]any{op("replace", "members", memberList(u2, u3))}, sorted(u2, u3)},
		{"Okta rename then delta", []string{u1}, []map[string]any{
			op("replace", "", map[string]any{"id": "ignored", "displayName": "renamed"}),
			op("remove", `members[value eq "`+u1+`"]`, nil),
			op("add", "members", []any{map[string]any{"value": u2, "display": "m2"}}),
		}, sorted(u2)},
		{"add then remove the same member, in order", nil, []map[string]any{
			op("add", "members", memberList(u1)), op("remove", `members[value eq "`+u1+`"]`, nil),
		}, sorted()},
		{"remove then add the same member, in order", []string{u1}, []map[string]any{
			op("remove", `members[value eq "`+u1+`"]`, nil), op("add", "members", memberList(u1)),
		}, sorted(u1)},
		{"path-less replace with members", []string{u1}, []map[string]any{op("replace", "", map[string]any{"members": memberList(u3)})}, sorted(u3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.with(t)
			gid := e.group("g "+tc.name, tc.initial...)
			r := e.do(http.MethodPatch, "/Groups/"+gid, patchBody(tc.ops...), nil)
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			require.Empty(t, r.Raw, "a membership change returns no body")
			require.Equal(t, tc.want, e.members(gid))
		})
	}
}

func TestGroupMembershipRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1 := e.user("r1", nil)
	gid := e.group("refusals", u1)
	other := e.group("other")
	for name, ops := range map[string][]map[string]any{
		"unknown id":               {op("add", "members", memberList("2f1c6b1e-6c4b-4c0e-9c55-3b0f6b1a9b7e"))},
		"not a uuid":               {op("add", "members", memberList("nope"))},
		"nested group not enabled": {op("add", "members", memberList(other))},
		"valid then unknown":       {op("remove", "members", nil), op("add", "members", memberList("nope"))},
		"member without value":     {op("add", "members", []any{map[string]any{"display": "x"}})},
	} {
		r := e.do(http.MethodPatch, "/Groups/"+gid, patchBody(ops...), nil)
		requireError(t, r, http.StatusBadRequest, "invalidValue")
		require.Equal(t, []string{u1}, e.members(gid), name)
	}
	requireError(t, e.do(http.MethodPost, "/Groups", map[string]any{"displayName": "REFUSALS"}, nil), http.StatusConflict, "uniqueness")
}

func TestGroupReadsAndProjection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1, u2 := e.user("p1", map[string]any{"displayName": "Pat One"}), e.user("p2", nil)
	gid := e.group("Readers", u1, u2)

	g := e.must(http.StatusOK, http.MethodGet, "/Groups/"+gid, nil, nil).Body
	require.Len(t, g["members"], 2)
	for _, m := range g["members"].([]any) {
		m := m.(map[string]any)
		require.Equal(t, "User", m["type"])
		require.Contains(t, m["$ref"], "/Users/"+m["value"].(string))
		if m["value"] == u1 {
			require.Equal(t, "Pat One", m["display"])
		}
	}
	g = e.must(http.StatusOK, http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil, nil).Body
	require.NotContains(t, g, "members")
	require.Equal(t, "Readers", g["displayName"])
	g = e.must(http.StatusOK, http.MethodGet, "/Groups/"+gid+"?attributes=members.value", nil, nil).Body
	require.Equal(t, []any{map[string]any{"value": sorted(u1, u2)[0]}, map[string]any{"value": sorted(u1, u2)[1]}}, g["members"])

	l := e.must(http.StatusOK, http.MethodGet, "/Groups?filter="+urlq(`displayName eq "readers"`)+"&excludedAttributes=members", nil, nil).Body
	require.EqualValues(t, 1, l["totalResults"])
	require.NotContains(t, get(l, "Resources", 0), "members")
	l = e.must(http.StatusOK, http.MethodGet, "/Groups?filter="+urlq(`members.value eq "`+u2+`"`), nil, nil).Body
	require.Equal(t, gid, get(l, "Resources", 0, "id"))
	require.Len(t, get(l, "Resources", 0, "members"), 2)

	// The user's groups attribute lists direct groups.
	u := e.must(http.StatusOK, http.MethodGet, "/Users/"+u1, nil, nil).Body
	require.Equal(t, gid, get(u, "groups", 0, "value"))
	require.Equal(t, "Readers", get(u, "groups", 0, "display"))
	require.Equal(t, "direct", get(u, "groups", 0, "type"))

	// PATCH with attributes answers 200 with them.
	r := e.must(http.StatusOK, http.MethodPatch, "/Groups/"+gid+"?attributes=displayName", patchBody(op("replace", "displayName", "Writers")), nil)
	require.Equal(t, "Writers", r.Body["displayName"])
	require.NotContains(t, r.Body, "members")

	// Deleting a member user removes the membership; deleting the group keeps the users.
	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+u2, nil, nil)
	require.Equal(t, []string{u1}, e.members(gid))
	e.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+gid, nil, nil)
	requireError(t, e.do(http.MethodGet, "/Groups/"+gid, nil, nil), http.StatusNotFound, "")
	e.must(http.StatusOK, http.MethodGet, "/Users/"+u1, nil, nil)
}

func TestGroupPutReplacesMembers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1, u2, u3 := e.user("q1", nil), e.user("q2", nil), e.user("q3", nil)
	gid := e.group("put", u1, u2)
	r := e.must(http.StatusOK, http.MethodPut, "/Groups/"+gid, map[string]any{"displayName": "put", "members": memberList(u2, u3)}, nil)
	require.Len(t, r.Body["members"], 2)
	require.Equal(t, sorted(u2, u3), e.members(gid))
	r = e.must(http.StatusOK, http.MethodPut, "/Groups/"+gid, map[string]any{"displayName": "put2"}, nil)
	require.Equal(t, []string{}, e.members(gid))
	require.Nil(t, r.Body["members"])
}

// Concurrent membership changes are never lost, whether or not clients send If-Match (with it,
// a client whose version went stale gets 412 and retries with the fresh one).
func TestConcurrentMemberAdds(t *testing.T) {
	t.Parallel()
	for _, ifMatch := range []bool{false, true} {
		t.Run(fmt.Sprintf("If-Match=%v", ifMatch), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			gid := e.group("busy")
			users := make([]string, 50)
			for i := range users {
				users[i] = e.user(fmt.Sprintf("c%d", i), nil)
			}
			var wg sync.WaitGroup
			errs := make(chan string, len(users))
			for _, u := range users {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for attempt := 0; attempt < 200; attempt++ {
						h := hdr{}
						if ifMatch {
							res, err := e.send(http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil, nil)
							if err != nil {
								errs <- err.Error()
								return
							}
							h["If-Match"] = res.Header.Get("ETag")
						}
						r, err := e.send(http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(u))), h)
						switch {
						case err != nil:
							errs <- err.Error()
							return
						case r.Status == http.StatusNoContent:
							return
						case ifMatch && r.Status == http.StatusPreconditionFailed:
							continue
						}
						errs <- fmt.Sprintf("status %d: %s", r.Status, r.Raw)
						return
					}
					errs <- "gave up after 200 attempts"
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			require.Equal(t, sorted(users...), e.members(gid))
			v := e.must(http.StatusOK, http.MethodGet, "/Groups/"+gid+"?excludedAttributes=members", nil, nil).Header.Get("ETag")
			require.Equal(t, `W/"51"`, v, "one version per change")
		})
	}
}
