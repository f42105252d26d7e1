package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// productDataCount is how many product data rows are stored, of every kind.
func productDataCount(a *adminAPI) int {
	a.t.Helper()
	return orgstest.Count(a.t, a.pool, `SELECT (SELECT count(*) FROM meeting_history) + (SELECT count(*) FROM scheduled_meetings)
		+ (SELECT count(*) FROM product_records)`)
}

// refusedData sends a product data request that must fail and store nothing.
func refusedData(a *adminAPI, status int, method, path string, body any, fragments ...string) {
	a.t.Helper()
	before := productDataCount(a)
	a.refused(status, method, path, body, fragments...)
	require.Equal(a.t, before, productDataCount(a), "%s %s must store nothing", method, path)
}

func requireV7(t *testing.T, id any) {
	t.Helper()
	u, err := uuid.Parse(id.(string))
	require.NoError(t, err)
	require.Equal(t, uuid.Version(7), u.Version(), "%s", id)
}

func TestAdminProductData(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	orgA := a.createOrg("Acme", "acme.example")
	orgB := a.createOrg("Globex", "globex.example")
	ada := orgstest.InsertUser(t, a.pool, orgA, "ada@acme.example", "user", true)
	bob := orgstest.InsertUser(t, a.pool, orgB, "bob@globex.example", "user", true)
	base := "/admin/v1/orgs/" + orgA + "/users/" + ada

	m := a.must(http.StatusCreated, http.MethodPost, base+"/meetings", map[string]any{
		"topic": "Standup", "started_at": "2024-05-01T11:00:00+02:00", "ended_at": "2024-05-01T09:30:00Z",
		"details": map[string]any{"participants": 4, "recording": true}}).Body
	requireV7(t, m["id"])
	require.Equal(t, "meeting", m["type"])
	require.Equal(t, ada, m["user_id"])
	require.Equal(t, "Standup", m["topic"])
	require.Equal(t, "2024-05-01T09:00:00Z", m["started_at"], "times are answered in UTC")
	require.Equal(t, "2024-05-01T09:30:00Z", m["ended_at"])
	require.Equal(t, map[string]any{"participants": float64(4), "recording": true}, m["details"])
	require.NotEmpty(t, m["created"])

	open := a.must(http.StatusCreated, http.MethodPost, base+"/meetings", map[string]any{"started_at": "2024-05-02T09:00:00Z"}).Body
	require.Nil(t, open["ended_at"])
	require.Equal(t, "", open["topic"])
	require.Equal(t, map[string]any{}, open["details"])

	s := a.must(http.StatusCreated, http.MethodPost, base+"/scheduled-meetings", map[string]any{
		"topic": "Planning", "starts_at": "2030-01-15T14:00:00Z", "duration_min": 90}).Body
	requireV7(t, s["id"])
	require.Equal(t, "scheduled_meeting", s["type"])
	require.Equal(t, float64(90), s["duration_min"])
	s2 := a.must(http.StatusCreated, http.MethodPost, base+"/scheduled-meetings", map[string]any{"starts_at": "2030-01-16T14:00:00Z"}).Body
	require.Equal(t, float64(60), s2["duration_min"], "the default duration")

	before := time.Now().Add(-time.Second)
	r := a.must(http.StatusCreated, http.MethodPost, base+"/records", map[string]any{
		"product": "webinar", "kind": "attendance", "payload": map[string]any{"webinar_id": "w-1"}}).Body
	requireV7(t, r["id"])
	require.Equal(t, "record", r["type"])
	recordedAt, err := time.Parse(time.RFC3339Nano, r["recorded_at"].(string))
	require.NoError(t, err)
	require.True(t, recordedAt.After(before), "recorded_at defaults to now")
	r2 := a.must(http.StatusCreated, http.MethodPost, base+"/records", map[string]any{
		"product": "connect", "kind": "chat.message", "recorded_at": "2024-05-01T12:00:00Z"}).Body

	// Newest first, by the time each item is about.
	want := []any{s2["id"], s["id"], r["id"], open["id"], r2["id"], m["id"]}
	list := a.must(http.StatusOK, http.MethodGet, base+"/product-data", nil).Body
	require.Equal(t, want, itemIDsOf(list))
	require.NotContains(t, list, "next_cursor")
	items := list["items"].([]any)
	require.Equal(t, "record", items[2].(map[string]any)["type"])
	require.Equal(t, map[string]any{"webinar_id": "w-1"}, items[2].(map[string]any)["payload"])
	require.Equal(t, m, items[5], "a listed item is as it was created")

	// Pages.
	var paged []any
	path := base + "/product-data?limit=4"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 3)
		page := a.must(http.StatusOK, http.MethodGet, path, nil).Body
		paged = append(paged, itemIDsOf(page)...)
		next, ok := page["next_cursor"].(string)
		if !ok {
			break
		}
		path = base + "/product-data?limit=4&cursor=" + next
	}
	require.Equal(t, want, paged)

	// Another organization's user, or a user of none, is not found, and neither is an unknown
	// organization.
	for _, p := range []string{
		"/admin/v1/orgs/" + orgB + "/users/" + ada,
		"/admin/v1/orgs/" + orgA + "/users/" + bob,
		"/admin/v1/orgs/" + orgA + "/users/" + uuid.NewString(),
		"/admin/v1/orgs/" + orgA + "/users/not-a-uuid",
	} {
		refusedData(a, http.StatusNotFound, http.MethodPost, p+"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z"}, "has no user")
		refusedData(a, http.StatusNotFound, http.MethodPost, p+"/scheduled-meetings", map[string]any{"starts_at": "2024-05-01T09:00:00Z"}, "has no user")
		refusedData(a, http.StatusNotFound, http.MethodPost, p+"/records", map[string]any{"product": "meeting", "kind": "x"}, "has no user")
		requireAdminError(t, a.call(http.MethodGet, p+"/product-data", nil), http.StatusNotFound, "has no user")
	}
	other := "/admin/v1/orgs/" + uuid.NewString() + "/users/" + ada
	refusedData(a, http.StatusNotFound, http.MethodPost, other+"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z"}, "there is no organization")
	requireAdminError(t, a.call(http.MethodGet, other+"/product-data", nil), http.StatusNotFound, "there is no organization")
	require.Equal(t, map[string]any{"items": []any{}}, a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+orgB+"/users/"+bob+"/product-data", nil).Body,
		"the other organization's user has nothing")

	// Validation.
	for _, c := range []struct {
		path string
		body any
		want []string
	}{
		{"/meetings", map[string]any{"topic": "x"}, []string{"started_at is required"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01 09:00"}, []string{`started_at "2024-05-01 09:00" is not an RFC 3339 time`}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00"}, []string{"is not an RFC 3339 time", "time zone"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "ended_at": "2024-05-01T08:00:00Z"}, []string{"ended_at 2024-05-01T08:00:00Z is before started_at 2024-05-01T09:00:00Z"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "details": []any{1}}, []string{"details must be a JSON object, not an array"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "details": "x"}, []string{"details must be a JSON object, not a string"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "details": map[string]any{"a": []any{"ok", "nul\x00"}}}, []string{"U+0000", "details.a[1]"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "topic": strings.Repeat("x", 1001)}, []string{"topic is 1001 bytes long; at most 1000"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "topic": "a\x00b"}, []string{"topic contains control characters"}},
		{"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z", "room": "1"}, []string{`unknown field "room"`}},
		{"/meetings", `{"started_at": 5}`, []string{"started_at"}},
		{"/scheduled-meetings", map[string]any{}, []string{"starts_at is required"}},
		{"/scheduled-meetings", map[string]any{"starts_at": "2030-01-15T14:00:00Z", "duration_min": 0}, []string{"duration_min 0 is out of range", "from 1 to 10080"}},
		{"/scheduled-meetings", map[string]any{"starts_at": "2030-01-15T14:00:00Z", "duration_min": 10081}, []string{"duration_min 10081 is out of range"}},
		{"/scheduled-meetings", map[string]any{"starts_at": "2030-01-15T14:00:00Z", "duration_min": 1.5}, []string{"duration_min"}},
		{"/records", map[string]any{"kind": "x"}, []string{"product is required"}},
		{"/records", map[string]any{"product": "Web Inar", "kind": "x"}, []string{`"Web Inar" is not a product name`}},
		{"/records", map[string]any{"product": "webinar"}, []string{"kind is required"}},
		{"/records", map[string]any{"product": "webinar", "kind": "no spaces"}, []string{`kind "no spaces" is not valid`}},
		{"/records", map[string]any{"product": "webinar", "kind": "x", "payload": 5}, []string{"payload must be a JSON object, not a number"}},
		{"/records", map[string]any{"product": "webinar", "kind": "x", "recorded_at": "yesterday"}, []string{`recorded_at "yesterday" is not an RFC 3339 time`}},
		{"/records", "", []string{"the request body is empty"}},
	} {
		refusedData(a, http.StatusBadRequest, http.MethodPost, base+c.path, c.body, c.want...)
	}
	for q, want := range map[string]string{
		"limit=0":             `limit "0" is not valid`,
		"limit=1001":          `limit "1001" is not valid: give a whole number from 1 to 1000`,
		"limit=ten":           `limit "ten" is not valid`,
		"cursor=bogus":        `cursor "bogus" is not valid`,
		"cursor=MTIzX25vcGU":  "is not valid: pass the next_cursor",
		"limit=2&cursor=%20x": "cursor",
	} {
		requireAdminError(t, a.call(http.MethodGet, base+"/product-data?"+q, nil), http.StatusBadRequest, want)
	}
	require.Equal(t, 6, productDataCount(a))

	// The admin token is required.
	requireAdminError(t, a.callWith(nil, http.MethodGet, base+"/product-data", nil), http.StatusUnauthorized)
	requireAdminError(t, a.callWith(http.Header{"Authorization": {"Bearer " + strings.Repeat("x", 32)}}, http.MethodPost, base+"/records",
		map[string]any{"product": "meeting", "kind": "x"}), http.StatusUnauthorized)
	require.Equal(t, 6, productDataCount(a))
	requireAdminError(t, a.call(http.MethodPut, base+"/meetings", map[string]any{}), http.StatusMethodNotAllowed)
}

func itemIDsOf(page map[string]any) []any {
	out := []any{}
	for _, it := range page["items"].([]any) {
		out = append(out, it.(map[string]any)["id"])
	}
	return out
}

// The product data of a user goes with the user.
func TestAdminProductDataGoesWithUser(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	ada := orgstest.InsertUser(t, a.pool, org, "ada@acme.example", "user", true)
	base := fmt.Sprintf("/admin/v1/orgs/%s/users/%s", org, ada)
	a.must(http.StatusCreated, http.MethodPost, base+"/meetings", map[string]any{"started_at": "2024-05-01T09:00:00Z"})
	_, err := a.pool.Exec(t.Context(), `DELETE FROM users WHERE org_id = $1 AND id = $2`, org, ada)
	require.NoError(t, err)
	require.Zero(t, productDataCount(a))
	requireAdminError(t, a.call(http.MethodGet, base+"/product-data", nil), http.StatusNotFound, "has no user")
}
