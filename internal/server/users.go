package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/patch"
)

func (s *server) handleListUsers(w http.ResponseWriter, r *http.Request) {
	rt := s.Schemas.User
	q, err := queryParams(r).listQuery(rt)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.Directory.ListUsers(r.Context(), actor(r), q)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeList(w, r, rt, q, page)
}

func (s *server) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	body, err := decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Directory.CreateUser(r.Context(), actor(r), body)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResource(w, r, http.StatusCreated, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
}

func (s *server) handleGetUser(w http.ResponseWriter, r *http.Request) {
	pr := queryParams(r).projection(s.Schemas.User)
	u, err := s.Directory.GetUser(r.Context(), actor(r), chi.URLParam(r, "id"), pr)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if precondition(r).NotModified(u) {
		w.Header().Set("ETag", u.ETag())
		w.WriteHeader(http.StatusNotModified)
		return
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, pr)
}

func (s *server) handleReplaceUser(w http.ResponseWriter, r *http.Request) {
	body, err := decodeObject(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Directory.ReplaceUser(r.Context(), actor(r), chi.URLParam(r, "id"), body, precondition(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
}

func (s *server) handlePatchUser(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ops, err := patch.Parse(raw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.Directory.PatchUser(r.Context(), actor(r), chi.URLParam(r, "id"), ops, precondition(r))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
}

func (s *server) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.Directory.DeleteUser(r.Context(), actor(r), chi.URLParam(r, "id"), precondition(r)); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
