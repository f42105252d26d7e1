package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/console"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/server"
)

// Black-box expectations of the console over HTTP, against a real scimd and PostgreSQL.

// A sign-in link signs in once, from its page's button. Opening it changes nothing, however
// often: mail scanners and chat previews open links before their recipient does. A
// confirmation without the page's token in both its cookie and its form (another site's form,
// a browser that did not open the page) is refused and leaves the link as it was.
func TestSignInLinkWorksOnceFromItsPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	link := e.link(e.boss)

	for range 2 { // a scanner, without cookies
		p := e.browser().get(link)
		require.Equal(t, http.StatusOK, p.status)
		require.False(t, p.usersTab())
		require.Contains(t, p.body, "This single-use link signs you in")
	}
	forger := e.browser()
	p := forger.post(link, url.Values{"confirm": {"forged"}}, false)
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "was not confirmed from the link")
	require.Equal(t, http.StatusOK, forger.get(link).status)
	p = forger.post(link, url.Values{"confirm": {"forged"}}, false)
	require.Equal(t, http.StatusForbidden, p.status, "the page's cookie with another token")
	require.False(t, p.usersTab())

	b := e.browser()
	p = b.useLink(link)
	require.True(t, p.usersTab(), "the link signs in and lands on the users tab:\n%s", p.body)
	require.Equal(t, console.Path+"/", p.url.Path)
	u, err := url.Parse(link)
	require.NoError(t, err)
	for _, ck := range b.client.Jar.Cookies(u) {
		require.NotEqual(t, "scimd_link", ck.Name, "the confirmation's cookie is spent")
	}

	p = e.browser().useLink(link)
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "This sign-in link is not valid")
	require.False(t, p.usersTab())
}

// Sign-in credentials that are not valid (used links, unknown session cookies) count against
// the client's address with the limit on failed tokens: past it the console answers 429 with
// Retry-After, and a valid session is never refused.
func TestFailedSignInsAreLimitedByAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *server.Deps) { d.AuthFailureRate, d.AuthFailureBurst = 0.01, 3 })
	link := e.link(e.boss)
	good := e.browser()
	require.True(t, good.useLink(link).usersTab())

	bad := e.browser()
	for range 3 {
		p := bad.useLink(link)
		require.Equal(t, http.StatusForbidden, p.status, "a used link, within the limit")
	}
	p := bad.useLink(link)
	require.Equal(t, http.StatusTooManyRequests, p.status)
	require.Contains(t, p.body, "Too many sign-ins with links or sessions that are not valid")
	require.NotEmpty(t, p.header.Get("Retry-After"))

	req, err := http.NewRequest(http.MethodGet, e.srv.URL+console.Path+"/users", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: "scimd_console", Value: "scimds_guess"})
	p = e.browser().do(req)
	require.Equal(t, http.StatusTooManyRequests, p.status, "a session cookie that is not valid")

	require.True(t, good.get(console.Path+"/users").usersTab(), "the valid session still gets in")
}

// Behind a reverse proxy that serves scimd under a path prefix and strips it, with the prefix
// in SCIMD_BASE_URL (docs/operations.md), the console's links, redirects, assets, forms and
// cookies all carry the prefix.
func TestConsoleBehindAProxyWithAPathPrefix(t *testing.T) {
	t.Parallel()
	proxy := httptest.NewUnstartedServer(nil)
	e := newEnv(t, func(d *server.Deps) { d.BaseURL = "http://" + proxy.Listener.Addr().String() + "/idm/scim/v2" })
	target, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	proxy.Config.Handler = &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.URL.Path, r.Out.URL.RawPath = strings.TrimPrefix(r.In.URL.Path, "/idm"), ""
	}}
	proxy.Start()
	t.Cleanup(proxy.Close)
	root := proxy.URL + "/idm"

	b := e.browser()
	p := b.useLink(strings.Replace(e.link(e.boss), e.srv.URL, root, 1))
	require.True(t, p.usersTab(), p.body)
	require.Equal(t, "/idm/console/", p.url.Path)
	require.Contains(t, p.body, `href="/idm/console/assets/console.css"`)
	require.True(t, b.get(root+console.Path+"/users").usersTab(), "the session cookie goes with the prefix")
	p = b.post(root+console.Path+"/signout", url.Values{}, true)
	require.Equal(t, "/idm/console/", p.url.Path)
	require.Contains(t, p.body, "You are signed out.")
}

func TestSignInThroughTheIdentityProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	p := b.signInOIDC("boss@example.com")
	require.True(t, p.usersTab(), p.body)
	require.Equal(t, console.Path+"/", p.url.Path)
	var bound int
	require.NoError(t, e.pool.QueryRow(e.ctx, `SELECT count(*) FROM console_identities WHERE user_id = $1`, e.boss).Scan(&bound))
	require.Equal(t, 1, bound)

	// A person whose email the provider does not vouch for sees why not.
	e.user(`{"userName":"una@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	e.person("una@example.com", false)
	p = e.browser().signInOIDC("una@example.com")
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "did not confirm your email address")

	// A member is no admin.
	e.user(`{"userName":"mo@example.com"}`)
	e.person("mo@example.com", true)
	p = e.browser().signInOIDC("mo@example.com")
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "Only admins and read-only admins")

	// An email whose domain no organization signs in with.
	p = e.browser().get(console.Path + "/login?email=ada%40elsewhere.example")
	require.Equal(t, http.StatusNotFound, p.status)
	require.Contains(t, p.body, `aria-invalid="true"`)
	require.Contains(t, p.body, "No organization signs in with single sign-on")
}

func TestUsersFilterFindsByPartOfTheEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.user(`{"userName":"ada.lovelace@example.com","name":{"givenName":"Ada","familyName":"Lovelace"}}`)
	e.user(`{"userName":"grace.hopper@example.com","name":{"givenName":"Grace","familyName":"Hopper"}}`)
	b := e.browser()
	b.useLink(e.link(e.boss))

	p := b.get(console.Path + "/users?q=" + url.QueryEscape("LOVEL"))
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, "ada.lovelace@example.com")
	require.NotContains(t, p.body, "grace.hopper@example.com")
	require.NotContains(t, p.body, "boss@example.com")

	p = b.get(console.Path + "/users?q=hopper")
	require.Contains(t, p.body, "grace.hopper@example.com")
	require.NotContains(t, p.body, "ada.lovelace@example.com")

	p = b.get(console.Path + "/users?role=admin")
	require.Contains(t, p.body, "boss@example.com")
	require.NotContains(t, p.body, "grace.hopper@example.com")
}

// The audit log shows each change by attribute, its value before struck out and after, as
// text: what SCIM changed shows in the organization's log and on the user's page.
func TestAuditShowsChangesByAttribute(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.user(`{"userName":"ada@example.com","title":"Engineer"}`)
	res := e.scim(http.MethodPatch, "/Users/"+ada, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"title","value":"Manager"}]}`)
	require.Equal(t, http.StatusOK, res.StatusCode)
	b := e.browser()
	b.useLink(e.link(e.boss))
	for _, path := range []string{"/audit?user=" + ada, "/users/" + ada} {
		p := b.get(console.Path + path)
		require.Equal(t, http.StatusOK, p.status)
		require.Contains(t, p.body, "<dt>title</dt><dd><del>Engineer</del> → Manager</dd>", path)
		require.Contains(t, p.body, "<dt>userName</dt><dd>ada@example.com</dd>", path)
		require.NotContains(t, p.body, `{&#34;`, "no JSON on %s", path)
	}
}

func TestPostWithoutItsAntiForgeryTokenIsForbidden(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.useLink(e.link(e.boss))
	add := url.Values{"email": {"eve@example.com"}, "role": {"admin"}}

	p := b.post(console.Path+"/users", add, false)
	require.Equal(t, http.StatusForbidden, p.status)
	add.Set("csrf", "forged")
	p = b.post(console.Path+"/users", add, false)
	require.Equal(t, http.StatusForbidden, p.status)
	// Without a session, with anything as the token.
	p = e.browser().post(console.Path+"/users", add, false)
	require.Equal(t, http.StatusForbidden, p.status)
	// Checked before routing: a path that does not exist is refused the same way.
	p = b.post(console.Path+"/nowhere", url.Values{}, false)
	require.Equal(t, http.StatusForbidden, p.status)
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `SELECT count(*) FROM users WHERE user_name = 'eve@example.com'`).Scan(&n))
	require.Zero(t, n, "no forged form changed anything")

	// The same form with the session's token adds the user.
	b.get(console.Path + "/users")
	add.Del("csrf")
	p = b.post(console.Path+"/users", add, true)
	require.Equal(t, http.StatusOK, p.status, p.body)
	require.Contains(t, p.body, "The user was added.")
	require.NoError(t, e.pool.QueryRow(e.ctx, `SELECT count(*) FROM users WHERE user_name = 'eve@example.com' AND eff_org_role = 'admin'`).Scan(&n))
	require.Equal(t, 1, n)
}

func TestSessionEndsWhenTheAdminIsSuspendedThroughSCIM(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ada := e.user(`{"userName":"ada@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	b := e.browser()
	require.True(t, b.useLink(e.link(ada)).usersTab())
	require.True(t, b.get(console.Path+"/users").usersTab())

	res := e.scim(http.MethodPatch, "/Users/"+ada,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`)
	require.Equal(t, http.StatusOK, res.StatusCode)

	p := b.get(console.Path + "/users")
	require.False(t, p.usersTab())
	require.Equal(t, http.StatusUnauthorized, p.status)
	require.Contains(t, p.body, "Sign in to the Organization Center")
	// And a new sign-in says why.
	p = e.browser().useLink(e.link(e.boss))
	require.True(t, p.usersTab())
	e.person("ada@example.com", true)
	p = e.browser().signInOIDC("ada@example.com")
	require.Equal(t, http.StatusForbidden, p.status)
	require.Contains(t, p.body, "Your account is suspended")
}

