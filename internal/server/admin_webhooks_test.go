package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/server"
	"github.com/scimd/scimd/internal/webhook"
)

func webhookCount(a *adminAPI) int {
	a.t.Helper()
	return orgstest.Count(a.t, a.pool, `SELECT count(*) FROM webhook_endpoints`)
}

// refusedWebhook sends a webhook request that must fail and change no endpoint.
func refusedWebhook(a *adminAPI, status int, method, path string, body any, fragments ...string) {
	a.t.Helper()
	before := webhookCount(a)
	a.refused(status, method, path, body, fragments...)
	require.Equal(a.t, before, webhookCount(a), "%s %s must change no webhook", method, path)
}

func TestAdminWebhooks(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	orgA := a.createOrg("Acme", "acme.example")
	orgB := a.createOrg("Globex", "globex.example")
	pathA, pathB := "/admin/v1/orgs/"+orgA+"/webhooks", "/admin/v1/orgs/"+orgB+"/webhooks"

	w := a.must(http.StatusCreated, http.MethodPost, pathA, map[string]any{"url": "https://Hooks.Acme.Example/scimd?source=scimd"}).Body
	require.Len(t, w, 4, "%v", w)
	requireV7(t, w["id"])
	require.Equal(t, "https://hooks.acme.example/scimd?source=scimd", w["url"], "scheme and host are lowercased")
	require.NotEmpty(t, w["created"])
	secret := w["secret"].(string)
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	require.NoError(t, err, "the secret is base64url without padding")
	require.Len(t, raw, 32)
	var stored string
	require.NoError(t, a.pool.QueryRow(t.Context(), `SELECT secret FROM webhook_endpoints WHERE id = $1`, w["id"]).Scan(&stored))
	require.Equal(t, secret, stored)

	w2 := a.must(http.StatusCreated, http.MethodPost, pathA, map[string]any{"url": "http://127.0.0.1:9000/hook"}).Body
	require.NotEqual(t, secret, w2["secret"])
	// Another organization may register the same URL, with its own secret.
	wb := a.must(http.StatusCreated, http.MethodPost, pathB, map[string]any{"url": "https://hooks.acme.example/scimd?source=scimd"}).Body

	list := a.must(http.StatusOK, http.MethodGet, pathA, nil)
	require.NotContains(t, string(list.Raw), "secret", "secrets are shown on creation only")
	hooks := list.Body["webhooks"].([]any)
	require.Len(t, hooks, 2)
	require.Equal(t, map[string]any{"id": w["id"], "url": w["url"], "created": w["created"]}, hooks[0])
	require.Equal(t, w2["id"], hooks[1].(map[string]any)["id"])
	require.Len(t, a.must(http.StatusOK, http.MethodGet, pathB, nil).Body["webhooks"], 1)

	refusedWebhook(a, http.StatusConflict, http.MethodPost, pathA, map[string]any{"url": "HTTPS://hooks.acme.example/scimd?source=scimd"},
		"already has the webhook "+w["id"].(string))
	for url, want := range map[string]string{
		"":                               "a webhook needs a url",
		"   ":                            "a webhook needs a url",
		"ftp://files.example/in":         `has the scheme "ftp"; only http and https are accepted`,
		"javascript:alert(1)":            `has the scheme "javascript"`,
		"hooks.example/scimd":            "is not absolute",
		"/relative":                      "is not absolute",
		"https://":                       "has no host",
		"https:opaque":                   "has no host",
		"https://user:pw@hooks.example/": "contains credentials",
		"https://hooks.example/#top":     "has a fragment",
		"https://hooks.example/a b":      "spaces or control characters",
		"https://hooks.example:port/":    "is not a URL",
		"https://hooks.example/" + strings.Repeat("a", 2048): "at most 2048",
	} {
		refusedWebhook(a, http.StatusBadRequest, http.MethodPost, pathA, map[string]any{"url": url}, want)
	}
	refusedWebhook(a, http.StatusBadRequest, http.MethodPost, pathA, map[string]any{"url": "https://x.example", "secret": "mine"}, `unknown field "secret"`)
	refusedWebhook(a, http.StatusBadRequest, http.MethodPost, pathA, nil, "the request body is empty")
	form := a.callWith(http.Header{"Authorization": {"Bearer " + a.token}, "Content-Type": {"application/x-www-form-urlencoded"}},
		http.MethodPost, pathA, "url=https://x.example")
	requireAdminError(t, form, http.StatusUnsupportedMediaType, "Content-Type must be application/json")

	// Tenant isolation and unknown ids.
	idA := w["id"].(string)
	refusedWebhook(a, http.StatusNotFound, http.MethodDelete, pathB+"/"+idA, nil, "has no webhook "+`"`+idA+`"`)
	refusedWebhook(a, http.StatusNotFound, http.MethodDelete, pathA+"/"+wb["id"].(string), nil, "has no webhook")
	refusedWebhook(a, http.StatusNotFound, http.MethodDelete, pathA+"/not-an-id", nil, `has no webhook "not-an-id"`)
	unknown := "/admin/v1/orgs/" + uuid.NewString() + "/webhooks"
	refusedWebhook(a, http.StatusNotFound, http.MethodPost, unknown, map[string]any{"url": "https://x.example"}, "there is no organization")
	requireAdminError(t, a.call(http.MethodGet, unknown, nil), http.StatusNotFound, "there is no organization")
	refusedWebhook(a, http.StatusNotFound, http.MethodDelete, unknown+"/"+idA, nil, "there is no organization")

	r := a.must(http.StatusNoContent, http.MethodDelete, pathA+"/"+strings.ToUpper(idA), nil)
	require.Empty(t, r.Raw)
	refusedWebhook(a, http.StatusNotFound, http.MethodDelete, pathA+"/"+idA, nil, "has no webhook")
	require.Len(t, a.must(http.StatusOK, http.MethodGet, pathA, nil).Body["webhooks"], 1)
	require.Len(t, a.must(http.StatusOK, http.MethodGet, pathB, nil).Body["webhooks"], 1, "the other organization's webhook stays")

	requireAdminError(t, a.callWith(nil, http.MethodGet, pathA, nil), http.StatusUnauthorized)
	requireAdminError(t, a.callWith(nil, http.MethodPost, pathA, map[string]any{"url": "https://x.example"}), http.StatusUnauthorized)
	require.Equal(t, 2, webhookCount(a))
}

