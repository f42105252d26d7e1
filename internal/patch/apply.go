package patch

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Apply applies ops in order to doc, a canonical document of resource type rt. It works on a deep
// copy and writes the result back into doc only when every operation succeeded, so on error doc
// is left unchanged. Errors are *scimerr.Error values whose detail names the operation (1-based)
// and its path, e.g. `operation 2 (replace emails[type eq "work"].value): ...`.
func Apply(rt *schema.ResourceType, doc map[string]any, ops []Operation) error {
	if doc == nil {
		return errors.New("patch: Apply needs a non-nil document")
	}
	a := &applier{rt: rt, doc: schema.Clone(doc)}
	for i, o := range ops {
		if err := a.apply(o); err != nil {
			return wrap(i, o, err)
		}
	}
	rt.MergeDuplicates(a.doc)
	clear(doc)
	maps.Copy(doc, a.doc)
	return nil
}

type applier struct {
	rt  *schema.ResourceType
	doc map[string]any
}

// target is what an operation's path names: an attribute (p, possibly a whole extension when
// p.Attr is nil) and, for multi-valued complex attributes, a filter selecting elements.
type target struct {
	p      schema.Path
	filter filter.Expr
}

func (a *applier) apply(o Operation) error {
	op := canonicalOp(o.Op)
	if op == "" {
		return syntaxErr("\"op\" must be one of \"add\", \"replace\", \"remove\", got %q", o.Op)
	}
	if op != OpRemove && o.Value == nil {
		return scimerr.Invalid(scimerr.InvalidValue, "%s requires a value", op)
	}
	required := a.requiredPresent()
	path := strings.TrimSpace(o.Path)
	var err error
	if path == "" {
		err = a.pathless(op, o.Value)
	} else {
		var t target
		if t, err = a.resolve(path); err == nil {
			err = a.target(op, t, o.Value)
		}
	}
	if err != nil {
		return err
	}
	for _, p := range required {
		if v := p.Get(a.doc); v == nil || v == "" {
			return scimerr.Invalid(scimerr.InvalidValue, "%s is required and cannot be removed", p.String())
		}
	}
	return nil
}

// requiredPresent lists the required top-level attributes doc currently has.
func (a *applier) requiredPresent() []schema.Path {
	var out []schema.Path
	add := func(ext *schema.Schema, attrs []*schema.Attribute) {
		for _, at := range attrs {
			p := schema.Path{Ext: ext, Attr: at}
			if at.Required && p.Get(a.doc) != nil {
				out = append(out, p)
			}
		}
	}
	add(nil, a.rt.Schema.Attributes)
	for _, e := range a.rt.Extensions {
		add(e, e.Attributes)
	}
	return out
}

// pathless applies an add or replace without a path: every key of the value object is a path
// of its own (plain, dotted, URN-prefixed) or an extension URN whose value holds extension
// attributes.
func (a *applier) pathless(op string, v any) error {
	if op == OpRemove {
		return scimerr.Invalid(scimerr.NoTarget, "remove requires a path")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return scimerr.Invalid(scimerr.InvalidValue, "%s without a path requires an object of attributes as value", op)
	}
	for _, k := range sortedKeys(m) {
		if strings.EqualFold(k, "schemas") {
			continue
		}
		if ext := a.rt.Extension(k); ext != nil {
			if err := a.extension(op, ext, m[k]); err != nil {
				return err
			}
			continue
		}
		t, err := a.resolve(k) // plain, dotted, URN-prefixed, even filtered keys
		if err != nil || t.p.Attr == nil {
			continue // unknown attribute: ignored (package doc)
		}
		if err := a.key(op, t, m[k]); err != nil {
			return err
		}
	}
	return nil
}

// key applies one key of a path-less value: readOnly attributes are skipped silently, and a
// null value removes the attribute in a replace and is ignored in an add.
func (a *applier) key(op string, t target, v any) error {
	if readOnly(t.p) {
		return nil
	}
	if v == nil {
		if op == OpReplace {
			return a.target(OpRemove, t, nil)
		}
		return nil
	}
	return a.target(op, t, v)
}

