package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const searchURN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

func searchBody(fields map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{searchURN}}
	for k, v := range fields {
		b[k] = v
	}
	return b
}

// query is the GET form of a search body: lists become comma-separated.
func query(fields map[string]any) string {
	q := url.Values{}
	for k, v := range fields {
		switch x := v.(type) {
		case []any:
			var parts []string
			for _, e := range x {
				parts = append(parts, e.(string))
			}
			q.Set(k, strings.Join(parts, ","))
		default:
			q.Set(k, fmt.Sprint(x))
		}
	}
	return q.Encode()
}

func TestSearchEquivalentToGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	ada := e.user("ada", map[string]any{"title": "Engineer", "name": map[string]any{"givenName": "Ada", "familyName": "Lovelace"}})
	bob := e.user("bob", map[string]any{"title": "Manager", "active": false})
	cy := e.user("cy", map[string]any{"title": "Engineer", extURN: map[string]any{"products": []any{"meeting"}}})
	e.group("Engineers", ada, cy)
	e.group("Managers", bob)
	e.group("Empty")

	userCases := []map[string]any{
		{},
		{"filter": `title eq "Engineer"`},
		{"filter": `userName sw "b" or active eq false`, "sortBy": "userName", "sortOrder": "descending"},
		{"filter": `emails[type eq "work"].value co "example"`, "attributes": []any{"userName", "title"}},
		{"filter": `name.familyName pr`, "excludedAttributes": []any{"emails", "name"}},
		{"sortBy": "title", "startIndex": 2, "count": 1},
		{"filter": extURN + `:products eq "meeting"`},
		{"count": 0},
	}
	for _, c := range userCases {
		get := e.must(http.StatusOK, http.MethodGet, "/Users?"+query(c), nil, nil)
		post := e.must(http.StatusOK, http.MethodPost, "/Users/.search", searchBody(c), nil)
		require.Equal(t, get.Body, post.Body, "%v", c)
	}
	groupCases := []map[string]any{
		{},
		{"filter": `displayName eq "engineers"`},
		{"filter": `displayName sw "E"`, "excludedAttributes": []any{"members"}},
		{"filter": `members.value eq "` + bob + `"`},
		{"sortBy": "displayName", "sortOrder": "descending", "count": 2, "attributes": []any{"displayName"}},
	}
	for _, c := range groupCases {
		get := e.must(http.StatusOK, http.MethodGet, "/Groups?"+query(c), nil, nil)
		post := e.must(http.StatusOK, http.MethodPost, "/Groups/.search", searchBody(c), nil)
		require.Equal(t, get.Body, post.Body, "%v", c)
	}

	// Errors are the GET form's too.
	for _, c := range []map[string]any{
		{"filter": `title xx "a"`},
		{"filter": `nosuch eq 1`},
		{"sortOrder": "sideways"},
		{"startIndex": "one"},
	} {
		get := e.do(http.MethodGet, "/Users?"+query(c), nil, nil)
		post := e.do(http.MethodPost, "/Users/.search", searchBody(c), nil)
		require.Equal(t, http.StatusBadRequest, get.Status)
		require.Equal(t, get.Body, post.Body, "%v", c)
	}
	// Body shapes.
	requireError(t, e.do(http.MethodPost, "/Users/.search", map[string]any{"schemas": []string{"urn:other"}}, nil), http.StatusBadRequest, "invalidSyntax")
	requireError(t, e.do(http.MethodPost, "/Users/.search", map[string]any{"filter": 3}, nil), http.StatusBadRequest, "invalidValue")
	requireError(t, e.do(http.MethodPost, "/Users/.search", map[string]any{"attributes": []any{1}}, nil), http.StatusBadRequest, "invalidValue")
	// Keys are case-insensitive, schemas may be left out, unknown keys are ignored.
	r := e.must(http.StatusOK, http.MethodPost, "/Users/.search", map[string]any{"FILTER": `userName eq "ada@example.com"`, "whatever": 1}, nil)
	require.Equal(t, []string{ada}, ids(r))
}

