package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/server"
)

const testAdminToken = "admin-token-for-tests-0123456789"

// adminAPI is the server with the admin API on a database of the test's own, asking a DNS
// server of the test's own.
type adminAPI struct {
	t     *testing.T
	pool  *pgxpool.Pool
	dns   *orgstest.DNS
	srv   *httptest.Server
	token string
}

func newAdminAPI(t *testing.T, adminToken string) *adminAPI {
	t.Helper()
	pool := dbtest.New(t)
	dns := orgstest.StartDNS(t)
	store := postgres.NewOrgs(pool)
	svc, err := orgs.New(store, orgs.Config{Resolver: dns.Addr, DNSTimeout: 5 * time.Second})
	require.NoError(t, err)
	reg, _, dir := dbtest.Directory(t, pool)
	srv := httptest.NewServer(server.NewServer(server.Deps{
		Orgs:       svc,
		Directory:  dir,
		Schemas:    reg,
		AdminToken: adminToken,
		Ready:      pool.Ping,
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}))
	t.Cleanup(srv.Close)
	return &adminAPI{t: t, pool: pool, dns: dns, srv: srv, token: adminToken}
}

type adminResp struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// call sends a request with the admin token; body is nil, a string sent as is, or a value sent
// as JSON. Every answer with a body must be application/json.
func (a *adminAPI) call(method, path string, body any) adminResp {
	a.t.Helper()
	return a.callWith(http.Header{"Authorization": {"Bearer " + a.token}}, method, path, body)
}

func (a *adminAPI) callWith(h http.Header, method, path string, body any) adminResp {
	a.t.Helper()
	r, err := a.sendWith(h, method, path, body)
	require.NoError(a.t, err)
	return r
}

// send is call for goroutines other than the test's, where require must not be called: it
// returns what call would fail the test with.
func (a *adminAPI) send(method, path string, body any) (adminResp, error) {
	return a.sendWith(http.Header{"Authorization": {"Bearer " + a.token}}, method, path, body)
}

func (a *adminAPI) sendWith(h http.Header, method, path string, body any) (adminResp, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return adminResp{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, a.srv.URL+path, rd)
	if err != nil {
		return adminResp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		return adminResp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return adminResp{}, err
	}
	r := adminResp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := checkAdminAnswer(method, path, r.Status, raw); err != nil {
		return r, err
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			return r, fmt.Errorf("%s %s: Content-Type %q, want application/json", method, path, ct)
		}
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			return r, fmt.Errorf("%s %s: body %s: %w", method, path, raw, err)
		}
	}
	return r, nil
}

// must sends a request and requires the status.
func (a *adminAPI) must(status int, method, path string, body any) adminResp {
	a.t.Helper()
	r := a.call(method, path, body)
	require.Equal(a.t, status, r.Status, "%s %s: %s", method, path, r.Raw)
	return r
}

// requireAdminError checks an admin error answer: the status, as a string too, and a detail
// containing every fragment.
func requireAdminError(t *testing.T, r adminResp, status int, fragments ...string) {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Raw)
	require.Len(t, r.Body, 2, "an admin error is exactly {status, detail}: %s", r.Raw)
	require.Equal(t, strconv.Itoa(status), r.Body["status"], "%s", r.Raw)
	detail, _ := r.Body["detail"].(string)
	require.NotEmpty(t, detail)
	for _, f := range fragments {
		require.Contains(t, detail, f)
	}
}

// refused sends a request that must fail with status, and requires that nothing stored changed.
func (a *adminAPI) refused(status int, method, path string, body any, fragments ...string) adminResp {
	a.t.Helper()
	before := orgstest.Snapshot(a.t, a.pool)
	r := a.call(method, path, body)
	requireAdminError(a.t, r, status, fragments...)
	require.Equal(a.t, before, orgstest.Snapshot(a.t, a.pool), "%s %s must change nothing", method, path)
	return r
}

// createOrg creates an organization through the API and returns its id.
func (a *adminAPI) createOrg(name string, domains ...string) string {
	a.t.Helper()
	r := a.must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs", map[string]any{"name": name, "domains": domains})
	return r.Body["id"].(string)
}

