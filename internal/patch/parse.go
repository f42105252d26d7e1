// Package patch decodes SCIM PATCH requests (RFC 7644 §3.5.2) and applies them to canonical
// resource documents, accepting the shapes real identity providers send (see
// shared/IDP-REQUESTS.md): capitalised ops, string booleans, path-less values with dotted and
// URN-prefixed keys, readOnly attributes in path-less values, member removal by value list,
// filtered add paths that create the element they name, and `{"value":""}` to clear a manager.
// Values go through schema normalisation, which refuses what cannot be stored (NUL, strings over
// an attribute's MaxBytes, invalid dateTimes) with invalidValue.
//
// Decisions callers should know:
//   - Apply works on a deep copy and only writes the result back into doc on success, so on error
//     doc is unchanged.
//   - Keys of a path-less value (and of a value addressed to a whole extension) that name no
//     attribute are ignored, as are readOnly attributes and "schemas" there: clients echo back
//     what they read (Okta sends "id" with every group rename). An explicit path to a readOnly
//     attribute is a mutability error.
//   - In a path-less replace, a key whose value is null removes that attribute; in a path-less add
//     it is ignored.
//   - A complex value that is explicitly empty (`{"value":""}`, `{}`, `[]`, an object of nulls)
//     clears the target; one that only carries readOnly or unknown sub-attributes (a member's
//     "display", the manager's "displayName") changes nothing.
//   - When a merge changes the "value" of a complex value (manager, a member), the $ref, display
//     and displayName sub-attributes not given with it are dropped: they described the old value.
//   - add to a multi-valued attribute skips elements already present (equal on every
//     sub-attribute but primary; for attributes whose "value" sub-attribute is immutable, such as
//     Group members, equal "value" is enough).
//   - Setting primary true on one element clears primary (removes the key) on the others.
//   - A replace whose path has a value filter that matches no element fails with noTarget, as
//     RFC 7644 §3.5.2.3 requires, and changes nothing. An add through such a path creates the
//     element when the filter is `eq` comparisons joined by `and`: `add emails[type eq
//     "work"].value` without a work email adds {"type": "work", "value": ...}, which is what
//     Entra sends for a value that is new. A remove that matches nothing, and a replace with an
//     empty value ("", {}, nulls) that matches nothing, change nothing: what they would clear is
//     not there.
//   - After the operations, elements of a multi-valued attribute with the same type and value
//     are merged into one (schema.ResourceType.MergeDuplicates, RFC 7643 §2.4), keeping primary
//     if either had it.
package patch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// The operations of RFC 7644 §3.5.2, as Parse spells them.
const (
	OpAdd     = "add"
	OpReplace = "replace"
	OpRemove  = "remove"
)

// Operation is one PATCH operation as the client sent it. Parse lower-cases Op; Apply accepts it
// in any case. Path is "" when the client sent none. Value is nil when the client sent none (or
// null); otherwise it is the decoded JSON with numbers as json.Number.
type Operation struct {
	Op    string
	Path  string
	Value any
}

// Parse decodes a PatchOp request body (RFC 7644 §3.5.2). It requires the PatchOp schema URN in
// "schemas" and a non-empty "Operations" list (keys matched case-insensitively, in any order);
// each operation needs an "op" of add, replace or remove in any case. Failures are invalidSyntax
// errors whose detail says what to fix. Whether add and replace carry a value, and whether paths
// resolve, is checked by Apply.
func Parse(body []byte) ([]Operation, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, syntaxErr("request body is not valid JSON: %s", jsonErr(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, syntaxErr("request body has data after the PatchOp object")
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, syntaxErr("request body must be a PatchOp JSON object")
	}
	schemas, err := member(obj, "schemas")
	if err != nil {
		return nil, err
	}
	if !hasPatchOpURN(schemas) {
		return nil, syntaxErr("\"schemas\" must be a list containing %q", schema.PatchOpURN)
	}
	opsv, err := member(obj, "Operations")
	if err != nil {
		return nil, err
	}
	list, ok := opsv.([]any)
	if !ok || len(list) == 0 {
		return nil, syntaxErr("\"Operations\" must be a non-empty list of operations")
	}
	ops := make([]Operation, 0, len(list))
	for i, e := range list {
		o, err := parseOp(i, e)
		if err != nil {
			return nil, err
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func parseOp(i int, e any) (Operation, error) {
	m, ok := e.(map[string]any)
	if !ok {
		return Operation{}, syntaxErr("operation %d: must be a JSON object with \"op\", \"path\" and \"value\"", i+1)
	}
	var o Operation
	opv, err := member(m, "op")
	if err != nil {
		return o, opErr(i, err)
	}
	s, ok := opv.(string)
	if !ok {
		return o, syntaxErr("operation %d: \"op\" must be one of \"add\", \"replace\", \"remove\"", i+1)
	}
	if o.Op = canonicalOp(s); o.Op == "" {
		return o, syntaxErr("operation %d: \"op\" must be one of \"add\", \"replace\", \"remove\", got %q", i+1, s)
	}
	pv, err := member(m, "path")
	if err != nil {
		return o, opErr(i, err)
	}
	switch p := pv.(type) {
	case nil:
	case string:
		o.Path = strings.TrimSpace(p)
	default:
		return o, syntaxErr("operation %d: \"path\" must be a string", i+1)
	}
	if o.Value, err = member(m, "value"); err != nil {
		return o, opErr(i, err)
	}
	return o, nil
}

// member returns the value of obj's key matching name case-insensitively (nil when absent). Two
// keys that differ only in case are ambiguous.
func member(obj map[string]any, name string) (any, error) {
	var (
		v     any
		found string
	)
	for k, x := range obj {
		if !strings.EqualFold(k, name) {
			continue
		}
		if found != "" {
			return nil, syntaxErr("keys %q and %q are the same member; send one", found, k)
		}
		found, v = k, x
	}
	if found == "" && (name == "schemas" || name == "Operations" || name == "op") {
		return nil, syntaxErr("%q is required", name)
	}
	return v, nil
}

func hasPatchOpURN(v any) bool {
	list, ok := v.([]any)
	if !ok {
		s, isStr := v.(string) // a bare string is lenient but unambiguous
		return isStr && strings.EqualFold(strings.TrimSpace(s), schema.PatchOpURN)
	}
	for _, e := range list {
		if s, ok := e.(string); ok && strings.EqualFold(strings.TrimSpace(s), schema.PatchOpURN) {
			return true
		}
	}
	return false
}

func canonicalOp(s string) string {
	for _, op := range []string{OpAdd, OpReplace, OpRemove} {
		if strings.EqualFold(strings.TrimSpace(s), op) {
			return op
		}
	}
	return ""
}

func syntaxErr(format string, args ...any) error {
	return scimerr.Invalid(scimerr.InvalidSyntax, format, args...)
}

func opErr(i int, err error) error {
	if e := scimerr.As(err); e != nil {
		return &scimerr.Error{Kind: e.Kind, ScimType: e.ScimType, Detail: fmt.Sprintf("operation %d: %s", i+1, e.Detail)}
	}
	return err
}

func jsonErr(err error) string {
	if errors.Is(err, io.EOF) {
		return "the body is empty"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body ends too early"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (at byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}
