package filter

import (
	"strings"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// PatchPath is a parsed PATCH "path": Target names the attribute (and, when given, the
// sub-attribute, whether written `name.givenName` or `emails[type eq "work"].value`); Filter, when
// not nil, selects elements of the multi-valued attribute Target.Attr. A bare extension URN gives
// a Target with Attr nil.
type PatchPath struct {
	Target schema.Path
	Filter Expr
}

// ParsePatchPath parses a PATCH operation's path (RFC 7644 §3.5.2) for resource type rt. Every
// error is a *scimerr.Error of kind invalid with scimType invalidPath, including errors inside the
// value filter. The value filter is parsed like a filter given to Parse (unquoted values, any
// case, full and/or/not/parentheses), not with filter-parser's two-term value-filter grammar.
func ParsePatchPath(rt *schema.ResourceType, s string) (PatchPath, error) {
	p := &parser{rt: rt, src: s, what: "path", scimType: scimerr.InvalidPath}
	s = strings.TrimSpace(s)
	if s == "" {
		return PatchPath{}, p.errorf("the path is empty")
	}
	if len(s) > maxLen {
		return PatchPath{}, p.errorf("longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return PatchPath{}, p.errorf("not valid UTF-8")
	}
	i := strings.IndexByte(s, '[')
	if i < 0 {
		t, err := rt.ParsePath(s)
		if err != nil {
			return PatchPath{}, p.wrap(err)
		}
		return PatchPath{Target: t}, nil
	}
	toks, err := p.lex(s[i:])
	if err != nil {
		return PatchPath{}, err
	}
	sub := ""
	switch {
	case len(toks) == 1:
	case len(toks) == 2 && toks[1].kind == tWord && strings.HasPrefix(toks[1].text, "."):
		sub = toks[1].text[1:]
	default:
		return PatchPath{}, p.errorf(`unexpected %s after "]"`, toks[1])
	}
	target, err := p.multiValued(strings.TrimSpace(s[:i]))
	if err != nil {
		return PatchPath{}, err
	}
	inner, err := p.lex(toks[0].text)
	if err != nil {
		return PatchPath{}, err
	}
	norm, err := p.normalize(inner, true, 1)
	if err != nil {
		return PatchPath{}, err
	}
	f, err := p.build(norm, &target)
	if err != nil {
		return PatchPath{}, err
	}
	if sub != "" {
		if target.Sub = target.Attr.Sub(sub); target.Sub == nil {
			return PatchPath{}, p.errorf("unknown attribute %q", target.String()+"."+sub)
		}
	}
	return PatchPath{Target: target, Filter: f}, nil
}
