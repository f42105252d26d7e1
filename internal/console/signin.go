package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-chi/chi/v5"
	"golang.org/x/oauth2"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
)

// Signing in. /console/ asks for a work email and finds the organization by
// its verified domain; the organization's OpenID provider signs the person in (authorization
// code flow with PKCE, coreos/go-oidc and golang.org/x/oauth2), and the directory decides who
// they are and whether they get in (directory.Service.SignInIdentity). A sign-in link an
// operator printed opens a session too (directory.Service.UseLink).

// signInPage is the sign-in form with f's values and errors, and why the previous session or
// sign-in ended, if it did.
type signInPage struct {
	Form   *form
	Reason string
	// Orgs lists the organizations to choose from when the email's domain is several's.
	Orgs []orgs.SignInOrg
}

// signInPage renders the sign-in page; f may be nil.
func (c *console) signInPage(w http.ResponseWriter, r *http.Request, status int, f *form) {
	c.signInWith(w, r, status, &signInPage{Form: f}, deniedOf(r))
}

func (c *console) signInWith(w http.ResponseWriter, r *http.Request, status int, p *signInPage, d *directory.Denied) {
	v := c.view(r)
	v.Admin, v.CSRF = nil, ""
	v.Title = v.T("signin.title")
	if p.Form == nil {
		p.Form = newForm()
	}
	if d != nil {
		p.Reason = v.T("denied." + string(d.Reason))
	}
	v.Data = p
	c.render(w, r, status, "signin", v)
}

// home is the users tab to a signed-in admin, else the sign-in page.
func (c *console) home(w http.ResponseWriter, r *http.Request) {
	if adminOf(r) == nil {
		c.signInPage(w, r, http.StatusOK, nil)
		return
	}
	c.users(w, r)
}

// login starts a sign-in with an email: it finds the organizations that verified its domain
// and set up OpenID Connect, lets the person choose when there are several, and sends them to
// the organization's provider.
func (c *console) login(w http.ResponseWriter, r *http.Request) {
	f := newForm()
	email := strings.TrimSpace(r.URL.Query().Get("email"))
	f.Values["email"] = email
	found, err := c.Orgs.SignInOrgs(r.Context(), email)
	if err != nil {
		if status, ok := f.refuse(err, "email"); ok {
			c.signInWith(w, r, status, &signInPage{Form: f}, nil)
			return
		}
		c.internal(w, r, err)
		return
	}
	if org := r.URL.Query().Get("org"); org != "" {
		found = slices.DeleteFunc(found, func(o orgs.SignInOrg) bool { return o.ID != org })
	}
	switch len(found) {
	case 0:
		f.Errors["email"], f.Focus = c.view(r).T("signin.noorg"), "email"
		c.signInWith(w, r, http.StatusNotFound, &signInPage{Form: f}, nil)
	case 1:
		c.startOIDC(w, r, found[0].ID, f)
	default:
		c.signInWith(w, r, http.StatusOK, &signInPage{Form: f, Orgs: found}, nil)
	}
}

// pendingSignIn is an OpenID sign-in in progress, kept in the sign-in cookie until the
// provider sends the person back: the state that binds the answer to this browser, the nonce
// the ID token must carry and the PKCE verifier. It needs no integrity protection of its own:
// a state that is not this browser's fails, and the provider's ID token decides who signed
// in.
type pendingSignIn struct {
	Org      string `json:"org"`
	State    string `json:"state"`
	Nonce    string `json:"nonce"`
	Verifier string `json:"verifier"`
}

// signInTimeout is how long a person has at the identity provider.
const signInTimeout = 10 * time.Minute

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// startOIDC sends the person to org's identity provider.
func (c *console) startOIDC(w http.ResponseWriter, r *http.Request, org string, f *form) {
	cfg, _, err := c.oauthConfig(r, org)
	if err != nil {
		f.Errors[""] = c.view(r).T("signin.provider", err.Error())
		c.signInWith(w, r, http.StatusBadGateway, &signInPage{Form: f}, nil)
		return
	}
	p := pendingSignIn{Org: org, State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier()}
	raw, _ := json.Marshal(p)
	c.setCookie(w, r, signInCookie, base64.RawURLEncoding.EncodeToString(raw), c.base(r)+"/oidc", int(signInTimeout.Seconds()))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(p.Nonce), oauth2.S256ChallengeOption(p.Verifier)}
	if email := f.V("email"); email != "" {
		opts = append(opts, oauth2.SetAuthURLParam("login_hint", email))
	}
	http.Redirect(w, r, cfg.AuthCodeURL(p.State, opts...), http.StatusSeeOther)
}

