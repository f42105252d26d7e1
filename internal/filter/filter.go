// Package filter parses SCIM filters (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2) into
// expressions resolved against a resource type's schema, and evaluates value filters in memory
// for the PATCH engine.
//
// Parsing is lenient where identity providers are known to deviate from the RFC (see
// IDP-REQUESTS.md): unquoted values, attribute names and operators in any case, and Entra's
// `emails[type eq "work"].value eq "x"`. A small tokenizer (lex.go) checks the token structure,
// rewrites the filter into the strict syntax github.com/scim2/filter-parser accepts and lifts
// value filters out; filter-parser then builds the and/or/not tree, which is resolved here.
package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	fp "github.com/scim2/filter-parser/v2"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Limits that keep hostile filters away from the SQL layer.
const (
	maxLen   = 4096 // bytes of filter or path text
	maxDepth = 50   // nesting of parentheses and value filters
)

// Expr is a parsed, schema-resolved SCIM filter. Its dynamic types are the values (not pointers)
// And, Or, Not, Compare and ValuePath. Chains like `a and b and c` are left-deep binary trees;
// their length is bounded only by the 4096-byte limit, nesting by the 50-level limit.
type Expr interface{ isExpr() }

// And matches when both sides match.
type And struct{ Left, Right Expr }

// Or matches when either side matches.
type Or struct{ Left, Right Expr }

// Not matches when X does not.
type Not struct{ X Expr }

// Compare is `path op value`. Op is lower-case: eq ne co sw ew gt ge lt le pr. Value is nil for
// pr; otherwise string (escapes decoded, JSON rules), bool, or json.Number. No string holds NUL.
// For a dateTime attribute the value is checked with schema.ParseDateTime (year 0001 to 9999,
// offset within ±14:00, a real date) and kept as a string in UTC, RFC 3339. The value's type always
// fits the attribute's type: string/reference/binary → string, boolean → bool,
// integer/decimal → json.Number, dateTime → string. Path.Sub is nil only for pr on a complex
// attribute (`emails pr`, `name pr`).
type Compare struct {
	Path  schema.Path
	Op    string
	Value any
}

// ValuePath is `attr[filter]`: Path names a multi-valued complex attribute (Sub nil); every
// Compare inside Filter has Path.Attr == that attribute and Path.Sub set to the sub-attribute
// compared. Filter contains no ValuePath.
type ValuePath struct {
	Path   schema.Path
	Filter Expr
}

func (And) isExpr()       {}
func (Or) isExpr()        {}
func (Not) isExpr()       {}
func (Compare) isExpr()   {}
func (ValuePath) isExpr() {}