// extension applies an add or replace whose value is an object of ext's attributes.
func (a *applier) extension(op string, ext *schema.Schema, v any) error {
	if op == OpRemove || (v == nil && op == OpReplace) {
		for _, at := range ext.Attributes {
			p := schema.Path{Ext: ext, Attr: at}
			if at.Mutability == schema.ReadOnly || p.Get(a.doc) == nil {
				continue
			}
			if err := a.target(OpRemove, target{p: p}, nil); err != nil {
				return err
			}
		}
		return nil
	}
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return scimerr.Invalid(scimerr.InvalidValue, "%q must be an object of extension attributes", ext.ID)
	}
	for _, k := range sortedKeys(m) {
		p, err := a.rt.ParsePath(ext.ID + ":" + k)
		if err != nil || p.Ext != ext || p.Attr == nil {
			continue
		}
		if err := a.key(op, target{p: p}, m[k]); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) resolve(path string) (target, error) {
	if !strings.Contains(path, "[") {
		p, err := a.rt.ParsePath(path)
		return target{p: p}, err
	}
	pp, err := filter.ParsePatchPath(a.rt, path)
	if err != nil {
		if scimerr.As(err) == nil {
			err = scimerr.Invalid(scimerr.InvalidPath, "%s", err.Error())
		}
		return target{}, err
	}
	t := target{p: pp.Target, filter: pp.Filter}
	if t.p.Attr == nil {
		return target{}, scimerr.Invalid(scimerr.InvalidPath, "%q names no attribute", path)
	}
	if t.filter != nil && (!t.p.Attr.MultiValued || t.p.Attr.Type != schema.TypeComplex) {
		return target{}, scimerr.Invalid(scimerr.InvalidPath,
			"a value filter applies only to multi-valued complex attributes, and %q is not one", t.p.Attr.Name)
	}
	return t, nil
}

func readOnly(p schema.Path) bool {
	return (p.Attr != nil && p.Attr.Mutability == schema.ReadOnly) ||
		(p.Sub != nil && p.Sub.Mutability == schema.ReadOnly)
}

// target applies op to what t names.
func (a *applier) target(op string, t target, v any) error {
	p := t.p
	if p.Attr == nil {
		return a.extension(op, p.Ext, v)
	}
	if readOnly(p) {
		return scimerr.Invalid(scimerr.Mutability, "attribute %q is readOnly and cannot be modified", p.String())
	}
	switch {
	case p.Attr.MultiValued && (t.filter != nil || p.Sub != nil):
		return a.elements(op, t, v)
	case p.Attr.MultiValued:
		return a.list(op, p, v)
	default:
		return a.single(op, p, v)
	}
}

// setTop stores the new value of a top-level attribute, refusing to change a set immutable one.
func (a *applier) setTop(top schema.Path, old, nw any) error {
	if top.Attr.Mutability == schema.Immutable && old != nil && !reflect.DeepEqual(old, nw) {
		return immutableErr(top.String())
	}
	top.Set(a.doc, nw)
	return nil
}

func immutableErr(name string) error {
	return scimerr.Invalid(scimerr.Mutability, "attribute %q is immutable and cannot be changed once set", name)
}

// single handles a singular attribute or a sub-attribute of a singular complex attribute.
func (a *applier) single(op string, p schema.Path, v any) error {
	top := schema.Path{Ext: p.Ext, Attr: p.Attr}
	old := top.Get(a.doc)
	if op == OpRemove {
		if p.Sub == nil {
			return a.setTop(top, old, nil)
		}
		om, ok := old.(map[string]any)
		if !ok || om[p.Sub.Name] == nil {
			return nil
		}
		nw, err := merge(top, om, map[string]any{p.Sub.Name: nil})
		if err != nil {
			return err
		}
		return a.setTop(top, old, nw)
	}
	nv, err := schema.NormalizeValue(p, v)
	if err != nil {
		return err
	}
	if nv == nil && !clears(v) {
		return nil // only readOnly or unknown sub-attributes: nothing to change
	}
	nw := nv
	om, isMap := old.(map[string]any)
	switch {
	case p.Sub != nil:
		if nw, err = merge(top, om, map[string]any{p.Sub.Name: nv}); err != nil {
			return err
		}
	case isMap && p.Attr.Type == schema.TypeComplex:
		// Complex values merge: sub-attributes not given stay (RFC 7644 §3.5.2.1, §3.5.2.3).
		if nm, ok := nv.(map[string]any); ok {
			if nw, err = merge(top, om, nm); err != nil {
				return err
			}
		}
	}
	return a.setTop(top, old, nw)
}