// DELETE of a user purges the product data written through the admin API and queues a signed
// account.purged event for every endpoint, which the worker delivers.
func TestPurgeDeliversWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	reg, _, dir := dbtest.Directory(t, pool)
	store := postgres.NewOrgs(pool)
	svc, err := orgs.New(store, orgs.Config{})
	require.NoError(t, err)
	srv := httptest.NewServer(server.NewServer(server.Deps{Directory: dir, Schemas: reg,
		Ready: pool.Ping, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Orgs: svc, AdminToken: testAdminToken}))
	t.Cleanup(srv.Close)
	tok, err := store.CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	org := tok.OrgID

	call := func(token, ct string, status int, method, path string, body any) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			raw, err := json.Marshal(body)
			require.NoError(t, err)
			rd = strings.NewReader(string(raw))
		}
		req, err := http.NewRequest(method, srv.URL+path, rd)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		if rd != nil {
			req.Header.Set("Content-Type", ct)
		}
		res, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		raw, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		require.Equal(t, status, res.StatusCode, "%s %s: %s", method, path, raw)
		var out map[string]any
		if len(raw) > 0 {
			require.NoError(t, json.Unmarshal(raw, &out))
		}
		return out
	}
	admin := func(status int, method, path string, body any) map[string]any {
		t.Helper()
		return call(testAdminToken, "application/json", status, method, "/admin/v1/orgs/"+org+path, body)
	}

	events := make(chan *http.Request, 10)
	bodies := make(chan []byte, 10)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		events <- r
		bodies <- body
	}))
	t.Cleanup(receiver.Close)
	hooks := []map[string]any{
		admin(http.StatusCreated, http.MethodPost, "/webhooks", map[string]any{"url": receiver.URL + "/one"}),
		admin(http.StatusCreated, http.MethodPost, "/webhooks", map[string]any{"url": receiver.URL + "/two"}),
	}

	user := call(tok.Token, "application/scim+json", http.StatusCreated, http.MethodPost, "/scim/v2/Users",
		map[string]any{"userName": "ada@example.com"})
	id := user["id"].(string)
	admin(http.StatusCreated, http.MethodPost, "/users/"+id+"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z"})
	admin(http.StatusCreated, http.MethodPost, "/users/"+id+"/scheduled-meetings", map[string]any{"starts_at": "2030-05-01T09:00:00Z"})
	admin(http.StatusCreated, http.MethodPost, "/users/"+id+"/records", map[string]any{"product": "meeting", "kind": "recording"})
	require.Len(t, admin(http.StatusOK, http.MethodGet, "/users/"+id+"/product-data", nil)["items"], 3)

	call(tok.Token, "", http.StatusNoContent, http.MethodDelete, "/scim/v2/Users/"+id, nil)
	admin(http.StatusNotFound, http.MethodGet, "/users/"+id+"/product-data", nil)
	for _, table := range []string{"meeting_history", "scheduled_meetings", "product_records"} {
		require.Zero(t, orgstest.Count(t, pool, `SELECT count(*) FROM `+table), table)
	}

	n, err := webhook.NewWorker(postgres.NewWebhookQueue(pool), webhook.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).RunOnce(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	eventIDs := map[string]bool{}
	for range hooks {
		r, body := <-events, <-bodies
		secret := hooks[0]["secret"].(string)
		if r.URL.Path == "/two" {
			secret = hooks[1]["secret"].(string)
		}
		require.NoError(t, webhook.Verify(secret, r.Header.Get("Scimd-Signature"), body, time.Minute, time.Now()))
		var ev map[string]any
		require.NoError(t, json.Unmarshal(body, &ev))
		require.Equal(t, "account.purged", ev["type"])
		require.Equal(t, "account.purged", r.Header.Get("Scimd-Event-Type"))
		require.Equal(t, ev["id"], r.Header.Get("Scimd-Event-Id"))
		require.Equal(t, org, ev["org_id"])
		require.Equal(t, id, ev["resource_id"])
		require.NotContains(t, string(body), "ada@example.com", "the event carries ids only")
		eventIDs[ev["id"].(string)] = true
	}
	require.Len(t, eventIDs, 1, "one event, shared by the endpoints' deliveries")
	require.Zero(t, orgstest.Count(t, pool, `SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL`))
}
