package directory

import (
	"context"
	"reflect"
	"strings"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// CreateGroup creates a group, with the members the body lists.
func (s *Service) CreateGroup(ctx context.Context, a Actor, body map[string]any) (*Resource, error) {
	doc, members, err := s.splitGroup(body)
	if err != nil {
		return nil, err
	}
	g := &Resource{Doc: doc}
	if err := validateGroup(doc); err != nil {
		return nil, err
	}
	if err := s.groups.CreateGroup(ctx, a.Org, g, members); err != nil {
		return nil, err
	}
	return g, nil
}

// GetGroup returns a group without its members; EachMember streams them.
func (s *Service) GetGroup(ctx context.Context, a Actor, id string) (*Resource, error) {
	return s.groups.GetGroup(ctx, a.Org, id)
}

// EachMember streams the members of groups, group by group in the order given.
func (s *Service) EachMember(ctx context.Context, a Actor, groups []string, fn func(group string, m Member) error) error {
	return s.groups.EachMember(ctx, a.Org, groups, fn)
}

// ListGroups returns one page of groups, without members.
func (s *Service) ListGroups(ctx context.Context, a Actor, q Query) (*Page, error) {
	return s.groups.ListGroups(ctx, a.Org, q)
}

// DeleteGroup deletes a group; its members stay users of the organization.
func (s *Service) DeleteGroup(ctx context.Context, a Actor, id string, pre Precondition) error {
	var check func(int64) error
	if pre != (Precondition{}) {
		check = pre.Check
	}
	return s.groups.DeleteGroup(ctx, a.Org, id, check)
}

// ReplaceGroup replaces a group's attributes and its whole member list (PUT).
func (s *Service) ReplaceGroup(ctx context.Context, a Actor, id string, body map[string]any, pre Precondition) (*Resource, error) {
	doc, members, err := s.splitGroup(body)
	if err != nil {
		return nil, err
	}
	if err := validateGroup(doc); err != nil {
		return nil, err
	}
	return s.groups.UpdateGroup(ctx, a.Org, id, func(g *Resource, mc MemberChanges) error {
		if err := pre.Check(g.Version); err != nil {
			return err
		}
		g.Doc, g.Guard = doc, true
		return mc.Replace(members)
	})
}

// PatchGroup applies PATCH operations to a group. Operations on members become single-row
// changes of the member table, in request order; the member list is never loaded. Other
// operations go through the PATCH engine on the group's own attributes.
func (s *Service) PatchGroup(ctx context.Context, a Actor, id string, ops []patch.Operation, pre Precondition) (*Resource, error) {
	return s.groups.UpdateGroup(ctx, a.Org, id, func(g *Resource, mc MemberChanges) error {
		if err := pre.Check(g.Version); err != nil {
			return err
		}
		doc := schema.Clone(g.Doc)
		membersChanged := false
		for i, op := range ops {
			touched, rest, err := s.memberOp(mc, op)
			if err != nil {
				return patch.Label(i, op, err)
			}
			membersChanged = membersChanged || touched
			if rest != nil {
				if err := patch.ApplyAt(s.groupRT, doc, i, *rest); err != nil {
					return err
				}
			}
		}
		if err := validateGroup(doc); err != nil {
			return err
		}
		attrsChanged := !reflect.DeepEqual(doc, g.Doc)
		if !membersChanged && !attrsChanged {
			return ErrUnchanged
		}
		g.Doc, g.Guard = doc, attrsChanged || pre != (Precondition{})
		return nil
	})
}

// memberOp carries out the part of op that concerns members. It reports whether it did
// anything, and returns what remains of op for the PATCH engine (nil if nothing).
func (s *Service) memberOp(mc MemberChanges, op patch.Operation) (bool, *patch.Operation, error) {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	if strings.TrimSpace(op.Path) == "" {
		// Path-less add/replace: a "members" key is a members operation; the rest (Okta's
		// rename carries id and displayName) goes to the engine.
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return false, &op, nil
		}
		rest := map[string]any{}
		var members any
		found := false
		for k, v := range obj {
			if strings.EqualFold(k, "members") {
				members, found = v, true
			} else {
				rest[k] = v
			}
		}
		if !found {
			return false, &op, nil
		}
		if err := s.applyMembers(mc, kind, members); err != nil {
			return false, nil, err
		}
		if len(rest) == 0 {
			return true, nil, nil
		}
		return true, &patch.Operation{Op: op.Op, Value: rest}, nil
	}
	pp, err := filter.ParsePatchPath(s.groupRT, op.Path)
	if err != nil {
		return false, nil, err
	}
	if pp.Target.Attr == nil || pp.Target.Attr != s.membersPath.Attr {
		return false, &op, nil
	}
	if pp.Target.Sub != nil {
		return false, nil, scimerr.Invalid(scimerr.Mutability, "member sub-attributes cannot be changed; add or remove the member instead")
	}
	if pp.Filter != nil {
		if kind != patch.OpRemove {
			return false, nil, scimerr.Invalid(scimerr.InvalidPath, "members can be added only with path \"members\"")
		}
		return true, nil, mc.RemoveWhere(pp.Filter)
	}
	return true, nil, s.applyMembers(mc, kind, op.Value)
}

// applyMembers carries out add, replace or remove on path "members" with value v.
func (s *Service) applyMembers(mc MemberChanges, kind string, v any) error {
	if kind == patch.OpRemove && v == nil {
		return mc.Clear()
	}
	refs, err := s.memberRefs(v)
	if err != nil {
		return err
	}
	switch kind {
	case patch.OpAdd:
		return mc.Add(refs)
	case patch.OpReplace:
		return mc.Replace(refs)
	case patch.OpRemove:
		return mc.Remove(refs)
	}
	return scimerr.Invalid(scimerr.InvalidSyntax, "\"op\" must be one of \"add\", \"replace\", \"remove\", got %q", kind)
}

// memberRefs reads a members value: a list of {"value": id, ...} (or one such object).
func (s *Service) memberRefs(v any) ([]MemberRef, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	refs := make([]MemberRef, 0, len(list))
	for i, e := range list {
		nv, err := schema.NormalizeElement(s.membersPath, e)
		if err != nil {
			return nil, err
		}
		m, _ := nv.(map[string]any)
		id, _ := m["value"].(string)
		if id == "" {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "members[%d] has no value (the member's id)", i)
		}
		refs = append(refs, MemberRef{Value: id})
	}
	return refs, nil
}

// splitGroup normalises a group body and takes its members out, since members are stored apart.
func (s *Service) splitGroup(body map[string]any) (map[string]any, []MemberRef, error) {
	rest := map[string]any{}
	var mv any
	for k, v := range body {
		if strings.EqualFold(k, "members") {
			mv = v
		} else {
			rest[k] = v
		}
	}
	doc, err := s.groupRT.Normalize(rest)
	if err != nil {
		return nil, nil, err
	}
	members, err := s.memberRefs(mv)
	return doc, members, err
}

func validateGroup(doc map[string]any) error {
	if name, _ := doc["displayName"].(string); strings.TrimSpace(name) == "" {
		return scimerr.Invalid(scimerr.InvalidValue, "displayName is required and must not be empty")
	}
	return nil
}
