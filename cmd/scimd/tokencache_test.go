package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/logtest"
)

// scimCall sends a SCIM request with a bearer token and returns the status and decoded body.
func scimCall(t *testing.T, base, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	if rd != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

// withinASecond requires that cond holds within one second, and reports how long it took.
func withinASecond(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > time.Second {
			t.Fatalf("%s: not within a second", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// Two scimd processes on one database each cache tokens; a change made through one of them,
// or through the command line, stops the tokens it concerns at once on the process that made
// it and within a second on the other.
func TestTokenCacheAcrossProcesses(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	dbURL := c.env["DATABASE_URL"]
	baseA, _, _ := startServe(t, dbURL)
	baseB, logB, _ := startServeLogging(t, dbURL)
	org := c.json("org", "create", "--name", "Acme", "--domain", "acme.example")
	operator := org["token"].(string)
	orgID := org["org_id"].(string)

	status, u := scimCall(t, baseA, operator, http.MethodPost, "/Users", map[string]any{"userName": "ada@acme.example",
		"urn:scimd:schemas:extension:2.0:User": map[string]any{"orgRole": "admin"}})
	require.Equal(t, http.StatusCreated, status, "%v", u)
	ada := u["id"].(string)
	scimCall(t, baseA, operator, http.MethodPost, "/Users", map[string]any{"userName": "keeper@acme.example",
		"urn:scimd:schemas:extension:2.0:User": map[string]any{"orgRole": "admin"}})
	adaToken := c.json("token", "create", "--org", orgID, "--issuer", ada)["token"].(string)
	service := c.json("token", "create", "--org", orgID, "--role", "admin", "--label", "idp")
	serviceToken := service["token"].(string)

	ok := func(base, token string) bool {
		s, _ := scimCall(t, base, token, http.MethodGet, "/Users?count=1", nil)
		return s == http.StatusOK
	}
	refused := func(base, token string) func() bool {
		return func() bool {
			s, _ := scimCall(t, base, token, http.MethodGet, "/Users?count=1", nil)
			return s == http.StatusUnauthorized
		}
	}
	// Wait for both listeners, then warm both caches.
	eventually.Holds(t, "both processes authenticate", func() bool {
		return ok(baseA, adaToken) && ok(baseB, adaToken) && ok(baseA, serviceToken) && ok(baseB, serviceToken)
	})

	// The cache is used: a revocation written behind scimd's back (no notification) goes
	// unnoticed by the processes that cached the token.
	_, err := c.pool.Exec(context.Background(), `UPDATE tokens SET revoked_at = now() WHERE id = $1`, service["id"])
	require.NoError(t, err)
	require.True(t, ok(baseA, serviceToken) && ok(baseB, serviceToken), "served from the cache")

	// Revoking through the command line: both processes refuse within a second.
	c.ok("token", "revoke", "--org", orgID, "--id", service["id"].(string))
	withinASecond(t, "revoked service token on A", refused(baseA, serviceToken))
	withinASecond(t, "revoked service token on B", refused(baseB, serviceToken))

	// Suspending the issuer through A: A refuses the issuer's token at once, B within a second.
	status, _ = scimCall(t, baseA, operator, http.MethodPatch, "/Users/"+ada, map[string]any{
		"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
		"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"active": false}}}})
	require.Equal(t, http.StatusOK, status)
	require.True(t, refused(baseA, adaToken)(), "the process that suspended the issuer refuses its token at once")
	withinASecond(t, "suspended issuer's token on B", refused(baseB, adaToken))

	// Losing the listening connection empties the cache (logged as a warning) until it is back.
	_, err = c.pool.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'scimd token listener'`)
	require.NoError(t, err)
	eventually.Holds(t, "the warning", func() bool { return strings.Contains(logB.String(), "token cache off") })
	require.True(t, ok(baseB, operator), "without the cache, tokens are read from the database")

	// Deleting the organization stops its tokens on both.
	c.ok("org", "delete", "--org", orgID, "--yes")
	withinASecond(t, "deleted organization's token on A", refused(baseA, operator))
	withinASecond(t, "deleted organization's token on B", refused(baseB, operator))
}

// startServeLogging is startServe with the server's log kept.
func startServeLogging(t *testing.T, dbURL string) (string, *logtest.Buffer, func() error) {
	t.Helper()
	logs := &logtest.Buffer{}
	base, _, stop := startServeWith(t, dbURL, logs)
	return base, logs, stop
}
