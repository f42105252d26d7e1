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

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/logtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/server"
)

// Long URNs, spelled short in test documents.
const (
	entURN     = schema.EnterpriseUserURN
	userURN    = schema.UserURN
	patchURN   = schema.PatchOpURN
	errorURN   = schema.ErrorURN
	listURN    = schema.ListResponseURN
	scimJSON   = "application/scim+json"
	apiPrefix  = "/scim/v2"
	maxBodyLen = 1 << 20
)

// env is the real stack (PostgreSQL store, directory service, HTTP server) on a schema of the
// test's own, with one organization ("Acme", verified domain example.com) and its token.
type env struct {
	t     *testing.T
	pool  *pgxpool.Pool
	orgs  *postgres.Orgs
	dir   *directory.Service
	srv   *httptest.Server
	org   string
	token string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(*server.Deps) {})
}

// newEnvWith is newEnv with the server's dependencies adjusted by configure.
func newEnvWith(t *testing.T, configure func(*server.Deps)) *env {
	t.Helper()
	ctx := context.Background()
	pool := dbtest.New(t)
	// The server's log is shown when the test fails, so a 500 can be diagnosed.
	logs := &logtest.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	reg, _, dir := dbtest.Directory(t, pool)
	orgsStore := postgres.NewOrgs(pool)
	admin, err := orgs.New(orgsStore, orgs.Config{})
	require.NoError(t, err)
	// The admin API stays disabled unless configure sets an AdminToken.
	deps := server.Deps{
		Directory: dir,
		Orgs:      admin,
		Schemas:   reg,
		Ready:     pool.Ping,
		Logger:    slog.New(slog.NewTextHandler(logs, nil)),
	}
	configure(&deps)
	h := server.NewServer(deps)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tok, err := orgsStore.CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	return &env{t: t, pool: pool, orgs: orgsStore, dir: dir, srv: srv, org: tok.OrgID, token: tok.Token}
}

// with returns a copy of e that reports failures to t, for subtests.
func (e *env) with(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

// otherOrg creates a second organization on the same server and returns an env acting as it.
func (e *env) otherOrg() *env {
	e.t.Helper()
	tok, err := e.orgs.CreateOrg(context.Background(), "", "Globex", []string{"globex.example"})
	require.NoError(e.t, err)
	o := *e
	o.org, o.token = tok.OrgID, tok.Token
	return &o
}

// verifiedDomain gives the env's organization another verified domain.
func (e *env) verifiedDomain(domain string) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), `INSERT INTO org_domains (org_id, domain, verified_at) VALUES ($1, $2, now())`, e.org, domain)
	require.NoError(e.t, err)
}

// resp is one HTTP answer.
type resp struct {
	Status int
	Header http.Header
	Raw    []byte
	// Body is the decoded JSON object, nil when the body is empty.
	Body map[string]any
}

// hdr are request headers. The Authorization header defaults to the env's bearer token; an
// explicit "Authorization": "" sends none.
type hdr map[string]string

// do sends a request to the server. path is relative to the SCIM base URL (/scim/v2) unless it
// starts with "//", which is relative to the server root. body may be nil, a string or []byte
// (sent as is) or anything else (sent as JSON). Every SCIM answer with a body is checked to be
// application/scim+json.
func (e *env) do(method, path string, body any, h hdr) resp {
	e.t.Helper()
	r, err := e.send(method, path, body, h)
	require.NoError(e.t, err)
	return r
}

// send is do for goroutines other than the test's, where require must not be called: it
// returns what do would fail the test with.
func (e *env) send(method, path string, body any, h hdr) (resp, error) {
	url := e.srv.URL + apiPrefix + path
	if strings.HasPrefix(path, "//") {
		url = e.srv.URL + path[1:]
	}
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return resp{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return resp{}, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", scimJSON)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	for k, v := range h {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return resp{}, err
	}
	r := resp{Status: res.StatusCode, Header: res.Header, Raw: raw}
	if err := checkAdminAnswer(method, strings.TrimPrefix(path, "/"), r.Status, raw); err != nil {
		return r, err
	}
	if len(bytes.TrimSpace(raw)) > 0 && !strings.HasPrefix(path, "//") {
		if ct := res.Header.Get("Content-Type"); ct != scimJSON {
			return r, fmt.Errorf("%s %s: Content-Type %q, want %q", method, path, ct, scimJSON)
		}
		if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&r.Body); err != nil {
			return r, fmt.Errorf("%s %s: body %s: %w", method, path, raw, err)
		}
	}
	return r, nil
}

