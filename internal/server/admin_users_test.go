package server_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// signInUser stores a user with direct grants and refreshes the effective ones, as a
// provisioning write would.
func (a *adminAPI) signInUser(org, name, orgRole, accountRole string, active bool, products ...string) string {
	a.t.Helper()
	ctx := context.Background()
	id := orgstest.InsertUser(a.t, a.pool, org, name, orgRole, active)
	_, err := a.pool.Exec(ctx, `UPDATE users SET account_role = $3 WHERE org_id = $1 AND id = $2`, org, id, accountRole)
	require.NoError(a.t, err)
	for _, p := range products {
		orgstest.Grant(a.t, a.pool, org, id, p)
	}
	a.refreshGrants(org, id)
	return id
}

// refreshGrants sets the effective grants of users, as the directory computes them
// (grants.Effective) for users in no mapped group: their direct grants, none while suspended.
func (a *adminAPI) refreshGrants(org string, users ...string) {
	a.t.Helper()
	ctx := context.Background()
	_, err := a.pool.Exec(ctx, `UPDATE users SET eff_org_role = CASE WHEN active THEN org_role ELSE 'user' END,
		eff_account_role = CASE WHEN active THEN account_role ELSE 'member' END
		WHERE org_id = $1 AND id = ANY($2::uuid[])`, org, users)
	require.NoError(a.t, err)
	_, err = a.pool.Exec(ctx, `DELETE FROM user_effective_products WHERE org_id = $1 AND user_id = ANY($2::uuid[])`, org, users)
	require.NoError(a.t, err)
	_, err = a.pool.Exec(ctx, `INSERT INTO user_effective_products (org_id, user_id, product)
		SELECT p.org_id, p.user_id, p.product FROM user_products p JOIN users u ON u.org_id = p.org_id AND u.id = p.user_id
		WHERE p.org_id = $1 AND p.user_id = ANY($2::uuid[]) AND u.active ON CONFLICT DO NOTHING`, org, users)
	require.NoError(a.t, err)
	_, err = a.pool.Exec(ctx, `UPDATE users u SET eff_products = ARRAY(SELECT p.product FROM user_effective_products p
		WHERE p.org_id = u.org_id AND p.user_id = u.id ORDER BY 1) WHERE u.org_id = $1 AND u.id = ANY($2::uuid[])`, org, users)
	require.NoError(a.t, err)
}