// oauthConfig is the OAuth 2.0 client of org at its provider, with the provider.
func (c *console) oauthConfig(r *http.Request, org string) (*oauth2.Config, *oidc.Provider, error) {
	client, err := c.Orgs.OIDCClient(r.Context(), org)
	if err != nil {
		return nil, nil, err
	}
	prov, err := c.oidc.get(r.Context(), client.Issuer)
	if err != nil {
		return nil, nil, err
	}
	return &oauth2.Config{ClientID: client.ClientID, ClientSecret: client.ClientSecret, Endpoint: prov.Endpoint(),
		RedirectURL: RedirectURI(c.Root(r)), Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}, prov, nil
}

// callback is where the identity provider sends the person back: the code is exchanged (with
// the PKCE verifier), the ID token verified (signature, issuer, audience, expiry, nonce), and
// the identity handed to the directory.
func (c *console) callback(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, key string, args ...any) {
		f := newForm()
		f.Errors[""] = c.view(r).T(key, args...)
		c.signInWith(w, r, status, &signInPage{Form: f}, nil)
	}
	ck, err := r.Cookie(signInCookie)
	c.clearCookie(w, r, signInCookie, c.base(r)+"/oidc")
	var p pendingSignIn
	if err != nil || decodeJSON(ck.Value, &p) != nil || p.State == "" {
		fail(http.StatusBadRequest, "signin.restart")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(p.State)) != 1 {
		fail(http.StatusBadRequest, "signin.restart")
		return
	}
	if e := q.Get("error"); e != "" {
		fail(http.StatusForbidden, "signin.refused", strings.TrimSpace(e+" "+q.Get("error_description")))
		return
	}
	cfg, prov, err := c.oauthConfig(r, p.Org)
	if err != nil {
		fail(http.StatusBadGateway, "signin.provider", err.Error())
		return
	}
	ctx := oidc.ClientContext(r.Context(), c.HTTPClient)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(p.Verifier))
	if err != nil {
		fail(http.StatusBadGateway, "signin.provider", err.Error())
		return
	}
	id, err := c.identity(ctx, cfg, prov, tok, p.Nonce)
	if err != nil {
		fail(http.StatusBadGateway, "signin.provider", err.Error())
		return
	}
	admin, cookie, err := c.Directory.SignInIdentity(r.Context(), p.Org, id, c.Now())
	c.opened(w, r, admin, cookie, err)
}

// claims are the ID token's (or UserInfo's) claims the directory needs. Entra ID names a
// person by its tenant and object ids (tid, oid), stable across applications, and vouches for
// an email's domain with xms_edov; other providers say email_verified. Some providers send the
// boolean as a string.
type claims struct {
	Subject       string `json:"sub"`
	Email         string `json:"email"`
	EmailVerified any    `json:"email_verified"`
	DomainOwner   any    `json:"xms_edov"`
	TenantID      string `json:"tid"`
	ObjectID      string `json:"oid"`
}

func truthy(v any) bool {
	switch b := v.(type) {
	case bool:
		return b
	case string:
		return strings.EqualFold(b, "true")
	}
	return false
}

// identity verifies the ID token and reads the person from it, asking the UserInfo endpoint
// for the email when the token has none.
func (c *console) identity(ctx context.Context, cfg *oauth2.Config, prov *oidc.Provider, tok *oauth2.Token, nonce string) (directory.Identity, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return directory.Identity{}, errors.New("the provider sent no ID token")
	}
	idt, err := prov.Verifier(&oidc.Config{ClientID: cfg.ClientID, Now: c.Now}).Verify(ctx, raw)
	if err != nil {
		return directory.Identity{}, err
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return directory.Identity{}, errors.New("the ID token's nonce is not this sign-in's")
	}
	var cl claims
	if err := idt.Claims(&cl); err != nil {
		return directory.Identity{}, err
	}
	if cl.Email == "" && prov.UserInfoEndpoint() != "" {
		ui, err := prov.UserInfo(ctx, cfg.TokenSource(ctx, tok))
		if err != nil {
			return directory.Identity{}, err
		}
		var more claims
		if err := ui.Claims(&more); err != nil {
			return directory.Identity{}, err
		}
		if more.Subject != idt.Subject {
			return directory.Identity{}, errors.New("the provider's UserInfo is about another subject than its ID token")
		}
		cl.Email, cl.EmailVerified, cl.DomainOwner = more.Email, more.EmailVerified, more.DomainOwner
	}
	id := directory.Identity{Issuer: idt.Issuer, Subject: idt.Subject, Email: cl.Email,
		EmailVerified: truthy(cl.EmailVerified) || truthy(cl.DomainOwner)}
	if cl.TenantID != "" && cl.ObjectID != "" {
		id.Subject = cl.TenantID + "/" + cl.ObjectID
	}
	return id, nil
}

