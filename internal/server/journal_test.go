package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// queued is one row of the notification outbox.
type queued struct {
	Kind      string
	Recipient string
	Language  string
	Data      map[string]any
}

func (e *env) notifications(user string) []queued {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT kind, recipient, language, data FROM notifications
		WHERE org_id = $1 AND user_id = $2 ORDER BY created_at, id`, e.org, user)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[queued])
	require.NoError(e.t, err)
	return out
}

func kinds(ns []queued) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

// auditRow is one row of the audit log.
type auditRow struct {
	Action    string
	RequestID string
	TokenID   *string
	Actor     *string
	Changes   map[string]any
}

func (e *env) auditOf(resource string) []auditRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT action, request_id, token_id::text, actor_user_id::text, changes
		FROM audit_log WHERE org_id = $1 AND resource_id = $2 ORDER BY at, id`, e.org, resource)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[auditRow])
	require.NoError(e.t, err)
	return out
}

func TestSuspensionByEveryShapeIsJournaled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	for name, suspend := range map[string]struct {
		method string
		body   func(id string) any
	}{
		"PUT active false": {http.MethodPut, func(string) any {
			return map[string]any{"userName": "put@example.com", "locale": "fr_FR", "active": false}
		}},
		"PATCH path active":  {http.MethodPatch, func(string) any { return patchBody(op("replace", "active", false)) }},
		"Entra string False": {http.MethodPatch, func(string) any { return patchBody(op("Replace", "active", "False")) }},
		"Okta path-less":     {http.MethodPatch, func(string) any { return patchBody(op("replace", "", map[string]any{"active": false})) }},
		"path-less with grants": {http.MethodPatch, func(string) any {
			return patchBody(op("replace", "", map[string]any{"active": false, "entitlements": []any{map[string]any{"value": "meeting"}}}))
		}},
	} {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			userName := strings.ReplaceAll(strings.ToLower(name), " ", "-") + "@example.com"
			if suspend.method == http.MethodPut {
				userName = "put@example.com"
			}
			id := e.createUser(map[string]any{"userName": userName, "locale": "fr-FR",
				"entitlements": []any{map[string]any{"value": "meeting"}}})["id"].(string)
			require.Equal(t, []string{"grants", "welcome"}, kinds(e.notifications(id)), "creation with a product")
			r := e.must(http.StatusOK, suspend.method, "/Users/"+id, suspend.body(id), hdr{"X-Request-Id": "req-" + strings.ReplaceAll(name, " ", "-")})
			require.Equal(t, "suspended", get(r.Body, extURN, "status"))
			ns := e.notifications(id)
			require.Equal(t, []string{"grants", "welcome", "suspended"}, kinds(ns))
			require.Equal(t, userName, ns[2].Recipient)
			require.Equal(t, "fr", ns[2].Language)
			a := e.auditOf(id)
			require.Len(t, a, 2)
			require.Equal(t, "create", a[0].Action)
			require.Equal(t, "suspend", a[1].Action)
			require.Equal(t, "req-"+strings.ReplaceAll(name, " ", "-"), a[1].RequestID)
			require.NotNil(t, a[1].TokenID)
			require.Contains(t, a[1].Changes, "active")

			// Reactivation is announced; the product does not come back by itself and the
			// welcome is not sent again when it is granted again.
			e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "active", true)), nil)
			e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("add", "entitlements", []any{map[string]any{"value": "meeting"}})), nil)
			require.Equal(t, []string{"grants", "welcome", "suspended", "reactivated", "grants"}, kinds(e.notifications(id)))
			require.Equal(t, "reactivate", e.auditOf(id)[2].Action)
		})
	}
}

