package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/grants"
)

// The rule × path matrix (issue 11). Each rule of an organization's directory is run through
// every write path that can trigger it: a single SCIM request, /Me where the request is about
// the token's own user, a Bulk operation carrying the same request (alone, and as a batch of
// user creations) and the admin API where the rule reaches it; the command line's cells are in
// cmd/scimd. Every cell asserts what the client is answered and what is stored afterwards: a
// refused change changes nothing of the organization, and Bulk refuses an operation with the
// single request's status and error body; an accepted change is stored as acknowledged.

// call is one SCIM write as a client sends it; path is relative to the SCIM base URL.
type call struct {
	method, path string
	body         any
}

// caller is an env sending with a token, and the user that token acts as: "" for a service
// token such as the organization's operator token.
type caller struct {
	*env
	self string
}

// route carries a call to scimd by one write path and returns the client's answer; ok is false
// when the path cannot carry the call.
type route struct {
	name string
	send func(c caller, x call) (r resp, ok bool)
}

var (
	viaSingle = route{"single", func(c caller, x call) (resp, bool) {
		return c.do(x.method, x.path, x.body, nil), true
	}}
	viaBulk = route{"bulk", func(c caller, x call) (resp, bool) {
		return c.bulkCalls(x)[0], true
	}}
	// viaBatch sends a user creation twice in one Bulk request, which makes it go through the
	// batched creation of users (directory.CreateUsers) rather than the single one.
	viaBatch = route{"bulk batch", func(c caller, x call) (resp, bool) {
		if x.method != http.MethodPost || x.path != "/Users" {
			return resp{}, false
		}
		rs := c.bulkCalls(x, x)
		if rs[0].Status >= 400 {
			require.Equal(c.t, rs[0], rs[1], "both copies of a refused creation are refused alike")
		}
		return rs[0], true
	}}
	viaMe = route{"/Me", func(c caller, x call) (resp, bool) {
		if c.self == "" || x.path != "/Users/"+c.self {
			return resp{}, false
		}
		return c.do(x.method, "/Me", x.body, nil), true
	}}
	// viaAdmin sends a call to the admin API, as the operator.
	viaAdmin = route{"admin API", func(c caller, x call) (resp, bool) {
		if !strings.HasPrefix(x.path, "/admin/") {
			return resp{}, false
		}
		return resp(c.adminAPI().call(x.method, x.path, x.body)), true
	}}
	// scimRoutes are every SCIM path a write can take.
	scimRoutes = []route{viaSingle, viaBulk, viaBatch, viaMe}
)

// bulkCalls sends the calls as the operations of one Bulk request and returns each operation's
// result as the answer of a request: its status, its error body as Body, and its location and
// version as the Location and ETag headers.
func (c caller) bulkCalls(xs ...call) []resp {
	c.t.Helper()
	ops := make([]map[string]any, len(xs))
	for i, x := range xs {
		bulkID := ""
		if x.method == http.MethodPost {
			bulkID = "op" + strconv.Itoa(i)
		}
		ops[i] = bop(x.method, x.path, bulkID, x.body)
	}
	results := c.bulk(0, ops...)
	require.Len(c.t, results, len(xs))
	out := make([]resp, len(results))
	for i, res := range results {
		status, err := strconv.Atoi(res["status"].(string))
		require.NoError(c.t, err)
		r := resp{Status: status, Header: http.Header{}}
		if loc, ok := res["location"].(string); ok {
			r.Header.Set("Location", loc)
		}
		if v, ok := res["version"].(string); ok {
			r.Header.Set("ETag", v)
		}
		if body, ok := res["response"].(map[string]any); ok {
			r.Body = body
			r.Raw, err = json.Marshal(body)
			require.NoError(c.t, err)
		}
		out[i] = r
	}
	return out
}

// createdID is the id of the resource a creation answered with, from its Location.
func createdID(t *testing.T, r resp) string {
	t.Helper()
	loc := r.Header.Get("Location")
	require.NotEmpty(t, loc, "%d %s", r.Status, r.Raw)
	return loc[strings.LastIndexByte(loc, '/')+1:]
}

// state is everything stored about the env's organization, table by table, to assert that a
// refused change changed nothing (the audit log, outboxes and tombstones included).
func (e *env) state() map[string][]map[string]any {
	e.t.Helper()
	out := map[string][]map[string]any{}
	for table, order := range map[string]string{
		"users":                   "id",
		"user_values":             "user_id, attr, pos",
		"user_addresses":          "user_id, pos",
		"user_products":           "user_id, product",
		"user_effective_products": "user_id, product",
		"user_welcomes":           "user_id, product",
		"groups":                  "id",
		"group_members":           "group_id, member_id",
		"group_mappings":          "group_id",
		"group_mapping_products":  "group_id, product",
		"tokens":                  "id",
		"notifications":           "id",
		"audit_log":               "id",
		"tombstones":              "resource_id",
		"webhook_deliveries":      "id",
	} {
		rows, err := e.pool.Query(context.Background(), "SELECT * FROM "+table+" WHERE org_id = $1 ORDER BY "+order, e.org)
		require.NoError(e.t, err)
		all, err := pgx.CollectRows(rows, pgx.RowToMap)
		require.NoError(e.t, err)
		out[table] = all
	}
	rows, err := e.pool.Query(context.Background(), "SELECT * FROM organizations WHERE id = $1", e.org)
	require.NoError(e.t, err)
	out["organizations"], err = pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(e.t, err)
	return out
}

// refused sends x through each route that can carry it, one after the other, and requires each
// to refuse it with status and scimType, a detail containing every fragment, and the same error
// body as the first route gave, and that nothing stored about the organization changed.
func (c caller) refused(x call, routes []route, status int, scimType string, fragments ...string) {
	c.t.Helper()
	before := c.state()
	var first *resp
	for _, rt := range routes {
		r, ok := rt.send(c, x)
		if !ok {
			continue
		}
		requireError(c.t, r, status, scimType)
		for _, f := range fragments {
			require.Contains(c.t, r.Body["detail"], f, "%s %s through %s", x.method, x.path, rt.name)
		}
		if first == nil {
			first = &r
		} else {
			require.Equal(c.t, first.Body, r.Body, "%s %s: %s answers the error of the single request", x.method, x.path, rt.name)
		}
		require.Equal(c.t, before, c.state(), "%s %s through %s must change nothing", x.method, x.path, rt.name)
	}
	require.NotNil(c.t, first, "no route carried %s %s", x.method, x.path)
}

// requireStoredAsAcknowledged checks that a write's answer, when it carries the user (a single
// request or /Me; Bulk answers without it), is what a read of the user shows afterwards.
func (e *env) requireStoredAsAcknowledged(r resp, id string) {
	e.t.Helper()
	if r.Body == nil {
		return
	}
	require.Equal(e.t, e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, r.Body, "the answer is what is stored")
}

// fresh creates another organization on the env's server, like the env's own (verified domain
// example.com, the default products), and returns an env acting in it with its operator
// token: a cell whose rule looks at the whole organization gets one of its own.
func (e *env) fresh() *env {
	e.t.Helper()
	tok, err := e.orgs.CreateOrg(context.Background(), "", "Acme", []string{"example.com"})
	require.NoError(e.t, err)
	c := *e
	c.org, c.token = tok.OrgID, tok.Token
	return &c
}

// operatorCaller is the env with its operator token.
func (e *env) operatorCaller() caller { return caller{env: e} }

// selfAdmin creates an admin user called name and a token it issued.
func (e *env) selfAdmin(name string) caller {
	e.t.Helper()
	id := e.createUser(adminBody(name))["id"].(string)
	te, _ := e.tokenFor(id, nil)
	return caller{te, id}
}

// eachRoute runs check as a parallel subtest for each route, with a fixture of its own, since
// an accepted change cannot be sent twice; a check whose route cannot carry its call returns.
func eachRoute(t *testing.T, routes []route, check func(t *testing.T, rt route)) {
	t.Helper()
	for _, rt := range routes {
		t.Run(rt.name, func(t *testing.T) {
			t.Parallel()
			check(t, rt)
		})
	}
}

// adminAPI is the admin API of the env's server (adminEnv), for the env's test.
func (e *env) adminAPI() *adminAPI {
	return &adminAPI{t: e.t, pool: e.pool, srv: e.srv, token: testAdminToken}
}

func emails(list ...map[string]any) []any {
	out := make([]any, len(list))
	for i, m := range list {
		out[i] = m
	}
	return out
}

func email(addr, typ string, primary bool) map[string]any {
	m := map[string]any{"value": addr}
	if typ != "" {
		m["type"] = typ
	}
	if primary {
		m["primary"] = true
	}
	return m
}

