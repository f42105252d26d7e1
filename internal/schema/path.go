package schema

import (
	"strings"

	"github.com/scimd/scimd/internal/scimerr"
)

// Path names an attribute of a resource type: a top-level attribute of the core schema, of an
// extension, or a common attribute, optionally narrowed to one sub-attribute. A Path with a nil
// Attr names a whole extension.
type Path struct {
	// Ext is the extension holding the attribute, nil for core and common attributes. In
	// documents, extension attributes live in an object under the extension's URN.
	Ext  *Schema
	Attr *Attribute
	Sub  *Attribute
}

// String is the canonical spelling of the path, as it appears in errors and projections.
func (p Path) String() string {
	var b strings.Builder
	if p.Ext != nil {
		b.WriteString(p.Ext.ID)
		if p.Attr != nil {
			b.WriteByte(':')
		}
	}
	if p.Attr != nil {
		b.WriteString(p.Attr.Name)
	}
	if p.Sub != nil {
		b.WriteByte('.')
		b.WriteString(p.Sub.Name)
	}
	return b.String()
}

// Leaf is the attribute the path ends at: the sub-attribute if there is one.
func (p Path) Leaf() *Attribute {
	if p.Sub != nil {
		return p.Sub
	}
	return p.Attr
}

// Resolve finds the attribute named by a parsed path: uri is the schema URN prefix (may be
// empty), name the attribute and sub the sub-attribute (may be empty). Names match
// case-insensitively. An attribute that exists in no schema is an invalidPath error (callers
// evaluating filters turn it into invalidFilter).
func (rt *ResourceType) Resolve(uri, name, sub string) (Path, error) {
	var p Path
	switch {
	case uri == "" || strings.EqualFold(uri, rt.Schema.ID):
		if p.Attr = find(commonAttrs, name); p.Attr == nil {
			p.Attr = rt.Schema.Attr(name)
		}
		if p.Attr == nil && uri == "" {
			// Some clients omit the URN of extension attributes; accept the bare name when
			// exactly one extension defines it.
			for _, e := range rt.Extensions {
				if a := e.Attr(name); a != nil {
					if p.Attr != nil {
						return Path{}, unknownAttr(name, sub)
					}
					p.Ext, p.Attr = e, a
				}
			}
		}
	default:
		if p.Ext = rt.Extension(uri); p.Ext == nil {
			return Path{}, scimerr.Invalid(scimerr.InvalidPath, "unknown schema %q", uri)
		}
		p.Attr = p.Ext.Attr(name)
	}
	if p.Attr == nil {
		return Path{}, unknownAttr(name, sub)
	}
	if sub != "" {
		if p.Sub = p.Attr.Sub(sub); p.Sub == nil {
			return Path{}, unknownAttr(name, sub)
		}
	}
	return p, nil
}

func unknownAttr(name, sub string) error {
	if sub != "" {
		name += "." + sub
	}
	return scimerr.Invalid(scimerr.InvalidPath, "unknown attribute %q", name)
}

// ParsePath resolves a plain attribute path such as "name.givenName", "emails",
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value" or a bare extension
// URN. Value filters are not allowed here; PATCH paths with filters go through package filter.
func (rt *ResourceType) ParsePath(s string) (Path, error) {
	uri, rest := rt.SplitURN(s)
	if rest == "" {
		if uri == "" {
			return Path{}, scimerr.Invalid(scimerr.InvalidPath, "empty attribute path")
		}
		if e := rt.Extension(uri); e != nil {
			return Path{Ext: e}, nil
		}
		return Path{}, scimerr.Invalid(scimerr.InvalidPath, "%q names no attribute", s)
	}
	name, sub, _ := strings.Cut(rest, ".")
	return rt.Resolve(uri, name, sub)
}

// SplitURN splits a known schema URN prefix off s. URNs contain dots and colons ("2.0"), so the
// split is by known URN rather than by syntax. A string that is exactly a URN returns it with
// an empty rest.
func (rt *ResourceType) SplitURN(s string) (uri, rest string) {
	for _, id := range rt.schemaIDs() {
		if len(s) >= len(id) && strings.EqualFold(s[:len(id)], id) {
			if len(s) == len(id) {
				return id, ""
			}
			if s[len(id)] == ':' {
				return id, s[len(id)+1:]
			}
		}
	}
	return "", s
}

func (rt *ResourceType) schemaIDs() []string {
	ids := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		ids = append(ids, e.ID)
	}
	return ids
}

// Get returns the value at p in doc (a canonical document), or nil.
func (p Path) Get(doc map[string]any) any {
	m := p.container(doc, false)
	if m == nil {
		return nil
	}
	if p.Attr == nil {
		return m
	}
	v := m[p.Attr.Name]
	if p.Sub == nil || v == nil {
		return v
	}
	if sm, ok := v.(map[string]any); ok {
		return sm[p.Sub.Name]
	}
	return nil
}

// container returns the object holding the path's top-level attribute: doc itself, or the
// extension object, created when create is true.
func (p Path) container(doc map[string]any, create bool) map[string]any {
	if p.Ext == nil {
		return doc
	}
	m, _ := doc[p.Ext.ID].(map[string]any)
	if m == nil && create {
		m = map[string]any{}
		doc[p.Ext.ID] = m
	}
	return m
}

// Set stores v at p in doc; a nil v removes the attribute. Empty complex values and empty
// extension objects are removed so documents never carry unassigned attributes.
func (p Path) Set(doc map[string]any, v any) {
	if p.Attr == nil {
		if isEmpty(v) {
			delete(doc, p.Ext.ID)
		} else {
			doc[p.Ext.ID] = v
		}
		return
	}
	m := p.container(doc, !isEmpty(v))
	if m == nil {
		return
	}
	if p.Sub == nil {
		setOrDelete(m, p.Attr.Name, v)
	} else {
		parent, _ := m[p.Attr.Name].(map[string]any)
		if parent == nil {
			parent = map[string]any{}
		}
		setOrDelete(parent, p.Sub.Name, v)
		setOrDelete(m, p.Attr.Name, parent)
	}
	if p.Ext != nil && len(m) == 0 {
		delete(doc, p.Ext.ID)
	}
}

func setOrDelete(m map[string]any, k string, v any) {
	if isEmpty(v) {
		delete(m, k)
	} else {
		m[k] = v
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// Clone returns a deep copy of a canonical document, so a change can be tried on the copy and
// discarded on error.
func Clone(doc map[string]any) map[string]any {
	return cloneValue(doc).(map[string]any)
}

func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = cloneValue(e)
		}
		return l
	}
	return v
}
