package schema

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/scimerr"
)

// Normalize turns a client's resource document into canonical form: attribute names spelled as
// the schema spells them, extension attributes nested under their URN (whether the client nested
// them or wrote "urn:...:attr" keys), string booleans coerced, nulls dropped. readOnly
// attributes (id, meta, groups, ...), "schemas", and attributes no schema defines are dropped:
// identity providers send all of these (Okta's GET-then-PUT, Entra's client meta) and RFC 7643
// §2.2 lets a service provider ignore them. A value of the wrong type is an invalidValue error
// naming the attribute.
func (rt *ResourceType) Normalize(doc map[string]any) (map[string]any, error) {
	out := map[string]any{}
	// claims maps each canonical attribute path the body sets to the key that set it: names
	// match case-insensitively, so two keys may name one attribute, and keeping whichever the
	// decoder visited last would be arbitrary.
	claims := map[string]string{}
	for key, v := range doc {
		if v == nil || strings.EqualFold(key, "schemas") {
			continue
		}
		if ext := rt.Extension(key); ext != nil {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, scimerr.Invalid(scimerr.InvalidValue, "%q must be an object of extension attributes", ext.ID)
			}
			for k, ev := range m {
				if err := rt.normalizeKey(out, claims, key+"."+k, Path{Ext: ext, Attr: ext.Attr(k)}, ev); err != nil {
					return nil, err
				}
			}
			continue
		}
		p, err := rt.ParsePath(key)
		if err != nil {
			continue // unknown attribute: ignored, see above
		}
		if err := rt.normalizeKey(out, claims, key, p, v); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (rt *ResourceType) normalizeKey(out map[string]any, claims map[string]string, key string, p Path, v any) error {
	if p.Attr == nil || p.Leaf().Mutability == ReadOnly || v == nil {
		return nil
	}
	paths := []string{p.String()}
	if m, ok := v.(map[string]any); ok && p.Sub == nil && p.Attr.Type == TypeComplex && !p.Attr.MultiValued {
		paths = paths[:0]
		for k := range m {
			if sub := p.Attr.Sub(k); sub != nil {
				paths = append(paths, Path{Ext: p.Ext, Attr: p.Attr, Sub: sub}.String())
			}
		}
	}
	for _, path := range paths {
		if other, ok := claims[path]; ok {
			return scimerr.Invalid(scimerr.InvalidSyntax, "keys %q and %q both set %q; attribute names are case-insensitive", other, key, path)
		}
		claims[path] = key
	}
	nv, err := NormalizeValue(p, v)
	if err != nil {
		return err
	}
	if p.Sub != nil {
		// A "name.givenName" key merges into whatever "name" object the document has.
		p.Set(out, nv)
		return nil
	}
	if m, ok := nv.(map[string]any); ok {
		if prev, ok := p.Get(out).(map[string]any); ok {
			for k, x := range m {
				prev[k] = x
			}
			return nil
		}
	}
	p.Set(out, nv)
	return nil
}

// NormalizeValue normalises a value for the attribute at p. For a multi-valued attribute without
// a sub-attribute, v may be a list or a single element (which is wrapped). It returns nil when
// nothing remains (all sub-attributes null or readOnly), meaning "unassigned".
func NormalizeValue(p Path, v any) (any, error) {
	a := p.Leaf()
	if a.MultiValued && p.Sub == nil {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		primaries := 0
		for _, e := range list {
			nv, err := normalizeSingle(a, e, p.String())
			if err != nil {
				return nil, err
			}
			if nv == nil {
				continue
			}
			if m, ok := nv.(map[string]any); ok && m["primary"] == true {
				primaries++
			}
			out = append(out, nv)
		}
		if primaries > 1 {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "at most one value of %q may be primary", p.String())
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	}
	return normalizeSingle(a, v, p.String())
}

// NormalizeElement normalises one element of the multi-valued attribute at p.
func NormalizeElement(p Path, v any) (any, error) {
	return normalizeSingle(p.Attr, v, p.String())
}

func normalizeSingle(a *Attribute, v any, name string) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch a.Type {
	case TypeComplex:
		m, ok := v.(map[string]any)
		if !ok {
			// A bare value for a complex attribute with a "value" sub-attribute means
			// {"value": ...}: "emails": ["a@b"], or the manager id string older clients add.
			if a.Sub("value") == nil {
				return nil, typeErr(name, "an object", v)
			}
			m = map[string]any{"value": v}
		}
		if s, ok := m["value"].(string); ok && s == "" && a.Sub("value") != nil {
			// {"value": ""} is how Entra clears the manager: it means unassigned.
			return nil, nil
		}
		out := map[string]any{}
		keys := map[*Attribute]string{}
		for k, sv := range m {
			sub := a.Sub(k)
			if sub == nil {
				continue
			}
			if other, ok := keys[sub]; ok {
				return nil, scimerr.Invalid(scimerr.InvalidSyntax, "keys %q and %q of %q name the same sub-attribute", other, k, name)
			}
			keys[sub] = k
			if sv == nil || sub.Mutability == ReadOnly {
				continue
			}
			nv, err := normalizeSingle(sub, sv, name+"."+sub.Name)
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out[sub.Name] = nv
			}
		}
		if len(out) == 0 {
			return nil, nil
		}
		return out, nil
	case TypeBoolean:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			// Entra sends "True"/"False" for booleans.
			switch strings.ToLower(strings.TrimSpace(x)) {
			case "true":
				return true, nil
			case "false":
				return false, nil
			}
		}
		return nil, typeErr(name, "a boolean", v)
	case TypeInteger, TypeDecimal:
		n, ok := v.(json.Number)
		if !ok {
			if s, isStr := v.(string); isStr {
				n, ok = json.Number(strings.TrimSpace(s)), true
			}
		}
		if ok {
			if a.Type == TypeInteger {
				if _, err := n.Int64(); err == nil {
					return n, nil
				}
			} else if _, err := n.Float64(); err == nil {
				return n, nil
			}
		}
		return nil, typeErr(name, "a "+a.Type, v)
	case TypeDateTime:
		if s, ok := v.(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				return t.UTC().Format(time.RFC3339Nano), nil
			}
		}
		return nil, typeErr(name, "an RFC 3339 dateTime", v)
	default: // string, reference, binary
		switch x := v.(type) {
		case string:
			return x, nil
		case json.Number:
			// Numeric identifiers (employeeNumber: 1234) are kept as their decimal text.
			return x.String(), nil
		}
		return nil, typeErr(name, "a string", v)
	}
}

func typeErr(name, want string, got any) error {
	b, _ := json.Marshal(got)
	s := string(b)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return scimerr.Invalid(scimerr.InvalidValue, "attribute %q must be %s, got %s", name, want, s)
}