// Rule 1: the sign-in address (userName when it is an address, else the
// primary, else the first work, else the first email) must be on a verified domain; other
// addresses are stored, and mail goes only to the sign-in address.
func TestMatrixSignInAddress(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	self := e.selfAdmin("self")
	plain := e.createUser(map[string]any{"userName": "plain", "emails": emails(email("plain@example.com", "work", false))})["id"].(string)
	mixed := e.createUser(map[string]any{"userName": "mixed", "emails": emails(
		email("mixed@example.com", "work", false), email("m@evil.example", "home", false))})["id"].(string)

	for _, tc := range []struct {
		name string
		x    call
		from string // the attribute and address the detail names
	}{
		{"POST userName", call{http.MethodPost, "/Users", map[string]any{"userName": "m@evil.example"}}, `userName "m@evil.example"`},
		{"POST subdomain", call{http.MethodPost, "/Users", map[string]any{"userName": "m@sub.example.com"}}, `"sub.example.com", which is not a verified domain`},
		{"POST first email without type", call{http.MethodPost, "/Users", map[string]any{"userName": "mallory",
			"emails": emails(email("m@evil.example", "", false))}}, `the first email "m@evil.example"`},
		{"POST home email", call{http.MethodPost, "/Users", map[string]any{"userName": "mallory",
			"emails": emails(email("m@evil.example", "home", false))}}, `the first email "m@evil.example"`},
		{"POST primary over work", call{http.MethodPost, "/Users", map[string]any{"userName": "mallory",
			"emails": emails(email("w@example.com", "work", false), email("m@evil.example", "home", true))}}, `the primary email "m@evil.example"`},
		{"POST work over first", call{http.MethodPost, "/Users", map[string]any{"userName": "mallory",
			"emails": emails(email("h@example.com", "home", false), email("m@evil.example", "work", false))}}, `the first work email "m@evil.example"`},
		{"PUT userName", call{http.MethodPut, "/Users/" + self.self, map[string]any{"userName": "self@evil.example"}}, `userName "self@evil.example"`},
		{"PUT emails of a userName that is no address", call{http.MethodPut, "/Users/" + plain, map[string]any{"userName": "plain",
			"emails": emails(email("m@evil.example", "home", false))}}, `the first email "m@evil.example"`},
		{"PATCH userName", call{http.MethodPatch, "/Users/" + self.self, patchBody(op("replace", "userName", "self@evil.example"))}, `userName "self@evil.example"`},
		{"PATCH path-less userName", call{http.MethodPatch, "/Users/" + self.self,
			patchBody(op("Replace", "", map[string]any{"userName": "self@evil.example"}))}, `userName "self@evil.example"`},
		{"PATCH work email by filter", call{http.MethodPatch, "/Users/" + plain,
			patchBody(op("Replace", `emails[type eq "work"].value`, "m@evil.example"))}, `the first work email "m@evil.example"`},
		{"PATCH add primary email", call{http.MethodPatch, "/Users/" + plain,
			patchBody(op("add", "emails", emails(email("m@evil.example", "", true))))}, `the primary email "m@evil.example"`},
		{"PATCH remove the verified email", call{http.MethodPatch, "/Users/" + mixed,
			patchBody(op("remove", `emails[type eq "work"]`, nil))}, `the first email "m@evil.example"`},
		{"POST primary as Entra's string", call{http.MethodPost, "/Users", map[string]any{"userName": "mallory",
			"emails": []any{email("w@example.com", "Work", false), map[string]any{"value": "m@evil.example", "primary": "True"}}}},
			`the primary email "m@evil.example"`},
		{"POST upper-case address", call{http.MethodPost, "/Users", map[string]any{"userName": "M@EVIL.EXAMPLE"}}, `userName "M@EVIL.EXAMPLE"`},
		{"path-less PATCH with a filtered key (Entra)", call{http.MethodPatch, "/Users/" + plain,
			patchBody(op("replace", "", map[string]any{`emails[type eq "work"].value`: "m@evil.example"}))}, `the first work email "m@evil.example"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := caller{self.with(t), self.self}
			c.refused(tc.x, scimRoutes, http.StatusBadRequest, "invalidValue", "is the user's sign-in address", tc.from)
		})
	}

	// Mail goes to the sign-in address only while its domain is verified; a domain removed from
	// the organization does not block changes that leave the address alone.
	t.Run("domain removed", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, []route{viaSingle, viaBulk}, func(t *testing.T, rt route) {
			f := e.with(t).fresh()
			f.adminAPI().must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs/"+f.org+"/domains",
				map[string]any{"domain": "acme.example", "verified": true})
			id := f.createUser(map[string]any{"userName": "ada@acme.example"})["id"].(string)
			r, _ := viaAdmin.send(f.operatorCaller(), call{http.MethodDelete, "/admin/v1/orgs/" + f.org + "/domains/acme.example", nil})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			r, _ = rt.send(f.operatorCaller(), call{http.MethodPatch, "/Users/" + id, patchBody(
				op("replace", "title", "Engineer"), op("add", "entitlements", []any{map[string]any{"value": "meeting"}}))})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, []string{"meeting"}, f.products(id))
			require.Empty(t, f.notifications(id), "no mail to an address off the verified domains")
			f.operatorCaller().refused(call{http.MethodPatch, "/Users/" + id, patchBody(op("replace", "userName", "bob@acme.example"))},
				[]route{viaSingle, viaBulk}, http.StatusBadRequest, "invalidValue", `userName "bob@acme.example"`)
		})
	})

	// Accepted: the other addresses are stored as sent, and every mail, whether caused by the
	// user's own write or by a group mapping, goes to the sign-in address alone.
	for _, tc := range []struct {
		name    string
		x       func(self string) call
		signIn  string
		address string // an address stored beside the sign-in address
	}{
		{"POST with a home email elsewhere", func(string) call {
			return call{http.MethodPost, "/Users", map[string]any{"userName": "ada@example.com",
				"emails": emails(email("ada@evil.example", "home", false))}}
		}, "ada@example.com", "ada@evil.example"},
		{"POST work email over a first one elsewhere", func(string) call {
			return call{http.MethodPost, "/Users", map[string]any{"userName": "ada",
				"emails": emails(email("ada@evil.example", "home", false), email("ada@example.com", "work", false))}}
		}, "ada@example.com", "ada@evil.example"},
		{"POST primary over a work email elsewhere", func(string) call {
			return call{http.MethodPost, "/Users", map[string]any{"userName": "ada",
				"emails": emails(email("ada@evil.example", "work", false), email("ada@example.com", "", true))}}
		}, "ada@example.com", "ada@evil.example"},
		{"POST granting a welcomed product", func(string) call {
			return call{http.MethodPost, "/Users", map[string]any{"userName": "ada@example.com",
				"emails": emails(email("ada@evil.example", "home", false)), extURN: map[string]any{"products": []any{"meeting"}}}}
		}, "ada@example.com", "ada@evil.example"},
		{"POST without any address", func(string) call {
			return call{http.MethodPost, "/Users", map[string]any{"userName": "ada"}}
		}, "", ""},
		{"PUT adding a home email", func(self string) call {
			return call{http.MethodPut, "/Users/" + self, map[string]any{"userName": "self@example.com",
				"emails": emails(email("self@evil.example", "home", false))}}
		}, "self@example.com", "self@evil.example"},
		{"PATCH adding a home email", func(self string) call {
			return call{http.MethodPatch, "/Users/" + self, patchBody(op("Add", "emails", emails(email("self@evil.example", "home", false))))}
		}, "self@example.com", "self@evil.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, scimRoutes, func(t *testing.T, rt route) {
				f := e.with(t).fresh()
				self := f.selfAdmin("self")
				x := tc.x(self.self)
				r, ok := rt.send(self, x)
				if !ok {
					return
				}
				id := self.self
				if x.method == http.MethodPost {
					require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
					id = createdID(t, r)
				} else {
					require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				}
				f.requireStoredAsAcknowledged(r, id)
				var signIn any
				if tc.signIn != "" {
					signIn = tc.signIn
				}
				require.Equal(t, signIn, f.row(id)["sign_in"])
				var stored []string
				for _, v := range f.values(id) {
					if v.Attr == "emails" {
						stored = append(stored, str(v.Value))
					}
				}
				if tc.address != "" {
					require.Contains(t, stored, tc.address, "the other address is stored")
				}

				// Grants through the user's own write and through a mapped group.
				f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("add", "entitlements", []any{map[string]any{"value": "webinar"}})), nil)
				g := f.group("Trainees")
				f.mapGroup(g, "", "admin", "training")
				f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+g, patchBody(op("add", "members", memberList(id))), nil)
				sent := f.notifications(id)
				if tc.signIn == "" {
					require.Empty(t, sent, "a user without an address gets no mail")
					return
				}
				require.Contains(t, kinds(sent), "welcome")
				for _, n := range sent {
					require.Equal(t, tc.signIn, n.Recipient, "%s mail", n.Kind)
				}
				require.Zero(t, f.count("SELECT count(*) FROM notifications WHERE org_id = $1 AND recipient ILIKE '%evil%'", f.org))
			})
		})
	}
}

// requireSuspended checks the view of a suspended user: nothing held, and pending the grants
// the user gets back on reactivation.
func requireSuspended(t *testing.T, doc map[string]any, pending grants.Grants) {
	t.Helper()
	require.Equal(t, false, doc["active"])
	require.Equal(t, "suspended", get(doc, extURN, "status"))
	requireViews(t, doc, none)
	require.Equal(t, pending.OrgRole, get(doc, extURN, "pendingOrgRole"))
	require.Equal(t, pending.AccountRole, get(doc, extURN, "pendingAccountRole"))
	if len(pending.Products) == 0 {
		require.Nil(t, get(doc, extURN, "pendingProducts"))
		return
	}
	var ps []any
	for _, p := range pending.Products {
		ps = append(ps, p)
	}
	require.Equal(t, ps, get(doc, extURN, "pendingProducts"))
}

// Rule 2: a grant change for a suspended user is kept as pending grants, shown
// apart and applied on reactivation, with an audit record; a request that suspends ends with
// nothing granted; a request that reactivates and grants does both.
func TestMatrixSuspendedGrants(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	routes := []route{viaSingle, viaBulk}
	// suspended creates a user granted meeting and suspends it: nothing held, nothing pending.
	suspended := func(f *env) string {
		id := f.user("sam", map[string]any{extURN: map[string]any{"products": []any{"meeting"}}})
		f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "active", false)), nil)
		return id
	}
	pending := gr("admin-readonly", "member", "webinar")

	for _, tc := range []struct {
		name    string
		prepare func(f *env, id string)
		x       func(id string) call
	}{
		{"Entra PATCH adding roles and entitlements", nil, func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(
				op("Add", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}}),
				op("Add", "entitlements", []any{map[string]any{"value": "webinar"}}))}
		}},
		{"Okta path-less PATCH of the extension", nil, func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("replace", "",
				map[string]any{extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"webinar"}}}))}
		}},
		{"PATCH of the extension's attributes", nil, func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(
				op("replace", extURN+":orgRole", "admin-readonly"), op("add", extURN+":products", []any{"webinar"}))}
		}},
		{"Okta PUT of the whole user", nil, func(id string) call {
			return call{http.MethodPut, "/Users/" + id, map[string]any{"userName": "sam@example.com", "active": false,
				extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"webinar"}}}}
		}},
		{"Entra PATCH removing a pending product", func(f *env, id string) {
			f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
				op("Add", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}}),
				op("Add", "entitlements", []any{map[string]any{"value": "webinar"}, map[string]any{"value": "training"}})), nil)
		}, func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("Remove", `entitlements[value eq "training"]`, nil))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, routes, func(t *testing.T, rt route) {
				f := e.with(t).fresh()
				id := suspended(f)
				if tc.prepare != nil {
					tc.prepare(f, id)
				}
				audits := len(f.auditOf(id))
				r, _ := rt.send(f.operatorCaller(), tc.x(id))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				f.requireStoredAsAcknowledged(r, id)
				requireSuspended(t, f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, pending)
				require.Equal(t, pending, f.direct(id), "users.org_role and user_products hold the pending grants")
				require.Equal(t, none, f.effective(id), "a suspended user holds nothing")
				log := f.auditOf(id)
				require.Len(t, log, audits+1)
				require.Equal(t, "update", log[audits].Action)
				require.Equal(t, map[string]any{"orgRole": "admin-readonly", "accountRole": "member", "products": []any{"webinar"}},
					get(log[audits].Changes, extURN+":pending", "after"))

				f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "", map[string]any{"active": true})), nil)
				f.requireGrants(id, pending)
				require.Equal(t, pending, f.direct(id))
			})
		})
	}

	// A suspended user added to a mapped group holds nothing until reactivated.
	t.Run("added to a mapped group", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, routes, func(t *testing.T, rt route) {
			f := e.with(t).fresh()
			id := suspended(f)
			g := f.group("Webinar hosts")
			f.mapGroup(g, "admin-readonly", "", "webinar")
			r, _ := rt.send(f.operatorCaller(), call{http.MethodPatch, "/Groups/" + g, patchBody(op("Add", "members", memberList(id)))})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			require.Equal(t, sorted(id), f.members(g))
			requireSuspended(t, f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, none)
			require.Equal(t, none, f.effective(id))
			f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "active", true)), nil)
			f.requireGrants(id, pending)
			require.Equal(t, none, f.direct(id), "mapped grants stay mapped")
		})
	})

	// Okta's sync of a suspended user, a GET then a PUT of what it read, keeps the pending
	// grants and changes nothing.
	t.Run("Okta GET-then-PUT", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, routes, func(t *testing.T, rt route) {
			f := e.with(t).fresh()
			id := suspended(f)
			f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
				op("Add", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}}),
				op("Add", "entitlements", []any{map[string]any{"value": "webinar"}})), nil)
			doc := f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
			before := f.state()
			r, _ := rt.send(f.operatorCaller(), call{http.MethodPut, "/Users/" + id, doc})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, before, f.state())
			requireSuspended(t, f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, pending)
		})
	})

	// A request that suspends always succeeds and ends with nothing granted or pending,
	// whatever else it asked for.
	for _, tc := range []struct {
		name string
		x    func(id string) call
	}{
		{"Okta PUT", func(id string) call {
			return call{http.MethodPut, "/Users/" + id, map[string]any{"userName": "sam@example.com", "active": false,
				extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"meeting", "webinar"}}}}
		}},
		{"Entra PATCH", func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("Replace", "active", "False"),
				op("Add", "entitlements", []any{map[string]any{"value": "webinar"}}))}
		}},
		{"Okta path-less PATCH", func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("replace", "",
				map[string]any{"active": false, extURN: map[string]any{"products": []any{"webinar"}}}))}
		}},
	} {
		t.Run("suspending "+tc.name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, routes, func(t *testing.T, rt route) {
				f := e.with(t).fresh()
				id := f.user("sam", map[string]any{extURN: map[string]any{"orgRole": "admin-readonly", "products": []any{"meeting"}}})
				r, _ := rt.send(f.operatorCaller(), tc.x(id))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				f.requireStoredAsAcknowledged(r, id)
				requireSuspended(t, f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, none)
				require.Equal(t, none, f.direct(id))
				require.Equal(t, none, f.effective(id))
				require.Equal(t, "suspend", f.auditOf(id)[1].Action)
				require.Contains(t, kinds(f.notifications(id)), "suspended")

				f.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "active", true)), nil)
				f.requireGrants(id, none)
			})
		})
	}

	// So does the creation of a user who is suspended from the start: no grant, no welcome.
	t.Run("creating a suspended user", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, []route{viaSingle, viaBulk, viaBatch}, func(t *testing.T, rt route) {
			f := e.with(t).fresh()
			r, _ := rt.send(f.operatorCaller(), call{http.MethodPost, "/Users", map[string]any{"userName": "sam@example.com", "active": "False",
				extURN: map[string]any{"orgRole": "admin", "products": []any{"meeting"}}}})
			require.Equal(t, http.StatusCreated, r.Status, "%s", r.Raw)
			id := createdID(t, r)
			f.requireStoredAsAcknowledged(r, id)
			requireSuspended(t, f.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body, none)
			require.Equal(t, none, f.direct(id))
			require.Equal(t, none, f.effective(id))
			require.Empty(t, f.notifications(id))
		})
	})

	// A request that reactivates and grants does both.
	for _, tc := range []struct {
		name string
		x    func(id string) call
		want grants.Grants
	}{
		{"Entra PATCH", func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("Replace", "active", "True"),
				op("Add", "entitlements", []any{map[string]any{"value": "training"}}))}
		}, gr("user", "member", "training")},
		{"Okta PUT", func(id string) call {
			return call{http.MethodPut, "/Users/" + id, map[string]any{"userName": "sam@example.com", "active": true,
				extURN: map[string]any{"products": []any{"training"}}}}
		}, gr("user", "member", "training")},
		{"Okta path-less PATCH", func(id string) call {
			return call{http.MethodPatch, "/Users/" + id, patchBody(op("replace", "",
				map[string]any{"active": true, extURN: map[string]any{"orgRole": "admin-readonly"}}))}
		}, gr("admin-readonly", "member")},
	} {
		t.Run("reactivating "+tc.name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, routes, func(t *testing.T, rt route) {
				f := e.with(t).fresh()
				id := suspended(f)
				r, _ := rt.send(f.operatorCaller(), tc.x(id))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				f.requireStoredAsAcknowledged(r, id)
				f.requireGrants(id, tc.want)
				require.Equal(t, tc.want, f.direct(id))
				require.Equal(t, "reactivate", f.auditOf(id)[2].Action)
				require.Contains(t, kinds(f.notifications(id)), "reactivated")
			})
		})
	}
}

// issue issues a token acting as user id through the admin API, and returns an env using it
// and the token's id.
func (e *env) issue(id string) (*env, string) {
	e.t.Helper()
	r := e.adminAPI().must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs/"+e.org+"/tokens", map[string]any{"issuer_user_id": id})
	c := *e
	c.token = r.Body["token"].(string)
	return &c, r.Body["id"].(string)
}

// mapping is the admin API path of a group's mapping in the env's organization.
func (e *env) mapping(group string) string {
	return "/admin/v1/orgs/" + e.org + "/group-mappings/" + group
}

// revokedAt is when a token was revoked, nil while it is not.
func (e *env) revokedAt(tokenID string) *time.Time {
	e.t.Helper()
	var at *time.Time
	require.NoError(e.t, e.pool.QueryRow(context.Background(), "SELECT revoked_at FROM tokens WHERE org_id = $1 AND id = $2",
		e.org, tokenID).Scan(&at))
	return at
}

// groupAdmin is an organization where user U is admin only through group G, which maps to
// admin and also holds user O; a keeper admin keeps the organization from losing its last admin.
type groupAdmin struct {
	f       *env
	u       caller // U with a token U issued
	tokenID string
	o, g    string
}

func newGroupAdmin(e *env) *groupAdmin {
	e.t.Helper()
	f := e.fresh()
	f.createUser(adminBody("keeper"))
	u, o := f.user("u", nil), f.user("o", nil)
	g := f.group("Admins", u, o)
	f.mapGroup(g, "admin", "")
	te, tokenID := f.tokenFor(u, nil)
	return &groupAdmin{f: f, u: caller{te, u}, tokenID: tokenID, o: o, g: g}
}

// Rule 3: an admin cannot take their own orgRole away, directly or through a
// group whose mapping makes them admin; the operator, who has no user, may change mappings.
func TestMatrixSelfProtectionThroughGroups(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	groupRoutes := []route{viaSingle, viaBulk}
	demoted := "would take your own orgRole from admin to user"
	for _, tc := range []struct {
		name     string
		x        func(s *groupAdmin) call
		routes   []route
		fragment string
	}{
		{"PATCH /Groups removing self by filter (Entra)", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.u.self+`"]`, nil))}
		}, groupRoutes, demoted},
		{"PATCH /Groups removing self by value (Entra)", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("Remove", "members", []any{map[string]any{"value": s.u.self}}))}
		}, groupRoutes, demoted},
		{"PATCH /Groups replacing the members (Okta)", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("replace", "members", memberList(s.o)))}
		}, groupRoutes, demoted},
		{"PATCH /Groups removing every member", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", "members", nil))}
		}, groupRoutes, demoted},
		{"path-less PATCH /Groups replacing the members", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("replace", "", map[string]any{"members": memberList(s.o)}))}
		}, groupRoutes, demoted},
		{"PUT /Groups without self", func(s *groupAdmin) call {
			return call{http.MethodPut, "/Groups/" + s.g, map[string]any{"displayName": "Admins", "members": memberList(s.o)}}
		}, groupRoutes, demoted},
		{"DELETE /Groups", func(s *groupAdmin) call { return call{http.MethodDelete, "/Groups/" + s.g, nil} }, groupRoutes, demoted},
		{"PATCH /Users orgRole", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("replace", extURN+":orgRole", "user"))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PATCH /Users roles", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("Replace", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}}))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"path-less PATCH /Users extension", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("replace", "", map[string]any{extURN: map[string]any{"orgRole": "user"}}))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PATCH /Users removing the extension", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("remove", extURN, nil))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PATCH /Users removing roles", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("remove", "roles", nil))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PUT /Users roles", func(s *groupAdmin) call {
			return call{http.MethodPut, "/Users/" + s.u.self, map[string]any{"userName": "u@example.com",
				"roles": []any{map[string]any{"value": "orgRole:user"}}}}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PATCH /Users suspending self", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("replace", "", map[string]any{"active": false}))}
		}, scimRoutes, "you cannot suspend yourself"},
		{"PUT /Users suspending self (Okta)", func(s *groupAdmin) call {
			return call{http.MethodPut, "/Users/" + s.u.self, map[string]any{"userName": "u@example.com", "active": false}}
		}, scimRoutes, "you cannot suspend yourself"},
		{"DELETE /Users self", func(s *groupAdmin) call { return call{http.MethodDelete, "/Users/" + s.u.self, nil} },
			scimRoutes, "you cannot delete yourself"},
		{"DELETE /Users self in upper case", func(s *groupAdmin) call {
			return call{http.MethodDelete, "/Users/" + strings.ToUpper(s.u.self), nil}
		}, scimRoutes, "you cannot delete yourself"},
		{"PATCH /Users self in upper case", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Users/" + strings.ToUpper(s.u.self), patchBody(op("replace", extURN+":orgRole", "user"))}
		}, scimRoutes, "you cannot change your own orgRole"},
		{"PATCH /Groups in upper case removing self in upper case", func(s *groupAdmin) call {
			return call{http.MethodPatch, "/Groups/" + strings.ToUpper(s.g), patchBody(op("Remove", "members", memberList(strings.ToUpper(s.u.self))))}
		}, groupRoutes, demoted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newGroupAdmin(e.with(t))
			s.u.refused(tc.x(s), tc.routes, http.StatusForbidden, "", tc.fragment)
			s.u.must(http.StatusOK, http.MethodGet, "/Users/"+s.u.self, nil, nil)
		})
	}

	// Through groups the admin is in by nesting, or that leave a lower role: still refused.
	t.Run("PATCH /Groups removing the nested group", func(t *testing.T) {
		t.Parallel()
		f := e.with(t).fresh()
		f.createUser(adminBody("keeper"))
		f.nesting(true)
		u := f.user("u", nil)
		inner := f.group("Inner", u)
		outer := f.group("Outer")
		f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+outer, patchBody(op("add", "members",
			[]any{map[string]any{"value": inner, "type": "Group"}})), nil)
		f.mapGroup(outer, "admin", "")
		te, _ := f.tokenFor(u, nil)
		c := caller{te, u}
		c.refused(call{http.MethodPatch, "/Groups/" + outer, patchBody(op("remove", `members[value eq "`+inner+`"]`, nil))},
			groupRoutes, http.StatusForbidden, "", demoted)
		c.refused(call{http.MethodDelete, "/Groups/" + inner, nil}, groupRoutes, http.StatusForbidden, "", demoted)
		c.refused(call{http.MethodPut, "/Groups/" + inner, map[string]any{"displayName": "Inner"}}, groupRoutes, http.StatusForbidden, "", demoted)
	})
	t.Run("PATCH /Groups leaving admin-readonly", func(t *testing.T) {
		t.Parallel()
		s := newGroupAdmin(e.with(t))
		readers := s.f.group("Readers", s.u.self)
		s.f.mapGroup(readers, "admin-readonly", "")
		s.u.refused(call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.u.self+`"]`, nil))},
			groupRoutes, http.StatusForbidden, "", "from admin to admin-readonly")
		s.u.refused(call{http.MethodDelete, "/Groups/" + s.g, nil}, groupRoutes, http.StatusForbidden, "", "from admin to admin-readonly")
	})

	// A provisioning token is no admin API credential: U cannot reach the mapping there either.
	t.Run("admin API with U's token", func(t *testing.T) {
		t.Parallel()
		s := newGroupAdmin(e.with(t))
		before := s.f.state()
		for _, x := range []call{{http.MethodDelete, s.f.mapping(s.g), nil}, {http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "user"}}} {
			a := s.f.adminAPI()
			a.token = s.u.token
			requireAdminError(t, a.call(x.method, x.path, x.body), http.StatusUnauthorized)
		}
		require.Equal(t, before, s.f.state())
	})

	// What stays allowed: the operator's mapping changes (it has no user), and U's changes that
	// do not demote U.
	t.Run("admin API", func(t *testing.T) {
		t.Parallel()
		for name, change := range map[string]func(s *groupAdmin) call{
			"removing the mapping": func(s *groupAdmin) call { return call{http.MethodDelete, s.f.mapping(s.g), nil} },
			"mapping to admin-readonly": func(s *groupAdmin) call {
				return call{http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "admin-readonly"}}
			},
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := newGroupAdmin(e.with(t))
				before := time.Now()
				r, _ := viaAdmin.send(s.f.operatorCaller(), change(s))
				require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
				require.EqualValues(t, 2, r.Body["users_changed"])
				require.NotEqual(t, "admin", s.f.effective(s.u.self).OrgRole)
				require.NotEqual(t, "admin", s.f.effective(s.o).OrgRole)
				at := s.f.revokedAt(s.tokenID)
				require.NotNil(t, at, "the demoted issuer's token is revoked")
				require.WithinRange(t, *at, before.Add(-time.Second), time.Now().Add(time.Second))
				requireError(t, s.u.do(http.MethodGet, "/Users/"+s.u.self, nil, nil), http.StatusUnauthorized, "")
			})
		}
	})
	t.Run("changes that do not demote", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, groupRoutes, func(t *testing.T, rt route) {
			s := newGroupAdmin(e.with(t))
			r, _ := rt.send(s.u, call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.o+`"]`, nil))})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			require.Equal(t, sorted(s.u.self), s.f.members(s.g))
			require.Equal(t, "user", s.f.effective(s.o).OrgRole)
			other := s.f.group("Unmapped", s.u.self)
			r, _ = rt.send(s.u, call{http.MethodPatch, "/Groups/" + other, patchBody(op("remove", `members[value eq "`+s.u.self+`"]`, nil))})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			require.Empty(t, s.f.members(other))
			r, _ = rt.send(s.u, call{http.MethodPatch, "/Users/" + s.u.self, patchBody(op("replace", "name.givenName", "You"))})
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
			require.Equal(t, "You", s.f.row(s.u.self)["given_name"])
			require.Equal(t, "admin", s.f.effective(s.u.self).OrgRole)
			require.Nil(t, s.f.revokedAt(s.tokenID))
		})
	})
}

