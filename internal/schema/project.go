package schema

import (
	"strings"
)

// Projection is a parsed attributes/excludedAttributes pair (RFC 7644 §3.4.2.5).
type Projection struct {
	include []Path
	exclude []Path
}

// ParseProjection parses the comma-separated attributes and excludedAttributes parameters.
// Names no schema defines are ignored, as they would select nothing; RFC 7644 gives them no
// error.
func (rt *ResourceType) ParseProjection(attributes, excluded string) Projection {
	return Projection{include: rt.parseList(attributes), exclude: rt.parseList(excluded)}
}

func (rt *ResourceType) parseList(s string) []Path {
	var out []Path
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if p, err := rt.ParsePath(part); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Empty reports whether the projection leaves the default attribute set unchanged.
func (pr Projection) Empty() bool { return len(pr.include) == 0 && len(pr.exclude) == 0 }

// Returns reports whether the top-level attribute of p (ignoring any sub-attribute) appears in
// the response at all, so stores can skip reading what would be dropped.
func (pr Projection) Returns(p Path) bool {
	a := p.Attr
	if a == nil {
		return true
	}
	switch a.Returned {
	case ReturnedAlways:
		return true
	case ReturnedNever:
		return false
	}
	if len(pr.include) > 0 {
		for _, in := range pr.include {
			if in.Ext == p.Ext && (in.Attr == nil || in.Attr == a) {
				return true
			}
		}
		return false
	}
	if a.Returned == ReturnedRequest {
		return false
	}
	for _, ex := range pr.exclude {
		if ex.Ext == p.Ext && (ex.Attr == nil || (ex.Attr == a && ex.Sub == nil)) {
			return false
		}
	}
	return true
}

// Apply returns doc with only the attributes the projection and each attribute's "returned"
// characteristic allow. doc is a canonical document; "schemas" is always kept. Without a
// projection a canonical document holding no attribute that is never returned is returned as
// it is: every other attribute of scimd's schemas is returned by default.
func (rt *ResourceType) Apply(pr Projection, doc map[string]any) map[string]any {
	if pr.Empty() && !rt.holdsNeverReturned(doc) {
		return doc
	}
	out := map[string]any{}
	for k, v := range doc {
		if k == "schemas" {
			out[k] = v
			continue
		}
		if ext := rt.Extension(k); ext != nil {
			m, _ := v.(map[string]any)
			sub := map[string]any{}
			for ek, ev := range m {
				if a := ext.Attr(ek); a != nil {
					if pv := pr.project(Path{Ext: ext, Attr: a}, ev); pv != nil {
						sub[ek] = pv
					}
				}
			}
			if len(sub) > 0 {
				out[k] = sub
			}
			continue
		}
		p, err := rt.Resolve("", k, "")
		if err != nil || p.Ext != nil {
			continue
		}
		if pv := pr.project(p, v); pv != nil {
			out[k] = pv
		}
	}
	return out
}

// project returns the part of v (the value of top-level attribute p) to return, or nil.
func (pr Projection) project(p Path, v any) any {
	if !pr.Returns(p) {
		return nil
	}
	if p.Attr.Type != TypeComplex || p.Attr.Returned == ReturnedAlways {
		return v
	}
	// Narrow complex values to the listed (or not excluded) sub-attributes.
	keep := func(sub *Attribute) bool {
		switch sub.Returned {
		case ReturnedNever:
			return false
		case ReturnedAlways:
			return true
		}
		if len(pr.include) > 0 {
			for _, in := range pr.include {
				if in.Ext == p.Ext && in.Attr == p.Attr && (in.Sub == nil || in.Sub == sub) {
					return true
				}
			}
			return false
		}
		for _, ex := range pr.exclude {
			if ex.Ext == p.Ext && ex.Attr == p.Attr && ex.Sub == sub {
				return false
			}
		}
		return true
	}
	narrow := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, x := range m {
			if sub := p.Attr.Sub(k); sub != nil && keep(sub) {
				out[k] = x
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	switch x := v.(type) {
	case map[string]any:
		if n := narrow(x); n != nil {
			return n
		}
		return nil
	case []any:
		var out []any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				if n := narrow(m); n != nil {
					out = append(out, n)
				}
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return v
}

// holdsNeverReturned reports whether doc holds a top-level attribute whose "returned" is never
// (password), or one whose sub-attributes may be left out by default.
func (rt *ResourceType) holdsNeverReturned(doc map[string]any) bool {
	for _, a := range rt.Schema.Attributes {
		if _, ok := doc[a.Name]; !ok {
			continue
		}
		if a.Returned != ReturnedDefault && a.Returned != ReturnedAlways {
			return true
		}
		for _, sub := range a.SubAttributes {
			if sub.Returned != ReturnedDefault && sub.Returned != ReturnedAlways {
				return true
			}
		}
	}
	for _, e := range rt.Extensions {
		m, _ := doc[e.ID].(map[string]any)
		for _, a := range e.Attributes {
			if _, ok := m[a.Name]; ok && a.Returned != ReturnedDefault && a.Returned != ReturnedAlways {
				return true
			}
		}
	}
	return false
}
