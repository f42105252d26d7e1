package server_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
)

const extURN = grants.ExtURN

// license makes products the env's organization's licensed products.
func (e *env) license(products ...string) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), "DELETE FROM org_products WHERE org_id = $1", e.org)
	require.NoError(e.t, err)
	_, err = e.pool.Exec(context.Background(),
		"INSERT INTO org_products (org_id, product) SELECT $1, unnest($2::text[])", e.org, products)
	require.NoError(e.t, err)
}

// products are a user's stored direct product grants.
func (e *env) products(id string) []string {
	e.t.Helper()
	var out []string
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		"SELECT coalesce(array_agg(product ORDER BY product), '{}') FROM user_products WHERE org_id = $1 AND user_id = $2",
		e.org, id).Scan(&out))
	return out
}

// fullSnapshot is everything stored about a user, grants included.
type fullSnapshot struct {
	snapshot
	Products []string
}

func (e *env) full(id string) fullSnapshot {
	return fullSnapshot{e.snapshot(id), e.products(id)}
}

// tokenFor issues a token whose issuer is user id, and returns an env using it. It is inserted
// directly so these tests depend only on the token format and table.
func (e *env) tokenFor(id string, expires *time.Time) (*env, string) {
	e.t.Helper()
	tok, err := auth.Generate(e.org)
	require.NoError(e.t, err)
	_, err = e.pool.Exec(context.Background(), `INSERT INTO tokens (org_id, id, secret_hash, issuer_user_id, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, e.org, tok.ID, tok.Hash, id, expires)
	require.NoError(e.t, err)
	c := *e
	c.token = tok.Token
	return &c, tok.ID
}

func adminBody(name string) map[string]any {
	return map[string]any{"userName": name + "@example.com", extURN: map[string]any{"orgRole": "admin"}}
}

func TestGrantViewsFollowEachOther(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar")
	id := e.user("views", nil)

	// roles → extension
	r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
		op("replace", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}, map[string]any{"value": "accountRole:admin"}})), nil)
	require.Equal(t, "admin-readonly", get(r.Body, extURN, "orgRole"))
	require.Equal(t, "admin", get(r.Body, extURN, "accountRole"))
	require.Equal(t, "admin-readonly", e.row(id)["org_role"])
	require.Equal(t, "admin", e.row(id)["account_role"])

	// extension → roles
	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", extURN+":orgRole", "user")), nil)
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:user", "type": "orgRole"},
		map[string]any{"value": "accountRole:admin", "type": "accountRole"},
	}, r.Body["roles"])
	require.Equal(t, "user", e.row(id)["org_role"])

	// entitlements → products
	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
		op("add", "entitlements", []any{map[string]any{"value": "Webinar"}})), nil)
	require.Equal(t, []any{"webinar"}, get(r.Body, extURN, "products"))
	require.Equal(t, []string{"webinar"}, e.products(id))

	// products → entitlements
	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
		op("add", extURN+":products", []any{"meeting"})), nil)
	require.Equal(t, []any{
		map[string]any{"value": "meeting", "type": "product"},
		map[string]any{"value": "webinar", "type": "product"},
	}, r.Body["entitlements"])
	require.Equal(t, []string{"meeting", "webinar"}, e.products(id))

	// A fresh read and a filter on each view agree.
	got := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
	require.Equal(t, r.Body["roles"], got["roles"])
	for _, f := range []string{
		`roles.value eq "accountRole:admin"`,
		`entitlements[value eq "meeting"]`,
		`urn:scimd:schemas:extension:2.0:User:products eq "webinar"`,
		`urn:scimd:schemas:extension:2.0:User:orgRole eq "user"`,
	} {
		require.Equal(t, []string{id}, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(f), nil, nil)), f)
	}
}

func TestVerifiedDomainRule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("ok", map[string]any{"emails": []any{map[string]any{"value": "ok@example.com", "type": "work", "primary": true}}})
	before := e.full(id)
	// A user whose userName is no address signs in with their email.
	plain := e.createUser(map[string]any{"userName": "plain-ok", "emails": []any{
		map[string]any{"value": "plain@example.com", "type": "work", "primary": true}}})["id"].(string)
	beforePlain := e.full(plain)
	requireError(t, e.do(http.MethodPost, "/Users", map[string]any{"userName": "x@sub.example.com"}, nil),
		http.StatusBadRequest, "invalidValue")
	for name, tc := range map[string]struct {
		method, path string
		body         any
	}{
		"create userName":   {http.MethodPost, "/Users", map[string]any{"userName": "x@evil.example"}},
		"create work email": {http.MethodPost, "/Users", map[string]any{"userName": "plain", "emails": []any{map[string]any{"value": "x@evil.example", "type": "work"}}}},
		"put userName":      {http.MethodPut, "/Users/" + id, map[string]any{"userName": "ok@evil.example"}},
		"patch path":        {http.MethodPatch, "/Users/" + id, patchBody(op("replace", "userName", "ok@evil.example"))},
		"patch pathless":    {http.MethodPatch, "/Users/" + id, patchBody(op("Replace", "", map[string]any{"userName": "ok@evil.example"}))},
		"create home email": {http.MethodPost, "/Users", map[string]any{"userName": "plain", "emails": []any{map[string]any{"value": "x@evil.example", "type": "home"}}}},
		"patch filter":      {http.MethodPatch, "/Users/" + plain, patchBody(op("Replace", `emails[type eq "work"].value`, "ok@evil.example"))},
		"patch add primary": {http.MethodPatch, "/Users/" + plain, patchBody(op("add", "emails", []any{map[string]any{"value": "p@evil.example", "primary": true}}))},
		"put primary":       {http.MethodPut, "/Users/" + plain, map[string]any{"userName": "plain-ok", "emails": []any{map[string]any{"value": "p@evil.example", "primary": true}}}},
	} {
		t.Run(name, func(t *testing.T) {
			e := e.with(t)
			r := e.do(tc.method, tc.path, tc.body, nil)
			requireError(t, r, http.StatusBadRequest, "invalidValue")
			require.Contains(t, r.Body["detail"], "evil.example")
			require.Contains(t, r.Body["detail"], "sign-in address")
			e.requireUnchanged(id, before.snapshot)
			e.requireUnchanged(plain, beforePlain.snapshot)
			require.Equal(t, before.Products, e.products(id))
		})
	}
	require.Equal(t, 2, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))

	// Other addresses may be stored: the sign-in address is userName here, and mail goes only
	// there (journal_test.go).
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("add", "emails",
		[]any{map[string]any{"value": "home@gmail.example", "type": "home"}})), nil)
	require.Equal(t, "ok@example.com", e.row(id)["sign_in"])
	// Upper-case domains are the same domain; a userName that is not an email is not checked.
	e.user("Case", map[string]any{"userName": "Case@EXAMPLE.com"})
	e.createUser(map[string]any{"userName": "not-an-email"})
}

func TestLocales(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i, tc := range []struct{ in, want string }{{"fr-FR", "fr-FR"}, {"fr_FR", "fr-FR"}, {"FR-fr", "fr-FR"}, {"fr", "fr"}} {
		in, want := tc.in, tc.want
		u := e.createUser(map[string]any{"userName": fmt.Sprintf("l%d@example.com", i), "locale": in, "preferredLanguage": in})
		require.Equal(t, want, u["locale"], in)
		require.Equal(t, want, u["preferredLanguage"], in)
		require.Equal(t, want, e.row(u["id"].(string))["locale"], in)
	}
	u := e.createUser(map[string]any{"userName": "nolocale@example.com"})
	require.Equal(t, "en-US", u["locale"], "the organization's default")
	id := u["id"].(string)
	before := e.full(id)
	for _, body := range []any{
		patchBody(op("replace", "locale", "xx-YY")),
		patchBody(op("replace", "preferredLanguage", "klingon")),
	} {
		r := e.do(http.MethodPatch, "/Users/"+id, body, nil)
		requireError(t, r, http.StatusBadRequest, "invalidValue")
		require.Contains(t, r.Body["detail"], "en-US, fr-FR, de-DE")
	}
	e.requireUnchanged(id, before.snapshot)
}

func TestProductsMustBeLicensed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	id := e.user("p", map[string]any{"entitlements": []any{map[string]any{"value": "meeting"}}})
	before := e.full(id)
	for _, body := range []any{
		patchBody(op("add", "entitlements", []any{map[string]any{"value": "webinar"}})),
		patchBody(op("replace", extURN+":products", []any{"openvoice"})),
	} {
		r := e.do(http.MethodPatch, "/Users/"+id, body, nil)
		requireError(t, r, http.StatusBadRequest, "invalidValue")
		require.Contains(t, r.Body["detail"], "not licensed")
	}
	require.Equal(t, before, e.full(id))
	requireError(t, e.do(http.MethodPost, "/Users", map[string]any{"userName": "q@example.com",
		extURN: map[string]any{"products": []any{"training"}}}, nil), http.StatusBadRequest, "invalidValue")
}

func TestIssuedTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createUser(adminBody("keeper")) // so that issuers can be demoted, suspended and deleted
	ro := e.createUser(map[string]any{"userName": "ro@example.com", extURN: map[string]any{"orgRole": "admin-readonly"}})["id"].(string)
	victim := e.user("victim", nil)
	roEnv, _ := e.tokenFor(ro, nil)

	// A read-only admin's token reads but may not write.
	roEnv.must(http.StatusOK, http.MethodGet, "/Users/"+victim, nil, nil)
	roEnv.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	before := e.full(victim)
	for _, req := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/Users", map[string]any{"userName": "new@example.com"}},
		{http.MethodPut, "/Users/" + victim, map[string]any{"userName": "victim@example.com", "title": "x"}},
		{http.MethodPatch, "/Users/" + victim, patchBody(op("replace", "title", "x"))},
		{http.MethodDelete, "/Users/" + victim, nil},
		{http.MethodPost, "/Groups", map[string]any{"displayName": "g"}},
	} {
		requireError(t, roEnv.do(req.method, req.path, req.body, nil), http.StatusForbidden, "")
	}
	e.requireUnchanged(victim, before.snapshot)
	require.Equal(t, 0, e.count("SELECT count(*) FROM users WHERE user_name = 'new@example.com'"))

	// A token stops working when its issuer is demoted, suspended or deleted, or when it is
	// revoked or expired.
	for name, kill := range map[string]func(issuer, tokenID string){
		"demoted": func(issuer, _ string) {
			e.must(http.StatusOK, http.MethodPatch, "/Users/"+issuer, patchBody(op("replace", extURN+":orgRole", "user")), nil)
		},
		"suspended": func(issuer, _ string) {
			e.must(http.StatusOK, http.MethodPatch, "/Users/"+issuer, patchBody(op("replace", "active", false)), nil)
		},
		"deleted": func(issuer, _ string) { e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+issuer, nil, nil) },
		"revoked": func(_, tokenID string) {
			_, err := e.pool.Exec(context.Background(), "UPDATE tokens SET revoked_at = now() WHERE id = $1", tokenID)
			require.NoError(t, err)
		},
		"expired": func(_, tokenID string) {
			_, err := e.pool.Exec(context.Background(), "UPDATE tokens SET expires_at = now() - interval '1 second' WHERE id = $1", tokenID)
			require.NoError(t, err)
		},
	} {
		issuer := e.createUser(adminBody("issuer-" + name))["id"].(string)
		te, tokenID := e.tokenFor(issuer, nil)
		te.must(http.StatusOK, http.MethodGet, "/Users/"+victim, nil, nil)
		kill(issuer, tokenID)
		r := te.do(http.MethodGet, "/Users/"+victim, nil, nil)
		requireError(t, r, http.StatusUnauthorized, "")
		require.Equal(t, `Bearer realm="scimd"`, r.Header.Get("WWW-Authenticate"), name)
	}
}

func TestSelfProtection(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting")
	e.createUser(adminBody("other-admin"))
	me := e.createUser(adminBody("me"))["id"].(string)
	mine, _ := e.tokenFor(me, nil)
	before := e.full(me)
	for name, req := range map[string]struct {
		method string
		body   any
	}{
		"own orgRole":           {http.MethodPatch, patchBody(op("replace", extURN+":orgRole", "user"))},
		"own orgRole via roles": {http.MethodPatch, patchBody(op("replace", "roles", []any{map[string]any{"value": "orgRole:admin-readonly"}}))},
		"own accountRole":       {http.MethodPatch, patchBody(op("replace", extURN+":accountRole", "admin"))},
		"suspend self":          {http.MethodPatch, patchBody(op("replace", "", map[string]any{"active": false}))},
		"suspend self by PUT":   {http.MethodPut, map[string]any{"userName": "me@example.com", "active": "False"}},
		"delete self":           {http.MethodDelete, nil},
	} {
		r := mine.do(req.method, "/Users/"+me, req.body, nil)
		requireError(t, r, http.StatusForbidden, "")
		require.Contains(t, r.Body["detail"], "you cannot", name)
		e.requireUnchanged(me, before.snapshot)
	}
	// Their own name and email they may change.
	r := mine.must(http.StatusOK, http.MethodPatch, "/Users/"+me, patchBody(
		op("replace", "name.givenName", "Me"),
		op("add", "emails", []any{map[string]any{"value": "me2@example.com", "type": "work", "primary": true}})), nil)
	require.Equal(t, "Me", get(r.Body, "name", "givenName"))
	require.Equal(t, "admin", e.row(me)["org_role"])
}

func TestLastAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.createUser(adminBody("only"))["id"].(string)
	before := e.full(admin)
	for name, req := range map[string]struct {
		method string
		body   any
	}{
		"demote":          {http.MethodPatch, patchBody(op("replace", extURN+":orgRole", "admin-readonly"))},
		"demote by roles": {http.MethodPut, map[string]any{"userName": "only@example.com", "roles": []any{map[string]any{"value": "orgRole:user"}}}},
		"suspend":         {http.MethodPatch, patchBody(op("Replace", "active", "False"))},
		"delete":          {http.MethodDelete, nil},
	} {
		r := e.do(req.method, "/Users/"+admin, req.body, nil)
		requireError(t, r, http.StatusConflict, "")
		require.Contains(t, r.Body["detail"], "without an active admin", name)
		e.requireUnchanged(admin, before.snapshot)
	}
	// With a second admin, the first may go.
	e.createUser(adminBody("second"))
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+admin, patchBody(op("replace", extURN+":orgRole", "user")), nil)
	require.Equal(t, "user", e.row(admin)["org_role"])
}

func TestSuspensionStripsGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.license("meeting", "webinar")
	e.createUser(adminBody("keeper"))
	id := e.createUser(map[string]any{"userName": "s@example.com",
		extURN: map[string]any{"orgRole": "admin", "accountRole": "admin", "products": []any{"meeting"}}})["id"].(string)
	r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(
		op("replace", "active", false),
		op("add", "entitlements", []any{map[string]any{"value": "webinar"}})), nil)
	require.Equal(t, false, r.Body["active"])
	require.Equal(t, "suspended", get(r.Body, extURN, "status"))
	require.Equal(t, "user", get(r.Body, extURN, "orgRole"))
	require.Equal(t, "member", get(r.Body, extURN, "accountRole"))
	require.Nil(t, r.Body["entitlements"])
	require.Empty(t, e.products(id))
	require.Equal(t, []string{id}, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq("active eq false"), nil, nil)))
	// A PUT that leaves active out keeps the user suspended.
	r = e.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"schemas": []string{userURN}, "userName": "s@example.com"}, nil)
	require.Equal(t, false, r.Body["active"])
	require.Equal(t, "suspended", get(r.Body, extURN, "status"))
	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "", map[string]any{"active": true})), nil)
	require.Equal(t, "active", get(r.Body, extURN, "status"))
}

func TestTenantIsolationUsersAndGroups(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := a.otherOrg()
	uid := a.user("alice", nil)
	gid := a.must(http.StatusCreated, http.MethodPost, "/Groups", map[string]any{"displayName": "A team",
		"members": []any{map[string]any{"value": uid}}}, nil).Body["id"].(string)
	before := a.full(uid)

	for _, req := range []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, "/Users/" + uid, nil},
		{http.MethodPut, "/Users/" + uid, map[string]any{"userName": "alice@globex.example"}},
		{http.MethodPatch, "/Users/" + uid, patchBody(op("replace", "title", "pwned"))},
		{http.MethodDelete, "/Users/" + uid, nil},
		{http.MethodGet, "/Groups/" + gid, nil},
		{http.MethodPut, "/Groups/" + gid, map[string]any{"displayName": "B team"}},
		{http.MethodPatch, "/Groups/" + gid, patchBody(op("remove", "members", nil))},
		{http.MethodDelete, "/Groups/" + gid, nil},
	} {
		requireError(t, b.do(req.method, req.path, req.body, nil), http.StatusNotFound, "")
	}
	// B cannot make A's user a member of its own group either.
	requireError(t, b.do(http.MethodPost, "/Groups", map[string]any{"displayName": "B",
		"members": []any{map[string]any{"value": uid}}}, nil), http.StatusBadRequest, "invalidValue")
	for _, f := range []string{`userName eq "alice@example.com"`, `id eq "` + uid + `"`, `userName pr`} {
		r := b.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(f), nil, nil)
		require.EqualValues(t, 0, r.Body["totalResults"], f)
	}
	for _, f := range []string{`displayName eq "A team"`, `members.value eq "` + uid + `"`} {
		r := b.must(http.StatusOK, http.MethodGet, "/Groups?filter="+urlq(f), nil, nil)
		require.EqualValues(t, 0, r.Body["totalResults"], f)
	}
	// The same userName may exist in both organizations.
	b.createUser(map[string]any{"userName": "alice@globex.example"})
	a.requireUnchanged(uid, before.snapshot)
	a.must(http.StatusOK, http.MethodGet, "/Groups/"+gid, nil, nil)
	require.Equal(t, 1, a.count("SELECT count(*) FROM group_members WHERE org_id = $1", a.org))
}

// urlq escapes a filter for a query string.
func urlq(s string) string { return url.QueryEscape(s) }

// The SCIM Validator (and Entra app roles) send roles that name no grant; they are stored as
// given beside the grant roles, are filterable, and grant nothing.
func TestAppRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	u := e.createUser(map[string]any{"userName": "msv@example.com",
		"roles": []any{map[string]any{"primary": "True", "display": "Ucqf", "value": "Hbqu", "type": "Bpfo"}}})
	id := u["id"].(string)
	want := []any{
		map[string]any{"value": "orgRole:user", "type": "orgRole"},
		map[string]any{"value": "accountRole:member", "type": "accountRole"},
		map[string]any{"value": "Hbqu", "display": "Ucqf", "type": "Bpfo", "primary": true},
	}
	require.Equal(t, want, u["roles"])
	got := e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil).Body
	require.Equal(t, want, got["roles"])
	require.Equal(t, "user", get(got, extURN, "orgRole"))
	require.Equal(t, []string{id}, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`roles[value eq "Hbqu" and primary eq true]`), nil, nil)))
	require.Equal(t, []string{id}, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`roles.value eq "orgRole:user"`), nil, nil)))
	// Okta's GET-then-PUT changes nothing; a PUT without roles keeps them.
	r := e.must(http.StatusOK, http.MethodPut, "/Users/"+id, got, nil)
	require.Equal(t, got["meta"].(map[string]any)["version"], r.Body["meta"].(map[string]any)["version"])
	r = e.must(http.StatusOK, http.MethodPut, "/Users/"+id, map[string]any{"userName": "msv@example.com"}, nil)
	require.Equal(t, want, r.Body["roles"])
	// Removing the app role leaves the grant roles.
	r = e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("remove", `roles[value eq "Hbqu"]`, nil)), nil)
	require.Equal(t, want[:2], r.Body["roles"])
	require.Zero(t, e.count("SELECT count(*) FROM user_values WHERE user_id = $1 AND attr = 'roles'", id))
}

// Entra ID with the AppRoleAssignmentsComplex mapping sends each app role of a PATCH as a JSON
// object inside the value string; the role is its inner value.
func TestEntraAppRoleAssignmentsComplex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("complex", nil)
	r := e.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("Add", "roles", []any{
		map[string]any{"value": `{"id":"06b07648-ecfe-589f-9d2f-6325724a46ee","value":"orgRole:admin","displayName":"Admin"}`},
		map[string]any{"value": `{"id":"7a1c3c5e-0a53-4b6e-9d0b-9a3f6f0f5f11","value":"Reader","displayName":"Reader"}`},
	})), nil)
	require.Equal(t, "admin", get(r.Body, extURN, "orgRole"))
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:admin", "type": "orgRole"}, // grant roles are shown as granted
		map[string]any{"value": "accountRole:member", "type": "accountRole"},
		map[string]any{"value": "Reader", "display": "Reader"},
	}, r.Body["roles"])
}

// A real certificate (base64 DER, here 2.7 KB of random text, which does not compress) is longer
// than indexed values may be: it is stored, returned and found by filter.
func TestLongCertificates(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cert := base64.StdEncoding.EncodeToString([]byte(randtext.String(2000)))
	u := e.createUser(map[string]any{"userName": "cert@example.com", "x509Certificates": []any{map[string]any{"value": cert}}})
	require.Equal(t, []any{map[string]any{"value": cert}}, u["x509Certificates"])
	r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`x509Certificates.value eq "`+cert+`"`), nil, nil)
	require.Equal(t, []string{u["id"].(string)}, ids(r))
	tooLong := base64.StdEncoding.EncodeToString([]byte(randtext.String(schema.MaxCertificateBytes)))
	requireError(t, e.do(http.MethodPost, "/Users", map[string]any{"schemas": []string{userURN}, "userName": "big@example.com",
		"x509Certificates": []any{map[string]any{"value": tooLong}}}, nil), http.StatusBadRequest, "invalidValue")
}
