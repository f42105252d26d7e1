package server_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
)

// Effective grants at the SCIM level: a user's grants are their direct grants united with
// those their groups map to (directly or through nested groups), mappings being set through
// the organization service over the env's own store.

// operator is the operator acting in the env's organization, as the admin API does.
func (e *env) operator() directory.Actor {
	return directory.Operator(e.org)
}

// mapGroup maps group gid to the grants given ("" maps no role).
func (e *env) mapGroup(gid, orgRole, accountRole string, products ...string) *directory.MappingSet {
	e.t.Helper()
	m, err := e.dir.SetGroupMapping(context.Background(), e.operator(), gid,
		directory.MappingInput{OrgRole: orgRole, AccountRole: accountRole, Products: products})
	require.NoError(e.t, err)
	return m
}

func (e *env) nesting(on bool) {
	e.t.Helper()
	require.NoError(e.t, e.dir.SetNestedGroups(context.Background(), e.operator(), on))
}

// effective is a user's stored effective grants.
func (e *env) effective(id string) grants.Grants {
	e.t.Helper()
	g := grants.Grants{}
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT eff_org_role, eff_account_role,
			coalesce((SELECT array_agg(product ORDER BY product) FROM user_effective_products p
				WHERE p.org_id = u.org_id AND p.user_id = u.id), '{}')
		FROM users u WHERE org_id = $1 AND id = $2`, e.org, id).Scan(&g.OrgRole, &g.AccountRole, &g.Products))
	return g
}

// direct is a user's stored direct grants.
func (e *env) direct(id string) grants.Grants {
	e.t.Helper()
	row := e.row(id)
	return grants.Grants{OrgRole: row["org_role"].(string), AccountRole: row["account_role"].(string), Products: e.products(id)}
}

func gr(orgRole, accountRole string, products ...string) grants.Grants {
	if products == nil {
		products = []string{}
	}
	return grants.Grants{OrgRole: orgRole, AccountRole: accountRole, Products: products}
}

var none = gr("user", "member")

// requireViews checks that a User document shows g in the extension, roles and entitlements.
func requireViews(t *testing.T, doc map[string]any, g grants.Grants) {
	t.Helper()
	require.Equal(t, g.OrgRole, get(doc, extURN, "orgRole"), "orgRole")
	require.Equal(t, g.AccountRole, get(doc, extURN, "accountRole"), "accountRole")
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:" + g.OrgRole, "type": "orgRole"},
		map[string]any{"value": "accountRole:" + g.AccountRole, "type": "accountRole"},
	}, doc["roles"])
	if len(g.Products) == 0 {
		require.Nil(t, get(doc, extURN, "products"))
		require.Nil(t, doc["entitlements"])
		return
	}
	var ps, ents []any
	for _, p := range g.Products {
		ps = append(ps, p)
		ents = append(ents, map[string]any{"value": p, "type": "product"})
	}
	require.Equal(t, ps, get(doc, extURN, "products"))
	require.Equal(t, ents, doc["entitlements"])
}

// requireGrants checks a user's stored effective grants and what a GET shows.
func (e *env) requireGrants(id string, g grants.Grants) {
	e.t.Helper()
	require.Equal(e.t, g, e.effective(id))
	requireViews(e.t, e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, g)
}

// groupState is everything stored about groups, mappings and effective grants.
func (e *env) groupState() map[string][]map[string]any {
	e.t.Helper()
	out := map[string][]map[string]any{}
	for name, sql := range map[string]string{
		"groups":                  "SELECT * FROM groups ORDER BY org_id, id",
		"group_members":           "SELECT * FROM group_members ORDER BY org_id, group_id, member_id",
		"group_mappings":          "SELECT * FROM group_mappings ORDER BY org_id, group_id",
		"group_mapping_products":  "SELECT * FROM group_mapping_products ORDER BY org_id, group_id, product",
		"users":                   "SELECT id, org_role, account_role, eff_org_role, eff_account_role, active, version FROM users ORDER BY id",
		"user_products":           "SELECT * FROM user_products ORDER BY org_id, user_id, product",
		"user_effective_products": "SELECT * FROM user_effective_products ORDER BY org_id, user_id, product",
	} {
		rows, err := e.pool.Query(context.Background(), sql)
		require.NoError(e.t, err)
		all, err := pgx.CollectRows(rows, pgx.RowToMap)
		require.NoError(e.t, err)
		out[name] = all
	}
	return out
}

func TestMappedGrantsShowInEveryView(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar", "training")
	u, other := e.user("mapped", nil), e.user("other", nil)
	gid := e.group("Webinar hosts")
	e.mapGroup(gid, "admin-readonly", "admin", "webinar", "meeting")
	e.requireGrants(u, none)

	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(u))), nil)
	mapped := gr("admin-readonly", "admin", "meeting", "webinar")
	e.requireGrants(u, mapped)
	require.Equal(t, none, e.direct(u), "the mapping grants, it does not write direct grants")
	e.requireGrants(other, none)

	for _, f := range []string{
		`roles.value eq "orgRole:admin-readonly"`,
		`roles[value eq "accountRole:admin"]`,
		`entitlements.value eq "webinar"`,
		`entitlements[value eq "meeting"]`,
		extURN + `:orgRole eq "admin-readonly"`,
		extURN + `:accountRole eq "admin"`,
		extURN + `:products eq "meeting"`,
	} {
		l := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(f), nil, nil)
		require.Equal(t, []string{u}, ids(l), f)
		requireViews(t, get(l.Body, "Resources", 0).(map[string]any), mapped)
	}
	require.Equal(t, []string{other}, ids(e.must(http.StatusOK, http.MethodGet,
		"/Users?filter="+urlq(`roles.value eq "orgRole:user"`), nil, nil)))

	// Changing the mapping changes the grants; removing it takes them away.
	set := e.mapGroup(gid, "", "", "training")
	require.Equal(t, 1, set.UsersChanged)
	e.requireGrants(u, gr("user", "member", "training"))
	removed, err := e.dir.RemoveGroupMapping(context.Background(), e.operator(), gid)
	require.NoError(t, err)
	require.Equal(t, 1, removed.UsersChanged)
	e.requireGrants(u, none)
}

func TestHighestRoleWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar", "training")
	e.createUser(adminBody("keeper"))
	d := e.user("direct", map[string]any{extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"training"}}})
	p := e.user("plain", nil)
	boss := e.user("boss", map[string]any{extURN: map[string]any{"orgRole": "admin", "accountRole": "admin"}})
	low := e.group("Low")
	mid := e.group("Mid")
	high := e.group("High")
	e.mapGroup(low, "user", "admin", "meeting")
	e.mapGroup(mid, "admin-readonly", "member")
	e.mapGroup(high, "admin", "", "webinar")

	// Direct against mapped: the higher of each.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+low, patchBody(op("add", "members", memberList(d, boss))), nil)
	e.requireGrants(d, gr("admin-readonly", "admin", "meeting", "training"))
	e.requireGrants(boss, gr("admin", "admin", "meeting"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+mid, patchBody(op("add", "members", memberList(boss))), nil)
	e.requireGrants(boss, gr("admin", "admin", "meeting"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+high, patchBody(op("add", "members", memberList(d))), nil)
	e.requireGrants(d, gr("admin", "admin", "meeting", "training", "webinar"))
	require.Equal(t, gr("admin-readonly", "member", "training"), e.direct(d))

	// Between groups: the higher of each, whatever the order.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+mid, patchBody(op("add", "members", memberList(p))), nil)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+low, patchBody(op("add", "members", memberList(p))), nil)
	e.requireGrants(p, gr("admin-readonly", "admin", "meeting"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+high, patchBody(op("add", "members", memberList(p))), nil)
	e.requireGrants(p, gr("admin", "admin", "meeting", "webinar"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+high, patchBody(op("remove", "members", memberList(p, d))), nil)
	e.requireGrants(p, gr("admin-readonly", "admin", "meeting"))
	e.requireGrants(d, gr("admin-readonly", "admin", "meeting", "training"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+mid, patchBody(op("remove", "members", memberList(p))), nil)
	e.requireGrants(p, gr("user", "admin", "meeting"))
	require.Equal(t, none, e.direct(p))
}

// Every way of taking a member out of a mapped group takes the mapped grants from that member
// and from no other. Each case has a group of its own, so that no case depends on another's.
func TestRemovingTheMemberTakesMappedGrants(t *testing.T) {
	t.Parallel()
	mapped := gr("admin-readonly", "admin", "meeting")
	for _, tc := range []struct {
		name   string
		method string
		body   func(u, stay string) any
		// cleared says the request removes every member, stay too.
		cleared bool
	}{
		{"remove by filter", http.MethodPatch, func(u, _ string) any { return patchBody(op("remove", `members[value eq "`+u+`"]`, nil)) }, false},
		{"remove by value", http.MethodPatch, func(u, _ string) any { return patchBody(op("Remove", "members", memberList(u))) }, false},
		{"clear", http.MethodPatch, func(_, _ string) any { return patchBody(op("remove", "members", nil)) }, true},
		{"replace", http.MethodPatch, func(_, stay string) any { return patchBody(op("replace", "members", memberList(stay))) }, false},
		{"pathless replace", http.MethodPatch, func(_, stay string) any {
			return patchBody(op("replace", "", map[string]any{"members": memberList(stay)}))
		}, false},
		{"put other members", http.MethodPut, func(_, stay string) any {
			return map[string]any{"displayName": "Mapped", "members": memberList(stay)}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.license("meeting", "webinar")
			gid := e.group("Mapped")
			e.mapGroup(gid, "admin-readonly", "admin", "meeting")
			u, stay := e.user("leaving", nil), e.user("stay", nil)
			e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(u, stay))), nil)
			e.requireGrants(u, mapped)
			r := e.do(tc.method, "/Groups/"+gid, tc.body(u, stay), nil)
			require.Contains(t, []int{http.StatusOK, http.StatusNoContent}, r.Status, "%s", r.Raw)
			e.requireGrants(u, none)
			require.Equal(t, none, e.direct(u))
			if tc.cleared {
				require.Equal(t, []string{}, e.members(gid))
				e.requireGrants(stay, none)
			} else {
				require.Equal(t, []string{stay}, e.members(gid))
				e.requireGrants(stay, mapped)
			}
		})
	}
}

// An identity provider that reads a user and writes it back whole (Okta) sends the grants it
// read, mapped ones included: they must not become direct grants.
func TestMappedGrantsDoNotBecomeDirect(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar", "training")
	u := e.user("okta", map[string]any{extURN: map[string]any{"products": []any{"training"}}})
	gid := e.group("Mapped", u)
	e.mapGroup(gid, "admin-readonly", "admin", "meeting")
	e.requireGrants(u, gr("admin-readonly", "admin", "meeting", "training"))

	doc := e.must(http.StatusOK, http.MethodGet, "/Users/"+u, nil, nil).Body
	doc["displayName"] = "Okta Put"
	r := e.must(http.StatusOK, http.MethodPut, "/Users/"+u, doc, nil)
	require.Equal(t, "Okta Put", r.Body["displayName"])
	requireViews(t, r.Body, gr("admin-readonly", "admin", "meeting", "training"))
	require.Equal(t, gr("user", "member", "training"), e.direct(u), "the PUT of what was read keeps the direct grants as they were")

	// A grant the client adds is direct, next to the mapped ones.
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+u, patchBody(op("add", "entitlements", []any{map[string]any{"value": "webinar"}})), nil)
	require.Equal(t, gr("user", "member", "training", "webinar"), e.direct(u))
	e.requireGrants(u, gr("admin-readonly", "admin", "meeting", "training", "webinar"))

	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("remove", `members[value eq "`+u+`"]`, nil)), nil)
	e.requireGrants(u, gr("user", "member", "training", "webinar"))
}

func TestSuspendedUsersGetNoMappedGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	e.createUser(adminBody("keeper"))
	u := e.user("suspended", nil)
	late := e.user("late", map[string]any{"active": false})
	gid := e.group("Mapped", u)
	e.mapGroup(gid, "admin-readonly", "admin", "meeting")
	mapped := gr("admin-readonly", "admin", "meeting")
	e.requireGrants(u, mapped)

	r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+u, patchBody(op("replace", "active", false)), nil)
	requireViews(t, r.Body, none)
	e.requireGrants(u, none)
	require.Equal(t, []string{u}, e.members(gid), "suspension keeps the membership")
	require.Empty(t, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`roles.value eq "orgRole:admin-readonly"`), nil, nil)))

	// A suspended user added to a mapped group gets nothing either.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(late))), nil)
	e.requireGrants(late, none)

	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+u, patchBody(op("replace", "active", true)), nil)
	requireViews(t, r.Body, mapped)
	e.requireGrants(u, mapped)
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+late, patchBody(op("replace", "active", true)), nil)
	e.requireGrants(late, mapped)
}

func TestNestedGroupGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar")
	u, v, w := e.user("u", nil), e.user("v", nil), e.user("w", nil)
	a := e.group("A")
	b := e.group("B", u)
	c := e.group("C", w)
	e.mapGroup(a, "admin-readonly", "", "webinar")
	mapped := gr("admin-readonly", "member", "webinar")

	// Without nesting, a group is not a member.
	before := e.groupState()
	r := e.do(http.MethodPatch, "/Groups/"+a, patchBody(op("add", "members", memberList(b))), nil)
	requireError(t, r, http.StatusBadRequest, "invalidValue")
	require.Contains(t, r.Body["detail"], "nested groups are not enabled")
	requireError(t, e.do(http.MethodPost, "/Groups", map[string]any{"displayName": "D", "members": memberList(b)}, nil),
		http.StatusBadRequest, "invalidValue")
	require.Equal(t, before, e.groupState())

	e.nesting(true)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+a, patchBody(op("add", "members", []any{map[string]any{"value": b, "type": "Group"}})), nil)
	e.requireGrants(u, mapped)
	// A user added to the nested group later gets the grants too, and so do the users of a
	// group nested one level further.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+b, patchBody(op("add", "members", memberList(v))), nil)
	e.requireGrants(v, mapped)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+b, patchBody(op("add", "members", memberList(c))), nil)
	e.requireGrants(w, mapped)
	require.Equal(t, none, e.direct(w))

	// Cycles are refused and change nothing.
	before = e.groupState()
	for name, tc := range map[string]struct{ group, member string }{
		"itself":       {a, a},
		"two groups":   {b, a},
		"three groups": {c, a},
		"child":        {c, b},
	} {
		r := e.do(http.MethodPatch, "/Groups/"+tc.group, patchBody(op("add", "members", memberList(tc.member))), nil)
		requireError(t, r, http.StatusBadRequest, "invalidValue")
		require.Contains(t, r.Body["detail"], "cycle", name)
		require.Equal(t, before, e.groupState(), name)
	}

	// Disabling nesting is refused while groups are members of groups.
	err := e.dir.SetNestedGroups(context.Background(), e.operator(), false)
	require.ErrorContains(t, err, "2 group-in-group memberships exist")

	// Taking B out of A takes A's grants from everyone under B.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+a, patchBody(op("remove", `members[value eq "`+b+`"]`, nil)), nil)
	for _, id := range []string{u, v, w} {
		e.requireGrants(id, none)
	}
	// Mapping the middle group later reaches the users nested below it.
	e.mapGroup(b, "", "admin", "meeting")
	e.requireGrants(w, gr("user", "admin", "meeting"))
}

func TestDeletingAGroupTakesItsGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar")
	e.nesting(true)
	u, v := e.user("u", nil), e.user("v", nil)
	direct := e.group("Direct", u)
	e.mapGroup(direct, "admin-readonly", "", "meeting")
	parent := e.group("Parent")
	child := e.group("Child", v)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+parent, patchBody(op("add", "members", memberList(child))), nil)
	e.mapGroup(parent, "", "admin", "webinar")
	e.requireGrants(u, gr("admin-readonly", "member", "meeting"))
	e.requireGrants(v, gr("user", "admin", "webinar"))

	e.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+direct, nil, nil)
	e.requireGrants(u, none)
	require.Zero(t, e.count("SELECT count(*) FROM group_mappings WHERE group_id = $1", direct))
	require.Zero(t, e.count("SELECT count(*) FROM group_mapping_products WHERE group_id = $1", direct))

	// Deleting the nested group takes what its parent mapped it to.
	e.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+child, nil, nil)
	e.requireGrants(v, none)
	require.Equal(t, 1, e.count("SELECT count(*) FROM group_mappings WHERE group_id = $1", parent))
}

// The organization's only effective admin is admin through a group: no membership change, group
// deletion or mapping change may take it away.
func TestLastAdminThroughAGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u, other := e.user("groupadmin", nil), e.user("other", nil)
	gid := e.group("Admins", u, other)
	e.mapGroup(gid, "admin", "")
	_, err := e.pool.Exec(context.Background(), "UPDATE users SET active = false, eff_org_role = 'user' WHERE id = $1", other)
	require.NoError(t, err)
	e.requireGrants(u, gr("admin", "member"))

	before := e.groupState()
	for name, body := range map[string]any{
		"remove by filter": patchBody(op("remove", `members[value eq "`+u+`"]`, nil)),
		"remove by value":  patchBody(op("remove", "members", memberList(u))),
		"clear":            patchBody(op("remove", "members", nil)),
		"replace":          patchBody(op("replace", "members", memberList(other))),
	} {
		r := e.do(http.MethodPatch, "/Groups/"+gid, body, nil)
		requireError(t, r, http.StatusConflict, "")
		require.Contains(t, r.Body["detail"], "without an active admin", name)
		require.Equal(t, before, e.groupState(), name)
	}
	requireError(t, e.do(http.MethodPut, "/Groups/"+gid, map[string]any{"displayName": "Admins"}, nil), http.StatusConflict, "")
	requireError(t, e.do(http.MethodDelete, "/Groups/"+gid, nil, nil), http.StatusConflict, "")
	requireError(t, e.do(http.MethodPatch, "/Users/"+u, patchBody(op("replace", "active", false)), nil), http.StatusConflict, "")
	_, err = e.dir.RemoveGroupMapping(context.Background(), e.operator(), gid)
	require.ErrorContains(t, err, "without an active admin")
	_, err = e.dir.SetGroupMapping(context.Background(), e.operator(), gid, directory.MappingInput{OrgRole: "admin-readonly"})
	require.ErrorContains(t, err, "without an active admin")
	require.Equal(t, before, e.groupState())
	e.requireGrants(u, gr("admin", "member"))

	// With another admin, the membership can go.
	e.createUser(adminBody("keeper"))
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("remove", `members[value eq "`+u+`"]`, nil)), nil)
	e.requireGrants(u, none)
}

// A token acts with its issuer's effective orgRole: one issued by a user who is admin through
// a group works while they are in the group.
func TestTokenOfAGroupAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(adminBody("keeper"))
	u := e.user("issuer", nil)
	admins := e.group("Admins", u)
	readers := e.group("Readers")
	e.mapGroup(admins, "admin", "")
	e.mapGroup(readers, "admin-readonly", "")
	tok, _ := e.tokenFor(u, nil)

	tok.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	tok.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "made@example.com"}, nil)

	// Leaving the group demotes the issuer: the token is revoked at that moment, for good.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+admins, patchBody(op("remove", `members[value eq "`+u+`"]`, nil)), nil)
	requireError(t, tok.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	require.Equal(t, 1, e.count("SELECT count(*) FROM tokens WHERE issuer_user_id = $1 AND revoked_at IS NOT NULL", u))

	// Through a read-only group, a new token reads and may not write; the old one stays dead.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+readers, patchBody(op("add", "members", memberList(u))), nil)
	requireError(t, tok.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
	ro, _ := e.tokenFor(u, nil)
	ro.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	requireError(t, ro.do(http.MethodPost, "/Users", map[string]any{"userName": "denied@example.com"}, nil), http.StatusForbidden, "")
	require.Zero(t, e.count("SELECT count(*) FROM users WHERE user_name = 'denied@example.com'"))

	// Back in the admin group (admin-readonly to admin is no demotion), the read-only user's
	// token writes; the revoked one never comes back.
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+admins, patchBody(op("add", "members", memberList(u))), nil)
	ro.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "again@example.com"}, nil)
	requireError(t, tok.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
}
