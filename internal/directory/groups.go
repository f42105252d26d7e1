package directory

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Groups. Members are users, and groups where the organization allows nesting;
// a group never contains itself. A membership change touches only the members it names, so it
// costs the same in a group of 10 or 1,000,000 members, and the member list is never loaded to
// change it. When a group, or a group containing it, maps to grants, the effective grants of
// the users whose membership changed are recomputed in the same transaction.

func groupNotFound(id string) error {
	return scimerr.NotFound("no Group with id %q", id)
}

func explainGroup(err error, id string, doc map[string]any) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return groupNotFound(id)
	case errors.Is(err, ErrDisplayNameTaken):
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "a Group with displayName %q already exists in this organization", doc["displayName"])
	case errors.Is(err, ErrGone):
		return scimerr.New(scimerr.KindConflict, "", "a member was deleted while this request ran; retry it")
	}
	return err
}

// CreateGroup creates a group, with the members the body lists.
func (s *Service) CreateGroup(ctx context.Context, a Actor, body map[string]any) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	doc, members, err := s.splitGroup(body)
	if err != nil {
		return nil, err
	}
	var g *Resource
	err = s.update(ctx, a, func(tx Tx) error {
		g, err = s.createGroup(tx, a, schema.Clone(doc), members)
		return err
	})
	if err != nil {
		return nil, explainGroup(err, "", doc)
	}
	return g, nil
}

func (s *Service) createGroup(tx Tx, a Actor, doc map[string]any, members []string) (*Resource, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	g := &Resource{ID: id.String(), Doc: doc}
	if err := tx.InsertGroup(g); err != nil {
		return nil, err
	}
	var mc memberChange
	if err := s.addMembers(tx, g.ID, members, &mc); err != nil {
		return nil, err
	}
	// A new group maps to nothing yet: its members' grants do not change.
	tx.Audit(a.audit(ActionCreate, "Group", g.ID, mc.audit(Diff(nil, g.Doc))))
	return g, nil
}

// GetGroup returns a group without its members; EachMember streams them.
func (s *Service) GetGroup(ctx context.Context, a Actor, id string) (*Resource, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, groupNotFound(id)
	}
	g, err := s.store.Group(ctx, a.Org, id)
	if err != nil {
		return nil, explainGroup(err, id, nil)
	}
	return g, nil
}

// EachMember streams the members of groups, group by group in the order given.
func (s *Service) EachMember(ctx context.Context, a Actor, groups []string, fn func(group string, m Member) error) error {
	return s.store.EachMember(ctx, a.Org, groups, fn)
}

// ListGroups returns one page of groups, without members.
func (s *Service) ListGroups(ctx context.Context, a Actor, q Query) (*Page, error) {
	groups, info, err := s.store.Groups(ctx, a.Org, q)
	if err != nil {
		return nil, err
	}
	return &Page{PageInfo: info, Resources: groups}, nil
}

// DeleteGroup deletes a group; its members stay users of the organization, and lose what the
// group (or a group containing it) mapped them to.
func (s *Service) DeleteGroup(ctx context.Context, a Actor, id string, pre Precondition) error {
	if err := a.CanWrite(); err != nil {
		return err
	}
	id, ok := canonicalID(id)
	if !ok {
		return groupNotFound(id)
	}
	err := s.update(ctx, a, func(tx Tx) error { return s.deleteGroup(tx, a, id, pre) })
	return explainGroup(err, id, nil)
}

func (s *Service) deleteGroup(tx Tx, a Actor, id string, pre Precondition) error {
	g, err := tx.Group(id, true)
	if err != nil {
		return err
	}
	if err := pre.Check(g.Version); err != nil {
		return err
	}
	mapped, err := tx.Mapped(id)
	if err != nil {
		return err
	}
	var users []string
	if mapped {
		if users, err = tx.UsersIn([]string{id}); err != nil {
			return err
		}
	}
	if err := tx.DeleteGroup(id); err != nil {
		return err
	}
	changes, err := s.settle(tx, a, users)
	if err != nil {
		return err
	}
	tx.Audit(a.audit(ActionDelete, "Group", id, map[string]any{}))
	org, err := tx.Org()
	if err != nil {
		return err
	}
	return s.journal(tx, a, org, changes, nil)
}