func TestAdminDisabled(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, "")
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer anything"}}, {"Authorization": {"Bearer "}}} {
		for _, p := range []string{"/admin/v1/orgs", "/admin/v1/orgs/" + uuid.NewString(), "/admin/v1", "/admin/v1/nope"} {
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				requireAdminError(t, a.callWith(h, m, p, map[string]any{"name": "X"}), http.StatusNotFound, "no endpoint")
			}
		}
	}
	require.Equal(t, 0, orgstest.Count(t, a.pool, `SELECT count(*) FROM organizations`))
}

func TestAdminAuth(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")

	for name, h := range map[string]http.Header{
		"no header":          nil,
		"empty bearer":       {"Authorization": {"Bearer "}},
		"wrong token":        {"Authorization": {"Bearer " + testAdminToken + "x"}},
		"prefix of token":    {"Authorization": {"Bearer " + testAdminToken[:10]}},
		"basic scheme":       {"Authorization": {"Basic " + testAdminToken}},
		"token without type": {"Authorization": {testAdminToken}},
	} {
		for _, p := range []string{"/admin/v1/orgs/" + org, "/admin/v1/orgs/" + org + "/tokens", "/admin/v1/nope"} {
			r := a.callWith(h, http.MethodGet, p, nil)
			requireAdminError(t, r, http.StatusUnauthorized)
			require.Equal(t, `Bearer realm="scimd-admin"`, r.Header.Get("WWW-Authenticate"), name)
		}
		before := orgstest.Snapshot(t, a.pool)
		requireAdminError(t, a.callWith(h, http.MethodPost, "/admin/v1/orgs", map[string]any{"name": "X"}), http.StatusUnauthorized)
		requireAdminError(t, a.callWith(h, http.MethodDelete, "/admin/v1/orgs/"+org+"/products/meeting", nil), http.StatusUnauthorized)
		require.Equal(t, before, orgstest.Snapshot(t, a.pool), name)
	}
	// The scheme is case-insensitive.
	r := a.callWith(http.Header{"Authorization": {"bearer " + testAdminToken}}, http.MethodGet, "/admin/v1/orgs/"+org, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))

	// A provisioning token is not an admin token.
	var tok string
	r = a.must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs", map[string]any{"name": "Other"})
	tok = r.Body["token"].(string)
	requireAdminError(t, a.callWith(http.Header{"Authorization": {"Bearer " + tok}}, http.MethodGet, "/admin/v1/orgs/"+org, nil), http.StatusUnauthorized)

	// Unknown paths and methods under the API, once authenticated.
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/nope", nil), http.StatusNotFound, "no endpoint at /admin/v1/nope")
	requireAdminError(t, a.call(http.MethodPut, "/admin/v1/orgs/"+org, nil), http.StatusMethodNotAllowed, "PUT is not supported")
}

