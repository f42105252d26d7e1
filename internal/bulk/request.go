// Package bulk carries out SCIM bulk requests (RFC 7644 §3.7): it parses a BulkRequest, plans
// the order of its operations from their bulkId references, and runs each operation through an
// Executor of its resource type, exactly as the operation's single request would run. What bulk
// adds to the single requests is here: bulkId references (forward, backward and in circles),
// failOnErrors, the limits, and batched creation of users. The HTTP framing (media types, body
// limits, rendering results and errors) is internal/server's.
package bulk

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/scimd/scimd/internal/scimerr"
)

// URNs of the bulk messages.
const (
	RequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	ResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
)

// MaxOperations is maxOperations: the most operations one bulk request may carry.
const MaxOperations = 1000

// MaxPayload is maxPayloadSize unless the single-request limit is larger: 1,000 user creations
// of a few kilobytes each fit.
const MaxPayload = 4 << 20

const bulkIDPrefix = "bulkId:"

// TooLarge is the error of a request over a limit: 413 with scimType tooLarge.
func TooLarge(format string, args ...any) error {
	return scimerr.New(scimerr.KindTooLarge, scimerr.TooLarge, format, args...)
}

// Request is a parsed BulkRequest.
type Request struct {
	Ops []*Op
	// FailOnErrors, when positive, stops processing after that many failed operations.
	FailOnErrors int
}

// Op is one operation of a bulk request.
type Op struct {
	Index   int
	Method  string // upper-case when valid, else as sent
	Path    string
	BulkID  string
	Version string
	Data    any // decoded with json.Number; nil when absent or null
	HasData bool
	DataLen int

	typ *Type
	id  string // the id in the path, possibly "bulkId:..."
	// routeErr is what the single request's routing answers (404, 405) or a malformed
	// operation; refErr a bulkId reference that cannot be resolved. Either fails the
	// operation without running it.
	routeErr, refErr error
	// deps are the operations whose bulkIds this one references, in request order.
	deps []int
}

// Parse decodes a BulkRequest. Errors of the request as a whole are returned; those of one
// operation are kept in it and fail it alone.
func Parse(raw []byte) (*Request, error) {
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is not valid JSON: %v", err)
	}
	top, ok := lowerKeys(raw)
	if !ok {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body must be a BulkRequest JSON object")
	}
	var schemas []any
	if err := json.Unmarshal(top["schemas"], &schemas); err != nil || !hasURN(schemas, RequestURN) {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "\"schemas\" must be a list containing %q", RequestURN)
	}
	req := &Request{}
	if v := top["failonerrors"]; !isNull(v) {
		n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil || n < 1 {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "failOnErrors must be a positive integer, not %s", v)
		}
		req.FailOnErrors = n
	}
	var list []json.RawMessage
	if err := json.Unmarshal(top["operations"], &list); err != nil || len(list) == 0 {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "\"Operations\" must be a non-empty list of operations")
	}
	if len(list) > MaxOperations {
		return nil, TooLarge("the bulk request has %d operations; maxOperations is %d", len(list), MaxOperations)
	}
	req.Ops = make([]*Op, len(list))
	for i, el := range list {
		req.Ops[i] = parseOp(i, el)
	}
	return req, nil
}

func hasURN(list []any, urn string) bool {
	for _, v := range list {
		if s, ok := v.(string); ok && strings.EqualFold(s, urn) {
			return true
		}
	}
	return false
}

// lowerKeys decodes a JSON object into its members by lower-cased name: SCIM attribute names
// are case-insensitive.
func lowerKeys(raw []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out, true
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func parseOp(i int, raw json.RawMessage) *Op {
	op := &Op{Index: i}
	m, ok := lowerKeys(raw)
	if !ok {
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] must be an object with method, path and data", i)
		return op
	}
	str := func(name string, dst *string) bool {
		v, ok := m[strings.ToLower(name)]
		if !ok || isNull(v) {
			return true
		}
		if json.Unmarshal(v, dst) != nil {
			op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d].%s must be a string", i, name)
			return false
		}
		return true
	}
	if !str("method", &op.Method) || !str("path", &op.Path) || !str("bulkId", &op.BulkID) || !str("version", &op.Version) {
		return op
	}
	if d, ok := m["data"]; ok && !isNull(d) {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&op.Data); err != nil {
			op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d].data is not valid JSON: %v", i, err)
			return op
		}
		op.HasData, op.DataLen = true, len(d)
	}
	switch strings.ToUpper(op.Method) {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		op.Method = strings.ToUpper(op.Method)
	case "":
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] has no method; it must be POST, PUT, PATCH or DELETE", i)
	default:
		op.routeErr = scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported in a bulk operation; use POST, PUT, PATCH or DELETE", op.Method)
	}
	return op
}
