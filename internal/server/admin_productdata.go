package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/orgs"
)

// Product data of accounts (internal/orgs/productdata.go), written by product systems through
// the admin API and purged with the user: /admin/v1/orgs/{org}/users/{id}/...

func (s *server) adminAddMeeting(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in orgs.MeetingInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	m, err := s.Orgs.AddMeeting(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"), in)
	return http.StatusCreated, m, err
}

func (s *server) adminAddScheduledMeeting(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in orgs.ScheduledMeetingInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	m, err := s.Orgs.AddScheduledMeeting(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"), in)
	return http.StatusCreated, m, err
}

func (s *server) adminAddProductRecord(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in orgs.ProductRecordInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	rec, err := s.Orgs.AddProductRecord(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"), in)
	return http.StatusCreated, rec, err
}

// adminListProductData answers one page of the user's product data: ?limit= (default 100,
// at most 1000) and ?cursor= (the next_cursor of the previous page).
func (s *server) adminListProductData(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	limit, err := orgs.ParseProductDataLimit(q.Get("limit"))
	if err != nil {
		return 0, nil, err
	}
	cursor, err := orgs.ParseProductDataCursor(q.Get("cursor"))
	if err != nil {
		return 0, nil, err
	}
	p, err := s.Orgs.ListProductData(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"), limit, cursor)
	return http.StatusOK, p, err
}