func TestAdminOrgs(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)

	r := a.must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs",
		map[string]any{"name": "Acme", "domains": []string{"Acme.Example"}, "products": []string{"meeting", "whiteboard"}})
	id := r.Body["id"].(string)
	require.Equal(t, "/admin/v1/orgs/"+id, r.Header.Get("Location"))
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	require.Equal(t, "Acme", r.Body["name"])
	require.Equal(t, "en-US", r.Body["default_locale"])
	require.Equal(t, []any{"meeting", "whiteboard"}, r.Body["products"])
	require.Regexp(t, `^scimd_[0-9a-f]{64}[A-Za-z0-9_-]{43}$`, r.Body["token"])
	domains := r.Body["domains"].([]any)
	require.Len(t, domains, 1)
	require.Equal(t, "acme.example", domains[0].(map[string]any)["domain"])
	require.Equal(t, true, domains[0].(map[string]any)["verified"])
	require.NotContains(t, domains[0], "txt_record")

	got := a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+id, nil)
	want := r.Body
	delete(want, "token")
	// GET shows the organization's settings too.
	want["nested_groups"], want["notify"] = false, true
	require.Equal(t, want, got.Body)
	require.NotContains(t, got.Body, "token")

	r = a.must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs", map[string]any{"name": "Defaults"})
	require.Equal(t, []any{"connect", "meeting", "openvoice", "training", "webinar"}, r.Body["products"])
	require.Equal(t, []any{}, r.Body["domains"])

	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString(), nil), http.StatusNotFound, "there is no organization")
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/not-an-id", nil), http.StatusNotFound, "there is no organization")

	for _, tc := range []struct {
		body      any
		status    int
		fragments []string
	}{
		{map[string]any{"name": ""}, http.StatusBadRequest, []string{"needs a name"}},
		{map[string]any{"name": "X", "domains": []string{"x y.example"}}, http.StatusBadRequest, []string{"is not a domain"}},
		{map[string]any{"name": "X", "products": []string{"Nope!"}}, http.StatusBadRequest, []string{"is not a product name"}},
		{map[string]any{"name": "X", "domain": "typo.example"}, http.StatusBadRequest, []string{`unknown field "domain"`}},
		{`{"name": "X"`, http.StatusBadRequest, []string{"not a valid JSON object"}},
		{`["X"]`, http.StatusBadRequest, []string{"not a valid JSON object"}},
		{`{"name": "X"} {}`, http.StatusBadRequest, []string{"data after"}},
		{"", http.StatusBadRequest, []string{"body is empty"}},
		{`{"name": "` + strings.Repeat("x", 1<<20) + `"}`, http.StatusRequestEntityTooLarge, []string{"exceeds the limit"}},
	} {
		a.refused(tc.status, http.MethodPost, "/admin/v1/orgs", tc.body, tc.fragments...)
	}
	before := orgstest.Snapshot(t, a.pool)
	r = a.callWith(http.Header{"Authorization": {"Bearer " + testAdminToken}, "Content-Type": {"text/plain"}},
		http.MethodPost, "/admin/v1/orgs", `{"name": "X"}`)
	requireAdminError(t, r, http.StatusUnsupportedMediaType, "application/json")
	require.Equal(t, before, orgstest.Snapshot(t, a.pool))
}

func TestAdminDomains(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	base := "/admin/v1/orgs/" + org + "/domains"

	r := a.must(http.StatusCreated, http.MethodPost, base, map[string]any{"domain": "New.Example"})
	require.Equal(t, "new.example", r.Body["domain"])
	require.Equal(t, false, r.Body["verified"])
	require.Nil(t, r.Body["verified_at"])
	txt := r.Body["txt_record"].(map[string]any)
	require.Equal(t, "_scimd-challenge.new.example", txt["name"])
	require.Regexp(t, `^scimd-verify=[0-9a-f]{32}$`, txt["value"])
	value := txt["value"].(string)

	a.refused(http.StatusConflict, http.MethodPost, base, map[string]any{"domain": "new.example"}, "already added", value)
	a.refused(http.StatusConflict, http.MethodPost, base, map[string]any{"domain": "acme.example", "verified": true}, "already verified")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"domain": "ada@new.example"}, "after the @")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"domain": ""}, "a domain is required")
	a.refused(http.StatusNotFound, http.MethodPost, "/admin/v1/orgs/"+uuid.NewString()+"/domains", map[string]any{"domain": "x.example"}, "there is no organization")

	// Verification over DNS: wrong value, then the right one.
	a.dns.SetTXT("_scimd-challenge.new.example", "scimd-verify=wrong")
	a.refused(http.StatusConflict, http.MethodPost, base+"/new.example/verify", nil,
		"new.example is not verified", `"scimd-verify=wrong"`, value)
	a.refused(http.StatusNotFound, http.MethodPost, base+"/nx.example/verify", nil, "has no domain nx.example")
	a.dns.SetTXT("_scimd-challenge.new.example", value)
	r = a.must(http.StatusOK, http.MethodPost, base+"/NEW.example/verify", nil)
	require.Equal(t, true, r.Body["verified"])
	require.NotNil(t, r.Body["verified_at"])

	// An operator vouches for a domain.
	r = a.must(http.StatusCreated, http.MethodPost, base, map[string]any{"domain": "vouched.example", "verified": true})
	require.Equal(t, true, r.Body["verified"])
	require.NotContains(t, r.Body, "txt_record")
	a.must(http.StatusCreated, http.MethodPost, base, map[string]any{"domain": "pending.example"})
	r = a.must(http.StatusOK, http.MethodPost, base, map[string]any{"domain": "pending.example", "verified": true})
	require.Equal(t, true, r.Body["verified"])

	r = a.must(http.StatusOK, http.MethodGet, base, nil)
	var names []string
	for _, d := range r.Body["domains"].([]any) {
		names = append(names, d.(map[string]any)["domain"].(string))
	}
	require.Equal(t, []string{"acme.example", "new.example", "pending.example", "vouched.example"}, names)

	r = a.must(http.StatusNoContent, http.MethodDelete, base+"/vouched.example", nil)
	require.Empty(t, r.Raw)
	a.refused(http.StatusNotFound, http.MethodDelete, base+"/vouched.example", nil, "has no domain vouched.example")
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString()+"/domains", nil), http.StatusNotFound, "there is no organization")
}