// Parse parses filter s for resource type rt. Every error is a *scimerr.Error of kind invalid
// with scimType invalidFilter whose detail quotes the filter and names the problem.
func Parse(rt *schema.ResourceType, s string) (Expr, error) {
	p := &parser{rt: rt, src: s, what: "filter", scimType: scimerr.InvalidFilter}
	if strings.TrimSpace(s) == "" {
		return nil, p.errorf("the filter is empty")
	}
	if len(s) > maxLen {
		return nil, p.errorf("longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return nil, p.errorf("not valid UTF-8")
	}
	toks, err := p.lex(s)
	if err != nil {
		return nil, err
	}
	norm, err := p.normalize(toks, false, 0)
	if err != nil {
		return nil, err
	}
	return p.build(norm, nil)
}

// parser carries the state of one Parse or ParsePatchPath call.
type parser struct {
	rt       *schema.ResourceType
	src      string // the text being parsed, quoted in error details
	what     string // "filter" or "path", for error details
	scimType string
	lifted   []lifted // value filters taken out of the top level by normalize
	values   []string // string compare values, by placeholder number (see placeholder)
}

// lifted is a value filter `attr[filter]` that normalize replaced by a marker (see vpMarker).
type lifted struct {
	attr   string // the attribute path as written
	filter string // the normalised filter between the brackets
}

func (p *parser) errorf(format string, args ...any) error {
	src := p.src
	if len(src) > 200 {
		src = src[:200] + "..."
	}
	return scimerr.Invalid(p.scimType, "invalid %s %q: %s", p.what, src, fmt.Sprintf(format, args...))
}

// wrap turns an error from package schema (an invalidPath *scimerr.Error) into one of ours.
func (p *parser) wrap(err error) error {
	if e := scimerr.As(err); e != nil {
		return p.errorf("%s", e.Detail)
	}
	return err
}

// build parses normalised text with filter-parser and resolves the result. parent is the
// multi-valued attribute when the text is the inside of a value filter.
func (p *parser) build(norm string, parent *schema.Path) (Expr, error) {
	e, err := parseStrict(norm)
	if err != nil {
		return nil, p.errorf("syntax error: %v", err)
	}
	return p.convert(e, parent)
}

// parsed caches filter-parser's trees by normalised text, which holds placeholders instead of
// string values, so each filter shape is parsed once. The trees are only read afterwards. The
// cache is bounded: when full it starts over, which costs a few parses and nothing else.
var parsed = struct {
	sync.Mutex
	trees map[string]fp.Expression
}{trees: map[string]fp.Expression{}}

const maxParsed = 4096

// parseStrict runs filter-parser on normalised text, through the cache. normalize only hands
// it text it accepts, so an error or panic here is a gap between the two grammars; the client
// gets an error either way, never a crashed request.
func parseStrict(s string) (fp.Expression, error) {
	parsed.Lock()
	e, ok := parsed.trees[s]
	parsed.Unlock()
	if ok {
		return e, nil
	}
	e, err := parseUncached(s)
	if err != nil {
		return nil, err
	}
	parsed.Lock()
	if len(parsed.trees) >= maxParsed {
		parsed.trees = map[string]fp.Expression{}
	}
	parsed.trees[s] = e
	parsed.Unlock()
	return e, nil
}

func parseUncached(s string) (e fp.Expression, err error) {
	defer func() {
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("parser failure: %v", r)
		}
	}()
	// ParseFilterNumber keeps numbers as json.Number, so no precision is lost before the SQL layer.
	return fp.ParseFilterNumber([]byte(s))
}

func (p *parser) convert(e fp.Expression, parent *schema.Path) (Expr, error) {
	switch e := e.(type) {
	case *fp.LogicalExpression:
		l, err := p.convert(e.Left, parent)
		if err != nil {
			return nil, err
		}
		r, err := p.convert(e.Right, parent)
		if err != nil {
			return nil, err
		}
		if e.Operator == fp.AND {
			return And{Left: l, Right: r}, nil
		}
		return Or{Left: l, Right: r}, nil
	case *fp.NotExpression:
		x, err := p.convert(e.Expression, parent)
		if err != nil {
			return nil, err
		}
		return Not{X: x}, nil
	case *fp.AttributeExpression:
		return p.attrExp(e, parent)
	}
	// normalize lifts every value filter out before filter-parser sees the text.
	return nil, p.errorf("unsupported expression %v", e)
}

func (p *parser) attrExp(e *fp.AttributeExpression, parent *schema.Path) (Expr, error) {
	ap := e.AttributePath
	var path schema.Path
	switch {
	case parent != nil:
		if ap.URIPrefix != nil || ap.SubAttribute != nil {
			return nil, p.errorf("inside %s[...] name a sub-attribute of %s, not %q", parent, parent, ap.String())
		}
		sub := parent.Attr.Sub(ap.AttributeName)
		if sub == nil {
			return nil, p.errorf("unknown attribute %q", parent.String()+"."+ap.AttributeName)
		}
		path = schema.Path{Ext: parent.Ext, Attr: parent.Attr, Sub: sub}
	case ap.URIPrefix == nil && strings.HasPrefix(ap.AttributeName, vpMarker):
		return p.valuePath(ap.AttributeName)
	default:
		var err error
		if path, err = p.rt.Resolve(ap.URI(), ap.AttributeName, ap.SubAttributeName()); err != nil {
			return nil, p.wrap(err)
		}
	}
	v := e.CompareValue
	if s, ok := v.(string); ok {
		// Every string in the normalised text is a placeholder for a value kept aside.
		i, err := strconv.Atoi(strings.TrimPrefix(s, "$"))
		if err != nil || !strings.HasPrefix(s, "$") || i < 0 || i >= len(p.values) {
			return nil, p.errorf("invalid string %q", s) // unreachable: normalize writes only placeholders
		}
		v = p.values[i]
	}
	return p.compare(path, strings.ToLower(string(e.Operator)), v)
}

