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

// writeError answers err in the SCIM error schema. An error that is not a *scimerr.Error is
// unexpected: it is logged in full and the client learns only that something went wrong.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := scimerr.As(err)
	status, known := 0, false
	if e != nil {
		status, known = statusOf[e.Kind]
	}
	if !known {
		s.log.ErrorContext(r.Context(), "internal error", "err", err.Error(), "method", r.Method,
			"route", routePattern(r), "request_id", requestID(r.Context()))
		e = &scimerr.Error{Detail: "internal error; the request id " + requestID(r.Context()) + " identifies it in the server's log"}
		status = http.StatusInternalServerError
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="scimd"`)
	}
	body := map[string]any{
		"schemas": []string{schema.ErrorURN},
		"status":  strconv.Itoa(status),
		"detail":  e.Detail,
	}
	if e.ScimType != "" {
		body["scimType"] = e.ScimType
	}
	s.writeJSON(w, status, body)
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
