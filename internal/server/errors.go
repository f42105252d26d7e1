package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// classify returns the status and the client-facing error for err, and logs what the
// operator should see. An error that is not a *scimerr.Error is one of:
//   - the client went away (its context ended, or writing to it failed): logged at INFO and
//     counted as 499, not as a server error;
//   - the grace period of a shutdown ran out: 503, logged at WARN;
//   - the database is unavailable, the connection to it was lost (also while COMMIT was in
//     flight: the outcome is unknown, so it is not retried here either), or one of scimd's own
//     time limits ran out (pool acquisition, statement_timeout): 503, logged at WARN;
//   - each of these is logged once per request, however many times a request meets it (each
//     operation of a Bulk);
//   - anything else is unexpected: logged in full at ERROR, and the client learns only that
//     something went wrong, with the request id that finds it in the log.
//
// Every 503 carries Retry-After (statusWriter).
func (s *server) classify(r *http.Request, err error) (int, *scimerr.Error) {
	e := scimerr.As(err)
	if e != nil {
		if status, ok := e.Kind.Status(); ok {
			return status, e
		}
	}
	ctx := r.Context()
	transient := postgres.Unavailable(err) || errors.Is(err, context.DeadlineExceeded)
	switch {
	case clientGone(r) && (transient || errors.Is(err, context.Canceled)):
		if reqInfo(ctx).goneLogged.CompareAndSwap(false, true) {
			s.log.InfoContext(ctx, "client went away", "err", err.Error(), "method", r.Method,
				"route", routePattern(r), "request_id", requestID(ctx))
		}
		return statusClientClosed, &scimerr.Error{Detail: "the client closed the connection before the answer"}
	case errors.Is(context.Cause(ctx), ErrStopped):
		if reqInfo(ctx).unavailableLogged.CompareAndSwap(false, true) {
			s.log.WarnContext(ctx, "request cut short by shutdown", "err", err.Error(), "method", r.Method,
				"route", routePattern(r), "request_id", requestID(ctx))
		}
		return http.StatusServiceUnavailable, scimerr.New(scimerr.KindUnavailable, "",
			"scimd is shutting down and could not finish the request; retry it")
	case transient:
		if reqInfo(ctx).unavailableLogged.CompareAndSwap(false, true) {
			s.log.WarnContext(ctx, "database unavailable", "err", err.Error(), "method", r.Method,
				"route", routePattern(r), "request_id", requestID(ctx))
		}
		return http.StatusServiceUnavailable, scimerr.New(scimerr.KindUnavailable, "",
			"the database is unavailable or busy; retry later (request id %s)", requestID(ctx))
	}
	s.log.ErrorContext(ctx, "internal error", "err", err.Error(), "method", r.Method,
		"route", routePattern(r), "request_id", requestID(ctx))
	return http.StatusInternalServerError,
		&scimerr.Error{Detail: "internal error; the request id " + requestID(ctx) + " identifies it in the server's log"}
}

// scimHandler is a SCIM endpoint: it writes its answer, or returns the error to answer instead
// (scim), so that the error schema, status and logging of failures are written in one place.
type scimHandler func(w http.ResponseWriter, r *http.Request) error

// scim serves h, answering the error it returns with writeError.
func (s *server) scim(h scimHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}
}

// writeError answers err in the SCIM error schema.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, body := s.errorBody(r, err)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimd"`)
	}
	s.writeJSON(w, status, body)
}

// errorBody is err's status and its body in the SCIM error schema, as writeError answers and
// as a bulk operation's response carries.
func (s *server) errorBody(r *http.Request, err error) (int, map[string]any) {
	status, e := s.classify(r, err)
	body := map[string]any{
		"schemas": []string{schema.ErrorURN},
		"status":  strconv.Itoa(status),
		"detail":  e.Detail,
	}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	return status, body
}

// accessAttrs are the fields of a request's access log line; none of them is personal data
// (the URL, whose query may hold a filter on names or emails, is left out).
func accessAttrs(r *http.Request, route string, status int, d time.Duration) []slog.Attr {
	ri := reqInfo(r.Context())
	org := ri.org
	if org == "" {
		org = truncate(chi.URLParam(r, "org"), 64) // the admin API names the organization in its path
	}
	return []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.String("request_id", ri.id),
		slog.String("org_id", org),
		slog.String("token_id", ri.token),
		slog.String("user_agent", truncate(r.UserAgent(), 200)),
		slog.Float64("duration_ms", float64(d.Microseconds())/1000),
	}
}

// truncate bounds what a client sends to what a log line should hold.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