// Rule 4: a membership cannot outlive its member, whichever path adds it
// while the member is being deleted.
func TestMatrixDeleteRacingMemberAdds(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	e.nesting(true)
	keep := e.user("keep", nil)
	g := e.group("Busy", keep)
	add := func(v, typ string) call {
		return call{http.MethodPatch, "/Groups/" + g, patchBody(op("add", "members", []any{map[string]any{"value": v, "type": typ}}))}
	}
	// Each trial deletes v (the first call) at once with four requests adding v to a group: first a user and four
	// PATCH /Groups/{g} (the case of issue 11), then a user through every path that adds members
	// or deletes users, then a group nested by PATCH.
	for _, kind := range []struct {
		name   string
		member func(trial int) string
		race   func(trial int, v string) []call
	}{
		{"user, PATCH", func(trial int) string { return e.user("p"+strconv.Itoa(trial), nil) }, func(_ int, v string) []call {
			return []call{{http.MethodDelete, "/Users/" + v, nil}, add(v, "User"), add(v, "User"), add(v, "User"), add(v, "User")}
		}},
		{"user, every path", func(trial int) string { return e.user("e"+strconv.Itoa(trial), nil) }, func(trial int, v string) []call {
			del := call{http.MethodDelete, "/Users/" + v, nil}
			if trial%2 == 1 {
				del = call{http.MethodPost, "/Bulk", bulkBody(0, bop(http.MethodDelete, "/Users/"+v, "", nil))}
			}
			return []call{del, add(v, "User"),
				{http.MethodPut, "/Groups/" + g, map[string]any{"displayName": "Busy", "members": memberList(keep, v)}},
				{http.MethodPost, "/Groups", map[string]any{"displayName": "New " + strconv.Itoa(trial), "members": memberList(v)}},
				{http.MethodPost, "/Bulk", bulkBody(0, bop(http.MethodPatch, "/Groups/"+g, "", patchBody(op("add", "members", memberList(v)))))},
			}
		}},
		{"group, PATCH", func(trial int) string { return e.group("Nested " + strconv.Itoa(trial)) }, func(_ int, v string) []call {
			return []call{{http.MethodDelete, "/Groups/" + v, nil}, add(v, "Group"), add(v, "Group"), add(v, "Group"), add(v, "Group")}
		}},
	} {
		for trial := range 12 {
			v := kind.member(trial)
			calls := kind.race(trial, v)
			type outcome struct {
				i      int
				status int
				raw    string
				err    error
			}
			out := make(chan outcome, len(calls))
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i, x := range calls {
				wg.Go(func() {
					<-start
					r, err := e.send(x.method, x.path, x.body, nil)
					status, raw := r.Status, string(r.Raw)
					if x.path == "/Bulk" && err == nil {
						// The operation's own status and response.
						status, err = strconv.Atoi(fmt.Sprint(get(r.Body, "Operations", 0, "status")))
						raw = fmt.Sprint(get(r.Body, "Operations", 0, "response"))
					}
					out <- outcome{i, status, raw, err}
				})
			}
			close(start)
			wg.Wait()
			close(out)
			for o := range out {
				require.NoError(t, o.err)
				switch {
				case o.i == 0:
					require.Equal(t, http.StatusNoContent, o.status, "the deletion: %s", o.raw)
				case o.status < 300:
				case o.status == http.StatusBadRequest:
					require.Contains(t, o.raw, "is not a User of this organization")
				case o.status == http.StatusConflict:
					require.Contains(t, o.raw, "was deleted while this request ran")
				default:
					t.Fatalf("%s: %s %s: %d %s", kind.name, calls[o.i].method, calls[o.i].path, o.status, o.raw)
				}
			}
			require.Zero(t, e.count(`SELECT count(*) FROM group_members m WHERE m.org_id = $1 AND NOT EXISTS (
					SELECT 1 FROM users u WHERE u.org_id = m.org_id AND u.id = m.member_id UNION ALL
					SELECT 1 FROM groups h WHERE h.org_id = m.org_id AND h.id = m.member_id)`, e.org),
				"%s, trial %d: a membership names a member that does not exist", kind.name, trial)
			require.Zero(t, e.count("SELECT count(*) FROM group_members WHERE org_id = $1 AND member_id = $2", e.org, v))
			require.NotContains(t, fmt.Sprint(e.must(http.StatusOK, http.MethodGet, "/Groups/"+g, nil, nil).Body["members"]), v)
		}
	}
	require.Equal(t, sorted(keep), e.members(g))
}

