package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/patch"
)

func (s *server) handleListUsers(w http.ResponseWriter, r *http.Request) error {
	rt := s.Schemas.User
	q, err := queryParams(r).listQuery(rt)
	if err != nil {
		return err
	}
	page, err := s.Directory.ListUsers(r.Context(), actor(r), q)
	if err != nil {
		return err
	}
	s.writeList(w, r, rt, q, page)
	return nil
}

func (s *server) handleCreateUser(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	u, err := s.Directory.CreateUser(r.Context(), actor(r), body)
	if err != nil {
		return err
	}
	s.writeResource(w, r, http.StatusCreated, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
	return nil
}

func (s *server) handleGetUser(w http.ResponseWriter, r *http.Request) error {
	pr := queryParams(r).projection(s.Schemas.User)
	u, err := s.Directory.GetUser(r.Context(), actor(r), chi.URLParam(r, "id"), pr)
	if err != nil {
		return err
	}
	if precondition(r).NotModified(u) {
		w.Header().Set("ETag", u.ETag())
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, pr)
	return nil
}

func (s *server) handleReplaceUser(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	u, err := s.Directory.ReplaceUser(r.Context(), actor(r), chi.URLParam(r, "id"), body, precondition(r))
	if err != nil {
		return err
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
	return nil
}

func (s *server) handlePatchUser(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	ops, err := patch.Parse(raw)
	if err != nil {
		return err
	}
	u, err := s.Directory.PatchUser(r.Context(), actor(r), chi.URLParam(r, "id"), ops, precondition(r))
	if err != nil {
		return err
	}
	s.writeResource(w, r, http.StatusOK, s.Schemas.User, u, queryParams(r).projection(s.Schemas.User))
	return nil
}

func (s *server) handleDeleteUser(w http.ResponseWriter, r *http.Request) error {
	if err := s.Directory.DeleteUser(r.Context(), actor(r), chi.URLParam(r, "id"), precondition(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
