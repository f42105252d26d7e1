package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAdminOIDC(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	path := "/admin/v1/orgs/" + org + "/oidc"

	a.refused(http.StatusNotFound, http.MethodGet, path, nil, "no OpenID Connect settings")
	a.refused(http.StatusBadRequest, http.MethodPut, path, map[string]any{"issuer": "https://login.acme.example", "client_id": "app"},
		"client_secret is required")
	r := a.must(http.StatusCreated, http.MethodPut, path,
		map[string]any{"issuer": "https://login.acme.example", "client_id": "app", "client_secret": "s3cret"})
	require.Equal(t, "https://login.acme.example", r.Body["issuer"])
	require.Equal(t, true, r.Body["client_secret_set"])
	require.Equal(t, a.srv.URL+"/console/oidc/callback", r.Body["redirect_uri"])
	require.False(t, strings.Contains(string(r.Raw), "s3cret"), "the secret is write-only")

	// Changing the client keeps the secret; the secret is never read back.
	r = a.must(http.StatusOK, http.MethodPut, path, map[string]any{"issuer": "https://login.acme.example/v2", "client_id": "app2"})
	require.Equal(t, "app2", r.Body["client_id"])
	var secret string
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT client_secret FROM org_oidc WHERE org_id = $1`, org).Scan(&secret))
	require.Equal(t, "s3cret", secret)
	r = a.must(http.StatusOK, http.MethodGet, path, nil)
	require.False(t, strings.Contains(string(r.Raw), "s3cret"))

	a.refused(http.StatusBadRequest, http.MethodPut, path, map[string]any{"issuer": "http://login.acme.example", "client_id": "x"}, "must use https")
	a.refused(http.StatusBadRequest, http.MethodPut, path, map[string]any{"issuer": "https://x.example", "client_id": "x", "secret": "y"}, "unknown field")
	a.must(http.StatusNoContent, http.MethodDelete, path, nil)
	a.refused(http.StatusNotFound, http.MethodDelete, path, nil, "no OpenID Connect settings")
	a.refused(http.StatusNotFound, http.MethodGet, "/admin/v1/orgs/00000000-0000-4000-8000-000000000009/oidc", nil, "there is no organization")
}
