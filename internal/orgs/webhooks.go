package orgs

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/scimerr"
)

// Webhook endpoints: an organization registers the URLs of its product
// systems, and every purge of one of its accounts queues a signed account.purged event for
// each of them (internal/webhook delivers it). Each endpoint has its own signing secret, shown
// once, when the endpoint is added.

// Webhook is a registered endpoint as listed: never its secret.
type Webhook struct {
	ID      string    `json:"id"`
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
}

// CreatedWebhook is a new endpoint with its signing secret, shown once.
type CreatedWebhook struct {
	Webhook
	Secret string `json:"secret"`
}

// MaxWebhookURLLen bounds a webhook URL.
const MaxWebhookURLLen = 2048

// webhookNotFound is the answer for an endpoint id that is not one of the organization's.
func webhookNotFound(org, id string) error {
	return scimerr.NotFound("organization %s has no webhook %q", org, id)
}

// NormalizeWebhookURL checks a webhook URL: absolute http or https, with a host, without
// credentials or a fragment, at most MaxWebhookURLLen bytes. The scheme and host are
// lowercased.
func NormalizeWebhookURL(raw string) (string, error) {
	in := raw
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", scimerr.Invalid("", "a webhook needs a url: the absolute http or https URL events are POSTed to")
	case len(raw) > MaxWebhookURLLen:
		return "", scimerr.Invalid("", "the webhook url is %d bytes long; at most %d are allowed", len(raw), MaxWebhookURLLen)
	case strings.ContainsFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", scimerr.Invalid("", "the webhook url %q contains spaces or control characters; percent-encode them", in)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", scimerr.Invalid("", "the webhook url %q is not a URL: %v", in, unwrapURLError(err))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		if u.Scheme == "" {
			return "", scimerr.Invalid("", "the webhook url %q is not absolute: it must start with https:// or http://", in)
		}
		return "", scimerr.Invalid("", "the webhook url %q has the scheme %q; only http and https are accepted", in, u.Scheme)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return "", scimerr.Invalid("", "the webhook url %q has no host: write it as https://host/path", in)
	case u.User != nil:
		return "", scimerr.Invalid("", "the webhook url %q contains credentials; they would show in every listing: authenticate events by their signature instead", in)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "", scimerr.Invalid("", "the webhook url %q has a fragment (#...), which is never sent to the server; remove it", in)
	}
	u.Host = strings.ToLower(u.Host)
	return u.String(), nil
}

// unwrapURLError drops url.Error's repetition of the URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// NewWebhookSecret returns a signing secret: 32 random bytes, base64url without padding.
func NewWebhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// AddWebhook registers an endpoint that receives the organization's account.purged events and
// returns it with its signing secret, which is not shown again. A URL the organization has
// registered already is a conflict.
func (s *Service) AddWebhook(ctx context.Context, org, rawURL string) (*CreatedWebhook, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	u, err := NormalizeWebhookURL(rawURL)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	secret, err := NewWebhookSecret()
	if err != nil {
		return nil, err
	}
	w, err := s.store.InsertWebhook(ctx, org, Webhook{ID: id.String(), URL: u}, secret)
	var dup *WebhookExistsError
	if errors.As(err, &dup) {
		return nil, scimerr.New(scimerr.KindConflict, "",
			"organization %s already has the webhook %s for %s", org, dup.ID, u)
	}
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	return &CreatedWebhook{Webhook: *w, Secret: secret}, nil
}

// WebhookExistsError is a Store's refusal to register a URL twice for an organization.
type WebhookExistsError struct {
	// ID is the endpoint registered with the URL.
	ID string
}

func (e *WebhookExistsError) Error() string { return "webhook exists: " + e.ID }

// ListWebhooks lists an organization's endpoints, oldest first, without their secrets.
func (s *Service) ListWebhooks(ctx context.Context, org string) ([]Webhook, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	ws, err := s.store.ListWebhooks(ctx, org)
	return ws, s.orgErr(err, org)
}

// RemoveWebhook removes an endpoint. Its deliveries not made yet are dropped with it.
func (s *Service) RemoveWebhook(ctx context.Context, org, id string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	wid, err := uuid.Parse(id)
	if err != nil {
		return webhookNotFound(org, id)
	}
	err = s.store.DeleteWebhook(ctx, org, wid.String())
	if errors.Is(err, ErrNotFound) {
		return webhookNotFound(org, id)
	}
	return s.orgErr(err, org)
}
