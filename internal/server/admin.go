package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/scimerr"
)

// The admin API (/admin/v1, routes in routes.go) administers organizations for the operator:
// JSON in and out, errors as {"status": "...", "detail": "..."} with the status of the same
// kind-to-status table as SCIM. It is authenticated by one operator token, Deps.AdminToken,
// not by provisioning tokens; without one it is disabled and every path under it is 404.

func (s *server) adminEnabled() bool { return s.AdminToken != "" && s.Orgs != nil }

// withAdmin answers 404 while the admin API is disabled, and otherwise requires the admin
// token as a bearer token. Both tokens are hashed before the constant-time comparison, so
// neither their contents nor their lengths show in the timing.
func (s *server) withAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.adminEnabled() {
			s.adminNotFound(w, r)
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.writeAdminError(w, r, scimerr.New(scimerr.KindUnauthorized, "",
				"the admin API requires the header Authorization: Bearer <admin token>"))
			return
		}
		got, want := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(s.AdminToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			s.writeAdminError(w, r, scimerr.New(scimerr.KindUnauthorized, "", "the admin token is not valid"))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func (s *server) adminNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeAdminError(w, r, scimerr.NotFound("no endpoint at %s", r.URL.Path))
}

func (s *server) adminMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeAdminError(w, r, scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported on %s", r.Method, r.URL.Path))
}

// writeAdminJSON writes body as application/json; a nil body writes none.
func (s *server) writeAdminJSON(w http.ResponseWriter, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		s.log.Warn("writing response", "err", err.Error())
	}
}

// writeAdminError answers err as {"status", "detail"}, classified as SCIM errors are.
func (s *server) writeAdminError(w http.ResponseWriter, r *http.Request, err error) {
	status, e := s.classify(r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimd-admin"`)
	}
	s.writeAdminJSON(w, status, map[string]string{"status": strconv.Itoa(status), "detail": e.Detail})
}

// decodeAdmin reads a JSON object body into v, refusing unknown fields (so that a misspelt
// field is an error, not silently ignored), other media types and bodies over MaxBodyBytes.
func (s *server) decodeAdmin(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return scimerr.New(scimerr.KindUnsupportedMediaType, "", "Content-Type must be application/json, not %q", ct)
		}
	}
	tooLarge := scimerr.New(scimerr.KindTooLarge, "", "the request body exceeds the limit of %d bytes", s.MaxBodyBytes)
	if r.ContentLength > s.MaxBodyBytes {
		return tooLarge
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	if err != nil {
		return scimerr.Invalid("", "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return scimerr.Invalid("", "the request body is empty; send a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return scimerr.Invalid("", "the request body is not a valid JSON object for this endpoint: %v", err)
	}
	if dec.More() {
		return scimerr.Invalid("", "the request body has data after its JSON object")
	}
	return nil
}

// errAdminNUL refuses a path or query parameter holding the NUL character, which PostgreSQL's
// text cannot store; checked once for every admin endpoint. Bodies are checked field by field,
// with the field named, by the validation of each (internal/orgs), which the command line
// shares.
var errAdminNUL = scimerr.Invalid("", "the request's path or query holds a NUL character (%%00), which no parameter may contain")

// admin runs an admin endpoint: fn returns the status and body to answer, or an error.
func (s *server) admin(fn func(w http.ResponseWriter, r *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.ContainsRune(r.URL.Path, 0) || strings.Contains(r.URL.RawQuery, "%00") {
			s.writeAdminError(w, r, errAdminNUL)
			return
		}
		status, body, err := fn(w, r)
		if err != nil {
			s.writeAdminError(w, r, err)
			return
		}
		s.writeAdminJSON(w, status, body)
	}
}

func (s *server) adminCreateOrg(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in orgs.CreateOrgInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	o, err := s.Orgs.CreateOrg(r.Context(), in)
	if err != nil {
		return 0, nil, err
	}
	w.Header().Set("Location", "/admin/v1/orgs/"+o.ID)
	return http.StatusCreated, o, nil
}

// adminListOrgs answers a page of organizations, oldest first; query parameters limit and
// cursor.
func (s *server) adminListOrgs(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	q := r.URL.Query()
	p, err := s.Orgs.ListOrgs(r.Context(), q.Get("limit"), q.Get("cursor"))
	return http.StatusOK, p, err
}

// adminDeleteOrg deletes an organization and purges everything of it (orgs.Service.DeleteOrg).
func (s *server) adminDeleteOrg(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := s.Orgs.DeleteOrg(r.Context(), chi.URLParam(r, "org"), "operator (admin API)", requestID(r.Context()))
	return http.StatusNoContent, nil, err
}

// adminGetOrg shows an organization with its settings (nested groups, notify).
func (s *server) adminGetOrg(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	o, err := s.Orgs.Settings(r.Context(), chi.URLParam(r, "org"))
	return http.StatusOK, o, err
}

func (s *server) adminListDomains(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ds, err := s.Orgs.ListDomains(r.Context(), chi.URLParam(r, "org"))
	return http.StatusOK, map[string]any{"domains": ds}, err
}

func (s *server) adminAddDomain(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in struct {
		Domain   string `json:"domain"`
		Verified bool   `json:"verified"`
	}
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	d, created, err := s.Orgs.AddDomain(r.Context(), chi.URLParam(r, "org"), in.Domain, in.Verified)
	if err != nil {
		return 0, nil, err
	}
	if created {
		return http.StatusCreated, d, nil
	}
	return http.StatusOK, d, nil
}

func (s *server) adminVerifyDomain(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	d, err := s.Orgs.VerifyDomain(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "domain"))
	return http.StatusOK, d, err
}