// managerCalls are the ways a client sets user r's manager to value, creating r when it is "".
func managerCalls(r, value any) map[string]call {
	set := map[string]any{"value": value}
	return map[string]call{
		"POST": {http.MethodPost, "/Users", map[string]any{"userName": "new@example.com", entURN: map[string]any{"manager": set}}},
		"PUT":  {http.MethodPut, "/Users/" + fmt.Sprint(r), map[string]any{"userName": "r@example.com", entURN: map[string]any{"manager": set}}},
		"PATCH path": {http.MethodPatch, "/Users/" + fmt.Sprint(r),
			patchBody(op("replace", entURN+":manager", set))},
		"PATCH path-less": {http.MethodPatch, "/Users/" + fmt.Sprint(r),
			patchBody(op("replace", "", map[string]any{entURN: map[string]any{"manager": set}}))},
		"PATCH path-less with a URN key (Entra)": {http.MethodPatch, "/Users/" + fmt.Sprint(r),
			patchBody(op("Replace", "", map[string]any{entURN + ":manager": set}))},
		"PATCH Add of an id string": {http.MethodPatch, "/Users/" + fmt.Sprint(r),
			patchBody(op("Add", entURN+":manager", value))},
	}
}

// Rule 5: a manager is a user of the organization, stored by its canonical
// id however it was spelt, so that the manager's purge finds and clears every reference; an
// empty value clears it.
func TestMatrixManagerReferences(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	routes := []route{viaSingle, viaBulk, viaBatch}
	spellings := map[string]func(id string) string{
		"upper-case": strings.ToUpper,
		"braced":     func(id string) string { return "{" + id + "}" },
	}
	for spelling, spell := range spellings {
		for name := range managerCalls("", "") {
			t.Run(spelling+" through "+name, func(t *testing.T) {
				t.Parallel()
				eachRoute(t, routes, func(t *testing.T, rt route) {
					f := e.with(t).fresh()
					m, r := f.user("m", nil), f.user("r", nil)
					x := managerCalls(r, spell(m))[name]
					res, ok := rt.send(f.operatorCaller(), x)
					if !ok {
						return
					}
					require.Less(t, res.Status, 300, "%s", res.Raw)
					if x.method == http.MethodPost {
						r = createdID(t, res)
					}
					f.requireStoredAsAcknowledged(res, r)
					require.Equal(t, m, f.row(r)["manager_id"])
					require.Equal(t, m, get(f.must(http.StatusOK, http.MethodGet, "/Users/"+r, nil, nil).Body, entURN, "manager", "value"))

					// The manager's purge, through the same route (Bulk for the batch), clears
					// the reference and leaves no mention of the manager in the audit log.
					del := call{http.MethodDelete, "/Users/" + m, nil}
					if res, ok = rt.send(f.operatorCaller(), del); !ok {
						res, _ = viaBulk.send(f.operatorCaller(), del)
					}
					require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Raw)
					require.Nil(t, get(f.must(http.StatusOK, http.MethodGet, "/Users/"+r, nil, nil).Body, entURN, "manager"))
					require.Nil(t, f.row(r)["manager_id"])
					require.Zero(t, f.count(`SELECT count(*) FROM audit_log WHERE org_id = $1
						AND (changes::text ILIKE '%' || $2 || '%' OR resource_id = $2::uuid OR actor_user_id = $2::uuid)`, f.org, m))
					var pseudonym string
					require.NoError(t, f.pool.QueryRow(context.Background(), "SELECT pseudonym::text FROM tombstones WHERE org_id = $1 AND resource_id = $2",
						f.org, m).Scan(&pseudonym))
					log := f.auditOf(r)
					require.Equal(t, pseudonym, get(log[len(log)-1].Changes, entURN+":manager", "before", "value"))
				})
			})
		}
	}

	// A manager that is no user of the organization is refused, naming the value sent.
	f := e.fresh()
	r := f.user("r", nil)
	stranger := e.fresh().user("stranger", nil)
	for name, value := range map[string]string{
		"unknown id":                    strings.ToUpper("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"),
		"no id":                         "nobody",
		"another organization's":        stranger,
		"another organization's braced": "{" + strings.ToUpper(stranger) + "}",
	} {
		for how, x := range managerCalls(r, value) {
			t.Run(name+" through "+how, func(t *testing.T) {
				t.Parallel()
				f.with(t).operatorCaller().refused(x, routes, http.StatusBadRequest, "invalidValue", `manager "`+value+`"`)
			})
		}
	}

	// An empty value (Entra's "Remove Manager") clears it, as a removal does.
	for name, x := range map[string]func(r string) call{
		"PATCH with an empty value (Entra)": func(r string) call {
			return call{http.MethodPatch, "/Users/" + r, patchBody(op("Replace", entURN+":manager", map[string]any{"value": ""}))}
		},
		"path-less PATCH with an empty value": func(r string) call {
			return call{http.MethodPatch, "/Users/" + r, patchBody(op("replace", "", map[string]any{entURN: map[string]any{"manager": map[string]any{"value": ""}}}))}
		},
		"PUT with an empty value": func(r string) call {
			return call{http.MethodPut, "/Users/" + r, map[string]any{"userName": "r@example.com", entURN: map[string]any{"manager": map[string]any{"value": ""}}}}
		},
		"PATCH remove": func(r string) call {
			return call{http.MethodPatch, "/Users/" + r, patchBody(op("remove", entURN+":manager", nil))}
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, routes, func(t *testing.T, rt route) {
				f := e.with(t).fresh()
				m := f.user("m", nil)
				r := f.user("r", map[string]any{entURN: map[string]any{"manager": map[string]any{"value": m}, "department": "R&D"}})
				res, ok := rt.send(f.operatorCaller(), x(r))
				if !ok {
					return
				}
				require.Equal(t, http.StatusOK, res.Status, "%s", res.Raw)
				f.requireStoredAsAcknowledged(res, r)
				require.Nil(t, f.row(r)["manager_id"])
				require.Nil(t, get(f.must(http.StatusOK, http.MethodGet, "/Users/"+r, nil, nil).Body, entURN, "manager"))
			})
		})
	}
}

