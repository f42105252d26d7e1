package orgs

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/scimd/scimd/internal/scimerr"
)

// Enterprise sign-in to the console: each organization's OpenID Connect
// client at its identity provider, used for the authorization code flow with PKCE. The client
// secret is write-only: it is stored as given, because scimd must send it to the provider's
// token endpoint, and it is never shown again by the admin API, the command line or the
// console (OIDCSettings tells only whether one is set). Who may sign in is the directory's
// rule (internal/directory/console.go).

// OIDCSettings are an organization's OpenID Connect settings as shown: never the secret.
type OIDCSettings struct {
	Issuer          string    `json:"issuer"`
	ClientID        string    `json:"client_id"`
	ClientSecretSet bool      `json:"client_secret_set"`
	Updated         time.Time `json:"updated"`
}

// OIDCClient is what the console's sign-in needs: the settings with the client secret.
type OIDCClient struct {
	Issuer       string
	ClientID     string
	ClientSecret string
}

// OIDCInput sets an organization's OpenID Connect settings. ClientSecret may be left out
// (nil) when settings exist already: the stored secret is kept.
type OIDCInput struct {
	Issuer       string  `json:"issuer"`
	ClientID     string  `json:"client_id"`
	ClientSecret *string `json:"client_secret"`
}

// SignInOrg is an organization a person may sign in to the console of.
type SignInOrg struct {
	ID   string
	Name string
}

// OIDCStore keeps the OpenID Connect settings. Each answers ErrNoOrg for an organization that
// does not exist, and ErrNotFound for one without settings (PutOIDC: when secret is nil).
type OIDCStore interface {
	GetOIDC(ctx context.Context, org string) (*OIDCClient, time.Time, error)
	// PutOIDC stores the settings; a nil secret keeps the one stored. created tells whether
	// the organization had none.
	PutOIDC(ctx context.Context, org, issuer, clientID string, secret *string) (created bool, err error)
	DeleteOIDC(ctx context.Context, org string) error
	// SignInOrgs lists the organizations that verified domain and have OpenID Connect
	// settings, by name.
	SignInOrgs(ctx context.Context, domain string) ([]SignInOrg, error)
}

// Limits of the settings, in bytes.
const (
	maxIssuer       = 2000
	maxClientID     = 1000
	maxClientSecret = 4000
)

func noOIDC(org string) error {
	return scimerr.NotFound("organization %s has no OpenID Connect settings; set them with scimd oidc set or PUT /admin/v1/orgs/%s/oidc", org, org)
}

// OIDC returns an organization's OpenID Connect settings, without the secret.
func (s *Service) OIDC(ctx context.Context, org string) (*OIDCSettings, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	c, updated, err := s.store.GetOIDC(ctx, org)
	if errors.Is(err, ErrNotFound) {
		return nil, noOIDC(org)
	}
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	return &OIDCSettings{Issuer: c.Issuer, ClientID: c.ClientID, ClientSecretSet: c.ClientSecret != "", Updated: updated.UTC()}, nil
}

// OIDCClient returns what the console's sign-in to an organization needs, secret included.
func (s *Service) OIDCClient(ctx context.Context, org string) (*OIDCClient, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	c, _, err := s.store.GetOIDC(ctx, org)
	if errors.Is(err, ErrNotFound) {
		return nil, noOIDC(org)
	}
	return c, s.orgErr(err, org)
}

