// Package scimerr defines scimd's one error type. Every failure a client should see is an
// *Error with a Kind and a detail written for the client; anything else is unexpected and the
// HTTP layer answers it with a generic 500 while logging it in full.
package scimerr

import (
	"errors"
	"fmt"
	"net/http"
)

// Kind classifies an error; each kind has one HTTP status (Kind.Status), whichever interface
// (SCIM, the admin API, the console) shows the error.
type Kind int

// The kinds of error scimd reports to clients.
const (
	KindInvalid Kind = iota + 1
	KindUnauthorized
	KindForbidden
	KindNotFound
	KindConflict
	KindPreconditionFailed
	KindTooLarge
	KindUnsupportedMediaType
	KindMethodNotAllowed
	KindNotAcceptable
	KindTooManyRequests
	KindUnavailable
)

// statusOf is the one table from error kinds to HTTP status codes.
var statusOf = map[Kind]int{
	KindInvalid:              http.StatusBadRequest,
	KindUnauthorized:         http.StatusUnauthorized,
	KindForbidden:            http.StatusForbidden,
	KindNotFound:             http.StatusNotFound,
	KindConflict:             http.StatusConflict,
	KindPreconditionFailed:   http.StatusPreconditionFailed,
	KindTooLarge:             http.StatusRequestEntityTooLarge,
	KindUnsupportedMediaType: http.StatusUnsupportedMediaType,
	KindMethodNotAllowed:     http.StatusMethodNotAllowed,
	KindNotAcceptable:        http.StatusNotAcceptable,
	KindTooManyRequests:      http.StatusTooManyRequests,
	KindUnavailable:          http.StatusServiceUnavailable,
}

// Status is the HTTP status of errors of kind k; ok is false for a kind without one (the zero
// Kind), which is answered as an unexpected error.
func (k Kind) Status() (status int, ok bool) {
	status, ok = statusOf[k]
	return status, ok
}

// SCIM error types (RFC 7644 §3.12).
const (
	InvalidFilter = "invalidFilter"
	TooMany       = "tooMany"
	Uniqueness    = "uniqueness"
	Mutability    = "mutability"
	InvalidSyntax = "invalidSyntax"
	InvalidPath   = "invalidPath"
	NoTarget      = "noTarget"
	InvalidValue  = "invalidValue"
	InvalidVers   = "invalidVers"
	Sensitive     = "sensitive"
	TooLarge      = "tooLarge"
)

// SCIM error types of cursor pagination (RFC 9865 §2.1), all with status 400.
const (
	InvalidCursor = "invalidCursor"
	ExpiredCursor = "expiredCursor"
	InvalidCount  = "invalidCount"
)

// Error is a failure described for the client.
type Error struct {
	Kind     Kind
	ScimType string
	Detail   string
	// Attribute, when set, is the attribute the error concerns (a SCIM path such as userName or
	// locale), so that a form can show the detail next to its field. SCIM responses carry
	// only the detail, which names the attribute itself.
	Attribute string
}

// On sets the attribute the error concerns and returns the error.
func (e *Error) On(attribute string) *Error {
	e.Attribute = attribute
	return e
}

func (e *Error) Error() string {
	if e.ScimType != "" {
		return e.ScimType + ": " + e.Detail
	}
	return e.Detail
}

// New returns an error of the given kind and scimType with a formatted detail.
func New(kind Kind, scimType, format string, args ...any) *Error {
	return &Error{Kind: kind, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

// Invalid returns a 400-class error with the given scimType.
func Invalid(scimType, format string, args ...any) *Error {
	return New(KindInvalid, scimType, format, args...)
}

// NotFound returns a not-found error.
func NotFound(format string, args ...any) *Error {
	return New(KindNotFound, "", format, args...)
}

// As returns the *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// WithScimType returns a copy of err with a different scimType when err is an *Error of kind
// Invalid, so a layer can reclassify (an unknown attribute in a filter is invalidFilter, in a
// PATCH path invalidPath); other errors are returned unchanged.
func WithScimType(err error, scimType string) error {
	if e := As(err); e != nil && e.Kind == KindInvalid {
		return &Error{Kind: e.Kind, ScimType: scimType, Detail: e.Detail, Attribute: e.Attribute}
	}
	return err
}
