// Package server is scimd's HTTP interface: the SCIM 2.0 protocol (RFC 7644) over the
// directory service, plus health and readiness endpoints. Every route is in routes.go.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/schema"
)

// Deps are what the server needs from the rest of scimd.
type Deps struct {
	Directory *directory.Service
	Schemas   *schema.Registry
	// Ready reports whether the server can serve requests (the database answers).
	Ready  func(context.Context) error
	Logger *slog.Logger
	// BaseURL is the public SCIM base URL, e.g. https://scim.example.com/scim/v2. When empty,
	// it is derived from each request's Host.
	BaseURL string
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64
	Now          func() time.Time

	// Orgs is organization administration, served as the admin API under /admin/v1.
	Orgs *orgs.Service
	// AdminToken is the admin API's bearer token; while it (or Orgs) is unset the admin API
	// is disabled and answers 404.
	AdminToken string

	// RateLimit is the requests per second each provisioning token may make, with bursts of
	// RateBurst; 0 turns rate limiting off.
	RateLimit float64
	RateBurst int
	// Collectors are extra Prometheus collectors served at /metrics (the database pool's).
	Collectors []prometheus.Collector
}

type server struct {
	Deps
	log     *slog.Logger
	limiter *limiter
	metrics *metrics
}

// NewServer returns scimd's HTTP handler.
func NewServer(d Deps) http.Handler {
	if d.MaxBodyBytes == 0 {
		d.MaxBodyBytes = 1 << 20
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	s := &server{Deps: d, log: d.Logger, limiter: newLimiter(d.RateLimit, d.RateBurst), metrics: newMetrics(d.Collectors...)}
	return s.routes()
}

// writeJSON writes body with SCIM's media type.
func (s *server) writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := appendJSON(make([]byte, 0, 2048), body)
	if err != nil {
		// Only a value encoding/json cannot encode gets here: a bug, not the client's doing.
		s.log.Error("encoding a response", "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	if _, err := w.Write(append(b, '\n')); err != nil {
		s.log.Warn("writing response", "err", err.Error())
	}
}
