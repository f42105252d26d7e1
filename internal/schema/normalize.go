package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/scimerr"
)

// Normalize turns a client's resource document into canonical form: attribute names spelled as
// the schema spells them, extension attributes nested under their URN (whether the client nested
// them or wrote "urn:...:attr" keys), string booleans coerced, nulls dropped. readOnly
// attributes (id, meta, groups, ...), "schemas", and attributes no schema defines are dropped:
// identity providers send all of these (Okta's GET-then-PUT, Entra's client meta) and RFC 7643
// §2.2 lets a service provider ignore them. A value of the wrong type is an invalidValue error
// naming the attribute, and so is a value PostgreSQL cannot store: a string holding a NUL
// character, a string longer than the attribute's MaxBytes, a dateTime outside what
// ParseDateTime accepts. Elements of a multi-valued attribute with the same type and value are
// merged into one (see NormalizeValue).
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
// a sub-attribute, v may be a list or a single element (which is wrapped), and elements with the
// same type and value are merged (see mergeDuplicates). It returns nil when nothing remains (all
// sub-attributes null or readOnly), meaning "unassigned".
func NormalizeValue(p Path, v any) (any, error) {
	a := p.Leaf()
	if a.MultiValued && p.Sub == nil {
		list, ok := v.([]any)
		if !ok {
			list = []any{v}
		}
		out := make([]any, 0, len(list))
		for _, e := range list {
			nv, err := normalizeSingle(a, e, p.String())
			if err != nil {
				return nil, err
			}
			if nv != nil {
				out = append(out, nv)
			}
		}
		out = mergeDuplicates(a, out)
		primaries := 0
		for _, e := range out {
			if m, ok := e.(map[string]any); ok && m["primary"] == true {
				primaries++
			}
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
		if a.Name == "roles" {
			m = unwrapAppRole(m)
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
		s, ok := v.(string)
		if !ok {
			return nil, typeErr(name, "a dateTime", v)
		}
		t, err := ParseDateTime(s)
		if err != nil {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "attribute %q must be a dateTime such as 2008-01-23T04:56:22Z, got %s: %v",
				name, quote(s), err)
		}
		return t.Format(time.RFC3339Nano), nil
	default: // string, reference, binary
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case json.Number:
			// Numeric identifiers (employeeNumber: 1234) are kept as their decimal text.
			s = x.String()
		default:
			return nil, typeErr(name, "a string", v)
		}
		if err := checkString(a, name, s); err != nil {
			return nil, err
		}
		return s, nil
	}
}

// unwrapAppRole reads a role the way Entra ID sends it in a PATCH when the app's roles are
// mapped with AppRoleAssignmentsComplex: the app role as a JSON object inside the value
// string, {"value": "{\"id\":\"…\",\"value\":\"orgRole:admin\",\"displayName\":\"Admin\"}"}
// (its POST sends plain objects). It means the role of that inner value, shown as its
// displayName. Anything else is returned as it is.
func unwrapAppRole(m map[string]any) map[string]any {
	s, _ := m["value"].(string)
	if !strings.HasPrefix(strings.TrimSpace(s), "{") {
		return m
	}
	var role struct {
		Value       string `json:"value"`
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal([]byte(s), &role); err != nil || role.Value == "" {
		return m
	}
	out := maps.Clone(m)
	out["value"] = role.Value
	if _, ok := out["display"]; !ok && role.DisplayName != "" {
		out["display"] = role.DisplayName
	}
	return out
}

// checkString refuses a string PostgreSQL cannot store for attribute a: one holding NUL, which
// text columns cannot hold at all, or one longer than a.MaxBytes, which an index cannot hold.
func checkString(a *Attribute, name, s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return scimerr.Invalid(scimerr.InvalidValue, "attribute %q contains the NUL character (\\u0000), which cannot be stored", name)
	}
	if a.MaxBytes > 0 && len(s) > a.MaxBytes {
		return scimerr.Invalid(scimerr.InvalidValue, "attribute %q is %d bytes long in UTF-8; at most %d bytes are allowed",
			name, len(s), a.MaxBytes)
	}
	return nil
}