func TestSearchRoot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u1, u2, u3 := e.user("r1", nil), e.user("r2", nil), e.user("r3", nil)
	g1, g2 := e.group("G1", u1), e.group("G2")

	all := e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(nil), nil)
	require.EqualValues(t, 5, all.Body["totalResults"])
	require.Equal(t, []string{u1, u2, u3, g1, g2}, ids(all), "users first, then groups")
	res := all.Body["Resources"].([]any)
	require.Equal(t, userURN, get(res[0], "schemas", 0))
	require.Equal(t, []any{groupURN}, get(res[3], "schemas"))
	require.Equal(t, "Group", get(res[3], "meta", "resourceType"))
	require.Equal(t, u1, get(res[3], "members", 0, "value"), "members are returned as by GET /Groups")

	// Pages run across the boundary between the types.
	for _, c := range []struct {
		start, count int
		want         []string
	}{
		{1, 2, []string{u1, u2}},
		{3, 2, []string{u3, g1}},
		{4, 10, []string{g1, g2}},
		{5, 1, []string{g2}},
		{6, 3, nil},
		{2, 0, nil},
	} {
		r := e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(map[string]any{"startIndex": c.start, "count": c.count}), nil)
		require.Equal(t, c.want, ids(r), "startIndex %d count %d", c.start, c.count)
		require.EqualValues(t, 5, r.Body["totalResults"])
		require.EqualValues(t, c.start, r.Body["startIndex"])
		require.EqualValues(t, len(c.want), r.Body["itemsPerPage"])
	}

	// A filter on an attribute only one type has selects only that type.
	r := e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(map[string]any{"filter": `userName eq "r2@example.com"`}), nil)
	require.Equal(t, []string{u2}, ids(r))
	r = e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(map[string]any{"filter": `displayName eq "g2"`}), nil)
	require.Equal(t, []string{g2}, ids(r))
	r = e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(map[string]any{"filter": `id pr`,
		"attributes": []any{"userName"}, "sortBy": "userName", "sortOrder": "descending"}), nil)
	require.Equal(t, []string{u3, u2, u1, g1, g2}, ids(r))
	grp := r.Body["Resources"].([]any)[3].(map[string]any)
	require.NotContains(t, grp, "displayName", "attributes a type lacks select only id for it")
	require.NotContains(t, grp, "members")
	requireError(t, e.do(http.MethodPost, "/.search", searchBody(map[string]any{"filter": `nosuch eq 1`}), nil), http.StatusBadRequest, "invalidFilter")
	requireError(t, e.do(http.MethodPost, "/.search", searchBody(map[string]any{"sortBy": "nosuch"}), nil), http.StatusBadRequest, "invalidValue")
	requireError(t, e.do(http.MethodPost, "/.search", searchBody(map[string]any{"count": "x"}), nil), http.StatusBadRequest, "invalidValue")
	r = e.must(http.StatusOK, http.MethodPost, "/.search", searchBody(map[string]any{"excludedAttributes": []any{"members"}}), nil)
	require.NotContains(t, r.Body["Resources"].([]any)[3], "members")
}

func TestSearchIsARead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(adminBody("keeper"))
	ro := e.createUser(map[string]any{"userName": "ro@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
	roEnv, _ := e.tokenFor(ro, nil)
	for _, p := range []string{"/.search", "/Users/.search", "/Groups/.search"} {
		roEnv.must(http.StatusOK, http.MethodPost, p, searchBody(nil), nil)
		requireError(t, e.do(http.MethodPost, p, searchBody(nil), hdr{"Authorization": ""}), http.StatusUnauthorized, "")
	}
	// The marker lets only the searches through: writes stay refused.
	requireError(t, roEnv.do(http.MethodPost, "/Users", map[string]any{"userName": "x@example.com"}, nil), http.StatusForbidden, "")
}
