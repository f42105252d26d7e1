package filter

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/schema"
)

// Match reports whether element (one element of the multi-valued complex attribute, a canonical
// map with sub-attribute names as keys) satisfies filter f (the Filter of a ValuePath).
//
// Strings compare case-insensitively unless the sub-attribute is caseExact, dateTimes as
// instants, numbers exactly. pr matches a value that is not null, "" or empty. ne is the negation
// of eq, so it also matches elements lacking the sub-attribute. A value of the wrong type (a
// number where a string is defined) never matches.
func Match(f Expr, element map[string]any) bool {
	switch e := f.(type) {
	case And:
		return Match(e.Left, element) && Match(e.Right, element)
	case Or:
		return Match(e.Left, element) || Match(e.Right, element)
	case Not:
		return !Match(e.X, element)
	case Compare:
		a := e.Path.Leaf()
		v := element[a.Name]
		switch e.Op {
		case "pr":
			return present(v)
		case "ne":
			return !Match(Compare{Path: e.Path, Op: "eq", Value: e.Value}, element)
		}
		if list, ok := v.([]any); ok {
			for _, x := range list {
				if test(a, e.Op, x, e.Value) {
					return true
				}
			}
			return false
		}
		return test(a, e.Op, v, e.Value)
	}
	return false // a ValuePath cannot occur inside a value filter
}

func present(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case []any:
		return len(x) > 0
	case map[string]any:
		return len(x) > 0
	}
	return true
}

// test applies op (not pr or ne) to an element's value have and the filter's value want.
func test(a *schema.Attribute, op string, have, want any) bool {
	switch a.Type {
	case schema.TypeBoolean:
		h, ok1 := have.(bool)
		w, ok2 := want.(bool)
		return ok1 && ok2 && op == "eq" && h == w
	case schema.TypeInteger, schema.TypeDecimal:
		h, ok1 := toRat(have)
		w, ok2 := toRat(want)
		return ok1 && ok2 && order(op, h.Cmp(w))
	case schema.TypeDateTime:
		h, ok1 := toTime(have)
		w, ok2 := toTime(want)
		return ok1 && ok2 && order(op, h.Compare(w))
	}
	h, ok1 := have.(string)
	w, ok2 := want.(string)
	if !ok1 || !ok2 {
		return false
	}
	if !a.CaseExact {
		h, w = strings.ToLower(h), strings.ToLower(w)
	}
	switch op {
	case "co":
		return strings.Contains(h, w)
	case "sw":
		return strings.HasPrefix(h, w)
	case "ew":
		return strings.HasSuffix(h, w)
	}
	return order(op, strings.Compare(h, w))
}

// order applies an eq or ordering operator to the result of a three-way comparison.
func order(op string, cmp int) bool {
	switch op {
	case "eq":
		return cmp == 0
	case "gt":
		return cmp > 0
	case "ge":
		return cmp >= 0
	case "lt":
		return cmp < 0
	case "le":
		return cmp <= 0
	}
	return false
}

func toRat(v any) (*big.Rat, bool) {
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case float64, float32, int, int64, int32:
		s = fmt.Sprint(x)
	default:
		return nil, false
	}
	return new(big.Rat).SetString(s)
}

func toTime(v any) (time.Time, bool) {
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		return t, err == nil
	}
	return time.Time{}, false
}