// ParseDateTime parses a dateTime value (RFC 7643 §2.3.5): a valid xsd:dateTime in RFC 3339 form
// with a time zone, such as 2008-01-23T04:56:22Z or 2008-01-23T06:56:22.5+02:00. The date must
// exist, the year must be 0001 to 9999 (also once converted to UTC, the form scimd stores and
// PostgreSQL reads) and the offset within ±14:00. It returns the instant in UTC; the error says
// what is wrong, for a detail.
func ParseDateTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			return time.Time{}, errors.New(strings.TrimPrefix(pe.Message, ": "))
		}
		return time.Time{}, errors.New("not of the form YYYY-MM-DDThh:mm:ss with an optional fraction and Z or ±hh:mm")
	}
	if _, off := t.Zone(); off > 14*3600 || off < -14*3600 {
		return time.Time{}, fmt.Errorf("the offset %s is beyond ±14:00", t.Format("-07:00"))
	}
	u := t.UTC()
	if t.Year() < 1 || u.Year() < 1 || u.Year() > 9999 {
		return time.Time{}, errors.New("the year is outside 0001 to 9999")
	}
	return u, nil
}

// mergeDuplicates merges the elements of the multi-valued attribute a that have the same type
// and value: RFC 7643 §2.4 says a service provider should not return the same (type, value)
// combination twice. Values compare as the value sub-attribute's caseExact says, types as the
// type sub-attribute's (no type is a type of its own). The merged element takes the first one's
// place and sub-attributes, adds the sub-attributes only a later one has, and is primary if
// either was. Attributes without both a value and a type sub-attribute (addresses) and
// elements without a value are left as they are.
func mergeDuplicates(a *Attribute, list []any) []any {
	vs, ts := a.Sub("value"), a.Sub("type")
	if vs == nil || ts == nil || len(list) < 2 {
		return list
	}
	out := make([]any, 0, len(list))
	first := make(map[string]int, len(list))
	for _, e := range list {
		m, ok := e.(map[string]any)
		if !ok || m["value"] == nil {
			out = append(out, e)
			continue
		}
		k := compareKey(ts, m["type"]) + " " + compareKey(vs, m["value"])
		i, dup := first[k]
		if !dup {
			first[k] = len(out)
			out = append(out, e)
			continue
		}
		merged := maps.Clone(out[i].(map[string]any))
		for sk, sv := range m {
			if _, has := merged[sk]; !has || (sk == "primary" && sv == true) {
				merged[sk] = sv
			}
		}
		out[i] = merged
	}
	return out
}

// compareKey encodes a normalised sub-attribute value so that values equal for attribute a
// (strings compared per its caseExact) encode equally; an absent value is "-".
func compareKey(a *Attribute, v any) string {
	switch x := v.(type) {
	case nil:
		return "-"
	case string:
		if !a.CaseExact {
			x = strings.ToLower(x)
		}
		return strconv.Quote(x)
	}
	return fmt.Sprintf("%T:%v", v, v)
}

// MergeDuplicates merges the elements with the same type and value in every multi-valued
// attribute of doc, a canonical document, as NormalizeValue does for one attribute. PATCH
// results go through it: operations on single elements (a filtered replace of a type or value)
// can make two elements equal.
func (rt *ResourceType) MergeDuplicates(doc map[string]any) {
	each := func(ext *Schema, attrs []*Attribute) {
		for _, a := range attrs {
			if !a.MultiValued || a.Type != TypeComplex {
				continue
			}
			p := Path{Ext: ext, Attr: a}
			if list, ok := p.Get(doc).([]any); ok {
				p.Set(doc, mergeDuplicates(a, list))
			}
		}
	}
	each(nil, rt.Schema.Attributes)
	for _, e := range rt.Extensions {
		each(e, e.Attributes)
	}
}

func typeErr(name, want string, got any) error {
	b, _ := json.Marshal(got)
	return scimerr.Invalid(scimerr.InvalidValue, "attribute %q must be %s, got %s", name, want, shorten(string(b)))
}

// quote quotes a client's string for a detail, shortened.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return shorten(string(b))
}

// shorten cuts s to about 80 bytes, at a character boundary.
func shorten(s string) string {
	if len(s) <= 80 {
		return s
	}
	i := 77
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
