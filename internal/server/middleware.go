package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	actorKey
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// actor is who the request acts as, as authentication found it.
func actor(r *http.Request) directory.Actor {
	a, _ := r.Context().Value(actorKey).(directory.Actor)
	return a
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// withRequestID tags each request with an id, the caller's own X-Request-Id when it is sane,
// so log lines and error responses can be matched.
func (s *server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID.MatchString(id) {
			b := make([]byte, 8)
			_, _ = rand.Read(b)
			id = hex.EncodeToString(b)
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey, id)))
	})
}

func (s *server) withRecovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// withAccessLog logs one line per request: method, route pattern (not the URL, which may hold
// a filter with personal data), status, duration and organization.
func (s *server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		s.metrics.observe(r, sw.status, time.Since(start))
		attrs := append(logAttrs(r, sw.status), slog.Duration("duration", time.Since(start)))
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}

func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.RoutePattern() != "" {
		return rc.RoutePattern()
	}
	return "unmatched"
}

// withAuth requires a valid bearer token and puts who it acts as in the context.
func (s *server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			s.writeError(w, r, scimerr.New(scimerr.KindUnauthorized, "",
				"an Authorization header with a bearer token is required"))
			return
		}
		a, err := s.Directory.Authenticate(r.Context(), strings.TrimSpace(token), s.Now())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// The directory refuses writes of a read-only actor itself; refusing them here too
		// answers before the body is read.
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !checksWrites(r) {
			if err := a.CanWrite(); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		if a.Notify, err = notifyOverride(r); err != nil {
			s.writeError(w, r, err)
			return
		}
		a.RequestID = requestID(r.Context())
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), actorKey, a)))
	})
}

// notifyOverride reads a request's notification override: the query parameter notify or the
// header X-Scimd-Notify, "true" or "false". Identity providers cannot add headers, but the
// query parameter can ride on the SCIM base URL they are given.
func notifyOverride(r *http.Request) (*bool, error) {
	v := r.Header.Get("X-Scimd-Notify")
	if q, ok := queryParams(r)["notify"]; ok {
		v = q
	}
	if v == "" {
		return nil, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return nil, scimerr.Invalid(scimerr.InvalidValue, "notify must be true or false, not %q", v)
	}
	return &b, nil
}

// withBody checks the media type of requests that carry a body and bounds their size.
func (s *server) withBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			if ct := r.Header.Get("Content-Type"); ct != "" {
				mt, _, err := mime.ParseMediaType(ct)
				if err != nil || (mt != "application/scim+json" && mt != "application/json") {
					s.writeError(w, r, scimerr.New(scimerr.KindUnsupportedMediaType, "",
						"Content-Type must be application/scim+json or application/json, not %q", ct))
					return
				}
			}
			if r.ContentLength > s.MaxBodyBytes {
				s.writeError(w, r, tooLarge(s.MaxBodyBytes))
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, s.MaxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64) error {
	return scimerr.New(scimerr.KindTooLarge, "", "the request body exceeds the limit of %d bytes", limit)
}

func (s *server) notFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, scimerr.NotFound("no endpoint at %s", r.URL.Path))
}

func (s *server) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported on %s", r.Method, r.URL.Path))
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ok\n"))
}

func (s *server) handleReady(w http.ResponseWriter, r *http.Request) {
	if err := s.Ready(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err.Error())
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ready\n"))
}