// Rule 6: the tokens of an issuer who is suspended, demoted (directly, through
// a group, or through a mapping) or deleted are revoked at that moment, and stay revoked when
// the issuer is reactivated or promoted again.
func TestMatrixTokenRevocation(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	type issuer struct {
		f       *env
		id, g   string // g: the group making the issuer admin, if any
		tokenID string
		token   *env
	}
	newIssuer := func(e *env, role string, viaGroup bool) *issuer {
		f := e.fresh()
		f.createUser(adminBody("keeper"))
		s := &issuer{f: f}
		if viaGroup {
			s.id = f.user("i", nil)
			s.g = f.group("Admins", s.id)
			f.mapGroup(s.g, role, "")
		} else {
			s.id = f.createUser(map[string]any{"userName": "i@example.com", extURN: map[string]any{"orgRole": role}})["id"].(string)
		}
		s.token, s.tokenID = f.issue(s.id)
		s.token.must(http.StatusOK, http.MethodGet, "/Users/"+s.id, nil, nil)
		return s
	}
	scim := []route{viaSingle, viaBulk}
	adminRoute := []route{viaAdmin}
	for _, tc := range []struct {
		name     string
		role     string
		viaGroup bool
		routes   []route
		kill     func(s *issuer) call
		revive   func(s *issuer)
	}{
		{"suspended by PATCH", "admin", false, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Users/" + s.id, patchBody(op("replace", "active", false))}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("replace", "active", true), op("replace", extURN+":orgRole", "admin")), nil)
		}},
		{"suspended by Entra's string", "admin", false, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Users/" + s.id, patchBody(op("Replace", "active", "False"))}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("Replace", "active", "True"),
				op("Add", "roles", []any{map[string]any{"value": "orgRole:admin"}})), nil)
		}},
		{"suspended by Okta's PUT", "admin", false, scim, func(s *issuer) call {
			return call{http.MethodPut, "/Users/" + s.id, map[string]any{"userName": "i@example.com", "active": false}}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPut, "/Users/"+s.id, map[string]any{"userName": "i@example.com", "active": true,
				extURN: map[string]any{"orgRole": "admin"}}, nil)
		}},
		{"demoted to user", "admin", false, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Users/" + s.id, patchBody(op("replace", extURN+":orgRole", "user"))}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("replace", extURN+":orgRole", "admin")), nil)
		}},
		{"demoted to admin-readonly", "admin", false, scim, func(s *issuer) call {
			return call{http.MethodPut, "/Users/" + s.id, map[string]any{"userName": "i@example.com",
				"roles": []any{map[string]any{"value": "orgRole:admin-readonly"}}}}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("replace", extURN+":orgRole", "admin")), nil)
		}},
		{"admin-readonly demoted to user", "admin-readonly", false, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Users/" + s.id, patchBody(op("replace", extURN+":orgRole", "user"))}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("replace", extURN+":orgRole", "admin-readonly")), nil)
		}},
		{"removed from the group", "admin", true, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.id+`"]`, nil))}
		}, func(s *issuer) {
			s.f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+s.g, patchBody(op("add", "members", memberList(s.id))), nil)
		}},
		{"left out of the group's PUT", "admin", true, scim, func(s *issuer) call {
			return call{http.MethodPut, "/Groups/" + s.g, map[string]any{"displayName": "Admins"}}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPut, "/Groups/"+s.g, map[string]any{"displayName": "Admins", "members": memberList(s.id)}, nil)
		}},
		{"the group deleted", "admin", true, scim, func(s *issuer) call {
			return call{http.MethodDelete, "/Groups/" + s.g, nil}
		}, func(s *issuer) {
			s.f.mapGroup(s.f.group("Admins again", s.id), "admin", "")
		}},
		{"suspended while admin through the group", "admin", true, scim, func(s *issuer) call {
			return call{http.MethodPatch, "/Users/" + s.id, patchBody(op("replace", "", map[string]any{"active": false}))}
		}, func(s *issuer) {
			s.f.must(http.StatusOK, http.MethodPatch, "/Users/"+s.id, patchBody(op("replace", "", map[string]any{"active": true})), nil)
		}},
		{"the mapping removed", "admin", true, adminRoute, func(s *issuer) call {
			return call{http.MethodDelete, s.f.mapping(s.g), nil}
		}, func(s *issuer) {
			s.f.adminAPI().must(http.StatusCreated, http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "admin"})
		}},
		{"the mapping lowered", "admin", true, adminRoute, func(s *issuer) call {
			return call{http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "admin-readonly"}}
		}, func(s *issuer) {
			s.f.adminAPI().must(http.StatusOK, http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "admin"})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eachRoute(t, tc.routes, func(t *testing.T, rt route) {
				s := newIssuer(e.with(t), tc.role, tc.viaGroup)
				x := tc.kill(s)
				before := time.Now()
				r, _ := rt.send(s.f.operatorCaller(), x)
				require.Less(t, r.Status, 300, "%s", r.Raw)
				requireError(t, s.token.do(http.MethodGet, "/Users/"+s.id, nil, nil), http.StatusUnauthorized, "")
				at := s.f.revokedAt(s.tokenID)
				require.NotNil(t, at, "revoked at that moment")
				require.WithinRange(t, *at, before.Add(-time.Second), time.Now().Add(time.Second))

				tc.revive(s)
				require.Equal(t, tc.role, s.f.effective(s.id).OrgRole, "the issuer is back")
				requireError(t, s.token.do(http.MethodGet, "/Users/"+s.id, nil, nil), http.StatusUnauthorized, "")
				require.Equal(t, at, s.f.revokedAt(s.tokenID), "for good")
			})
		})
	}

	// An issuer admin through a group nested in the mapped one.
	t.Run("demoted with the nested group", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, scim, func(t *testing.T, rt route) {
			f := e.with(t).fresh()
			f.createUser(adminBody("keeper"))
			f.nesting(true)
			id := f.user("i", nil)
			inner, outer := f.group("Inner", id), f.group("Outer")
			nest := patchBody(op("add", "members", []any{map[string]any{"value": inner, "type": "Group"}}))
			f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+outer, nest, nil)
			f.mapGroup(outer, "admin", "")
			token, tokenID := f.issue(id)
			r, _ := rt.send(f.operatorCaller(), call{http.MethodPatch, "/Groups/" + outer, patchBody(op("remove", `members[value eq "`+inner+`"]`, nil))})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			requireError(t, token.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
			at := f.revokedAt(tokenID)
			require.NotNil(t, at)
			f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+outer, nest, nil)
			require.Equal(t, "admin", f.effective(id).OrgRole)
			requireError(t, token.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
			require.Equal(t, at, f.revokedAt(tokenID))
		})
	})

	// The admin API issues tokens only for active admin and admin-readonly users, and a
	// revocation there is for good too.
	t.Run("issuing and revoking through the admin API", func(t *testing.T) {
		t.Parallel()
		f := e.with(t).fresh()
		f.createUser(adminBody("keeper"))
		plain := f.user("plain", nil)
		suspendedAdmin := f.createUser(map[string]any{"userName": "s@example.com", "active": false, extURN: map[string]any{"orgRole": "admin"}})["id"].(string)
		stranger := e.fresh().createUser(adminBody("stranger"))["id"].(string)
		tokens := "/admin/v1/orgs/" + f.org + "/tokens"
		for issuer, fragment := range map[string]string{
			plain:          `has the orgRole "user"`,
			suspendedAdmin: "is suspended",
			stranger:       "is not a user of organization " + f.org,
			"nobody":       `"nobody" is not a user id`,
		} {
			f.adminRefused(call{http.MethodPost, tokens, map[string]any{"issuer_user_id": issuer}}, http.StatusBadRequest, fragment)
		}
		reader := f.createUser(map[string]any{"userName": "r@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
		token, tokenID := f.issue(reader)
		token.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
		revoked := f.adminAPI().must(http.StatusOK, http.MethodDelete, tokens+"/"+tokenID, nil).Body["revoked_at"]
		require.NotNil(t, revoked)
		requireError(t, token.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
		at := f.revokedAt(tokenID)
		require.Equal(t, revoked, f.adminAPI().must(http.StatusOK, http.MethodDelete, tokens+"/"+tokenID, nil).Body["revoked_at"], "the first revocation stays")
		require.Equal(t, at, f.revokedAt(tokenID))
	})

	// A deleted issuer's tokens go with the user; one of the same userName created again gets
	// none of them.
	t.Run("deleted", func(t *testing.T) {
		t.Parallel()
		eachRoute(t, scim, func(t *testing.T, rt route) {
			s := newIssuer(e.with(t), "admin", false)
			r, _ := rt.send(s.f.operatorCaller(), call{http.MethodDelete, "/Users/" + s.id, nil})
			require.Equal(t, http.StatusNoContent, r.Status, "%s", r.Raw)
			require.Zero(t, s.f.count("SELECT count(*) FROM tokens WHERE org_id = $1 AND id = $2", s.f.org, s.tokenID))
			requireError(t, s.token.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
			s.f.createUser(map[string]any{"userName": "i@example.com", extURN: map[string]any{"orgRole": "admin"}})
			requireError(t, s.token.do(http.MethodGet, "/Users", nil, nil), http.StatusUnauthorized, "")
		})
	})
}

// Rule 7 (RFC 7644 §3.7.1): operations that reference each other in a circle are
// kept all or none; a circle that fails leaves nothing behind: no user or group, no tombstone,
// no account.purged delivery, no audit record, notification or welcome.
func TestMatrixBulkCircleUndo(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	ring := func(bulkIDs []string, bodies ...map[string]any) []call {
		out := make([]call, len(bodies))
		for i, b := range bodies {
			next := bulkIDs[(i+1)%len(bulkIDs)]
			b[entURN] = map[string]any{"manager": map[string]any{"value": "bulkId:" + next}}
			out[i] = call{http.MethodPost, "/Users", b}
		}
		return out
	}
	groups := func() []call {
		return []call{
			{http.MethodPost, "/Groups", map[string]any{"displayName": "A", "members": []any{map[string]any{"value": "bulkId:op1", "type": "Group"}}}},
			{http.MethodPost, "/Groups", map[string]any{"displayName": "B", "members": []any{map[string]any{"value": "bulkId:op0", "type": "Group"}}}},
		}
	}
	welcomed := map[string]any{"products": []any{"meeting", "webinar"}, "orgRole": "admin-readonly"}
	for _, tc := range []struct {
		name     string
		nesting  bool
		calls    func() []call
		statuses []int
		detail   string // of the operation that failed
	}{
		{"users managing each other, one on an unverified domain", false, func() []call {
			return ring([]string{"op0", "op1"}, map[string]any{"userName": "a@example.com"}, map[string]any{"userName": "b@evil.example"})
		}, []int{409, 400}, "sign-in address"},
		{"users managing each other, one granted an unlicensed product", false, func() []call {
			return ring([]string{"op0", "op1"}, map[string]any{"userName": "a@example.com", extURN: welcomed},
				map[string]any{"userName": "b@example.com", extURN: map[string]any{"products": []any{"chat"}}})
		}, []int{409, 400}, `product "chat" is not licensed`},
		{"three users with welcomed products, the last one's userName taken", false, func() []call {
			calls := ring([]string{"op0", "op1", "op2"}, map[string]any{"userName": "a@example.com"},
				map[string]any{"userName": "b@example.com"}, map[string]any{"userName": "TAKEN@example.com"})
			for _, c := range calls {
				c.body.(map[string]any)[extURN] = welcomed
			}
			return calls
		}, []int{409, 409, 409}, "already taken"},
		{"groups containing each other without nesting", false, groups, []int{409, 400}, "nested groups are not enabled"},
		{"groups containing each other, a cycle", true, groups, []int{400, 409}, "would make a cycle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := e.with(t).fresh()
			f.adminAPI().must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs/"+f.org+"/webhooks", map[string]any{"url": "https://hooks.example.com/scimd"})
			f.createUser(adminBody("keeper"))
			f.user("taken", nil)
			if tc.nesting {
				f.nesting(true)
			}
			before := f.state()
			res := f.operatorCaller().bulkCalls(tc.calls()...)
			failed := ""
			for i, r := range res {
				require.Equal(t, tc.statuses[i], r.Status, "%d: %s", i, r.Raw)
				if !strings.Contains(fmt.Sprint(r.Body["detail"]), "cannot be resolved") {
					failed = fmt.Sprint(r.Body["detail"])
				}
			}
			require.Contains(t, failed, tc.detail)
			require.Equal(t, before, f.state(), "nothing of the circle remains")
		})
	}

	// The same circles succeed whole when nothing in them fails, and leave no tombstone.
	t.Run("a circle kept whole", func(t *testing.T) {
		t.Parallel()
		f := e.with(t).fresh()
		f.adminAPI().must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs/"+f.org+"/webhooks", map[string]any{"url": "https://hooks.example.com/scimd"})
		res := f.operatorCaller().bulkCalls(ring([]string{"op0", "op1"},
			map[string]any{"userName": "a@example.com", extURN: welcomed}, map[string]any{"userName": "b@example.com"})...)
		require.Equal(t, []int{201, 201}, []int{res[0].Status, res[1].Status})
		a, b := createdID(t, res[0]), createdID(t, res[1])
		require.Equal(t, b, f.row(a)["manager_id"])
		require.Equal(t, a, f.row(b)["manager_id"])
		require.Equal(t, gr("admin-readonly", "member", "meeting", "webinar"), f.effective(a))
		require.Zero(t, f.count("SELECT count(*) FROM tombstones WHERE org_id = $1", f.org))
		require.Zero(t, f.count("SELECT count(*) FROM webhook_deliveries WHERE org_id = $1", f.org))
	})
}

// adminRefused sends x to the admin API and requires its refusal with status and a detail
// containing every fragment, and that nothing stored about the organization changed.
func (e *env) adminRefused(x call, status int, fragments ...string) {
	e.t.Helper()
	before := e.state()
	r, _ := viaAdmin.send(e.operatorCaller(), x)
	requireAdminError(e.t, adminResp(r), status, fragments...)
	require.Equal(e.t, before, e.state(), "%s %s must change nothing", x.method, x.path)
}

// Rule 8: no path removes the organization's last active admin.
func TestMatrixLastAdmin(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	scim := []route{viaSingle, viaBulk}
	const last = "without an active admin"
	// lastAdmin is an organization whose only active admin is a: directly, or through group g
	// (nested in outer when nested), beside a user created admin but suspended when
	// suspendedAdmin.
	type lastAdmin struct {
		f           *env
		a, g, outer string
	}
	newLastAdmin := func(e *env, viaGroup, nested, suspendedAdmin bool) *lastAdmin {
		f := e.fresh()
		s := &lastAdmin{f: f}
		if viaGroup {
			s.a = f.user("a", nil)
			s.g = f.group("Admins", s.a)
			if nested {
				f.nesting(true)
				s.outer = f.group("Outer")
				f.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+s.outer, patchBody(op("add", "members",
					[]any{map[string]any{"value": s.g, "type": "Group"}})), nil)
				f.mapGroup(s.outer, "admin", "")
			} else {
				f.mapGroup(s.g, "admin", "")
			}
		} else {
			s.a = f.createUser(adminBody("a"))["id"].(string)
		}
		if suspendedAdmin {
			f.createUser(map[string]any{"userName": "b@example.com", "active": false, extURN: map[string]any{"orgRole": "admin"}})
		}
		return s
	}
	for _, tc := range []struct {
		name                             string
		viaGroup, nested, suspendedAdmin bool
		x                                func(s *lastAdmin) call
	}{
		{"PATCH active false", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("replace", "active", false))}
		}},
		{"PATCH active \"False\" (Entra)", false, false, true, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("Replace", "active", "False"))}
		}},
		{"path-less PATCH active false (Okta)", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("replace", "", map[string]any{"active": false}))}
		}},
		{"PUT active false (Okta)", false, false, true, func(s *lastAdmin) call {
			return call{http.MethodPut, "/Users/" + s.a, map[string]any{"userName": "a@example.com", "active": false}}
		}},
		{"PATCH orgRole", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("replace", extURN+":orgRole", "admin-readonly"))}
		}},
		{"PATCH roles (Entra)", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("Replace", "roles", []any{map[string]any{"value": "orgRole:user"}}))}
		}},
		{"path-less PATCH of the extension", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("replace", "", map[string]any{extURN: map[string]any{"orgRole": "user"}}))}
		}},
		{"PATCH removing the orgRole", false, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("remove", extURN+":orgRole", nil))}
		}},
		{"PATCH removing roles", false, false, true, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("remove", `roles[value eq "orgRole:admin"]`, nil))}
		}},
		{"PUT roles", false, false, true, func(s *lastAdmin) call {
			return call{http.MethodPut, "/Users/" + s.a, map[string]any{"userName": "a@example.com", "roles": []any{map[string]any{"value": "orgRole:user"}}}}
		}},
		{"DELETE /Users", false, false, true, func(s *lastAdmin) call { return call{http.MethodDelete, "/Users/" + s.a, nil} }},
		{"PATCH /Groups removing by filter", true, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.a+`"]`, nil))}
		}},
		{"PATCH /Groups removing by value", true, false, true, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("Remove", "members", memberList(s.a)))}
		}},
		{"PATCH /Groups replacing the members", true, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("replace", "members", []any{}))}
		}},
		{"PUT /Groups without the admin", true, false, false, func(s *lastAdmin) call {
			return call{http.MethodPut, "/Groups/" + s.g, map[string]any{"displayName": "Admins", "members": []any{}}}
		}},
		{"DELETE /Groups", true, false, false, func(s *lastAdmin) call { return call{http.MethodDelete, "/Groups/" + s.g, nil} }},
		{"suspending the group's admin", true, false, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Users/" + s.a, patchBody(op("replace", "", map[string]any{"active": false}))}
		}},
		{"DELETE of the group's admin", true, false, false, func(s *lastAdmin) call { return call{http.MethodDelete, "/Users/" + s.a, nil} }},
		{"PATCH /Groups removing the nested group", true, true, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.outer, patchBody(op("remove", `members[value eq "`+s.g+`"]`, nil))}
		}},
		{"DELETE of the nested group", true, true, true, func(s *lastAdmin) call { return call{http.MethodDelete, "/Groups/" + s.g, nil} }},
		{"PATCH of the nested group removing the admin", true, true, false, func(s *lastAdmin) call {
			return call{http.MethodPatch, "/Groups/" + s.g, patchBody(op("remove", `members[value eq "`+s.a+`"]`, nil))}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newLastAdmin(e.with(t), tc.viaGroup, tc.nested, tc.suspendedAdmin)
			s.f.operatorCaller().refused(tc.x(s), scim, http.StatusConflict, "", last)
			require.Equal(t, "admin", s.f.effective(s.a).OrgRole)
		})
	}
	// Two changes at once, each removing one of the last two admins, by different paths: one
	// of them is refused, whichever runs second.
	t.Run("racing", func(t *testing.T) {
		t.Parallel()
		for trial := range 12 {
			f := e.with(t).fresh()
			a := f.createUser(adminBody("a"))["id"].(string)
			b := f.user("b", nil)
			g := f.group("Admins", b)
			f.mapGroup(g, "admin", "")
			pairs := [][2]call{
				{{http.MethodPatch, "/Users/" + a, patchBody(op("replace", "active", false))},
					{http.MethodPatch, "/Groups/" + g, patchBody(op("remove", `members[value eq "`+b+`"]`, nil))}},
				{{http.MethodDelete, "/Users/" + a, nil}, {http.MethodDelete, "/Groups/" + g, nil}},
				{{http.MethodPost, "/Bulk", bulkBody(0, bop(http.MethodPatch, "/Users/"+a, "", patchBody(op("replace", extURN+":orgRole", "user"))))},
					{http.MethodDelete, f.mapping(g), nil}},
			}
			statuses := make(chan int, 2)
			errs := make(chan error, 2)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for _, x := range pairs[trial%len(pairs)] {
				wg.Go(func() {
					<-start
					var r resp
					var err error
					if strings.HasPrefix(x.path, "/admin/") {
						var ar adminResp
						ar, err = f.adminAPI().send(x.method, x.path, x.body)
						r = resp(ar)
					} else {
						r, err = f.send(x.method, x.path, x.body, nil)
					}
					if err == nil && x.path == "/Bulk" {
						r.Status, err = strconv.Atoi(fmt.Sprint(get(r.Body, "Operations", 0, "status")))
					}
					errs <- err
					statuses <- r.Status
				})
			}
			close(start)
			wg.Wait()
			close(errs)
			close(statuses)
			for err := range errs {
				require.NoError(t, err)
			}
			var got []int
			for st := range statuses {
				got = append(got, min(st/100*100, 400))
			}
			require.ElementsMatch(t, []int{200, 400}, got, "trial %d: one change passes, the other is refused", trial)
			require.Equal(t, 1, f.count("SELECT count(*) FROM users WHERE org_id = $1 AND active AND eff_org_role = 'admin'", f.org))
		}
	})

	for _, tc := range []struct {
		name   string
		nested bool
		x      func(s *lastAdmin) call
	}{
		{"removing the mapping", false, func(s *lastAdmin) call { return call{http.MethodDelete, s.f.mapping(s.g), nil} }},
		{"removing the outer group's mapping", true, func(s *lastAdmin) call { return call{http.MethodDelete, s.f.mapping(s.outer), nil} }},
		{"mapping to admin-readonly", false, func(s *lastAdmin) call {
			return call{http.MethodPut, s.f.mapping(s.g), map[string]any{"org_role": "admin-readonly"}}
		}},
		{"mapping to products only", false, func(s *lastAdmin) call {
			return call{http.MethodPut, s.f.mapping(s.g), map[string]any{"products": []string{"meeting"}}}
		}},
	} {
		t.Run("admin API "+tc.name, func(t *testing.T) {
			t.Parallel()
			s := newLastAdmin(e.with(t), true, tc.nested, false)
			s.f.adminRefused(tc.x(s), http.StatusConflict, last)
			require.Equal(t, "admin", s.f.effective(s.a).OrgRole)
		})
	}
}