func (s *server) adminRemoveDomain(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, s.Orgs.RemoveDomain(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "domain"))
}

func (s *server) adminListProducts(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ps, err := s.Orgs.ListProducts(r.Context(), chi.URLParam(r, "org"))
	return http.StatusOK, map[string]any{"products": ps}, err
}

func (s *server) adminAddProduct(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var in struct {
		Product string `json:"product"`
	}
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	if err := s.Orgs.AddProduct(r.Context(), chi.URLParam(r, "org"), in.Product); err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]string{"product": in.Product}, nil
}

func (s *server) adminRemoveProduct(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	return http.StatusNoContent, nil, s.Orgs.RemoveProduct(r.Context(), chi.URLParam(r, "org"), chi.URLParam(r, "product"))
}

// operator is the admin API's actor in the organization of the request's path: an admin with
// no person of the organization behind it. An id that is not a UUID names no organization.
func operator(r *http.Request) (directory.Actor, error) {
	org := chi.URLParam(r, "org")
	id, err := uuid.Parse(org)
	if err != nil {
		return directory.Actor{}, scimerr.NotFound("there is no organization %q", org)
	}
	a := directory.Operator(id.String())
	a.RequestID = requestID(r.Context())
	if a.Notify, err = notifyOverride(r); err != nil {
		return directory.Actor{}, err
	}
	return a, nil
}

// adminDirectory runs an admin endpoint that acts in an organization's directory as the
// operator.
func (s *server) adminDirectory(fn func(w http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error)) http.HandlerFunc {
	return s.admin(func(w http.ResponseWriter, r *http.Request) (int, any, error) {
		a, err := operator(r)
		if err != nil {
			return 0, nil, err
		}
		return fn(w, r, a)
	})
}

func (s *server) adminListTokens(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	ts, err := s.Directory.ListTokens(r.Context(), a)
	return http.StatusOK, map[string]any{"tokens": ts}, err
}

// adminCreateToken issues a user's token (issuer_user_id) or a service token (role, label).
func (s *server) adminCreateToken(w http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	var in struct {
		directory.TokenInput
		// ExpiresIn is a Go duration ("720h"); empty for a token that does not expire.
		ExpiresIn string `json:"expires_in"`
	}
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	if in.ExpiresIn != "" {
		d, err := time.ParseDuration(in.ExpiresIn)
		if err != nil || d <= 0 {
			return 0, nil, scimerr.Invalid("", "expires_in %q is not a positive duration such as \"720h\" or \"90m\"", in.ExpiresIn)
		}
		in.TokenInput.ExpiresIn = d
	}
	t, err := s.Directory.CreateToken(r.Context(), a, in.TokenInput, s.Now())
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, t, nil
}

func (s *server) adminRevokeToken(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	t, err := s.Directory.RevokeToken(r.Context(), a, chi.URLParam(r, "id"), s.Now())
	return http.StatusOK, t, err
}
