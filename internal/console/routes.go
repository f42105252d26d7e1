package console

import (
	"io/fs"
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes is the whole console, relative to Path. Every request carries the security headers
// and has its session checked by the directory; every request other than GET and HEAD needs a
// session and its anti-forgery token before it is routed (withCSRF), but the confirmation of
// a sign-in link, which comes before any session and carries a token of its own (linkPath,
// confirmLink). Pages other than sign-in answer the sign-in page without a session.
func (c *console) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(c.withHeaders, c.withSession, c.withCSRF)
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusNotFound, "notfound.title", c.view(r).T("notfound.text"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		c.message(w, r, http.StatusMethodNotAllowed, "notfound.title", c.view(r).T("notfound.text"))
	})

	assets, _ := fs.Sub(files, "assets")
	r.Get("/assets/*", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		http.ServeFileFS(w, r, assets, chi.URLParam(r, "*"))
	})

	// Signing in and out (signin.go).
	r.Get("/", c.home)
	r.Get("/login", c.login)
	r.Get("/oidc/callback", c.callback)
	r.Get(linkPath+"{token}", c.link)
	r.Post(linkPath+"{token}", c.confirmLink)
	r.Post("/signout", c.signOut)

	r.Group(func(r chi.Router) {
		r.Use(c.signedIn)
		// Users (users.go).
		r.Get("/users", c.users)
		r.Post("/users", c.addUser)
		r.Get("/users/{id}", c.user)
		r.Post("/users/{id}", c.editProfile)
		r.Post("/users/{id}/grants", c.editGrants)
		r.Post("/users/{id}/suspend", c.setActive(false))
		r.Post("/users/{id}/reactivate", c.setActive(true))
		r.Get("/users/{id}/delete", c.deletePage)
		r.Post("/users/{id}/delete", c.deleteUser)
		// The organization (org.go).
		r.Get("/domains", c.domains)
		r.Post("/domains", c.addDomain)
		r.Post("/domains/{domain}/verify", c.verifyDomain)
		r.Post("/domains/{domain}/remove", c.removeDomain)
		r.Get("/tokens", c.tokens)
		r.Post("/tokens", c.createToken)
		r.Post("/tokens/{id}/revoke", c.revokeToken)
		r.Get("/groups", c.groups)
		r.Get("/groups/{id}", c.group)
		r.Post("/groups/{id}", c.mapGroup)
		r.Post("/groups/{id}/remove", c.unmapGroup)
		r.Get("/audit", c.audit)
	})
	return r
}
