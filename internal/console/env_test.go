package console_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/console"
	"github.com/scimd/scimd/internal/console/idptest"
	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/logtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/server"
)

// env is a real scimd (PostgreSQL store, directory, HTTP server with the console) on a
// database of the test's own, an OpenID provider in the process (idptest) set up as the
// organization's, and one organization, Acme (verified domain example.com), with an admin,
// boss@example.com, who can sign in at the provider with the password "pw".
type env struct {
	t     testing.TB
	ctx   context.Context
	pool  *pgxpool.Pool
	dir   *directory.Service
	orgs  *orgs.Service
	srv   *httptest.Server
	idp   *idptest.IdP
	org   string
	boss  string
	token string // a SCIM service token of the organization, role admin
	logs  *logtest.Buffer
}

// newEnv starts the environment; with sets server dependencies beyond the defaults.
func newEnv(t testing.TB, with ...func(*server.Deps)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), pool: dbtest.New(t), logs: &logtest.Buffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	reg, store, dir := dbtest.Directory(t, e.pool)
	admin, err := orgs.New(store.Orgs(), orgs.Config{})
	require.NoError(t, err)
	e.dir, e.orgs = dir, admin
	e.srv = httptest.NewUnstartedServer(nil)
	e.idp = idptest.Start(t, console.RedirectURI("http://"+e.srv.Listener.Addr().String()))
	deps := server.Deps{Directory: e.dir, Orgs: e.orgs, Schemas: reg, Ready: e.pool.Ping,
		Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	for _, f := range with {
		f(&deps)
	}
	e.srv.Config.Handler = server.NewServer(deps)
	e.srv.Start()
	t.Cleanup(e.srv.Close)

	o, err := e.orgs.CreateOrg(e.ctx, orgs.CreateOrgInput{Name: "Acme", Domains: []string{"example.com"}})
	require.NoError(t, err)
	e.org, e.token = o.ID, o.Token
	secret := e.idp.ClientSecret
	_, _, err = e.orgs.SetOIDC(e.ctx, e.org, orgs.OIDCInput{Issuer: e.idp.Issuer, ClientID: e.idp.ClientID, ClientSecret: &secret})
	require.NoError(t, err)
	e.boss = e.user(`{"userName":"boss@example.com","name":{"givenName":"Bea","familyName":"Boss"},
		"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	e.person("boss@example.com", true)
	return e
}

// user creates a user as the operator and returns its id.
func (e *env) user(body string) string {
	e.t.Helper()
	var doc map[string]any
	require.NoError(e.t, json.Unmarshal([]byte(body), &doc))
	r, err := e.dir.CreateUser(e.ctx, directory.Operator(e.org), doc)
	require.NoError(e.t, err)
	return r.ID
}

// person adds a person to the identity provider, username = email, password "pw".
func (e *env) person(email string, verified bool) string {
	return e.idp.AddUser(idptest.User{Username: email, Password: "pw", Email: email, EmailVerified: verified})
}

// link issues a sign-in link for user and returns its absolute URL.
func (e *env) link(user string) string {
	e.t.Helper()
	l, err := e.dir.IssueLink(e.ctx, directory.Operator(e.org), user, time.Now())
	require.NoError(e.t, err)
	return e.srv.URL + console.Path + "/link/" + l.Value
}

// scim sends a SCIM request with the organization's service token.
func (e *env) scim(method, path, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+"/scim/v2"+path, strings.NewReader(body))
	require.NoError(e.t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// browser is an HTTP client with cookies, as a browser without scripts is.
type browser struct {
	e      *env
	client *http.Client
	// page is the last page read.
	page page
}

// page is an answer: its status, headers, final URL and body.
type page struct {
	status int
	header http.Header
	url    *url.URL
	body   string
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	require.NoError(e.t, err)
	return &browser{e: e, client: &http.Client{Jar: jar}}
}

func (b *browser) do(req *http.Request) page {
	b.e.t.Helper()
	res, err := b.client.Do(req)
	require.NoError(b.e.t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(b.e.t, err)
	b.page = page{status: res.StatusCode, header: res.Header, url: res.Request.URL, body: string(body)}
	return b.page
}

// get reads a path of the server (or an absolute URL), following redirects.
func (b *browser) get(path string) page {
	b.e.t.Helper()
	if !strings.HasPrefix(path, "http") {
		path = b.e.srv.URL + path
	}
	req, err := http.NewRequest(http.MethodGet, path, nil)
	require.NoError(b.e.t, err)
	return b.do(req)
}

// post sends a form to a path, following redirects; with csrf the last page's anti-forgery
// token goes with it.
func (b *browser) post(path string, form url.Values, csrf bool) page {
	b.e.t.Helper()
	if csrf {
		form.Set("csrf", b.csrf())
	}
	if !strings.HasPrefix(path, "http") {
		path = b.e.srv.URL + path
	}
	req, err := http.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	require.NoError(b.e.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf is the anti-forgery token of the last page.
func (b *browser) csrf() string {
	b.e.t.Helper()
	m := csrfField.FindStringSubmatch(b.page.body)
	require.NotNil(b.e.t, m, "the last page has no form with an anti-forgery token:\n%s", b.page.body)
	return m[1]
}

var confirmField = regexp.MustCompile(`name="confirm" value="([^"]+)"`)

// useLink opens a sign-in link and presses its page's button, as a person does.
func (b *browser) useLink(link string) page {
	b.e.t.Helper()
	p := b.get(link)
	require.Equal(b.e.t, http.StatusOK, p.status, "the link's page:\n%s", p.body)
	m := confirmField.FindStringSubmatch(p.body)
	require.NotNil(b.e.t, m, "the link's page has its button:\n%s", p.body)
	return b.post(link, url.Values{"confirm": {m[1]}}, false)
}

var idpForm = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signInOIDC signs in through the organization's identity provider as email (password "pw"):
// the email form, the provider's login page, and back.
func (b *browser) signInOIDC(email string) page {
	b.e.t.Helper()
	p := b.get(console.Path + "/login?email=" + url.QueryEscape(email))
	require.Equal(b.e.t, http.StatusOK, p.status, p.body)
	require.Equal(b.e.t, "/login/username", p.url.Path, "the provider's login page")
	m := idpForm.FindStringSubmatch(p.body)
	require.NotNil(b.e.t, m, p.body)
	return b.post(b.e.idp.Issuer+"/login/username", url.Values{"id": {m[1]}, "username": {email}, "password": {"pw"}}, false)
}

// usersTab tells whether a page is the users tab of a signed-in admin.
func (p page) usersTab() bool {
	return p.status == http.StatusOK && strings.Contains(p.body, `<h1>Users</h1>`) && strings.Contains(p.body, "Sign out")
}