// merge returns a copy of old (a value of the complex attribute top) with the sub-attributes of
// nv set (nil values remove them). It refuses to change a set immutable sub-attribute.
func merge(top schema.Path, old, nv map[string]any) (map[string]any, error) {
	out := schema.Clone(old)
	if out == nil {
		out = map[string]any{}
	}
	if x, ok := nv["value"]; ok && top.Attr.Sub("$ref") != nil && old["value"] != nil &&
		!reflect.DeepEqual(x, old["value"]) {
		// A reference changes target: what described the old target goes with it.
		for _, k := range []string{"$ref", "display", "displayName"} {
			if _, given := nv[k]; !given {
				delete(out, k)
			}
		}
	}
	for _, k := range sortedKeys(nv) {
		x := nv[k]
		sub := top.Attr.Sub(k)
		if sub != nil && sub.Mutability == schema.Immutable && old[k] != nil && !reflect.DeepEqual(old[k], x) {
			return nil, immutableErr(top.String() + "." + sub.Name)
		}
		if x == nil {
			delete(out, k)
		} else {
			out[k] = x
		}
	}
	return out, nil
}

// list handles a multi-valued attribute as a whole.
func (a *applier) list(op string, p schema.Path, v any) error {
	old := p.Get(a.doc)
	oldList, _ := old.([]any)
	switch op {
	case OpRemove:
		if v == nil {
			return a.setTop(p, old, nil)
		}
		// Entra removes members by value list: {"op":"Remove","path":"members","value":[{"value":"u1"}]}.
		given, err := schema.NormalizeValue(p, v)
		if err != nil {
			return err
		}
		gl, _ := given.([]any)
		sel := newSelection(p.Attr, gl)
		var out []any
		for _, e := range oldList {
			if !sel.selects(e) {
				out = append(out, e)
			}
		}
		return a.setTop(p, old, listOrNil(out))
	}
	nv, err := schema.NormalizeValue(p, v)
	if err != nil {
		return err
	}
	nl, _ := nv.([]any)
	var out []any
	if op == OpAdd {
		out = slices.Clone(oldList)
	}
	// Both add and replace skip elements given twice or (for add) already present.
	index := make(map[string]int, len(out)+len(nl))
	for i, e := range out {
		if k := elementKey(p.Attr, e); !hasKey(index, k) {
			index[k] = i
		}
	}
	primary := -1
	for _, e := range nl {
		k := elementKey(p.Attr, e)
		i, ok := index[k]
		if !ok {
			out = append(out, e)
			i = len(out) - 1
			index[k] = i
		}
		if isPrimary(e) {
			if !isPrimary(out[i]) {
				m := schema.Clone(out[i].(map[string]any))
				m["primary"] = true
				out[i] = m
			}
			primary = i
		}
	}
	clearOtherPrimaries(out, primary)
	return a.setTop(p, old, listOrNil(out))
}