// must sends a request and requires the status.
func (e *env) must(status int, method, path string, body any, h hdr) resp {
	e.t.Helper()
	r := e.do(method, path, body, h)
	require.Equal(e.t, status, r.Status, "%s %s: %s", method, path, r.Raw)
	return r
}

// requireError checks a SCIM error answer: status, the Error schema, status as a string, a
// detail, and the scimType ("" for none).
func requireError(t *testing.T, r resp, status int, scimType string) {
	t.Helper()
	require.Equal(t, status, r.Status, "%s", r.Raw)
	require.Equal(t, []any{errorURN}, r.Body["schemas"], "%s", r.Raw)
	require.Equal(t, strconv.Itoa(status), r.Body["status"], "status must be a JSON string: %s", r.Raw)
	require.NotEmpty(t, r.Body["detail"], "%s", r.Raw)
	if scimType == "" {
		require.NotContains(t, r.Body, "scimType", "%s", r.Raw)
	} else {
		require.Equal(t, scimType, r.Body["scimType"], "%s", r.Raw)
	}
}

// createUser POSTs a user and requires 201; it returns the created resource.
func (e *env) createUser(body any) map[string]any {
	e.t.Helper()
	return e.must(http.StatusCreated, http.MethodPost, "/Users", body, nil).Body
}

// user creates a minimal user called name@example.com with the extra attributes and returns its id.
func (e *env) user(name string, extra map[string]any) string {
	e.t.Helper()
	body := map[string]any{"schemas": []string{userURN}, "userName": name + "@example.com"}
	for k, v := range extra {
		body[k] = v
	}
	return e.createUser(body)["id"].(string)
}

// patchBody wraps operations in a PatchOp request.
func patchBody(ops ...map[string]any) map[string]any {
	return map[string]any{"schemas": []string{patchURN}, "Operations": ops}
}

func op(o, path string, value any) map[string]any {
	m := map[string]any{"op": o}
	if path != "" {
		m["path"] = path
	}
	if value != nil {
		m["value"] = value
	}
	return m
}

// row is the stored users row of a user, every column by name; nil when there is none.
func (e *env) row(id string) map[string]any {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), "SELECT * FROM users WHERE org_id = $1 AND id = $2", e.org, id)
	require.NoError(e.t, err)
	all, err := pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(e.t, err)
	if len(all) == 0 {
		return nil
	}
	// manager_id is a uuid column; shown as the id a client writes.
	if b, ok := all[0]["manager_id"].([16]uint8); ok {
		all[0]["manager_id"] = uuid.UUID(b).String()
	}
	return all[0]
}

// valueRow is one stored element of a multi-valued attribute (user_values).
type valueRow struct {
	Attr    string
	Pos     int32
	Value   *string
	Display *string
	Type    *string
	Primary bool
}

func (e *env) values(id string) []valueRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT attr, pos, value, display, type, "primary"
		FROM user_values WHERE user_id = $1 ORDER BY attr, pos`, id)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[valueRow])
	require.NoError(e.t, err)
	return out
}

// addressRow is one stored address (user_addresses).
type addressRow struct {
	Pos           int32
	Formatted     *string
	StreetAddress *string
	Locality      *string
	Region        *string
	PostalCode    *string
	Country       *string
	Type          *string
	Primary       bool
}

func (e *env) addresses(id string) []addressRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT pos, formatted, street_address, locality,
		region, postal_code, country, type, "primary" FROM user_addresses WHERE user_id = $1 ORDER BY pos`, id)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[addressRow])
	require.NoError(e.t, err)
	return out
}

// count runs a SELECT count(*) query.
func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

// snapshot is everything stored about a user, to assert a failed request changed nothing.
type snapshot struct {
	Row       map[string]any
	Values    []valueRow
	Addresses []addressRow
}

func (e *env) snapshot(id string) snapshot {
	e.t.Helper()
	return snapshot{Row: e.row(id), Values: e.values(id), Addresses: e.addresses(id)}
}

func (e *env) requireUnchanged(id string, before snapshot) {
	e.t.Helper()
	require.Equal(e.t, before, e.snapshot(id), "the stored user must be unchanged")
}

// str dereferences a nullable text column.
func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// ptr is the address of s, for comparing nullable columns.
func ptr(s string) *string { return &s }

// ids returns the ids of a ListResponse's resources, in order.
func ids(r resp) []string {
	var out []string
	list, _ := r.Body["Resources"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["id"].(string))
	}
	return out
}

// get reads a nested value of a decoded JSON document by keys and list indexes.
func get(doc any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := doc.(map[string]any)
			if !ok {
				return nil
			}
			doc = m[k]
		case int:
			l, ok := doc.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			doc = l[k]
		}
	}
	return doc
}