func TestAdminProducts(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	base := "/admin/v1/orgs/" + org + "/products"

	r := a.must(http.StatusOK, http.MethodGet, base, nil)
	require.Equal(t, []any{"connect", "meeting", "openvoice", "training", "webinar"}, r.Body["products"])
	r = a.must(http.StatusCreated, http.MethodPost, base, map[string]any{"product": "whiteboard"})
	require.Equal(t, map[string]any{"product": "whiteboard"}, r.Body)
	a.refused(http.StatusConflict, http.MethodPost, base, map[string]any{"product": "whiteboard"}, "already licenses")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"product": "White Board"}, "is not a product name")

	u := orgstest.InsertUser(t, a.pool, org, "u@acme.example", "user", true)
	orgstest.Grant(t, a.pool, org, u, "meeting")
	a.refused(http.StatusConflict, http.MethodDelete, base+"/meeting", nil, "meeting is still granted to 1 users")
	a.must(http.StatusNoContent, http.MethodDelete, base+"/whiteboard", nil)
	a.refused(http.StatusNotFound, http.MethodDelete, base+"/whiteboard", nil, `does not license a product "whiteboard"`)
	r = a.must(http.StatusOK, http.MethodGet, base, nil)
	require.Equal(t, []any{"connect", "meeting", "openvoice", "training", "webinar"}, r.Body["products"])
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString()+"/products", nil), http.StatusNotFound, "there is no organization")
}

