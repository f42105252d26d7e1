package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// Webhook endpoints of an organization (internal/orgs/webhooks.go): where account.purged
// events are delivered (internal/webhook).

func (s *server) adminAddWebhook(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in struct {
		URL string `json:"url"`
	}
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	wh, err := s.Orgs.AddWebhook(r.Context(), chi.URLParam(r, "org"), in.URL)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, wh, nil
}

func (s *server) adminListWebhooks(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ws, err := s.Orgs.ListWebhooks(r.Context(), chi.URLParam(r, "org"))
	return http.StatusOK, map[string]any{"webhooks": ws}, err
}

func (s *server) adminRemoveWebhook(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, s.Orgs.RemoveWebhook(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "id"))
}