// ReplaceGroup replaces a group's attributes and its whole member list (PUT).
func (s *Service) ReplaceGroup(ctx context.Context, a Actor, id string, body map[string]any, pre Precondition) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	doc, members, err := s.splitGroup(body)
	if err != nil {
		return nil, err
	}
	return s.changeGroup(ctx, a, id, func(tx Tx, g *Resource, mc *memberChange) (bool, error) {
		if err := pre.Check(g.Version); err != nil {
			return false, err
		}
		removed, err := tx.RemoveMembersExcept(g.ID, members)
		if err != nil {
			return false, err
		}
		mc.removed = append(mc.removed, removed...)
		if err := s.addMembers(tx, g.ID, members, mc); err != nil {
			return false, err
		}
		g.Doc = schema.Clone(doc)
		return true, nil
	})
}

// PatchGroup applies PATCH operations to a group. Operations on members become changes of the
// members they name, in request order; other operations go through the PATCH engine on the
// group's own attributes.
func (s *Service) PatchGroup(ctx context.Context, a Actor, id string, ops []patch.Operation, pre Precondition) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	return s.changeGroup(ctx, a, id, s.patchGroupEdit(ops, pre))
}

// patchGroupEdit is the edit of a group PATCH with operations ops.
func (s *Service) patchGroupEdit(ops []patch.Operation, pre Precondition) func(tx Tx, g *Resource, mc *memberChange) (bool, error) {
	return func(tx Tx, g *Resource, mc *memberChange) (bool, error) {
		if err := pre.Check(g.Version); err != nil {
			return false, err
		}
		doc := schema.Clone(g.Doc)
		for i, op := range ops {
			rest, err := s.memberOp(tx, g.ID, mc, op)
			if err != nil {
				return false, patch.Label(i, op, err)
			}
			if rest != nil {
				if err := patch.ApplyAt(s.groups, doc, i, *rest); err != nil {
					return false, err
				}
			}
		}
		changed := !reflect.DeepEqual(doc, g.Doc)
		g.Doc = doc
		return changed || pre != (Precondition{}), nil
	}
}

// changeGroup runs a change of group id. The group's row is not locked while edit runs:
// membership changes commute, so concurrent ones of one group (the common case, and the one
// that must cost the same at any group size) wait for each other only for the version bump.
// edit reports whether the change must not be based on a stale read (it changed the group's
// own attributes, or has a precondition): then the bump happens only if the version is still
// the one read, and otherwise the store runs the change again on a fresh read.
func (s *Service) changeGroup(ctx context.Context, a Actor, id string,
	edit func(tx Tx, g *Resource, mc *memberChange) (guard bool, err error)) (*Resource, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, groupNotFound(id)
	}
	var out *Resource
	err := s.store.Update(ctx, a.Org, func(tx Tx) error {
		var err error
		out, err = s.editGroup(tx, a, id, edit)
		return err
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		var doc map[string]any
		if out != nil {
			doc = out.Doc
		}
		return nil, explainGroup(err, id, doc)
	}
	return out, nil
}

func (s *Service) editGroup(tx Tx, a Actor, id string,
	edit func(tx Tx, g *Resource, mc *memberChange) (bool, error)) (*Resource, error) {
	g, err := tx.Group(id, false)
	if err != nil {
		return nil, err
	}
	before := schema.Clone(g.Doc)
	var mc memberChange
	guard, err := edit(tx, g, &mc)
	if err != nil {
		return g, err
	}
	if err := validateGroup(g.Doc); err != nil {
		return g, err
	}
	attrs := Diff(before, g.Doc)
	if len(attrs) == 0 && mc.empty() {
		return g, errUnchanged
	}
	if err := tx.UpdateGroup(g, guard); err != nil {
		return g, err
	}
	tx.Audit(a.audit(ActionUpdate, "Group", id, mc.audit(attrs)))
	if mc.empty() {
		return g, nil
	}
	// Whether the group maps to grants is read only now that the version bump has locked its
	// row: a mapping set concurrently committed before the lock was granted, so a read now
	// sees it, and a mapping set later sees these memberships.
	mapped, err := tx.Mapped(id)
	if err != nil || !mapped {
		return g, err
	}
	users, err := mc.users(tx)
	if err != nil {
		return g, err
	}
	changes, err := s.settle(tx, a, users)
	if err != nil {
		return g, err
	}
	org, err := tx.Org()
	if err != nil {
		return g, err
	}
	return g, s.journal(tx, a, org, changes, nil)
}

