package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/console"
	"github.com/scimd/scimd/internal/orgs"
)

// OpenID Connect settings of an organization's console sign-in (routes in routes.go,
// conventions in admin.go). The client secret is write-only; answers carry the redirect URI
// to register at the identity provider.

// oidcAnswer is the settings with the redirect URI.
type oidcAnswer struct {
	*orgs.OIDCSettings
	RedirectURI string `json:"redirect_uri"`
}

func (s *server) adminGetOIDC(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	set, err := s.Orgs.OIDC(r.Context(), chi.URLParam(r, "org"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, oidcAnswer{set, console.RedirectURI(s.publicRoot(r))}, nil
}

func (s *server) adminSetOIDC(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in orgs.OIDCInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	set, created, err := s.Orgs.SetOIDC(r.Context(), chi.URLParam(r, "org"), in)
	if err != nil {
		return 0, nil, err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return status, oidcAnswer{set, console.RedirectURI(s.publicRoot(r))}, nil
}

func (s *server) adminRemoveOIDC(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, s.Orgs.RemoveOIDC(r.Context(), chi.URLParam(r, "org"))
}