// elements handles the elements of a multi-valued complex attribute selected by a filter (all
// of them when there is none), or a sub-attribute of those elements.
func (a *applier) elements(op string, t target, v any) error {
	p := t.p
	top := schema.Path{Ext: p.Ext, Attr: p.Attr}
	old := top.Get(a.doc)
	oldList, _ := old.([]any)
	out := slices.Clone(oldList)
	var matches []int
	for i, e := range oldList {
		if m, ok := e.(map[string]any); ok && (t.filter == nil || filter.Match(t.filter, m)) {
			matches = append(matches, i)
		}
	}
	drop := map[int]bool{}
	primary := -1
	if op == OpRemove {
		// Removing what matches nothing is not an error: Okta removes members that may not be.
		for _, i := range matches {
			if p.Sub == nil {
				drop[i] = true
				continue
			}
			m := out[i].(map[string]any)
			if m[p.Sub.Name] == nil {
				continue
			}
			nm, err := merge(top, m, map[string]any{p.Sub.Name: nil})
			if err != nil {
				return err
			}
			out[i] = nm
		}
	} else {
		var nv map[string]any
		if p.Sub != nil {
			x, err := schema.NormalizeValue(p, v)
			if err != nil {
				return err
			}
			nv = map[string]any{p.Sub.Name: x}
		} else {
			x, err := schema.NormalizeElement(top, v)
			if err != nil {
				return err
			}
			if x == nil {
				// An explicitly empty value clears: replace drops the matching elements.
				if op == OpReplace && clears(v) {
					for _, i := range matches {
						drop[i] = true
					}
				}
				nv = nil
			} else {
				nv, _ = x.(map[string]any)
			}
		}
		switch {
		case nv == nil:
		case len(matches) == 0 && op == OpReplace && t.filter != nil:
			return scimerr.Invalid(scimerr.NoTarget,
				"no value of %q matches the filter, and replace only changes existing values (RFC 7644 §3.5.2.3); use add to create one",
				top.String())
		case len(matches) == 0:
			base, ok, err := a.eqElement(t)
			if err != nil {
				return err
			}
			if !ok {
				return scimerr.Invalid(scimerr.NoTarget, "no value of %q matches the filter", top.String())
			}
			if isEmptyUpdate(nv) {
				break // nothing to clear
			}
			for k, x := range nv {
				if x == nil {
					delete(base, k)
				} else {
					base[k] = x
				}
			}
			ne, err := schema.NormalizeElement(top, base)
			if err != nil {
				return err
			}
			if ne != nil {
				out = append(out, ne)
				if isPrimary(ne) {
					primary = len(out) - 1
				}
			}
		default:
			if isPrimary(nv) && len(matches) > 1 {
				return scimerr.Invalid(scimerr.InvalidValue,
					"the filter selects %d values of %q and at most one may be primary", len(matches), top.String())
			}
			for _, i := range matches {
				nm, err := merge(top, out[i].(map[string]any), nv)
				if err != nil {
					return err
				}
				out[i] = nm
				if isPrimary(nv) {
					primary = i
				}
			}
		}
	}
	clearOtherPrimaries(out, primary)
	var res []any
	for i, e := range out {
		if m, ok := e.(map[string]any); drop[i] || (ok && len(m) == 0) {
			continue
		}
		res = append(res, e)
	}
	return a.setTop(top, old, listOrNil(res))
}

// clears reports whether v, a value that normalised to nothing, says "unassigned" rather than
// carrying only readOnly or unknown sub-attributes: "", [], {}, an object of nulls, or an object
// whose "value" is "" (Entra's manager removal).
func clears(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && s == "" && strings.EqualFold(k, "value") {
				return true
			}
		}
		for _, e := range x {
			if e != nil {
				return false
			}
		}
		return true
	}
	return false
}

func isEmptyUpdate(nv map[string]any) bool {
	for _, x := range nv {
		if x != nil {
			return false
		}
	}
	return true
}

// eqElement builds the element a filter made of `eq` comparisons joined by `and` describes
// (`type eq "work"` → {"type": "work"}), for an add whose filter matches nothing: Entra sends
// `add emails[type eq "work"].value` for a user's new work email. It also serves a replace of a
// sub-attribute without a filter (`emails.value`) on an empty list. ok is false for any other
// filter; err is set when a compared value cannot be stored in the new element.
func (a *applier) eqElement(t target) (map[string]any, bool, error) {
	out := map[string]any{}
	if t.filter == nil {
		return out, true, nil
	}
	ok, err := collectEq(t.p, t.filter, out)
	return out, ok, err
}

func collectEq(top schema.Path, f filter.Expr, out map[string]any) (bool, error) {
	switch x := f.(type) {
	case filter.And:
		if ok, err := collectEq(top, x.Left, out); !ok || err != nil {
			return ok, err
		}
		return collectEq(top, x.Right, out)
	case filter.Compare:
		return eqValue(top, x, out)
	}
	return false, nil
}