// valuePath resolves a value filter that normalize lifted out and replaced by marker.
func (p *parser) valuePath(marker string) (Expr, error) {
	i, err := strconv.Atoi(marker[len(vpMarker):])
	if err != nil || i < 0 || i >= len(p.lifted) {
		return nil, p.errorf("unknown attribute %q", marker) // unreachable: normalize rejects "$" names
	}
	path, err := p.multiValued(p.lifted[i].attr)
	if err != nil {
		return nil, err
	}
	f, err := p.build(p.lifted[i].filter, &path)
	if err != nil {
		return nil, err
	}
	return ValuePath{Path: path, Filter: f}, nil
}

// multiValued resolves the attribute in front of a value filter, which must be multi-valued
// complex (RFC 7644 §3.4.2.2 valuePath).
func (p *parser) multiValued(attr string) (schema.Path, error) {
	path, err := p.rt.ParsePath(attr)
	if err != nil {
		return schema.Path{}, p.wrap(err)
	}
	if path.Attr == nil || path.Sub != nil || path.Attr.Type != schema.TypeComplex || !path.Attr.MultiValued {
		return schema.Path{}, p.errorf("%s is not a multi-valued complex attribute, so it cannot take a [filter]", path)
	}
	return path, nil
}

// compare type-checks `path op v` and returns it as a Compare.
func (p *parser) compare(path schema.Path, op string, v any) (Expr, error) {
	if path.Sub == nil && path.Attr.Type == schema.TypeComplex && op != "pr" {
		if !path.Attr.MultiValued {
			return nil, p.errorf("%s is complex: compare one of its sub-attributes", path)
		}
		// RFC 7644 §3.4.2.2: comparing a multi-valued attribute compares its "value" sub-attribute.
		if path.Sub = path.Attr.Sub("value"); path.Sub == nil {
			return nil, p.errorf("%s has no value sub-attribute: compare one of its sub-attributes", path)
		}
	}
	c := Compare{Path: path, Op: op, Value: v}
	if op == "pr" {
		return c, nil
	}
	if v == nil {
		// `eq null` has no agreed meaning across providers; pr says it unambiguously.
		return nil, p.errorf(`comparing with null is not supported: use "%s pr" or "not (%s pr)"`, path, path)
	}
	a := path.Leaf()
	ordering := op == "gt" || op == "ge" || op == "lt" || op == "le"
	substring := op == "co" || op == "sw" || op == "ew"
	switch a.Type {
	case schema.TypeBoolean:
		if op != "eq" && op != "ne" {
			return nil, p.errorf("%s is boolean: only eq, ne and pr are allowed, not %s", path, op)
		}
		if s, ok := v.(string); ok {
			// Like schema.Normalize, take "True"/"false" strings as booleans.
			switch {
			case strings.EqualFold(s, "true"):
				c.Value = true
			case strings.EqualFold(s, "false"):
				c.Value = false
			}
		}
		if _, ok := c.Value.(bool); !ok {
			return nil, p.errorf("%s is boolean: compare it with true or false, not %s", path, show(v))
		}
	case schema.TypeInteger, schema.TypeDecimal:
		if substring {
			return nil, p.errorf("%s needs a string attribute, but %s is %s", op, path, a.Type)
		}
		if _, ok := v.(json.Number); !ok {
			return nil, p.errorf("%s is %s: compare it with a number, not %s", path, a.Type, show(v))
		}
	case schema.TypeDateTime:
		if substring {
			return nil, p.errorf("%s needs a string attribute, but %s is dateTime", op, path)
		}
		s, ok := v.(string)
		if !ok {
			return nil, p.errorf("%s is dateTime: %s is not an RFC 3339 date-time", path, show(v))
		}
		t, err := schema.ParseDateTime(s)
		if err != nil {
			return nil, p.errorf("%s is dateTime: %s is not an RFC 3339 date-time: %v", path, show(v), err)
		}
		c.Value = t.Format(time.RFC3339Nano)
	default: // string, reference, binary
		if ordering && a.Type == schema.TypeBinary {
			return nil, p.errorf("%s is binary: %s is not allowed", path, op)
		}
		switch x := v.(type) {
		case json.Number:
			// Lenient on purpose: `externalId eq 12345` comes from providers that leave values
			// unquoted, and an id that happens to be numeric still means the string "12345".
			c.Value = x.String()
		case bool:
			return nil, p.errorf("%s is %s: compare it with a string, not %v", path, a.Type, x)
		}
	}
	return c, nil
}

// show renders a compare value for an error detail.
func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}