// memberChange collects the members a change added and removed.
type memberChange struct {
	added, removed []Member
}

func (mc *memberChange) empty() bool { return len(mc.added) == 0 && len(mc.removed) == 0 }

// users are the users whose membership changed, directly or through a group added or removed.
func (mc *memberChange) users(tx Tx) ([]string, error) {
	var users, groups []string
	for _, m := range slices.Concat(mc.added, mc.removed) {
		if m.Type == MemberGroup {
			groups = append(groups, m.Value)
		} else if !slices.Contains(users, m.Value) {
			users = append(users, m.Value)
		}
	}
	if len(groups) > 0 {
		// The users of a group added or removed are read under a lock of the group and the
		// groups nested in it: a user added to one of them concurrently either committed
		// before (and is read here) or waits, and then sees this change when it settles.
		for _, g := range groups {
			if _, err := tx.LockGroupTree(g); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		nested, err := tx.UsersIn(groups)
		if err != nil {
			return nil, err
		}
		for _, u := range nested {
			if !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	return users, nil
}

// audit adds the membership changes to an audit record's changes, listing at most 100 members
// of each kind so that a change to a huge group stays a small record.
func (mc *memberChange) audit(attrs map[string]Change) map[string]any {
	out := make(map[string]any, len(attrs)+2)
	for k, c := range attrs {
		out[k] = c
	}
	for name, list := range map[string][]Member{"added": mc.added, "removed": mc.removed} {
		if len(list) == 0 {
			continue
		}
		shown := make([]string, 0, min(len(list), 100))
		for _, m := range list[:min(len(list), 100)] {
			shown = append(shown, m.Type+":"+m.Value)
		}
		out["members."+name] = map[string]any{"count": len(list), "members": shown}
	}
	return out
}

// addMembers adds members to group: each must be a user of the organization, or a group where
// nesting is allowed that does not contain the group (a group never contains itself).
func (s *Service) addMembers(tx Tx, group string, ids []string, mc *memberChange) error {
	if len(ids) == 0 {
		return nil
	}
	added, others, err := tx.AddUsers(group, ids)
	if err != nil {
		return err
	}
	mc.added = append(mc.added, added...)
	if len(others) == 0 {
		return nil
	}
	_, groups, err := tx.ClassifyMembers(others)
	if err != nil {
		return err
	}
	for _, id := range others {
		if !slices.Contains(groups, id) {
			return scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", id)
		}
	}
	// Changes of nesting are serialised per organization, so that two opposite additions
	// cannot both pass the cycle check, nor nesting be disabled meanwhile.
	org, err := tx.LockOrg()
	if err != nil {
		return err
	}
	if !org.NestedGroups {
		return scimerr.Invalid(scimerr.InvalidValue, "member %q is a Group; nested groups are not enabled for this organization", groups[0])
	}
	cycle, err := tx.Contains(groups, group)
	if err != nil {
		return err
	}
	if cycle != "" {
		return scimerr.Invalid(scimerr.InvalidValue, "adding group %q as a member would make a cycle: it is or contains this group", cycle)
	}
	var users []string
	for _, id := range ids {
		if !slices.Contains(groups, id) {
			users = append(users, id)
		}
	}
	more, err := tx.AddMembers(group, users, groups)
	mc.added = append(mc.added, more...)
	return err
}

// memberOp carries out the part of op that concerns members, and returns what remains of op
// for the PATCH engine (nil if nothing).
func (s *Service) memberOp(tx Tx, group string, mc *memberChange, op patch.Operation) (*patch.Operation, error) {
	kind := strings.ToLower(strings.TrimSpace(op.Op))
	if strings.TrimSpace(op.Path) == "" {
		// Path-less add/replace: a "members" key is a members operation; the rest (Okta's
		// rename carries id and displayName) goes to the engine.
		obj, ok := op.Value.(map[string]any)
		if !ok {
			return &op, nil
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
			return &op, nil
		}
		if err := s.applyMembers(tx, group, mc, kind, members); err != nil {
			return nil, err
		}
		if len(rest) == 0 {
			return nil, nil
		}
		return &patch.Operation{Op: op.Op, Value: rest}, nil
	}
	pp, err := filter.ParsePatchPath(s.groups, op.Path)
	if err != nil {
		return nil, err
	}
	if pp.Target.Attr == nil || pp.Target.Attr != s.membersPath.Attr {
		return &op, nil
	}
	if pp.Target.Sub != nil {
		return nil, scimerr.Invalid(scimerr.Mutability, "member sub-attributes cannot be changed; add or remove the member instead")
	}
	if pp.Filter != nil {
		if kind != patch.OpRemove {
			return nil, scimerr.Invalid(scimerr.InvalidPath, "members can be added only with path \"members\"")
		}
		removed, err := tx.RemoveMembersWhere(group, pp.Filter)
		mc.removed = append(mc.removed, removed...)
		return nil, err
	}
	return nil, s.applyMembers(tx, group, mc, kind, op.Value)
}

// applyMembers carries out add, replace or remove on path "members" with value v.
func (s *Service) applyMembers(tx Tx, group string, mc *memberChange, kind string, v any) error {
	if kind == patch.OpRemove && v == nil {
		removed, err := tx.RemoveMembersExcept(group, nil)
		mc.removed = append(mc.removed, removed...)
		return err
	}
	ids, err := s.memberIDs(v)
	if err != nil {
		return err
	}
	switch kind {
	case patch.OpAdd:
		return s.addMembers(tx, group, ids, mc)
	case patch.OpReplace:
		removed, err := tx.RemoveMembersExcept(group, ids)
		mc.removed = append(mc.removed, removed...)
		if err != nil {
			return err
		}
		return s.addMembers(tx, group, ids, mc)
	case patch.OpRemove:
		removed, err := tx.RemoveMembers(group, ids)
		mc.removed = append(mc.removed, removed...)
		return err
	}
	return scimerr.Invalid(scimerr.InvalidSyntax, "\"op\" must be one of \"add\", \"replace\", \"remove\", got %q", kind)
}

// memberIDs reads a members value, a list of {"value": id, ...} (or one such object), into
// canonical ids. An id that is not a UUID names no user or group of the organization.
func (s *Service) memberIDs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		list = []any{v}
	}
	ids := make([]string, 0, len(list))
	for i, e := range list {
		nv, err := schema.NormalizeElement(s.membersPath, e)
		if err != nil {
			return nil, err
		}
		m, _ := nv.(map[string]any)
		raw, _ := m["value"].(string)
		if raw == "" {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "members[%d] has no value (the member's id)", i)
		}
		id, ok := canonicalID(raw)
		if !ok {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "member %q is not a User of this organization", raw)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// splitGroup normalises a group body and takes its members out, since members are stored apart.
func (s *Service) splitGroup(body map[string]any) (map[string]any, []string, error) {
	rest := map[string]any{}
	var mv any
	for k, v := range body {
		if strings.EqualFold(k, "members") {
			mv = v
		} else {
			rest[k] = v
		}
	}
	doc, err := s.groups.Normalize(rest)
	if err != nil {
		return nil, nil, err
	}
	if err := validateGroup(doc); err != nil {
		return nil, nil, err
	}
	members, err := s.memberIDs(mv)
	return doc, members, err
}

func validateGroup(doc map[string]any) error {
	if name, _ := doc["displayName"].(string); strings.TrimSpace(name) == "" {
		return scimerr.Invalid(scimerr.InvalidValue, "displayName is required and must not be empty")
	}
	return nil
}
