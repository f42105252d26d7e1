package server_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const (
	bulkReqURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkRespURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	groupURN    = "urn:ietf:params:scim:schemas:core:2.0:Group"
)

// bop is one bulk operation.
func bop(method, path, bulkID string, data any) map[string]any {
	m := map[string]any{"method": method, "path": path}
	if bulkID != "" {
		m["bulkId"] = bulkID
	}
	if data != nil {
		m["data"] = data
	}
	return m
}

func bulkBody(failOnErrors int, ops ...map[string]any) map[string]any {
	b := map[string]any{"schemas": []string{bulkReqURN}, "Operations": ops}
	if failOnErrors > 0 {
		b["failOnErrors"] = failOnErrors
	}
	return b
}

// bulk sends a bulk request, requires 200 and a BulkResponse, and returns its operations.
func (e *env) bulk(failOnErrors int, ops ...map[string]any) []map[string]any {
	e.t.Helper()
	r := e.must(http.StatusOK, http.MethodPost, "/Bulk", bulkBody(failOnErrors, ops...), nil)
	require.Equal(e.t, []any{bulkRespURN}, r.Body["schemas"])
	list, _ := r.Body["Operations"].([]any)
	out := make([]map[string]any, len(list))
	for i, x := range list {
		out[i] = x.(map[string]any)
		require.IsType(e.t, "", out[i]["status"], "status is a string: %v", out[i])
	}
	return out
}

// idOf is the id at the end of a bulk result's location.
func idOf(t *testing.T, res map[string]any) string {
	t.Helper()
	loc, _ := res["location"].(string)
	require.NotEmpty(t, loc, "%v", res)
	return loc[strings.LastIndexByte(loc, '/')+1:]
}

func statuses(results []map[string]any) []string {
	out := make([]string, len(results))
	for i, r := range results {
		out[i] = r["status"].(string)
	}
	return out
}

// requireSameError checks that a bulk result failed exactly as the single request did.
func requireSameError(t *testing.T, single resp, res map[string]any, name string) {
	t.Helper()
	require.GreaterOrEqual(t, single.Status, 400, "%s: the single request must fail: %s", name, single.Raw)
	require.Equal(t, strconv.Itoa(single.Status), res["status"], "%s: %v", name, res)
	require.Equal(t, single.Body, res["response"], "%s: the bulk response must be the single request's error body", name)
}

func TestBulkReferencesForwardAndBackward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.bulk(0,
		// The group refers to users defined after it (forward references)...
		bop("POST", "/Groups", "g", map[string]any{"schemas": []string{groupURN}, "displayName": "Team",
			"members": []any{map[string]any{"value": "bulkId:u1"}, map[string]any{"value": "bulkId:u2"}}}),
		bop("POST", "/Users", "u1", map[string]any{"userName": "u1@example.com"}),
		bop("POST", "/Users", "u2", map[string]any{"userName": "u2@example.com",
			entURN: map[string]any{"manager": map[string]any{"value": "bulkId:u1"}}}),
		// ...and later operations to resources created before them, in paths and filters.
		bop("PATCH", "/Groups/bulkId:g", "", patchBody(op("remove", `members[value eq "bulkId:u1"]`, nil))),
		bop("PUT", "/Users/bulkId:u2", "", map[string]any{"userName": "u2@example.com", "title": "Lead"}),
		bop("DELETE", "/Users/bulkId:u1", "", nil),
	)
	require.Equal(t, []string{"201", "201", "201", "204", "200", "204"}, statuses(res))
	require.Equal(t, []any{"POST", "POST", "POST", "PATCH", "PUT", "DELETE"},
		[]any{res[0]["method"], res[1]["method"], res[2]["method"], res[3]["method"], res[4]["method"], res[5]["method"]})
	require.Equal(t, "g", res[0]["bulkId"])
	g, u1, u2 := idOf(t, res[0]), idOf(t, res[1]), idOf(t, res[2])
	require.Equal(t, e.base()+"/Groups/"+g, res[0]["location"])
	require.Equal(t, e.base()+"/Users/"+u1, res[1]["location"])
	require.Equal(t, e.base()+"/Groups/"+g, res[3]["location"])
	require.Equal(t, e.base()+"/Users/"+u1, res[5]["location"])
	require.Equal(t, `W/"1"`, res[1]["version"])
	for _, r := range res {
		require.NotContains(t, r, "response", "a success carries no response body")
	}

	require.Equal(t, sorted(u2), e.members(g))
	user2 := e.must(http.StatusOK, http.MethodGet, "/Users/"+u2, nil, nil).Body
	require.Equal(t, "Lead", user2["title"])
	require.Equal(t, res[4]["version"], version(user2))
	require.Nil(t, get(user2, entURN, "manager"), "the PUT replaced the manager")
	e.must(http.StatusNotFound, http.MethodGet, "/Users/"+u1, nil, nil)
}

