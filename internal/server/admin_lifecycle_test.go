package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/server"
)

// adminEnv is an env whose server serves the admin API too, with testAdminToken.
func adminEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, func(d *server.Deps) { d.AdminToken = testAdminToken })
}

// admin sends an admin API request to the env's server, requires the status, and decodes the
// JSON answer.
func (e *env) admin(status int, method, path string, body any) resp {
	e.t.Helper()
	c := *e
	c.token = testAdminToken
	r := c.do(method, "/"+path, body, hdr{"Content-Type": "application/json"})
	require.Equal(e.t, status, r.Status, "%s %s: %s", method, path, r.Raw)
	if len(r.Raw) > 0 {
		require.NoError(e.t, json.Unmarshal(r.Raw, &r.Body), "%s", r.Raw)
	}
	return r
}

func TestDeleteOrgPurgesEverything(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ctx := context.Background()
	id, accountID, personal := e.richUser()
	e.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "Quillfeather fans"}, nil)
	other := e.otherOrg()
	otherUser := other.createUser(map[string]any{"userName": "survivor@globex.example"})["id"].(string)
	personal = append(personal, e.org, "Quillfeather fans", "Acme")
	before := e.traces(personal, accountID)
	require.NotEmpty(t, before)

	e.admin(http.StatusNoContent, http.MethodDelete, "/admin/v1/orgs/"+e.org, nil)

	// Nothing of the organization remains but its tombstone and the purge events (ids only),
	// and the events queued to the endpoints it had: a pg_dump holds none of its people's data.
	after := e.traces(personal, accountID)
	delete(after, "organization_tombstones.id")
	for k := range after {
		require.True(t, strings.HasPrefix(k, "webhook_deliveries."), "%s still holds the organization's data: %v", k, after)
	}
	var payload, url string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT payload::text, url FROM webhook_deliveries WHERE org_id = $1 AND event_type = 'organization.purged'`,
		e.org).Scan(&payload, &url))
	require.Contains(t, payload, e.org)
	require.Equal(t, "http://127.0.0.1:1/hook", url, "queued to the endpoint the organization had")
	for _, p := range []string{id, "zebulon", "quillfeather", "Acme"} {
		require.NotContains(t, strings.ToLower(payload), strings.ToLower(p), "the event carries ids only")
	}
	require.Equal(t, 1, e.count(`SELECT count(*) FROM organization_tombstones WHERE id = $1 AND actor = 'operator (admin API)'`, e.org))
	require.Zero(t, e.count(`SELECT count(*) FROM users WHERE id = $1`, id))

	// Its tokens stop at once; another organization is untouched; a second delete is 404.
	requireError(t, e.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	other.must(http.StatusOK, http.MethodGet, "/Users/"+otherUser, nil, nil)
	r := e.admin(http.StatusNotFound, http.MethodDelete, "/admin/v1/orgs/"+e.org, nil)
	require.Contains(t, r.Body["detail"], "there is no organization")
	e.admin(http.StatusNotFound, http.MethodGet, "/admin/v1/orgs/"+e.org, nil)
}

func TestOrgListAndChange(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	e.otherOrg()
	for range 3 {
		e.otherOrg()
	}
	var seen []string
	cursor := ""
	for {
		path := "/admin/v1/orgs?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.admin(http.StatusOK, http.MethodGet, path, nil)
		for _, o := range r.Body["orgs"].([]any) {
			seen = append(seen, o.(map[string]any)["id"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 5)
	require.Equal(t, e.org, seen[0], "oldest first")
	e.admin(http.StatusBadRequest, http.MethodGet, "/admin/v1/orgs?cursor=nope", nil)
	e.admin(http.StatusBadRequest, http.MethodGet, "/admin/v1/orgs?limit=0", nil)

	r := e.admin(http.StatusOK, http.MethodPatch, "/admin/v1/orgs/"+e.org, map[string]any{"name": " Acme Corp ", "default_locale": "fr_fr"})
	require.Equal(t, "Acme Corp", r.Body["name"])
	require.Equal(t, "fr-FR", r.Body["default_locale"])
	// Bad values change nothing, whatever else the request asks.
	for _, body := range []map[string]any{
		{"name": "", "notify": false},
		{"default_locale": "klingon", "nested_groups": true},
		{"name": "a\x00b"},
	} {
		r := e.admin(http.StatusBadRequest, http.MethodPatch, "/admin/v1/orgs/"+e.org, body)
		require.NotEmpty(t, r.Body["detail"])
	}
	r = e.admin(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+e.org, nil)
	require.Equal(t, "Acme Corp", r.Body["name"])
	require.Equal(t, true, r.Body["notify"])
	require.Equal(t, false, r.Body["nested_groups"])
	// A new user without a locale gets the new default.
	u := e.createUser(map[string]any{"userName": "newcomer@example.com"})
	require.Equal(t, "fr-FR", u["locale"])
}

func TestAdminUserCommands(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	e.license("meeting")
	keeper := e.createUser(adminBody("keeper"))["id"].(string)
	u := e.createUser(map[string]any{"userName": "support@example.com", extURN: map[string]any{"products": []any{"meeting"}}})
	id := u["id"].(string)
	base := "/admin/v1/orgs/" + e.org + "/users"

	r := e.admin(http.StatusOK, http.MethodGet, base+"?filter="+urlq(`userName sw "support"`), nil)
	require.EqualValues(t, 1, r.Body["total_results"])
	require.Equal(t, id, r.Body["users"].([]any)[0].(map[string]any)["id"])
	r = e.admin(http.StatusOK, http.MethodGet, base+"/"+strings.ToUpper(id), nil)
	require.Equal(t, "support@example.com", r.Body["userName"])

	// By cursor, one user a page: the two users, then nothing more.
	r = e.admin(http.StatusOK, http.MethodGet, base+"?cursor=&count=1&sortBy=userName", nil)
	require.EqualValues(t, 2, r.Body["total_results"])
	require.Equal(t, keeper, r.Body["users"].([]any)[0].(map[string]any)["id"])
	require.NotContains(t, r.Body, "start_index")
	require.NotContains(t, r.Body, "previous_cursor")
	r = e.admin(http.StatusOK, http.MethodGet, base+"?count=1&sortBy=userName&cursor="+url.QueryEscape(r.Body["next_cursor"].(string)), nil)
	require.Equal(t, id, r.Body["users"].([]any)[0].(map[string]any)["id"])
	require.NotContains(t, r.Body, "next_cursor")
	require.NotEmpty(t, r.Body["previous_cursor"])

	// Suspending through the admin API is the same rule as SCIM's active=false: products gone,
	// and with ?notify=false no suspension mail.
	mails := e.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, id)
	r = e.admin(http.StatusOK, http.MethodPost, base+"/"+id+"/suspend?notify=false", nil)
	require.Equal(t, false, r.Body["active"])
	require.Empty(t, e.products(id))
	require.Equal(t, mails, e.count(`SELECT count(*) FROM notifications WHERE user_id = $1`, id))
	r = e.admin(http.StatusOK, http.MethodPost, base+"/"+id+"/reactivate", nil)
	require.Equal(t, true, r.Body["active"])
	require.Equal(t, 1, e.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'reactivated'`, id))
	require.Zero(t, e.count(`SELECT count(*) FROM notifications WHERE user_id = $1 AND kind = 'suspended'`, id))

	// The last admin cannot be suspended or deleted by the operator either.
	e.admin(http.StatusConflict, http.MethodPost, base+"/"+keeper+"/suspend", nil)
	e.admin(http.StatusConflict, http.MethodDelete, base+"/"+keeper, nil)
	e.admin(http.StatusNoContent, http.MethodDelete, base+"/"+id, nil)
	e.admin(http.StatusNotFound, http.MethodGet, base+"/"+id, nil)
	e.admin(http.StatusNotFound, http.MethodPost, base+"/nope/suspend", nil)
}
