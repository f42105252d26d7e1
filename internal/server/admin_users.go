package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
)

// Admin API endpoints about an organization's users (routes in routes.go, conventions in
// admin.go): whether a user can sign in, with their effective grants, and the audit log.

func (s *server) adminUserSignIn(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	si, err := s.Directory.SignIn(r.Context(), a, chi.URLParam(r, "id"))
	return http.StatusOK, si, err
}

// adminAudit answers a page of the audit log, newest first; query parameters user, actor,
// action, since, until, limit and cursor (see orgs.AuditInput).
func (s *server) adminAudit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	p, err := s.Orgs.Audit(r.Context(), chi.URLParam(r, "org"), orgs.AuditInput{
		User: q.Get("user"), Actor: q.Get("actor"), Action: q.Get("action"),
		Since: q.Get("since"), Until: q.Get("until"), Limit: q.Get("limit"), Cursor: q.Get("cursor"),
	})
	return http.StatusOK, p, err
}