func TestBulkCircularReferences(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	t.Run("users managing each other", func(t *testing.T) {
		e := e.with(t)
		res := e.bulk(0,
			bop("POST", "/Users", "a", map[string]any{"userName": "circ-a@example.com",
				entURN: map[string]any{"manager": map[string]any{"value": "bulkId:b"}}}),
			bop("POST", "/Users", "b", map[string]any{"userName": "circ-b@example.com",
				entURN: map[string]any{"manager": map[string]any{"value": "bulkId:a"}}}),
		)
		require.Equal(t, []string{"201", "201"}, statuses(res))
		a, b := idOf(t, res[0]), idOf(t, res[1])
		ua := e.must(http.StatusOK, http.MethodGet, "/Users/"+a, nil, nil).Body
		ub := e.must(http.StatusOK, http.MethodGet, "/Users/"+b, nil, nil).Body
		require.Equal(t, b, get(ua, entURN, "manager", "value"))
		require.Equal(t, a, get(ub, entURN, "manager", "value"))
		// a was created, then its manager patched in: the version reported is the final one.
		require.Equal(t, version(ua), res[0]["version"])
		require.Equal(t, version(ub), res[1]["version"])
	})

	t.Run("groups containing each other", func(t *testing.T) {
		e := e.with(t)
		u := e.user("circ-member", nil)
		body := func(name, other string) map[string]any {
			return map[string]any{"displayName": name, "members": []any{
				map[string]any{"value": u}, map[string]any{"value": "bulkId:" + other, "type": "Group"}}}
		}
		// Without nested groups, B fails as its single request would: B cannot contain A; A's
		// reference to B cannot be set, and nothing of the circle is kept.
		res := e.bulk(0, bop("POST", "/Groups", "A", body("Circle A", "B")), bop("POST", "/Groups", "B", body("Circle B", "A")))
		require.Equal(t, []string{"409", "400"}, statuses(res))
		require.Contains(t, get(res[1], "response", "detail"), "nested groups are not enabled")
		require.Contains(t, get(res[0], "response", "detail"), `bulkId "B" cannot be resolved`)
		require.Zero(t, e.count("SELECT count(*) FROM groups WHERE org_id = $1", e.org))

		// With nested groups, both are created and then the cycle that the references would
		// close is refused on patching A's reference in, as it would be alone: the circle
		// runs in one transaction, so B, which only exists for it, is not kept either, and no
		// purge or event is ever made of a resource nobody heard of.
		_, err := e.pool.Exec(t.Context(), "UPDATE organizations SET nested_groups = true WHERE id = $1", e.org)
		require.NoError(t, err)
		res = e.bulk(0, bop("POST", "/Groups", "A", body("Circle A", "B")), bop("POST", "/Groups", "B", body("Circle B", "A")))
		require.Equal(t, []string{"400", "409"}, statuses(res))
		require.Contains(t, get(res[0], "response", "detail"), "would make a cycle")
		require.Zero(t, e.count("SELECT count(*) FROM groups WHERE org_id = $1", e.org))
		require.Zero(t, e.count("SELECT count(*) FROM tombstones WHERE org_id = $1", e.org))
		require.Zero(t, e.count("SELECT count(*) FROM audit_log WHERE org_id = $1 AND resource_type = 'Group'", e.org))
	})

	t.Run("a group and its members created in one request, in either order", func(t *testing.T) {
		e := e.with(t)
		res := e.bulk(0,
			bop("POST", "/Users", "m1", map[string]any{"userName": "order-1@example.com"}),
			bop("POST", "/Groups", "g", map[string]any{"displayName": "Ordered", "members": []any{
				map[string]any{"value": "bulkId:m1"}, map[string]any{"value": "bulkId:m2"}}}),
			bop("POST", "/Users", "m2", map[string]any{"userName": "order-2@example.com"}),
		)
		require.Equal(t, []string{"201", "201", "201"}, statuses(res))
		require.Equal(t, sorted(idOf(t, res[0]), idOf(t, res[2])), e.members(idOf(t, res[1])))
	})

	t.Run("refused references", func(t *testing.T) {
		e := e.with(t)
		res := e.bulk(0,
			bop("POST", "/Groups", "self", map[string]any{"displayName": "Selfish", "members": []any{map[string]any{"value": "bulkId:self"}}}),
			bop("POST", "/Groups", "", map[string]any{"displayName": "Dangling", "members": []any{map[string]any{"value": "bulkId:nowhere"}}}),
			// A circle through an attribute that cannot be set after creation.
			bop("POST", "/Users", "x", map[string]any{"userName": "ring-x@example.com", "displayName": "bulkId:y"}),
			bop("POST", "/Users", "y", map[string]any{"userName": "ring-y@example.com",
				entURN: map[string]any{"manager": map[string]any{"value": "bulkId:x"}}}),
			bop("POST", "/Users", "dup", map[string]any{"userName": "dup-1@example.com"}),
			bop("POST", "/Users", "dup", map[string]any{"userName": "dup-2@example.com"}),
			bop("PATCH", "/Users/bulkId:missing", "", patchBody(op("replace", "title", "x"))),
		)
		require.Equal(t, []string{"400", "400", "409", "409", "201", "400", "400"}, statuses(res))
		require.Equal(t, "invalidValue", get(res[0], "response", "scimType"))
		require.Contains(t, get(res[0], "response", "detail"), `its own bulkId "self"`)
		require.Contains(t, get(res[1], "response", "detail"), `bulkId "nowhere" is not defined`)
		require.Contains(t, get(res[2], "response", "detail"), `reference each other in a circle that cannot be resolved`)
		require.Contains(t, get(res[2], "response", "detail"), `"displayName"`)
		require.Equal(t, get(res[2], "response"), get(res[3], "response"))
		require.Contains(t, get(res[5], "response", "detail"), `bulkId "dup" is already used by Operations[4]`)
		require.Contains(t, get(res[6], "response", "detail"), `bulkId "missing" is not defined`)
		require.Zero(t, e.count("SELECT count(*) FROM groups WHERE org_id = $1 AND display_name IN ('Selfish', 'Dangling')", e.org))
		require.Zero(t, e.count("SELECT count(*) FROM users WHERE org_id = $1 AND user_name LIKE 'ring-%'", e.org))
	})
}

func TestBulkFailOnErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user("taken", nil)
	ok := func(n string) map[string]any {
		return bop("POST", "/Users", n, map[string]any{"userName": n + "@example.com"})
	}
	bad := func(n string) map[string]any {
		return bop("POST", "/Users", n, map[string]any{"userName": n + "@unverified.example"})
	}
	stored := func(names ...string) []bool {
		out := make([]bool, len(names))
		for i, n := range names {
			out[i] = e.count("SELECT count(*) FROM users WHERE org_id = $1 AND user_name = $2", e.org, n+"@example.com") == 1
		}
		return out
	}

	// Consecutive creations go through the batched path; the limit holds there as well.
	res := e.bulk(2, ok("a1"), bad("b1"), ok("a2"), bop("POST", "/Users", "t", map[string]any{"userName": "TAKEN@example.com"}), ok("a3"))
	require.Equal(t, []string{"201", "400", "201", "409"}, statuses(res), "processing stops at the second error")
	require.Equal(t, "uniqueness", get(res[3], "response", "scimType"))
	require.Equal(t, []bool{true, true, false}, stored("a1", "a2", "a3"))

	// The same with operations of every kind, one at a time.
	g := e.group("fo-group")
	res = e.bulk(1,
		bop("PATCH", "/Groups/"+g, "", patchBody(op("replace", "displayName", "fo-renamed"))),
		bop("DELETE", "/Users/00000000-0000-0000-0000-000000000000", "", nil),
		ok("a4"))
	require.Equal(t, []string{"204", "404"}, statuses(res))
	require.Equal(t, []bool{false}, stored("a4"))

	// Without failOnErrors everything is processed.
	res = e.bulk(0, bad("b2"), ok("a5"), bad("b3"), ok("a6"))
	require.Equal(t, []string{"400", "201", "400", "201"}, statuses(res))
	require.Equal(t, []bool{true, true}, stored("a5", "a6"))

	// failOnErrors must be a positive integer.
	for _, v := range []any{0, -1, "x", 1.5} {
		b := bulkBody(0, ok("never"))
		b["failOnErrors"] = v
		requireError(t, e.do(http.MethodPost, "/Bulk", b, nil), http.StatusBadRequest, "invalidValue")
	}
}

func TestBulkLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.must(http.StatusOK, http.MethodGet, "/ServiceProviderConfig", nil, nil).Body
	require.Equal(t, true, get(c, "bulk", "supported"))
	require.EqualValues(t, 1000, get(c, "bulk", "maxOperations"))
	maxPayload := int(get(c, "bulk", "maxPayloadSize").(float64))
	require.GreaterOrEqual(t, maxPayload, maxBodyLen)

	ops := make([]map[string]any, 1001)
	for i := range ops {
		ops[i] = bop("DELETE", "/Users/x", "", nil)
	}
	r := e.do(http.MethodPost, "/Bulk", bulkBody(0, ops...), nil)
	requireError(t, r, http.StatusRequestEntityTooLarge, "tooLarge")
	require.Contains(t, r.Body["detail"], "1000")

	huge := `{"schemas":["` + bulkReqURN + `"],"Operations":[{"method":"POST","path":"/Users","bulkId":"h","data":` +
		`{"userName":"huge@example.com","displayName":"` + strings.Repeat("x", maxPayload) + `"}}]}`
	for name, body := range map[string]func() any{
		"with Content-Length": func() any { return huge },
		"chunked":             func() any { return unsized{strings.NewReader(huge)} },
	} {
		r := e.do(http.MethodPost, "/Bulk", body(), nil)
		requireError(t, r, http.StatusRequestEntityTooLarge, "tooLarge")
		require.Contains(t, r.Body["detail"], strconv.Itoa(maxPayload), name)
	}

	// A payload under maxPayloadSize is accepted even above the single-request limit; an
	// operation whose data alone exceeds that limit fails as its single request would.
	big := strings.Repeat("y", maxBodyLen)
	single := e.do(http.MethodPost, "/Users", map[string]any{"userName": "big@example.com", "displayName": big}, nil)
	res := e.bulk(0,
		bop("POST", "/Users", "big", map[string]any{"userName": "big@example.com", "displayName": big}),
		bop("POST", "/Users", "small", map[string]any{"userName": "small@example.com"}))
	requireSameError(t, single, res[0], "data over the single-request limit")
	require.Equal(t, "201", res[1]["status"])
	require.Zero(t, e.count("SELECT count(*) FROM users WHERE user_name = 'huge@example.com' OR user_name = 'big@example.com'"))

	// Malformed requests.
	for name, body := range map[string]any{
		"not JSON":      `{"schemas":`,
		"no schemas":    map[string]any{"Operations": []any{bop("DELETE", "/Users/x", "", nil)}},
		"no operations": map[string]any{"schemas": []string{bulkReqURN}, "Operations": []any{}},
	} {
		requireError(t, e.do(http.MethodPost, "/Bulk", body, nil), http.StatusBadRequest, "invalidSyntax")
		_ = name
	}
}