func decodeJSON(s string, v any) error {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// opened finishes a sign-in: the session cookie and the users tab, or the sign-in page with
// why the person may not get in.
func (c *console) opened(w http.ResponseWriter, r *http.Request, admin *directory.Admin, cookie string, err error) {
	var d *directory.Denied
	switch {
	case errors.As(err, &d):
		c.signInWith(w, r, http.StatusForbidden, &signInPage{}, d)
		return
	case err != nil:
		c.fail(w, r, err)
		return
	}
	if old, err := r.Cookie(sessionCookie); err == nil {
		// A browser holds one session: the one it signed in with before ends.
		if err := c.Directory.EndSession(r.Context(), old.Value); err != nil {
			c.Logger.WarnContext(r.Context(), "ending a replaced console session", "err", err.Error())
		}
	}
	c.setCookie(w, r, sessionCookie, cookie, c.base(r), 0)
	c.Logger.InfoContext(r.Context(), "console sign-in", "org", admin.Org, "user_id", admin.UserID,
		"request_id", c.RequestID(r.Context()))
	http.Redirect(w, r, c.base(r)+"/", http.StatusSeeOther)
}

// linkPath is where sign-in links lead, below Path; the link's secret follows.
const linkPath = "/link/"

// linkCookie carries the confirmation token of a sign-in link's page (link, confirmLink).
const linkCookie = "scimd_link"

// linkConfirmTime is how long the page of a sign-in link may wait for its button.
const linkConfirmTime = 15 * time.Minute

// link answers a sign-in link with a page whose button signs in (confirmLink); opening the
// link changes nothing. Mail and chat services open the links of messages before the recipient
// does (Microsoft Defender's Safe Links, Slack's previews), and a single-use link used up by
// that visit would leave the admin a dead one. The page gives the browser a random token twice,
// in a cookie and in its form; the confirmation must carry both, so that no other site can
// sign a browser in with a link of its own (login forgery): it cannot read the page's token,
// and a SameSite=Lax cookie does not go with another site's POST.
func (c *console) link(w http.ResponseWriter, r *http.Request) {
	token := random()
	c.setCookie(w, r, linkCookie, token, c.base(r)+linkPath, int(linkConfirmTime.Seconds()))
	v := c.view(r)
	v.Title = v.T("signin.title")
	v.Data = token
	c.render(w, r, http.StatusOK, "link", v)
}

// confirmLink signs in with a sign-in link, from the button of its page (link).
func (c *console) confirmLink(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(linkCookie)
	if err != nil || ck.Value == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(r.PostFormValue("confirm"))) != 1 {
		// The link is left as it was: opening it again gives a page that works.
		c.message(w, r, http.StatusForbidden, "forbidden.title", c.view(r).T("link.unconfirmed"))
		return
	}
	c.clearCookie(w, r, linkCookie, c.base(r)+linkPath)
	admin, cookie, err := c.Directory.UseLink(r.Context(), chi.URLParam(r, "token"), c.Now())
	if d := (*directory.Denied)(nil); errors.As(err, &d) && c.throttled(w, r) {
		return
	}
	c.opened(w, r, admin, cookie, err)
}

// signOut ends the session.
func (c *console) signOut(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(sessionCookie); err == nil {
		if err := c.Directory.EndSession(r.Context(), ck.Value); err != nil {
			c.internal(w, r, err)
			return
		}
	}
	c.clearCookie(w, r, sessionCookie, c.base(r))
	http.Redirect(w, r, c.base(r)+"/?done=signedout", http.StatusSeeOther)
}

// providers caches the discovery documents (and so the signing keys) of identity providers.
type providers struct {
	client *http.Client
	now    func() time.Time
	mu     sync.Mutex
	cache  map[string]cachedProvider
}

type cachedProvider struct {
	p  *oidc.Provider
	at time.Time
}

// providerTTL is how long a provider's discovery document is used before it is read again.
const providerTTL = 10 * time.Minute

func newProviders(client *http.Client, now func() time.Time) *providers {
	return &providers{client: client, now: now, cache: map[string]cachedProvider{}}
}

func (p *providers) get(ctx context.Context, issuer string) (*oidc.Provider, error) {
	p.mu.Lock()
	cp, ok := p.cache[issuer]
	p.mu.Unlock()
	if ok && p.now().Sub(cp.at) < providerTTL {
		return cp.p, nil
	}
	// The provider keeps the context for fetching signing keys later: not the request's,
	// which ends with it.
	prov, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), p.client), issuer)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cache[issuer] = cachedProvider{p: prov, at: p.now()}
	p.mu.Unlock()
	return prov, nil
}
