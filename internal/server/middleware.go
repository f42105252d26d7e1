package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

type ctxKey int

const (
	requestKey ctxKey = iota
	actorKey
)

// requestInfo is what the outer middleware (access log, error classification) learns about a
// request from the inner ones.
type requestInfo struct {
	id string
	// org and token are who the request acts as, once authenticated.
	org, token string
	// writeFailed is set when writing the response failed: the client went away or stopped
	// reading.
	writeFailed atomic.Bool
	// goneLogged and unavailableLogged are set once the client's departure, or the
	// database's unavailability (or the end of the shutdown grace), is logged, so that a
	// request that meets it many times (each operation of a Bulk) logs it once.
	goneLogged, unavailableLogged atomic.Bool
}

func reqInfo(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(requestKey).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

func requestID(ctx context.Context) string { return reqInfo(ctx).id }

// actor is who the request acts as, as authentication found it.
func actor(r *http.Request) directory.Actor {
	a, _ := r.Context().Value(actorKey).(directory.Actor)
	return a
}

// clientGone reports whether the client went away before the response was written: it closed
// the connection (which cancels the request's context; scimd's own cancellation at the end of
// the shutdown grace has the cause ErrStopped) or writing the response failed.
func clientGone(r *http.Request) bool {
	ctx := r.Context()
	return reqInfo(ctx).writeFailed.Load() || (ctx.Err() != nil && !errors.Is(context.Cause(ctx), ErrStopped))
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
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey, &requestInfo{id: id})))
	})
}

// withDrainClose closes each connection after its response once shutdown has begun, so that
// clients and load balancers open their next connection to a process that is staying.
func (s *server) withDrainClose(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.Lifecycle.isDraining() {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r)
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

// withBodyDiscard reads and discards what is left of a request body once the handler has
// answered, up to DiscardBytes or for DiscardTime. Without it, a handler that answers without
// reading the body (413 for a declared length over the limit, 401, 415) or stops at the limit
// leaves the client sending into a connection that the server closes, and a client that
// writes its whole body before reading (Python's http.client, many SDKs) gets a reset instead
// of the answer.
func (s *server) withBodyDiscard(next http.Handler) http.Handler {
	if s.DiscardBytes < 0 || s.DiscardTime < 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 1 || r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			// HTTP/2 ends a stream without closing the connection: nothing to protect.
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		// By default the server reads at most 256 KiB of an unread body before it starts the
		// response and then closes the connection; full duplex leaves the body to us.
		_ = rc.EnableFullDuplex()
		body := &watchedBody{ReadCloser: r.Body, header: w.Header()}
		r2 := *r
		r2.Body = body
		next.ServeHTTP(w, &r2)
		// Nothing is left when the body was read to its end or reading it failed (the read
		// timeout of a trickling client must not be extended). A client that asked "Expect:
		// 100-continue" sends the body only once reading starts: if the handler never read,
		// it was never asked and sends nothing.
		if body.eof || body.failed || (!body.read && strings.EqualFold(r.Header.Get("Expect"), "100-continue")) {
			return
		}
		_ = rc.Flush() // the answer first, for clients that read while they send
		_ = rc.SetReadDeadline(time.Now().Add(s.DiscardTime))
		n, err := io.CopyN(io.Discard, body.ReadCloser, s.DiscardBytes)
		s.log.DebugContext(r.Context(), "discarded the unread request body", "bytes", n,
			"complete", errors.Is(err, io.EOF), "request_id", requestID(r.Context()))
	})
}

// watchedBody tells whether the handler read the body, all of it, or failed to.
type watchedBody struct {
	io.ReadCloser
	header            http.Header
	read, eof, failed bool
}

func (b *watchedBody) Read(p []byte) (int, error) {
	b.read = true
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil && !b.failed {
		// What is left of a body that could not be read (the read timeout ran out, the
		// client's framing is broken) must not be taken for the next request: the connection
		// ends with the answer. In full duplex that is the handler's to say.
		b.failed = true
		b.header.Set("Connection", "close")
	}
	return n, err
}

// withWriteDeadline gives each response WriteTimeout to be written from its first byte.
func (s *server) withWriteDeadline(next http.Handler) http.Handler {
	if s.WriteTimeout <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// The deadline of the previous response on this connection must not cut this one short.
		_ = rc.SetWriteDeadline(time.Time{})
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: rc, timeout: s.WriteTimeout}, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	started bool
}

func (w *deadlineWriter) start() {
	if !w.started {
		w.started = true
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	if code >= 200 { // informational answers (100 Continue) do not start the response
		w.start()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(b []byte) (int, error) {
	w.start()
	return w.ResponseWriter.Write(b)
}

func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusWriter records the status of the response and whether writing it failed, and gives
// every 503 a Retry-After.
type statusWriter struct {
	http.ResponseWriter
	status int
	info   *requestInfo
}

// retryAfterUnavailable is the Retry-After of a 503 that sets none of its own: the database is
// unavailable, or the process shutting down; a second or two is when another process or the
// database's restart is likely to answer.
const retryAfterUnavailable = "2"

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		if code == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
			w.Header().Set("Retry-After", retryAfterUnavailable)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	if err != nil {
		w.info.writeFailed.Store(true)
	}
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusClientClosed is the status logged and counted for a request whose client went away
// before the answer (nginx's 499): not a server error.
const statusClientClosed = 499

// withAccessLog logs one line per request: method, route pattern (not the URL, which may hold
// a filter with personal data), status, duration, organization, token and user agent.
func (s *server) withAccessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, info: reqInfo(r.Context())}
		next.ServeHTTP(sw, r)
		d := time.Since(start)
		status := sw.status
		if status == 0 {
			status = http.StatusOK // what the server sends for a handler that wrote nothing
		}
		if clientGone(r) {
			status = statusClientClosed
		}
		route := routePattern(r) // chi joins it anew on every call
		s.metrics.observe(r, route, status, d)
		// A record without a caller's position: Logger.LogAttrs walks the stack for one on
		// every call, about a microsecond per request that a handler without AddSource
		// throws away.
		if h := s.log.Handler(); h.Enabled(r.Context(), slog.LevelInfo) {
			rec := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
			rec.AddAttrs(accessAttrs(r, route, status, d)...)
			_ = h.Handle(r.Context(), rec)
		}
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
		ri := reqInfo(r.Context())
		ri.org, ri.token = a.Org, a.TokenID
		a.RequestID = ri.id
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
			if !limitBody(w, r, s.MaxBodyBytes) {
				s.writeError(w, r, tooLarge(s.MaxBodyBytes))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody bounds r's body to limit bytes: reading past it fails with *http.MaxBytesError.
// It reports false, reading nothing, when the declared length is over the limit already; the
// caller answers 413, and withBodyDiscard reads what the client still sends so that it reads
// the answer. The limits of SCIM requests (withBody) and Bulk (withBulkBody) go through here.
func limitBody(w http.ResponseWriter, r *http.Request, limit int64) bool {
	if r.ContentLength > limit {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return true
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
	if s.Lifecycle.isDraining() {
		// Load balancers take the process out of rotation while it still serves.
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if err := s.Ready(r.Context()); err != nil {
		s.log.WarnContext(r.Context(), "not ready", "err", err.Error())
		http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ready\n"))
}