// TestBulkEquivalence checks that each operation in a bulk request fails exactly as its
// single request does (status, scimType and detail), and succeeds with the same stored state.
func TestBulkEquivalence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	e.createUser(adminBody("keeper"))
	victim := e.user("victim", nil)
	e.user("dup", nil)
	g := e.group("eq-group")
	e.group("eq-taken")
	missing := "00000000-0000-0000-0000-000000000001"
	type req struct {
		name, method, path string
		body               any
		version            string
	}
	cases := []req{
		{"unverified domain", "POST", "/Users", map[string]any{"userName": "x@unverified.example"}, ""},
		{"unverified primary email", "POST", "/Users", map[string]any{"userName": "mail",
			"emails": []any{map[string]any{"value": "m@sub.example.com", "primary": true}}}, ""},
		{"unsupported locale", "POST", "/Users", map[string]any{"userName": "loc@example.com", "locale": "xx-YY"}, ""},
		{"duplicate userName", "POST", "/Users", map[string]any{"userName": "DUP@example.com"}, ""},
		{"unlicensed product", "POST", "/Users", map[string]any{"userName": "p@example.com", extURN: map[string]any{"products": []any{"webinar"}}}, ""},
		{"no userName", "POST", "/Users", map[string]any{"displayName": "x"}, ""},
		{"wrong type", "POST", "/Users", map[string]any{"userName": "t@example.com", "active": 3}, ""},
		{"body not an object", "POST", "/Users", []any{1}, ""},
		{"replace missing user", "PUT", "/Users/" + missing, map[string]any{"userName": "m@example.com"}, ""},
		{"patch syntax", "PATCH", "/Users/" + victim, map[string]any{"schemas": []any{patchURN}, "Operations": []any{map[string]any{"op": "frobnicate"}}}, ""},
		{"patch unknown path", "PATCH", "/Users/" + victim, patchBody(op("replace", "nosuch", "x")), ""},
		{"patch readOnly", "PATCH", "/Users/" + victim, patchBody(op("replace", "id", "x")), ""},
		{"stale version", "PATCH", "/Users/" + victim, patchBody(op("replace", "title", "x")), `W/"99"`},
		{"delete missing user", "DELETE", "/Users/not-a-uuid", nil, ""},
		{"duplicate group", "POST", "/Groups", map[string]any{"displayName": "EQ-TAKEN"}, ""},
		{"unknown member", "PATCH", "/Groups/" + g, patchBody(op("add", "members", memberList(missing))), ""},
		{"stale group delete", "DELETE", "/Groups/" + g, nil, `W/"7"`},
		{"method on collection", "PUT", "/Users", map[string]any{"userName": "x@example.com"}, ""},
	}
	var ops []map[string]any
	singles := make([]resp, len(cases))
	for i, c := range cases {
		h := hdr{}
		if c.version != "" {
			h["If-Match"] = c.version
		}
		singles[i] = e.do(c.method, c.path, c.body, h)
		o := bop(c.method, c.path, "", c.body)
		if c.version != "" {
			o["version"] = c.version
		}
		ops = append(ops, o)
	}
	before := e.full(victim)
	res := e.bulk(0, ops...)
	require.Len(t, res, len(cases))
	for i, c := range cases {
		if c.name == "method on collection" {
			// The single request's detail names the full URL path, the bulk one the operation's.
			require.Equal(t, strconv.Itoa(singles[i].Status), res[i]["status"])
			continue
		}
		requireSameError(t, singles[i], res[i], c.name)
	}
	e.requireUnchanged(victim, before.snapshot)

	// Successes store the same thing, one at a time or batched: a full Microsoft validator
	// user with roles and products (so grants, welcome mails and audit records are written).
	manager := e.user("manager", nil)
	body := func(name string) map[string]any {
		b := msvUser(name+"@example.com", manager)
		delete(b, "roles")
		b[extURN] = map[string]any{"products": []any{"meeting"}, "orgRole": "admin-readonly", "accountRole": "admin"}
		return b
	}
	single := e.createUser(body("single"))["id"].(string)
	res = e.bulk(0, bop("POST", "/Users", "one", body("bulk-one")), bop("DELETE", "/Users/"+missing, "", nil),
		bop("POST", "/Users", "b1", body("batch-1")), bop("POST", "/Users", "b2", body("batch-2")))
	require.Equal(t, []string{"201", "404", "201", "201"}, statuses(res))
	want := e.comparable(single)
	for _, r := range []map[string]any{res[0], res[2], res[3]} {
		id := idOf(t, r)
		require.Equal(t, want, e.comparable(id), "user %s", r["bulkId"])
		doc := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
		require.Equal(t, r["version"], version(doc))
	}

	// Group operations store what their single requests store.
	u1, u2 := e.user("gm1", nil), e.user("gm2", nil)
	sg := e.group("single-g", u1)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+sg, patchBody(op("add", "members", memberList(u2)), op("replace", "externalId", "ext")), nil)
	res = e.bulk(0, bop("POST", "/Groups", "bg", map[string]any{"displayName": "bulk-g", "members": memberList(u1)}),
		bop("PATCH", "/Groups/bulkId:bg", "", patchBody(op("add", "members", memberList(u2)), op("replace", "externalId", "ext"))))
	require.Equal(t, []string{"201", "204"}, statuses(res))
	bg := idOf(t, res[0])
	require.Equal(t, e.members(sg), e.members(bg))
	sgDoc := e.must(http.StatusOK, http.MethodGet, "/Groups/"+sg, nil, nil).Body
	bgDoc := e.must(http.StatusOK, http.MethodGet, "/Groups/"+bg, nil, nil).Body
	require.Equal(t, sgDoc["externalId"], bgDoc["externalId"])
	require.Equal(t, version(sgDoc), version(bgDoc))
	require.Equal(t, res[1]["version"], version(bgDoc))
}