func eqValue(top schema.Path, c filter.Compare, out map[string]any) (bool, error) {
	sub := c.Path.Sub
	if c.Op != "eq" || c.Value == nil || c.Path.Attr != top.Attr || sub == nil || sub.Mutability == schema.ReadOnly {
		return false, nil
	}
	v, err := schema.NormalizeValue(schema.Path{Ext: top.Ext, Attr: top.Attr, Sub: sub}, c.Value)
	if err != nil || v == nil {
		return false, err
	}
	if prev, ok := out[sub.Name]; ok && !reflect.DeepEqual(prev, v) {
		return false, nil
	}
	out[sub.Name] = v
	return true, nil
}

// selection is the value list of a remove on a multi-valued attribute: it selects elements by
// equal "value" (respecting caseExact) where the given element has one, else by elementKey.
type selection struct {
	attr     *schema.Attribute
	valueSub *schema.Attribute
	values   map[string]bool
	elements map[string]bool
}

func newSelection(attr *schema.Attribute, given []any) selection {
	s := selection{attr: attr, valueSub: attr.Sub("value"), values: map[string]bool{}, elements: map[string]bool{}}
	for _, g := range given {
		if gm, ok := g.(map[string]any); ok && s.valueSub != nil && gm["value"] != nil {
			s.values[scalarKey(s.valueSub, gm["value"])] = true
		} else {
			s.elements[elementKey(attr, g)] = true
		}
	}
	return s
}

func (s selection) selects(e any) bool {
	if em, ok := e.(map[string]any); ok && s.valueSub != nil && em["value"] != nil &&
		s.values[scalarKey(s.valueSub, em["value"])] {
		return true
	}
	return s.elements[elementKey(s.attr, e)]
}

// elementKey identifies an element of a multi-valued attribute for duplicate detection: elements
// with equal keys are equal on every sub-attribute but primary (strings compared per caseExact),
// or, when the "value" sub-attribute is immutable (Group members), have equal "value".
func elementKey(attr *schema.Attribute, e any) string {
	m, ok := e.(map[string]any)
	if !ok {
		return "s:" + scalarKey(attr, e)
	}
	if vs := attr.Sub("value"); vs != nil && vs.Mutability == schema.Immutable && m["value"] != nil {
		return "v:" + scalarKey(vs, m["value"])
	}
	var b strings.Builder
	b.WriteString("m:")
	for _, k := range sortedKeys(m) {
		if k != "primary" {
			b.WriteString(strconv.Quote(k) + "=" + scalarKey(attr.Sub(k), m[k]) + ";")
		}
	}
	return b.String()
}

// scalarKey encodes a sub-attribute value so that equal values (per a's caseExact; a may be nil
// for an attribute no schema defines) encode equally.
func scalarKey(a *schema.Attribute, v any) string {
	switch x := v.(type) {
	case string:
		if a != nil && !a.CaseExact {
			x = strings.ToLower(x)
		}
		return strconv.Quote(x)
	case json.Number:
		return "n" + x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	b, _ := json.Marshal(v)
	return "j" + string(b)
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

func isPrimary(e any) bool {
	m, ok := e.(map[string]any)
	return ok && m["primary"] == true
}

// clearOtherPrimaries removes primary from every element but out[keep] (RFC 7643 §2.4: at most
// one primary value). keep < 0 leaves out unchanged.
func clearOtherPrimaries(out []any, keep int) {
	if keep < 0 {
		return
	}
	for i, e := range out {
		if i != keep && isPrimary(e) {
			m := schema.Clone(e.(map[string]any))
			delete(m, "primary")
			out[i] = m
		}
	}
}

func listOrNil(l []any) any {
	if len(l) == 0 {
		return nil
	}
	return l
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// wrap prefixes err's detail with the operation it comes from.
func wrap(i int, o Operation, err error) error {
	label := fmt.Sprintf("operation %d (%s", i+1, strings.ToLower(strings.TrimSpace(o.Op)))
	if path := strings.TrimSpace(o.Path); path != "" {
		if len(path) > 200 {
			path = path[:197] + "..."
		}
		label += " " + path
	}
	label += ")"
	if e := scimerr.As(err); e != nil {
		return &scimerr.Error{Kind: e.Kind, ScimType: e.ScimType, Detail: label + ": " + e.Detail}
	}
	return fmt.Errorf("%s: %w", label, err)
}
