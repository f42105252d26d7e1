package server_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(adminBody("other-admin"))
	me := e.createUser(adminBody("me"))["id"].(string)
	mine, _ := e.tokenFor(me, nil)

	// GET /Me is GET /Users/{me}: same body, ETag, and a location naming /Users/{id}.
	r := mine.must(http.StatusOK, http.MethodGet, "/Me", nil, nil)
	direct := mine.must(http.StatusOK, http.MethodGet, "/Users/"+me, nil, nil)
	require.Equal(t, direct.Body, r.Body)
	require.Equal(t, me, r.Body["id"])
	require.Equal(t, e.base()+"/Users/"+me, get(r.Body, "meta", "location"))
	require.Equal(t, direct.Header.Get("ETag"), r.Header.Get("ETag"))
	mine.must(http.StatusNotModified, http.MethodGet, "/Me", nil, hdr{"If-None-Match": r.Header.Get("ETag")})
	r = mine.must(http.StatusOK, http.MethodGet, "/Me?attributes=userName", nil, nil)
	require.NotContains(t, r.Body, "emails")
	require.Equal(t, "me@example.com", r.Body["userName"])

	// PATCH and PUT change the issuer.
	r = mine.must(http.StatusOK, http.MethodPatch, "/Me", patchBody(op("replace", "name.givenName", "Me")), nil)
	require.Equal(t, "Me", get(r.Body, "name", "givenName"))
	require.Equal(t, "Me", e.row(me)["given_name"])
	r = mine.must(http.StatusOK, http.MethodPut, "/Me", map[string]any{"userName": "me@example.com", "title": "Chief",
		extURN: map[string]any{"orgRole": "admin"}}, hdr{"If-Match": version(r.Body)})
	require.Equal(t, "Chief", r.Body["title"])
	requireError(t, mine.do(http.MethodPatch, "/Me", patchBody(op("replace", "title", "x")), hdr{"If-Match": `W/"1"`}),
		http.StatusPreconditionFailed, "")

	// Self-protection applies as on /Users/{me}, with the same details.
	before := e.full(me)
	for name, req := range map[string]struct {
		method string
		body   any
	}{
		"own orgRole":  {http.MethodPatch, patchBody(op("replace", extURN+":orgRole", "user"))},
		"suspend self": {http.MethodPut, map[string]any{"userName": "me@example.com", "active": false}},
		"delete self":  {http.MethodDelete, nil},
	} {
		viaMe := mine.do(req.method, "/Me", req.body, nil)
		viaUsers := mine.do(req.method, "/Users/"+me, req.body, nil)
		requireError(t, viaMe, http.StatusForbidden, "")
		require.Equal(t, viaUsers.Body, viaMe.Body, name)
	}
	e.requireUnchanged(me, before.snapshot)

	// The operator token has no user behind it.
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		var body any
		if m == http.MethodPut || m == http.MethodPatch {
			body = patchBody(op("replace", "title", "x"))
		}
		r := e.do(m, "/Me", body, nil)
		requireError(t, r, http.StatusNotFound, "")
		require.Contains(t, r.Body["detail"], "operator token")
	}
	requireError(t, e.do(http.MethodGet, "/Me", nil, hdr{"Authorization": ""}), http.StatusUnauthorized, "")
	requireError(t, mine.do(http.MethodPost, "/Me", map[string]any{"userName": "x@example.com"}, nil), http.StatusMethodNotAllowed, "")

	// An admin-readonly issuer reads itself but cannot change itself.
	ro := e.createUser(map[string]any{"userName": "ro@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
	roEnv, _ := e.tokenFor(ro, nil)
	require.Equal(t, ro, roEnv.must(http.StatusOK, http.MethodGet, "/Me", nil, nil).Body["id"])
	requireError(t, roEnv.do(http.MethodPatch, "/Me", patchBody(op("replace", "title", "x")), nil), http.StatusForbidden, "")
}