func TestReadOnlyAdminSeesNoEditControlsAndForgedWritesAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	reader := e.user(`{"userName":"reader@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin-readonly"}}`)
	b := e.browser()
	p := b.useLink(e.link(reader))
	require.True(t, p.usersTab())
	require.Contains(t, p.body, "You are a read-only admin")
	require.NotContains(t, p.body, `action="`+console.Path+`/users" novalidate`, "no add form")
	for _, path := range []string{"/users/" + e.boss, "/domains", "/tokens", "/groups", "/audit"} {
		p = b.get(console.Path + path)
		require.Equal(t, http.StatusOK, p.status, path)
		require.Equal(t, 1, strings.Count(p.body, `method="post"`), "%s: only the sign-out form", path)
	}
	// Forged writes, with the session's own token, are refused by the rules.
	for path, form := range map[string]url.Values{
		"/users":                        {"email": {"x@example.com"}},
		"/users/" + e.boss + "/suspend": {},
		"/users/" + e.boss + "/delete":  {},
		"/domains":                      {"domain": {"acme.example"}},
		"/tokens":                       {"label": {"x"}, "role": {"admin"}},
		"/domains/example.com/remove":   {},
		"/users/" + e.boss + "/grants":  {"role": {"user"}},
	} {
		b.get(console.Path + "/users")
		p = b.post(console.Path+path, form, true)
		require.Equal(t, http.StatusForbidden, p.status, path)
		require.Contains(t, p.body, "admin-readonly", path)
	}
	var active bool
	require.NoError(t, e.pool.QueryRow(e.ctx, `SELECT active FROM users WHERE id = $1`, e.boss).Scan(&active))
	require.True(t, active)
}

func TestAddUserRefusalsAreShownByTheirField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	b := e.browser()
	b.useLink(e.link(e.boss))
	for _, tc := range []struct {
		form   url.Values
		status int
		field  string
		detail string
	}{
		{url.Values{"given": {"Eve"}, "email": {"eve@unverified.example"}}, http.StatusBadRequest, "add-email",
			`is on domain &#34;unverified.example&#34;, which is not a verified domain`},
		{url.Values{"email": {"eve@example.com"}, "locale": {"xx-YY"}}, http.StatusBadRequest, "add-locale", `locale &#34;xx-YY&#34; is not`},
		{url.Values{"email": {"BOSS@example.com"}}, http.StatusConflict, "add-email", `userName &#34;BOSS@example.com&#34; is already taken`},
		{url.Values{"email": {""}}, http.StatusBadRequest, "add-email", "userName is required"},
	} {
		b.get(console.Path + "/users")
		p := b.post(console.Path+"/users", tc.form, true)
		require.Equal(t, tc.status, p.status, tc.form)
		// The detail is by its field, which is marked invalid, described by it, and focused.
		require.Regexp(t, `id="`+tc.field+`"[^>]*aria-invalid="true" aria-describedby="`+tc.field+`-error" autofocus>`, p.body, tc.form)
		require.Regexp(t, `<p class="field-error" id="`+tc.field+`-error">[^<]*`+regexp.QuoteMeta(tc.detail), p.body, tc.form)
		// The form keeps what was typed.
		if v := tc.form.Get("given"); v != "" {
			require.Contains(t, p.body, `value="`+v+`"`)
		}
	}
	var n int
	require.NoError(t, e.pool.QueryRow(e.ctx, `SELECT count(*) FROM users`).Scan(&n))
	require.Equal(t, 1, n, "no refused form added anyone")
}

func TestConsoleSpeaksTheAdminsLanguage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	fr := e.user(`{"userName":"fr@example.com","preferredLanguage":"fr-CA, en;q=0.5","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	p := e.browser().useLink(e.link(fr))
	require.Equal(t, http.StatusOK, p.status)
	require.Contains(t, p.body, `<html lang="fr">`)
	require.Contains(t, p.body, "<h1>Utilisateurs</h1>")
	require.Contains(t, p.body, "Se déconnecter")

	// Before sign-in, the browser's language.
	b := e.browser()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+console.Path+"/", nil)
	require.NoError(t, err)
	req.Header.Set("Accept-Language", "de-CH, de;q=0.9, en;q=0.5")
	p = b.do(req)
	require.Contains(t, p.body, `<html lang="de">`)
	require.Contains(t, p.body, "Bei der Organisationszentrale anmelden")

	// An admin whose languages scimd does not speak gets the organization's default.
	nl := "nl-NL"
	require.NoError(t, e.orgs.ChangeOrg(e.ctx, e.org, orgs.OrgChange{DefaultLocale: &nl}))
	hi := e.user(`{"userName":"hi@example.com","preferredLanguage":"hi","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	p = e.browser().useLink(e.link(hi))
	require.Contains(t, p.body, `<html lang="nl">`)
	require.Contains(t, p.body, "<h1>Gebruikers</h1>")
}
