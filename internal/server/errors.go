package server

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// statusOf is the one table from error kinds to HTTP status codes.
var statusOf = map[scimerr.Kind]int{
	scimerr.KindInvalid:              http.StatusBadRequest,
	scimerr.KindUnauthorized:         http.StatusUnauthorized,
	scimerr.KindForbidden:            http.StatusForbidden,
	scimerr.KindNotFound:             http.StatusNotFound,
	scimerr.KindConflict:             http.StatusConflict,
	scimerr.KindPreconditionFailed:   http.StatusPreconditionFailed,
	scimerr.KindTooLarge:             http.StatusRequestEntityTooLarge,
	scimerr.KindUnsupportedMediaType: http.StatusUnsupportedMediaType,
	scimerr.KindMethodNotAllowed:     http.StatusMethodNotAllowed,
	scimerr.KindNotAcceptable:        http.StatusNotAcceptable,
	scimerr.KindTooManyRequests:      http.StatusTooManyRequests,
	scimerr.KindUnavailable:          http.StatusServiceUnavailable,
}

// classify returns the status and the client-facing error for err. An error that is not a
// *scimerr.Error is unexpected: it is logged in full and the client learns only that something
// went wrong, with the request id that finds it in the log.
func (s *server) classify(r *http.Request, err error) (int, *scimerr.Error) {
	e := scimerr.As(err)
	if e != nil {
		if status, ok := statusOf[e.Kind]; ok {
			return status, e
		}
	}
	s.log.ErrorContext(r.Context(), "internal error", "err", err.Error(), "method", r.Method,
		"route", routePattern(r), "request_id", requestID(r.Context()))
	return http.StatusInternalServerError,
		&scimerr.Error{Detail: "internal error; the request id " + requestID(r.Context()) + " identifies it in the server's log"}
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

// logAttrs are the fields every request log line carries; none of them is personal data.
func logAttrs(r *http.Request, status int) []slog.Attr {
	return []slog.Attr{
		slog.String("method", r.Method),
		slog.String("route", routePattern(r)),
		slog.Int("status", status),
		slog.String("request_id", requestID(r.Context())),
	}
}