func TestAdminTokens(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	base := "/admin/v1/orgs/" + org + "/tokens"
	admin := orgstest.InsertUser(t, a.pool, org, "admin@acme.example", "admin", true)
	plain := orgstest.InsertUser(t, a.pool, org, "plain@acme.example", "user", true)

	r := a.must(http.StatusCreated, http.MethodPost, base, map[string]any{"issuer_user_id": admin, "expires_in": "720h"})
	tokenID := r.Body["id"].(string)
	require.Equal(t, admin, r.Body["issuer_user_id"])
	require.Regexp(t, `^scimd_[0-9a-f]{64}[A-Za-z0-9_-]{43}$`, r.Body["token"])
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	expires, err := time.Parse(time.RFC3339Nano, r.Body["expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(720*time.Hour), expires, time.Minute)
	secret := r.Body["token"].(string)[len("scimd_")+64:]

	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"issuer_user_id": plain}, `orgRole "user"`)
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"issuer_user_id": uuid.NewString()}, "is not a user of organization")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{}, "needs a role", "or an issuer")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"issuer_user_id": admin, "expires_in": "soon"}, `expires_in "soon"`)
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"issuer_user_id": admin, "expires_in": "-1h"}, "positive duration")
	a.refused(http.StatusBadRequest, http.MethodPost, base, map[string]any{"issuer": admin}, `unknown field "issuer"`)

	r = a.must(http.StatusOK, http.MethodGet, base, nil)
	toks := r.Body["tokens"].([]any)
	require.Len(t, toks, 2)
	require.Equal(t, "", toks[0].(map[string]any)["issuer_user_id"], "the operator token")
	require.Equal(t, tokenID, toks[1].(map[string]any)["id"])
	require.NotContains(t, string(r.Raw), secret)
	require.NotContains(t, toks[1], "token")

	r = a.must(http.StatusOK, http.MethodDelete, base+"/"+tokenID, nil)
	require.NotNil(t, r.Body["revoked_at"])
	var revoked bool
	require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT revoked_at IS NOT NULL FROM tokens WHERE org_id = $1 AND id = $2`,
		org, tokenID).Scan(&revoked))
	require.True(t, revoked)
	a.refused(http.StatusNotFound, http.MethodDelete, base+"/"+uuid.NewString(), nil, "has no token")
	a.refused(http.StatusNotFound, http.MethodDelete, base+"/nope", nil, "has no token")
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString()+"/tokens", nil), http.StatusNotFound, "there is no organization")
}

// TestAdminTenantIsolation names organization A's domains, products, tokens and users under
// organization B's path: each is 404 (or, for a user, not an issuer of B) and changes nothing.
func TestAdminTenantIsolation(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	orgA := a.createOrg("Acme", "acme.example")
	orgB := a.createOrg("Globex", "globex.example")
	pathA, pathB := "/admin/v1/orgs/"+orgA, "/admin/v1/orgs/"+orgB

	r := a.must(http.StatusCreated, http.MethodPost, pathA+"/domains", map[string]any{"domain": "pending.acme.example"})
	value := r.Body["txt_record"].(map[string]any)["value"].(string)
	a.dns.SetTXT("_scimd-challenge.pending.acme.example", value)
	a.must(http.StatusCreated, http.MethodPost, pathA+"/products", map[string]any{"product": "acme-only"})
	adminA := orgstest.InsertUser(t, a.pool, orgA, "admin@acme.example", "admin", true)
	tokA := a.must(http.StatusCreated, http.MethodPost, pathA+"/tokens", map[string]any{"issuer_user_id": adminA}).Body["id"].(string)

	a.refused(http.StatusNotFound, http.MethodDelete, pathB+"/domains/acme.example", nil, "has no domain acme.example")
	a.refused(http.StatusNotFound, http.MethodPost, pathB+"/domains/pending.acme.example/verify", nil, "has no domain pending.acme.example")
	a.refused(http.StatusNotFound, http.MethodDelete, pathB+"/products/acme-only", nil, `does not license a product "acme-only"`)
	a.refused(http.StatusNotFound, http.MethodDelete, pathB+"/tokens/"+tokA, nil, "has no token")
	a.refused(http.StatusBadRequest, http.MethodPost, pathB+"/tokens", map[string]any{"issuer_user_id": adminA}, "is not a user of organization "+orgB)

	// B's lists show nothing of A's.
	r = a.must(http.StatusOK, http.MethodGet, pathB+"/domains", nil)
	require.Len(t, r.Body["domains"], 1)
	r = a.must(http.StatusOK, http.MethodGet, pathB+"/products", nil)
	require.NotContains(t, r.Body["products"], "acme-only")
	r = a.must(http.StatusOK, http.MethodGet, pathB+"/tokens", nil)
	require.Len(t, r.Body["tokens"], 1)
	require.NotContains(t, string(r.Raw), tokA)
	r = a.must(http.StatusOK, http.MethodGet, pathB, nil)
	require.NotContains(t, string(r.Raw), "acme")

	// A's own still work.
	a.must(http.StatusOK, http.MethodPost, pathA+"/domains/pending.acme.example/verify", nil)
	a.must(http.StatusOK, http.MethodDelete, pathA+"/tokens/"+tokA, nil)
	a.must(http.StatusNoContent, http.MethodDelete, pathA+"/products/acme-only", nil)
}
