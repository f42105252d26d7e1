package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/schema"
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

// Users of an organization for the operator's support staff, through the same directory calls
// as SCIM (so the same rules): list, show, suspend, reactivate, delete. Users are shown as SCIM
// shows them. A request may carry ?notify=false or X-Scimd-Notify, as SCIM requests may.

func (s *server) adminListUsers(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	rt := s.Schemas.User
	q, err := queryParams(r).listQuery(rt)
	if err != nil {
		return 0, nil, err
	}
	page, err := s.Directory.ListUsers(r.Context(), a, q)
	if err != nil {
		return 0, nil, err
	}
	users := make([]any, len(page.Resources))
	for i, u := range page.Resources {
		users[i] = s.render(r, rt, u, q.Projection)
	}
	if !q.ByCursor {
		return http.StatusOK, map[string]any{"total_results": page.Total, "start_index": q.StartIndex, "users": users}, nil
	}
	out := map[string]any{"users": users}
	if page.Total != directory.Uncounted {
		out["total_results"] = page.Total
	}
	if page.NextCursor != "" {
		out["next_cursor"] = page.NextCursor
	}
	if page.PreviousCursor != "" {
		out["previous_cursor"] = page.PreviousCursor
	}
	return http.StatusOK, out, nil
}

func (s *server) adminGetUser(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	u, err := s.Directory.GetUser(r.Context(), a, chi.URLParam(r, "id"), schema.Projection{})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(r, s.Schemas.User, u, schema.Projection{}), nil
}

func (s *server) adminSuspendUser(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	return s.adminSetActive(r, a, false)
}

func (s *server) adminReactivateUser(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	return s.adminSetActive(r, a, true)
}

func (s *server) adminSetActive(r *http.Request, a directory.Actor, active bool) (int, any, error) {
	u, err := s.Directory.SetActive(r.Context(), a, chi.URLParam(r, "id"), active)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, s.render(r, s.Schemas.User, u, schema.Projection{}), nil
}

func (s *server) adminDeleteUser(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	return http.StatusNoContent, nil, s.Directory.DeleteUser(r.Context(), a, chi.URLParam(r, "id"), directory.Precondition{})
}