// comparable is what is stored about a user, without what differs between two users created
// from bodies that differ only in userName: ids, times, names and account ID.
func (e *env) comparable(id string) map[string]any {
	e.t.Helper()
	doc := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
	for _, k := range []string{"id", "meta", "userName", "emails"} {
		delete(doc, k)
	}
	delete(doc[extURN].(map[string]any), "accountId")
	return map[string]any{
		"doc":           doc,
		"products":      e.products(id),
		"audit":         e.count("SELECT count(*) FROM audit_log WHERE org_id = $1 AND resource_id = $2", e.org, id),
		"notifications": e.count("SELECT count(*) FROM notifications WHERE org_id = $1 AND user_id = $2", e.org, id),
		"kinds":         e.count("SELECT count(DISTINCT kind) FROM notifications WHERE org_id = $1 AND user_id = $2", e.org, id),
		"welcomes":      e.count("SELECT count(*) FROM user_welcomes WHERE org_id = $1 AND user_id = $2", e.org, id),
		"version":       version(e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body),
	}
}

func TestBulkRulesOfTheToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(adminBody("other-admin"))
	me := e.createUser(adminBody("me"))["id"].(string)
	ro := e.createUser(map[string]any{"userName": "ro@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
	mine, _ := e.tokenFor(me, nil)
	roEnv, _ := e.tokenFor(ro, nil)

	// Self-protection: the same refusals as the single requests.
	cases := []struct {
		method string
		body   any
	}{
		{"PATCH", patchBody(op("replace", extURN+":orgRole", "user"))},
		{"PATCH", patchBody(op("replace", "active", false))},
		{"PUT", map[string]any{"userName": "me@example.com", "active": "False"}},
		{"DELETE", nil},
	}
	var ops []map[string]any
	var singles []resp
	for _, c := range cases {
		singles = append(singles, mine.do(c.method, "/Users/"+me, c.body, nil))
		ops = append(ops, bop(c.method, "/Users/"+me, "", c.body))
	}
	res := mine.bulk(0, ops...)
	for i := range cases {
		requireSameError(t, singles[i], res[i], fmt.Sprint(cases[i]))
	}
	require.Equal(t, "admin", e.row(me)["org_role"])

	// An admin-readonly token: every operation is refused as its single request is.
	single := roEnv.do(http.MethodPost, "/Users", map[string]any{"userName": "new@example.com"}, nil)
	res = roEnv.bulk(0, bop("POST", "/Users", "n", map[string]any{"userName": "new@example.com"}),
		bop("DELETE", "/Users/"+me, "", nil), bop("POST", "/Users", "n2", map[string]any{"userName": "new2@example.com"}))
	require.Len(t, res, 3)
	for _, r := range res {
		requireSameError(t, single, r, "admin-readonly")
	}
	require.Equal(t, 1, len(roEnv.bulk(1, bop("POST", "/Users", "n", map[string]any{"userName": "new@example.com"}),
		bop("POST", "/Users", "n2", map[string]any{"userName": "new2@example.com"}))))
	require.Zero(t, e.count("SELECT count(*) FROM users WHERE user_name LIKE 'new%'"))

	// The last admin: alone, the admin cannot be deleted, in bulk as alone.
	solo := newEnv(t)
	only := solo.createUser(adminBody("only"))["id"].(string)
	single = solo.do(http.MethodDelete, "/Users/"+only, nil, nil)
	res = solo.bulk(0, bop("DELETE", "/Users/"+only, "", nil))
	requireSameError(t, single, res[0], "last admin")
}

func TestBulkCreatesThousandUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ops := make([]map[string]any, 1000)
	for i := range ops {
		ops[i] = bop("POST", "/Users", fmt.Sprintf("u%d", i), map[string]any{
			"schemas": []string{userURN}, "userName": fmt.Sprintf("user%04d@example.com", i),
			"name":   map[string]any{"givenName": "User", "familyName": strconv.Itoa(i)},
			"emails": []any{map[string]any{"value": fmt.Sprintf("user%04d@example.com", i), "type": "work", "primary": true}},
		})
	}
	res := e.bulk(0, ops...)
	require.Len(t, res, 1000)
	for i, r := range res {
		require.Equal(t, "201", r["status"], "%d: %v", i, r)
		require.Equal(t, fmt.Sprintf("u%d", i), r["bulkId"])
	}
	require.Equal(t, 1000, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))
	require.Equal(t, 1000, e.count("SELECT count(*) FROM user_values WHERE org_id = $1 AND attr = 'emails'", e.org))
	// The rows were written by a handful of transactions, not one per user.
	require.LessOrEqual(t, e.count("SELECT count(DISTINCT xmin::text) FROM users WHERE org_id = $1", e.org), 8)
	// In request order: the list without sortBy is in creation order.
	list := e.must(http.StatusOK, http.MethodGet, "/Users?count=3&attributes=userName", nil, nil)
	require.Equal(t, []string{idOf(t, res[0]), idOf(t, res[1]), idOf(t, res[2])}, ids(list))
	require.EqualValues(t, 1000, list.Body["totalResults"])
}

// A creation refused by the rules claims no userName: a later operation of the same request
// with that userName is created, as its single request would be.
func TestBulkRefusedCreationClaimsNoName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.bulk(0,
		bop("POST", "/Users", "bad", map[string]any{"userName": "ada@example.com", "locale": "xx-YY"}),
		bop("POST", "/Users", "good", map[string]any{"userName": "ada@example.com"}),
		bop("POST", "/Users", "again", map[string]any{"userName": "ADA@example.com"}))
	require.Equal(t, []string{"400", "201", "409"}, statuses(res))
	require.Equal(t, "uniqueness", get(res[2], "response", "scimType"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))
}