// SetOIDC sets an organization's OpenID Connect settings; created tells whether it had none.
func (s *Service) SetOIDC(ctx context.Context, org string, in OIDCInput) (*OIDCSettings, bool, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, false, err
	}
	issuer, err := checkIssuer(in.Issuer)
	if err != nil {
		return nil, false, err
	}
	clientID := strings.TrimSpace(in.ClientID)
	switch {
	case clientID == "":
		return nil, false, scimerr.Invalid("", "client_id is required: the client (application) id the identity provider gave scimd")
	case len(clientID) > maxClientID || strings.ContainsFunc(clientID, unicode.IsControl):
		return nil, false, scimerr.Invalid("", "client_id must be at most %d bytes without control characters", maxClientID)
	}
	var secret *string
	if in.ClientSecret != nil {
		v := strings.TrimSpace(*in.ClientSecret)
		if v == "" || len(v) > maxClientSecret || strings.ContainsFunc(v, unicode.IsControl) {
			return nil, false, scimerr.Invalid("", "client_secret must be 1 to %d bytes without control characters", maxClientSecret)
		}
		secret = &v
	}
	created, err := s.store.PutOIDC(ctx, org, issuer, clientID, secret)
	if errors.Is(err, ErrNotFound) {
		return nil, false, scimerr.Invalid("", "client_secret is required: organization %s has no OpenID Connect settings yet", org)
	}
	if err != nil {
		return nil, false, s.orgErr(err, org)
	}
	set, err := s.OIDC(ctx, org)
	return set, created, err
}

// RemoveOIDC removes an organization's OpenID Connect settings: its admins can then sign in
// to the console only by a link an operator prints.
func (s *Service) RemoveOIDC(ctx context.Context, org string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	err = s.store.DeleteOIDC(ctx, org)
	if errors.Is(err, ErrNotFound) {
		return noOIDC(org)
	}
	return s.orgErr(err, org)
}

// checkIssuer checks an issuer URL as OpenID Connect Discovery §3 defines it: https, with no
// query or fragment; plain http only on a loopback host, for local providers and tests. It is
// kept exactly as given, since the provider's tokens must name the same string.
func checkIssuer(v string) (string, error) {
	v = strings.TrimSpace(v)
	bad := func(why string) error {
		return scimerr.Invalid("", "issuer %q is not an OpenID Connect issuer URL: %s", v, why)
	}
	if v == "" {
		return "", scimerr.Invalid("", "issuer is required: the identity provider's issuer URL, such as https://login.microsoftonline.com/<tenant id>/v2.0")
	}
	if len(v) > maxIssuer {
		return "", bad("it is too long")
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "" || u.User != nil:
		return "", bad("it must be an absolute URL such as https://idp.example.com")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(v, "?#"):
		return "", bad("it must have no query or fragment")
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopback(u.Hostname()):
	default:
		return "", bad("it must use https (http only on a loopback address)")
	}
	if entraMultiTenant(u) {
		return "", bad("it is Microsoft Entra ID's multi-tenant endpoint, whose tokens each name their user's own tenant; " +
			"use the organization's tenant: https://login.microsoftonline.com/<tenant id>/v2.0 (Entra admin center, Overview, Tenant ID)")
	}
	return v, nil
}

// entraMultiTenant tells whether u is one of Microsoft Entra ID's multi-tenant authorities
// (common, organizations, consumers). Their discovery documents name the issuer
// https://login.microsoftonline.com/{tenantid}/v2.0, a template that no token carries, so no
// sign-in through them could be verified; and an organization's admins belong to its tenant.
func entraMultiTenant(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	if !strings.HasPrefix(host, "login.microsoftonline.") && host != "login.windows.net" && host != "login.partner.microsoftonline.cn" {
		return false
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	switch strings.ToLower(tenant) {
	case "common", "organizations", "consumers":
		return true
	}
	return false
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SignInOrgs lists the organizations whose console a person with email may sign in to: those
// that verified its domain and have OpenID Connect settings.
func (s *Service) SignInOrgs(ctx context.Context, email string) ([]SignInOrg, error) {
	email = strings.TrimSpace(email)
	at := strings.LastIndexByte(email, '@')
	if at <= 0 || at == len(email)-1 {
		return nil, scimerr.Invalid("", "%q is not an email address", email).On("email")
	}
	domain, err := NormalizeDomain(email[at+1:])
	if err != nil {
		return nil, scimerr.Invalid("", "%q is not an email address", email).On("email")
	}
	return s.store.SignInOrgs(ctx, domain)
}
