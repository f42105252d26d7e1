package console

import (
	"context"
	"crypto/subtle"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
)

// The console's middleware: security headers, the session (checked by the directory on every
// request), and the anti-forgery check of every POST, before routing.

type ctxKey int

const (
	adminKey ctxKey = iota
	csrfKey
	deniedKey
)

// Cookies. The session cookie holds the session credential (directory, internal/auth); it is
// HttpOnly, SameSite=Lax (sent on the top-level navigation back from the identity provider,
// never on another site's POST), Secure whenever the console is reached over TLS, and lasts
// as long as the browser session (the server ends sessions after 30 minutes idle and 12
// hours). The sign-in cookie carries an OpenID sign-in in progress (signin.go).
const (
	sessionCookie = "scimd_console"
	signInCookie  = "scimd_signin"
)

// maxFormBytes bounds a form's body.
const maxFormBytes = 64 << 10

func adminOf(r *http.Request) *directory.Admin {
	a, _ := r.Context().Value(adminKey).(*directory.Admin)
	return a
}

// actor is the signed-in admin as the directory's actor, a copy for one request.
func actor(r *http.Request) *directory.Actor {
	a := adminOf(r).Actor
	return &a
}

func csrfOf(r *http.Request) string {
	s, _ := r.Context().Value(csrfKey).(string)
	return s
}

// deniedOf is why the session the request came with ended, if it did.
func deniedOf(r *http.Request) *directory.Denied {
	d, _ := r.Context().Value(deniedKey).(*directory.Denied)
	return d
}

// withHeaders sets the security headers of every answer: no framing, no inline or foreign
// script or style, no referrer (a sign-in link's URL is a credential), nothing cached.
func (c *console) withHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		// form-action is left out: Chromium applies it to the redirect that follows a form,
		// and the sign-in form's answer redirects to the organization's identity provider.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// withSession finds the admin the session cookie signs in, through the directory, which checks
// again that they may use the console. A session that ended loses its cookie, and the reason
// is kept for the sign-in page.
func (c *console) withSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(sessionCookie)
		if err != nil || ck.Value == "" {
			next.ServeHTTP(w, r)
			return
		}
		admin, err := c.Directory.Session(r.Context(), ck.Value, c.Now())
		var d *directory.Denied
		switch {
		case errors.As(err, &d):
			c.clearCookie(w, r, sessionCookie, c.base(r))
			if c.throttled(w, r) {
				return
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), deniedKey, d)))
		case err != nil:
			c.internal(w, r, err)
		default:
			admin.RequestID = c.RequestID(r.Context())
			ctx := context.WithValue(r.Context(), adminKey, admin)
			ctx = context.WithValue(ctx, csrfKey, csrfToken(ck.Value))
			next.ServeHTTP(w, r.WithContext(ctx))
		}
	})
}

// throttled counts a credential of the request that is not valid (Deps.Failed) and, when its
// client is over the limit, answers 429 with Retry-After and reports true: guessing session
// cookies or links is limited as guessing tokens is. A valid credential is never refused.
func (c *console) throttled(w http.ResponseWriter, r *http.Request) bool {
	if c.Failed == nil {
		return false
	}
	wait := c.Failed(r)
	if wait <= 0 {
		return false
	}
	secs := int(math.Ceil(max(wait, time.Second).Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	c.message(w, r, http.StatusTooManyRequests, "throttled.title", c.view(r).T("throttled.text", secs))
	return true
}

// withCSRF refuses, before routing, every request that may change something (anything but GET
// and HEAD) unless it comes from a signed-in admin with the session's anti-forgery token, in
// the form field csrf or the header X-CSRF-Token. The one exception is the confirmation of a
// sign-in link, which has no session to take a token from: confirmLink checks its own.
func (c *console) withCSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if r.Method == http.MethodPost && strings.HasPrefix(routePath(r), linkPath) {
			next.ServeHTTP(w, r)
			return
		}
		want := csrfOf(r)
		got := r.Header.Get("X-CSRF-Token")
		if got == "" {
			got = r.PostFormValue("csrf")
		}
		if adminOf(r) == nil || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			v := c.view(r)
			c.message(w, r, http.StatusForbidden, "forbidden.title", v.T("forbidden.csrf"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// routePath is the path the console's router matches, as chi finds it: below the mount point
// (Path) when mounted, else the URL's.
func routePath(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePath != "" {
		return rc.RoutePath
	}
	return r.URL.Path
}

// signedIn answers the sign-in page to a request without a session.
func (c *console) signedIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if adminOf(r) == nil {
			c.signInPage(w, r, http.StatusUnauthorized, nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for path, Secure over TLS; maxAge 0 makes
// it last the browser session.
func (c *console) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteLaxMode})
}

func (c *console) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	c.setCookie(w, r, name, "", path, -1)
}