// Rule 9: a token acting as admin-readonly (a service token with that role, a
// user's token, or the token of a user who is admin-readonly through a group) may read and
// search, and every write it sends is refused by every path.
func TestMatrixReadOnlyTokens(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	victim := e.user("victim", nil)
	g := e.group("Team", victim)
	reader := e.createUser(map[string]any{"userName": "reader@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
	readerEnv, _ := e.tokenFor(reader, nil)
	mapped := e.user("mapped", nil)
	readers := e.group("Readers", mapped)
	e.mapGroup(readers, "admin-readonly", "")
	mappedEnv, _ := e.tokenFor(mapped, nil)
	svc := e.adminAPI().must(http.StatusCreated, http.MethodPost, "/admin/v1/orgs/"+e.org+"/tokens",
		map[string]any{"role": "admin-readonly", "label": "auditor"})
	svcEnv := *e
	svcEnv.token = svc.Body["token"].(string)
	tokens := map[string]caller{
		"service token":           {&svcEnv, ""},
		"user's token":            {readerEnv, reader},
		"token of a group's user": {mappedEnv, mapped},
	}
	writes := func(self string) []call {
		return []call{
			{http.MethodPost, "/Users", map[string]any{"userName": "new@example.com"}},
			{http.MethodPut, "/Users/" + victim, map[string]any{"userName": "victim@example.com", "title": "x"}},
			{http.MethodPatch, "/Users/" + victim, patchBody(op("replace", "title", "x"))},
			{http.MethodDelete, "/Users/" + victim, nil},
			{http.MethodPost, "/Groups", map[string]any{"displayName": "New"}},
			{http.MethodPut, "/Groups/" + g, map[string]any{"displayName": "Team"}},
			{http.MethodPatch, "/Groups/" + g, patchBody(op("add", "members", memberList(reader)))},
			{http.MethodDelete, "/Groups/" + g, nil},
			{http.MethodPut, "/Users/" + self, map[string]any{"userName": "self@example.com"}},
			{http.MethodPatch, "/Users/" + self, patchBody(op("replace", "name.givenName", "Me"))},
			{http.MethodDelete, "/Users/" + self, nil},
		}
	}
	for name, c := range tokens {
		self := c.self
		if self == "" {
			self = victim
		}
		for _, x := range writes(self) {
			t.Run(name+" "+x.method+" "+x.path, func(t *testing.T) {
				t.Parallel()
				c := caller{c.with(t), c.self}
				c.refused(x, scimRoutes, http.StatusForbidden, "", "admin-readonly")
			})
		}
		t.Run(name+" in one Bulk request", func(t *testing.T) {
			t.Parallel()
			c := caller{c.with(t), c.self}
			before := c.state()
			single := c.do(http.MethodPost, "/Users", map[string]any{"userName": "new@example.com"}, nil)
			// Every write, and a circle of two creations referring to each other.
			calls := append(writes(self),
				call{http.MethodPost, "/Users", map[string]any{"userName": "a@example.com", entURN: map[string]any{"manager": map[string]any{"value": "bulkId:op12"}}}},
				call{http.MethodPost, "/Users", map[string]any{"userName": "b@example.com", entURN: map[string]any{"manager": map[string]any{"value": "bulkId:op11"}}}})
			for i, r := range c.bulkCalls(calls...) {
				requireSameError(t, single, map[string]any{"status": strconv.Itoa(r.Status), "response": r.Body}, fmt.Sprint(i))
			}
			require.Len(t, c.bulk(1, bop(http.MethodPost, "/Users", "a", map[string]any{"userName": "a@example.com"}),
				bop(http.MethodPost, "/Users", "b", map[string]any{"userName": "b@example.com"})), 1, "failOnErrors stops at the first")
			require.Equal(t, before, c.state())
		})
		t.Run(name+" reads and searches", func(t *testing.T) {
			t.Parallel()
			c := caller{c.with(t), c.self}
			before := c.state()
			for _, path := range []string{"/Users/.search", "/Groups/.search", "/.search"} {
				r := c.must(http.StatusOK, http.MethodPost, path, searchBody(map[string]any{"filter": `id pr`}), nil)
				require.Positive(t, r.Body["totalResults"], path)
			}
			c.must(http.StatusOK, http.MethodGet, "/Users/"+victim, nil, nil)
			c.must(http.StatusOK, http.MethodGet, "/Groups/"+g, nil, nil)
			require.Equal(t, before, c.state())
		})
	}
}
