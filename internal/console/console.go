// Package console is the Organization Center: the web console under
// /console/ where an organization's admins, signed in through their company's OpenID provider
// or a single-use link, manage users, domains, provisioning tokens, group mappings and read
// the audit log. Every route is in routes.go.
//
// It decides nothing: every change goes through internal/directory as the signed-in admin
// (whose session the directory checks again on every request) and organization-level changes
// through internal/orgs, so the rules and their details are those of SCIM and the admin API;
// the console shows a rule's detail next to the field it concerns. Pages are server-rendered
// html/template, in the admin's language (catalogues in messages/, one per language scimd
// speaks), with one small script of its own (assets/console.js: copy buttons and confirmations);
// the pages work without it.
package console

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Path is where the console is served, and CallbackPath the redirect URI's path that an
// organization registers at its OpenID provider.
const (
	Path         = "/console"
	CallbackPath = Path + "/oidc/callback"
)

// PublicRoot is the public URL of scimd's root (scheme, host and any path a proxy adds) given
// its public SCIM base URL (http://127.0.0.1:8080/scim/v2 → http://127.0.0.1:8080).
func PublicRoot(scimBase string) string {
	return strings.TrimSuffix(strings.TrimSuffix(strings.TrimRight(scimBase, "/"), "/v2"), "/scim")
}

// RedirectURI is the OpenID Connect redirect URI to register for a scimd at root.
func RedirectURI(root string) string { return strings.TrimRight(root, "/") + CallbackPath }

// LinkURL is the URL of the sign-in link with secret for a scimd at root.
func LinkURL(root, secret string) string {
	return strings.TrimRight(root, "/") + Path + linkPath + secret
}

// Deps are what the console needs.
type Deps struct {
	Directory *directory.Service
	Orgs      *orgs.Service
	Schemas   *schema.Registry
	Logger    *slog.Logger
	Now       func() time.Time
	// Root returns the public URL of scimd's root for a request (see PublicRoot): the origin
	// of sign-in links and of the redirect URI.
	Root func(r *http.Request) string
	// RequestID returns the id the server gave the request, shown with unexpected errors.
	RequestID func(ctx context.Context) string
	// Classify tells an error no rule explains, and logs it as the server does (a browser
	// that went away at INFO, a lost database at WARN with 503, anything else at ERROR with
	// 500); nil logs every such error at ERROR and answers 500.
	Classify func(r *http.Request, err error) (status int)
	// HTTPClient talks to identity providers; nil means one with a 10 second timeout.
	HTTPClient *http.Client
	// Failed counts a sign-in credential of the request's client that is not valid (a
	// session cookie or a sign-in link) and returns how long that client must wait before
	// the next is answered: while it is over its limit, the console answers 429 instead. It
	// is the limit the server puts on failed tokens; nil for none.
	Failed func(r *http.Request) time.Duration
}

// console serves the pages.
type console struct {
	Deps
	pages *pages
	oidc  *providers
}

// New returns the console's handler, to be mounted at Path.
func New(d Deps) (http.Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.RequestID == nil {
		d.RequestID = func(context.Context) string { return "" }
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Classify == nil {
		d.Classify = func(r *http.Request, err error) int {
			d.Logger.ErrorContext(r.Context(), "console internal error", "err", err.Error(), "method", r.Method,
				"request_id", d.RequestID(r.Context()))
			return http.StatusInternalServerError
		}
	}
	p, err := loadPages()
	if err != nil {
		return nil, err
	}
	c := &console{Deps: d, pages: p, oidc: newProviders(d.HTTPClient, d.Now)}
	return c.routes(), nil
}

// base is the path of the console's pages for a request: Path under the public root's path.
func (c *console) base(r *http.Request) string {
	u, err := url.Parse(c.Root(r))
	if err != nil {
		return Path
	}
	return strings.TrimRight(u.Path, "/") + Path
}

// secure tells whether the console is reached over TLS (directly or through a proxy that says
// so), so that its cookies are sent over TLS only.
func (c *console) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(c.Root(r), "https://")
}

// csrfToken is the anti-forgery token of a session: an HMAC of the session cookie, which only
// the browser holding the cookie (and the server) can compute. Every form carries it, and
// every POST must (withCSRF).
func csrfToken(cookie string) string {
	m := hmac.New(sha256.New, []byte(cookie))
	m.Write([]byte("scimd console csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// ruleError is err as a rule's refusal, with the status of the page that shows it; ok is
// false for an unexpected error.
func ruleError(err error) (e *scimerr.Error, status int, ok bool) {
	e = scimerr.As(err)
	if e == nil {
		return nil, 0, false
	}
	status, ok = e.Kind.Status()
	return e, status, ok
}

// fail answers an error that no form shows: a rule's refusal on a page of its own, anything
// else as an internal error, logged in full.
func (c *console) fail(w http.ResponseWriter, r *http.Request, err error) {
	var d *directory.Denied
	if errors.As(err, &d) {
		c.signInWith(w, r, http.StatusForbidden, &signInPage{}, d)
		return
	}
	if e, status, ok := ruleError(err); ok {
		c.message(w, r, status, "error.title", e.Detail)
		return
	}
	c.internal(w, r, err)
}

// internal answers an unexpected error: classified and logged as the server does, shown with
// the request id only.
func (c *console) internal(w http.ResponseWriter, r *http.Request, err error) {
	status := c.Classify(r, err)
	v := c.view(r)
	c.message(w, r, status, "error.title", v.T("error.internal", c.RequestID(r.Context())))
}
