package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

func TestCLIConsoleLink(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	admin := orgstest.InsertUser(t, c.pool, org, "admin@acme.example", "admin", true)
	plain := orgstest.InsertUser(t, c.pool, org, "plain@acme.example", "user", true)

	// The URL alone on one line; its origin is http:// and SCIMD_ADDR, else SCIMD_BASE_URL's.
	c.env["SCIMD_ADDR"] = "127.0.0.1:9999"
	out := c.ok("console", "link", "--org", org, "--user", admin)
	require.Regexp(t, regexp.MustCompile(`^http://127\.0\.0\.1:9999/console/link/scimdl_[0-9a-f]{64}[A-Za-z0-9_-]{43}\n$`), out)
	c.env["SCIMD_BASE_URL"] = "https://scim.acme.example/scim/v2"
	out = c.ok("console", "link", "--org", org, "--user", admin)
	require.True(t, strings.HasPrefix(out, "https://scim.acme.example/console/link/scimdl_"), out)
	require.Equal(t, 1, strings.Count(out, "\n"))
	var links int
	require.NoError(t, c.pool.QueryRow(t.Context(), `SELECT count(*) FROM console_links WHERE user_id = $1`, admin).Scan(&links))
	require.Equal(t, 2, links)

	c.fails([]string{"console", "link", "--org", org, "--user", plain}, "only admin and admin-readonly users may use the console")
	c.fails([]string{"console", "link", "--org", org}, "--user is required")
}

func TestCLIOIDC(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	c.env["SCIMD_BASE_URL"] = "https://scim.acme.example/scim/v2"

	c.fails([]string{"oidc", "set", "--org", org, "--issuer", "https://login.acme.example", "--client-id", "app"}, "client_secret is required")
	c.env["SCIMD_OIDC_CLIENT_SECRET"] = "s3cret"
	set := c.json("oidc", "set", "--org", org, "--issuer", "https://login.acme.example", "--client-id", "app")
	require.Equal(t, "https://login.acme.example", set["issuer"])
	require.Equal(t, true, set["client_secret_set"])
	require.Equal(t, "https://scim.acme.example/console/oidc/callback", set["redirect_uri"])
	text := c.ok("oidc", "show", "--org", org)
	require.Contains(t, text, "redirect URI to register at the provider: https://scim.acme.example/console/oidc/callback")
	require.NotContains(t, text, "s3cret")
	require.NotContains(t, c.ok("oidc", "show", "--org", org, "--json"), "s3cret")

	c.fails([]string{"oidc", "set", "--org", org, "--issuer", "http://login.acme.example", "--client-id", "app"}, "must use https")
	c.ok("oidc", "remove", "--org", org)
	c.fails([]string{"oidc", "show", "--org", org}, "no OpenID Connect settings")
}