func TestDoNotNotify(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar", "connect")
	id := e.user("quiet", nil)
	// The request override suppresses change notifications but not a first welcome.
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id+"?notify=false",
		patchBody(op("add", "entitlements", []any{map[string]any{"value": "meeting"}, map[string]any{"value": "connect"}})), nil)
	require.Equal(t, []queued{{Kind: "welcome", Recipient: "quiet@example.com", Language: "en", Data: map[string]any{"product": "meeting"}}},
		e.notifications(id))
	// So does the header; and the organization setting.
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("add", "entitlements", []any{map[string]any{"value": "webinar"}})),
		hdr{"X-Scimd-Notify": "false"})
	_, err := e.pool.Exec(context.Background(), "UPDATE organizations SET notify = false WHERE id = $1", e.org)
	require.NoError(t, err)
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", extURN+":accountRole", "admin")), nil)
	require.Equal(t, []string{"welcome", "welcome"}, kinds(e.notifications(id)))
	// A request may ask for notifications the organization turned off.
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id+"?notify=true", patchBody(op("replace", extURN+":accountRole", "member")), nil)
	ns := e.notifications(id)
	require.Equal(t, "grants", ns[len(ns)-1].Kind)
	require.Equal(t, map[string]any{"account_role": map[string]any{"before": "admin", "after": "member"}}, ns[len(ns)-1].Data)
	requireError(t, e.do(http.MethodGet, "/Users?notify=maybe", nil, nil), http.StatusBadRequest, "invalidValue")
}

func TestAuditKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.createUser(map[string]any{"userName": "secret@example.com", "password": "hunter2hunter2"})["id"].(string)
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "password", "correct horse battery")), nil)
	a := e.auditOf(id)
	require.Equal(t, []string{"create", "update"}, []string{a[0].Action, a[1].Action})
	require.Equal(t, map[string]any{"after": "(changed)"}, a[1].Changes["password"])
	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil, nil)
	// After the purge the user's records remain under a pseudonym, without their changes.
	var pseudonym string
	require.NoError(t, e.pool.QueryRow(context.Background(),
		"SELECT pseudonym::text FROM tombstones WHERE org_id = $1 AND resource_id = $2", e.org, id).Scan(&pseudonym))
	a = e.auditOf(pseudonym)
	require.Equal(t, []string{"create", "update", "delete"}, []string{a[0].Action, a[1].Action, a[2].Action})
	require.Empty(t, a[1].Changes)
	var all string
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT string_agg(changes::text, ' ') FROM audit_log").Scan(&all))
	require.NotContains(t, all, "hunter2")
	require.NotContains(t, all, "horse")
}

func TestGroupMappedGrantsAreJournaled(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar")
	id := e.user("member", map[string]any{"preferredLanguage": "de"})
	gid := e.group("mapped")
	_, err := e.pool.Exec(context.Background(), `INSERT INTO group_mappings (org_id, group_id, org_role) VALUES ($1, $2, 'admin-readonly');
		`, e.org, gid)
	require.NoError(t, err)
	_, err = e.pool.Exec(context.Background(), `INSERT INTO group_mapping_products (org_id, group_id, product) VALUES ($1, $2, 'webinar')`, e.org, gid)
	require.NoError(t, err)

	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(id))), nil)
	u := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
	require.Equal(t, "admin-readonly", get(u, extURN, "orgRole"))
	require.Equal(t, []any{"webinar"}, get(u, extURN, "products"))
	ns := e.notifications(id)
	require.Equal(t, []string{"grants", "welcome"}, kinds(ns))
	require.Equal(t, "de", ns[0].Language)
	raw, _ := json.Marshal(ns[0].Data)
	require.JSONEq(t, `{"products_added":["webinar"],"org_role":{"before":"user","after":"admin-readonly"}}`, string(raw))

	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("remove", `members[value eq "`+id+`"]`, nil)), nil)
	require.Equal(t, []string{"grants", "welcome", "grants"}, kinds(e.notifications(id)))
	a := e.auditOf(id)
	require.Equal(t, "grants", a[len(a)-1].Action)
	g := e.auditOf(gid)
	require.Equal(t, []string{"create", "update", "update"}, []string{g[0].Action, g[1].Action, g[2].Action})
	require.Contains(t, g[1].Changes, "members.added")
	require.Contains(t, g[2].Changes, "members.removed")
}