func TestAdminUserSignIn(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	ctx := context.Background()
	org := a.createOrg("Acme", "acme.example")
	other := a.createOrg("Other", "other.example")

	admin := a.signInUser(org, "ada@acme.example", "admin", "admin", true, "meeting", "webinar")
	member := a.signInUser(org, "bob@acme.example", "user", "member", true, "meeting")
	suspended := a.signInUser(org, "cy@acme.example", "admin-readonly", "admin", false, "training")
	foreign := a.signInUser(other, "dee@other.example", "admin", "admin", true, "meeting")

	// bob is in a group mapped to webinar and accountRole admin: the effective grants unite
	// both.
	group := uuid.NewString()
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO groups (org_id, id, display_name) VALUES ($1, $2, 'Sales')`, []any{org, group}},
		{`INSERT INTO group_members (org_id, group_id, member_id, member_type) VALUES ($1, $2, $3, 'User')`, []any{org, group, member}},
	} {
		_, err := a.pool.Exec(ctx, q.sql, q.args...)
		require.NoError(t, err, q.sql)
	}
	a.must(http.StatusCreated, http.MethodPut, "/admin/v1/orgs/"+org+"/group-mappings/"+group,
		map[string]any{"account_role": "admin", "products": []string{"webinar"}})

	signIn := func(user string) map[string]any {
		t.Helper()
		return a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+org+"/users/"+user+"/sign-in", nil).Body
	}
	require.Equal(t, map[string]any{"user_id": admin, "can_sign_in": true, "status": "active", "org_role": "admin",
		"account_role": "admin", "products": []any{"meeting", "webinar"}}, signIn(admin))
	require.Equal(t, map[string]any{"user_id": member, "can_sign_in": true, "status": "active", "org_role": "user",
		"account_role": "admin", "products": []any{"meeting", "webinar"}}, signIn(member))
	// A suspended user keeps their direct grants stored but has no effective ones.
	require.Equal(t, map[string]any{"user_id": suspended, "can_sign_in": false, "status": "suspended", "org_role": "user",
		"account_role": "member", "products": []any{}}, signIn(suspended))

	// Suspending bob in the database (as a PATCH active=false does) is reflected at once;
	// the id is accepted in any case.
	_, err := a.pool.Exec(ctx, `UPDATE users SET active = false WHERE org_id = $1 AND id = $2`, org, member)
	require.NoError(t, err)
	a.refreshGrants(org, member)
	require.Equal(t, map[string]any{"user_id": member, "can_sign_in": false, "status": "suspended", "org_role": "user",
		"account_role": "member", "products": []any{}}, signIn(upper(member)))

	// Another organization's user, an unknown user, a malformed id and an unknown
	// organization are all 404.
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+org+"/users/"+foreign+"/sign-in", nil),
		http.StatusNotFound, "organization "+org+" has no user", foreign)
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+org+"/users/"+uuid.NewString()+"/sign-in", nil),
		http.StatusNotFound, "has no user")
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+org+"/users/not-a-uuid/sign-in", nil),
		http.StatusNotFound, `has no user "not-a-uuid"`)
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString()+"/users/"+admin+"/sign-in", nil),
		http.StatusNotFound, "there is no organization")
	// The admin token is required.
	requireAdminError(t, a.callWith(nil, http.MethodGet, "/admin/v1/orgs/"+org+"/users/"+admin+"/sign-in", nil), http.StatusUnauthorized)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestAdminAudit(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	ctx := context.Background()
	org := a.createOrg("Acme", "acme.example")
	other := a.createOrg("Other", "other.example")
	ada, bob, actor, token := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	type rec struct {
		org      string
		minutes  int
		actor    *string
		action   string
		resource string
	}
	var ids []string // org's records, oldest first
	insert := func(r rec) string {
		id := uuid.NewString()
		_, err := a.pool.Exec(ctx, `INSERT INTO audit_log (org_id, id, at, request_id, token_id, actor_user_id, action,
				resource_type, resource_id, changes)
			VALUES ($1, $2, $3, $8, $4, $5, $6, 'User', $7, '{"active": {"before": true, "after": false}}')`,
			r.org, id, base.Add(time.Duration(r.minutes)*time.Minute), token, r.actor, r.action, r.resource, "req-"+id)
		require.NoError(t, err)
		return id
	}
	for _, r := range []rec{
		{org, 0, nil, "create", ada},
		{org, 1, &actor, "create", bob},
		{org, 2, &actor, "update", ada},
		{org, 3, nil, "grants", bob},
		{org, 3, &actor, "suspend", ada}, // the same time as the one before: the id breaks the tie
		{org, 5, &actor, "delete", bob},
	} {
		ids = append(ids, insert(r))
	}
	// The other organization's record is about ada's id and by the same actor: never shown.
	foreign := insert(rec{other, 4, &actor, "update", ada})

	audit := func(query url.Values) map[string]any {
		t.Helper()
		return a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+org+"/audit?"+query.Encode(), nil).Body
	}
	entryIDs := func(page map[string]any) []string {
		var out []string
		for _, e := range page["entries"].([]any) {
			id := e.(map[string]any)["id"].(string)
			require.NotEqual(t, foreign, id, "another organization's record")
			out = append(out, id)
		}
		return out
	}
	newest := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, ids[i])
		}
		return out
	}
	// The tie at minute 3 is ordered by id, descending.
	tie := []int{3, 4}
	if ids[3] < ids[4] {
		tie = []int{4, 3}
	}
	all := newest(append(append([]int{5}, tie...), 2, 1, 0)...)

	page := audit(nil)
	require.Equal(t, all, entryIDs(page))
	require.Nil(t, page["next_cursor"])
	e := page["entries"].([]any)[0].(map[string]any)
	require.Equal(t, map[string]any{"id": ids[5], "at": "2026-03-01T12:05:00Z", "request_id": "req-" + ids[5],
		"token_id": token, "actor_user_id": actor, "action": "delete", "resource_type": "User", "resource_id": bob,
		"changes": map[string]any{"active": map[string]any{"before": true, "after": false}}}, e)
	require.Nil(t, page["entries"].([]any)[5].(map[string]any)["actor_user_id"])

	// Filters, alone and together.
	require.Equal(t, newest(4, 2, 0), entryIDs(audit(url.Values{"user": {ada}})))
	require.Equal(t, newest(4, 2, 0), entryIDs(audit(url.Values{"user": {upper(ada)}})))
	require.Equal(t, newest(5, 4, 2, 1), entryIDs(audit(url.Values{"actor": {actor}})))
	require.Equal(t, newest(4, 2), entryIDs(audit(url.Values{"actor": {actor}, "user": {ada}})))
	require.Equal(t, newest(1, 0), entryIDs(audit(url.Values{"action": {"create"}})))
	require.Equal(t, newest(append(tie, 2, 1)...), entryIDs(audit(url.Values{
		"since": {"2026-03-01T12:01:00Z"}, "until": {"2026-03-01T12:05:00Z"}})))
	require.Equal(t, newest(5), entryIDs(audit(url.Values{"since": {"2026-03-01T13:04:30+01:00"}})))
	require.Empty(t, entryIDs(audit(url.Values{"user": {uuid.NewString()}})))

	// Paging with the cursor walks the same records, the tie included, without repeats.
	var walked []string
	q := url.Values{"limit": {"2"}}
	for range 10 {
		page := audit(q)
		walked = append(walked, entryIDs(page)...)
		if page["next_cursor"] == nil {
			break
		}
		q.Set("cursor", page["next_cursor"].(string))
	}
	require.Equal(t, all, walked)
	// A cursor combines with filters.
	page = audit(url.Values{"actor": {actor}, "limit": {"3"}})
	require.Equal(t, newest(5, 4, 2), entryIDs(page))
	page = audit(url.Values{"actor": {actor}, "limit": {"3"}, "cursor": {page["next_cursor"].(string)}})
	require.Equal(t, newest(1), entryIDs(page))
	require.Nil(t, page["next_cursor"])
	// A limit above the cap is capped, not refused.
	require.Equal(t, all, entryIDs(audit(url.Values{"limit": {"100000"}})))

	// The other organization sees its own record only.
	r := a.must(http.StatusOK, http.MethodGet, "/admin/v1/orgs/"+other+"/audit", nil)
	require.Len(t, r.Body["entries"], 1)
	require.Equal(t, foreign, r.Body["entries"].([]any)[0].(map[string]any)["id"])

	for query, fragment := range map[string]string{
		"user=ada":                   `user "ada" is not a user id`,
		"actor=1":                    `actor "1" is not a user id`,
		"since=yesterday":            `since "yesterday" is not an RFC 3339 time`,
		"until=2026-03-01":           `until "2026-03-01" is not an RFC 3339 time`,
		"limit=0":                    `limit "0" is not a positive whole number`,
		"limit=ten":                  `limit "ten" is not a positive whole number`,
		"cursor=bm90LWEtY3Vyc29y":    "is not one this server gave",
		"cursor=%25%25%25not-base64": "is not one this server gave",
	} {
		requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+org+"/audit?"+query, nil), http.StatusBadRequest, fragment)
	}
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/"+uuid.NewString()+"/audit", nil), http.StatusNotFound, "there is no organization")
	requireAdminError(t, a.call(http.MethodGet, "/admin/v1/orgs/nope/audit", nil), http.StatusNotFound, "there is no organization")
}

func TestAdminOrgNotifySetting(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	other := a.createOrg("Other", "other.example")
	stored := func(id string) bool {
		var n bool
		require.NoError(t, a.pool.QueryRow(context.Background(), `SELECT notify FROM organizations WHERE id = $1`, id).Scan(&n))
		return n
	}
	require.True(t, stored(org), "notifications are on by default")

	r := a.must(http.StatusOK, http.MethodPatch, "/admin/v1/orgs/"+org, map[string]any{"notify": false})
	require.Equal(t, false, r.Body["notify"])
	require.Equal(t, false, r.Body["nested_groups"])
	require.Equal(t, org, r.Body["id"])
	require.Equal(t, "Acme", r.Body["name"])
	require.False(t, stored(org))
	require.True(t, stored(other), "another organization's setting is untouched")

	// Both settings in one request.
	r = a.must(http.StatusOK, http.MethodPatch, "/admin/v1/orgs/"+org, map[string]any{"notify": true, "nested_groups": true})
	require.Equal(t, true, r.Body["notify"])
	require.Equal(t, true, r.Body["nested_groups"])
	require.True(t, stored(org))
	// Setting the value it has is fine.
	a.must(http.StatusOK, http.MethodPatch, "/admin/v1/orgs/"+org, map[string]any{"notify": true})

	requireAdminError(t, a.call(http.MethodPatch, "/admin/v1/orgs/"+org, map[string]any{}), http.StatusBadRequest, "nothing to change", `"notify"`)
	requireAdminError(t, a.call(http.MethodPatch, "/admin/v1/orgs/"+org, `{"notify": "no"}`), http.StatusBadRequest, "not a valid JSON object")
	requireAdminError(t, a.call(http.MethodPatch, "/admin/v1/orgs/"+org, `{"notfy": false}`), http.StatusBadRequest, "notfy")
	requireAdminError(t, a.call(http.MethodPatch, "/admin/v1/orgs/"+uuid.NewString(), map[string]any{"notify": false}),
		http.StatusNotFound, "there is no organization")
	require.True(t, stored(org))
}
