// Package server is scimd's HTTP interface: the SCIM 2.0 protocol (RFC 7644) over the
// directory service, plus health and readiness endpoints. Every route is in routes.go.
package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimd/scimd/internal/console"
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

	// Lifecycle reports the process's shutdown: /readyz answers 503 once it drains. Nil: it
	// never does.
	Lifecycle *Lifecycle
	// SeparateAdmin serves the admin API and /metrics only on connections of the admin
	// listener (contexts from AdminListener), and SCIM only on the others, so that neither has
	// to be reachable where identity providers call.
	SeparateAdmin bool
	// WriteTimeout bounds the writing of one response, from its first byte: the time spent
	// computing it does not count, and a client that stops reading is disconnected when it
	// runs out. 0: no limit.
	WriteTimeout time.Duration
	// A request body the handler left unread (an oversized one answered 413 at once, or one
	// refused before it was read) is read and discarded after the answer, up to DiscardBytes
	// or for DiscardTime, whichever ends first, so that clients that send the whole body
	// before reading (Python's http.client) read the answer instead of a reset connection.
	// 0: 64 MiB and 10 s; negative: nothing is discarded.
	DiscardBytes int64
	DiscardTime  time.Duration
	// AuthFailureRate and AuthFailureBurst limit failed authentications (SCIM and admin
	// tokens) per client address: over the limit a request whose token is not valid is
	// answered 429 instead of 401, while a valid token is never refused. 0 turns it off.
	AuthFailureRate  float64
	AuthFailureBurst int
	// TrustedProxies are the peers whose X-Forwarded-For header names the client's address;
	// any other peer is the client.
	TrustedProxies []netip.Prefix
	// OrgConcurrency bounds the requests of one organization in progress at once, so that no
	// organization can take every database connection; a request waits up to OrgWait for a
	// slot and is answered 503 after. 0 turns it off.
	OrgConcurrency int
	OrgWait        time.Duration
	// IdentityProviders is the HTTP client the console's sign-in talks to organizations'
	// OpenID providers with; nil means one with a 10 second timeout.
	IdentityProviders *http.Client
}

type server struct {
	Deps
	log          *slog.Logger
	limiter      *limiter
	authFailures *failureLimiter
	orgSlots     *orgLimiter
	metrics      *metrics
	// console is the Organization Center under /console/, nil without Orgs.
	console http.Handler
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
	if d.DiscardBytes == 0 {
		d.DiscardBytes = 64 << 20
	}
	if d.DiscardTime == 0 {
		d.DiscardTime = 10 * time.Second
	}
	s := &server{Deps: d, log: d.Logger, limiter: newLimiter(d.RateLimit, d.RateBurst),
		authFailures: newFailureLimiter(d.AuthFailureRate, d.AuthFailureBurst, maxFailureAddrs),
		orgSlots:     newOrgLimiter(d.OrgConcurrency, d.OrgWait),
		metrics:      newMetrics(d.Collectors...)}
	if d.Orgs != nil {
		c, err := console.New(console.Deps{Directory: d.Directory, Orgs: d.Orgs, Schemas: d.Schemas, Logger: d.Logger,
			Now: d.Now, Root: s.publicRoot, RequestID: requestID, HTTPClient: d.IdentityProviders,
			Classify: func(r *http.Request, err error) int {
				status, _ := s.classify(r, err)
				return status
			}, Failed: s.consoleFailure()})
		if err != nil {
			// The console's templates and catalogues are embedded: this is a defect of the build.
			panic(err)
		}
		s.console = c
	}
	return s.routes()
}

type adminListenerKey struct{}

// AdminListener marks ctx as the base context of the admin listener's connections (see
// Deps.SeparateAdmin).
func AdminListener(ctx context.Context) context.Context {
	return context.WithValue(ctx, adminListenerKey{}, true)
}

func onAdminListener(r *http.Request) bool {
	v, _ := r.Context().Value(adminListenerKey{}).(bool)
	return v
}

// responseBuffers recycles the buffers responses are encoded into: one per request otherwise,
// a tenth of what a GET allocated. Buffers grown past maxPooledResponse are left to the garbage
// collector rather than kept. It holds a page of 100 users (about 140 KB, the page size
// identity providers ask for): at 64 KB such pages grew a new buffer every time, 470 KB of
// allocation per page and 40% of all, which cost a tenth of their throughput in the collector.
var responseBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledResponse = 256 << 10

// writeJSON writes body with SCIM's media type.
func (s *server) writeJSON(w http.ResponseWriter, status int, body any) {
	buf := responseBuffers.Get().(*[]byte)
	b, err := appendJSON((*buf)[:0], body)
	defer func() {
		if cap(b) <= maxPooledResponse {
			*buf = b
			responseBuffers.Put(buf)
		}
	}()
	if err != nil {
		// Only a value encoding/json cannot encode gets here: a bug, not the client's doing.
		s.log.Error("encoding a response", "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		// The connection failed under the response: the client went away or stopped reading.
		s.log.Info("writing response", "err", err.Error())
	}
}
