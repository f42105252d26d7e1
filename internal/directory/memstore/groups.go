package memstore

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
)

// Groups and their members: directory.GroupTx and the Store reads of groups.

func displayName(g *group) string {
	n, _ := g.Doc["displayName"].(string)
	return n
}

// groupDoc is what the groups table keeps of a document: displayName and externalId.
func groupDoc(doc map[string]any) map[string]any {
	out := map[string]any{"displayName": doc["displayName"]}
	if ext, ok := doc["externalId"].(string); ok {
		out["externalId"] = ext
	}
	return out
}

// groupNamed finds the group other than except whose displayName is name, compared as the
// unique index groups_display_name_key compares (lower-cased).
func (o *org) groupNamed(name any, except string) *group {
	n, _ := name.(string)
	for _, g := range o.groups {
		if g.ID != except && strings.EqualFold(displayName(g), n) {
			return g
		}
	}
	return nil
}

func readGroup(g *group) *directory.Resource {
	c := cloneResource(&g.Resource)
	return &c
}

// Group implements directory.Store.
func (s *Store) Group(ctx context.Context, orgID, id string) (*directory.Resource, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		if g, ok := o.groups[id]; ok {
			return readGroup(g), nil
		}
	}
	return nil, directory.ErrNotFound
}

// Groups implements directory.Store for what the directory's tests need: no filter, no sortBy
// and no cursor, groups in creation order, paged by startIndex and count.
func (s *Store) Groups(ctx context.Context, orgID string, q directory.Query) ([]*directory.Resource, directory.PageInfo, error) {
	if q.Filter != nil || q.SortBy != nil || q.ByCursor {
		return nil, directory.PageInfo{}, errUnsupported("a filter, sortBy or cursor")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.PageInfo{}, nil
	}
	all := slices.SortedFunc(maps.Values(o.groups), func(a, b *group) int { return int(a.seq - b.seq) })
	var out []*directory.Resource
	for _, g := range page(all, q) {
		out = append(out, readGroup(g))
	}
	return out, directory.PageInfo{Total: len(all)}, nil
}

// EachMember implements directory.Store: members by id within each group, each with its
// display: a user's displayName, else its userName; a group's displayName.
func (s *Store) EachMember(ctx context.Context, orgID string, groups []string, fn func(group string, m directory.Member) error) error {
	type member struct {
		group string
		m     directory.Member
	}
	var out []member
	s.mu.Lock()
	if o, ok := s.orgs[orgID]; ok {
		for _, id := range groups {
			if g, ok := o.groups[id]; ok {
				for _, m := range o.members(g, slices.Sorted(maps.Keys(g.members))) {
					out = append(out, member{id, m})
				}
			}
		}
	}
	s.mu.Unlock()
	// fn runs without the lock, so that it may read the store.
	for _, x := range out {
		if err := fn(x.group, x.m); err != nil {
			return err
		}
	}
	return nil
}

// members describes the members of g among ids, with their display.
func (o *org) members(g *group, ids []string) []directory.Member {
	var out []directory.Member
	for _, id := range ids {
		kind, ok := g.members[id]
		if !ok {
			continue
		}
		m := directory.Member{Value: id, Type: kind}
		if u, ok := o.users[id]; ok && kind == directory.MemberUser {
			m.Display, _ = u.Doc["displayName"].(string)
			if m.Display == "" {
				m.Display, _ = u.Doc["userName"].(string)
			}
		} else if mg, ok := o.groups[id]; ok {
			m.Display = displayName(mg)
		}
		out = append(out, m)
	}
	return out
}

// Group implements directory.Tx; locking is moot, transactions being serialised.
func (t *tx) Group(id string, lock bool) (*directory.Resource, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	g, ok := t.o.groups[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return readGroup(g), nil
}

// InsertGroup implements directory.Tx.
func (t *tx) InsertGroup(g *directory.Resource) error {
	t.queue(func() error {
		if t.o.groupNamed(g.Doc["displayName"], "") != nil {
			return directory.ErrDisplayNameTaken
		}
		at := now()
		g.Version, g.Created, g.LastModified = 1, at, at
		t.o.seq++
		t.o.groups[g.ID] = &group{Resource: directory.Resource{ID: g.ID, Doc: groupDoc(g.Doc), Version: 1, Created: at, LastModified: at},
			seq: t.o.seq, members: map[string]string{}}
		return nil
	})
	return nil
}

// UpdateGroup implements directory.Tx. A guarded update of a group whose version is no longer
// g.Version, or of a group that is gone, makes the attempt stale, and Update runs it again, as
// the postgres store does.
func (t *tx) UpdateGroup(g *directory.Resource, guard bool) error {
	t.queue(func() error {
		cur, ok := t.o.groups[g.ID]
		if !ok || (guard && cur.Version != g.Version) {
			return errStale
		}
		if t.o.groupNamed(g.Doc["displayName"], g.ID) != nil {
			return directory.ErrDisplayNameTaken
		}
		cur.Doc = groupDoc(g.Doc)
		cur.Version++
		cur.LastModified = now()
		g.Version, g.LastModified = cur.Version, cur.LastModified
		return nil
	})
	return nil
}

// DeleteGroup implements directory.Tx: its members, its memberships in other groups and its
// mapping go with it.
func (t *tx) DeleteGroup(id string) error {
	t.queue(func() error {
		delete(t.o.groups, id)
		delete(t.o.mappings, id)
		for _, g := range t.o.groups {
			if g.members[id] == directory.MemberGroup {
				delete(g.members, id)
			}
		}
		return nil
	})
	return nil
}

// AddUsers implements directory.Tx.
func (t *tx) AddUsers(groupID string, ids []string) ([]directory.Member, []string, error) {
	if err := t.send(); err != nil {
		return nil, nil, err
	}
	var users, others []string
	for _, id := range ids {
		if slices.Contains(users, id) || slices.Contains(others, id) {
			continue
		}
		if _, ok := t.o.users[id]; ok {
			users = append(users, id)
		} else {
			others = append(others, id)
		}
	}
	if len(others) > 0 {
		return nil, others, nil
	}
	added, err := t.AddMembers(groupID, users, nil)
	return added, nil, err
}

// ClassifyMembers implements directory.Tx.
func (t *tx) ClassifyMembers(ids []string) (users, groups []string, err error) {
	if err := t.send(); err != nil {
		return nil, nil, err
	}
	for _, id := range ids {
		if _, ok := t.o.users[id]; ok && !slices.Contains(users, id) {
			users = append(users, id)
		}
		if _, ok := t.o.groups[id]; ok && !slices.Contains(groups, id) {
			groups = append(groups, id)
		}
	}
	return users, groups, nil
}

// AddMembers implements directory.Tx. A member, or the group, that does not exist is
// directory.ErrGone, as the foreign keys of group_members answer.
func (t *tx) AddMembers(groupID string, users, groups []string) ([]directory.Member, error) {
	if err := t.sendWrite(); err != nil {
		return nil, err
	}
	g, ok := t.o.groups[groupID]
	if !ok {
		return nil, directory.ErrGone
	}
	var added []directory.Member
	for _, x := range []struct {
		ids  []string
		kind string
	}{{users, directory.MemberUser}, {groups, directory.MemberGroup}} {
		for _, id := range x.ids {
			_, isUser := t.o.users[id]
			_, isGroup := t.o.groups[id]
			if (x.kind == directory.MemberUser && !isUser) || (x.kind == directory.MemberGroup && !isGroup) {
				return nil, directory.ErrGone
			}
			if _, present := g.members[id]; present {
				continue
			}
			g.members[id] = x.kind
			added = append(added, directory.Member{Value: id, Type: x.kind})
		}
	}
	return added, nil
}

// remove removes the members of g that match and returns them, by id.
func (t *tx) remove(groupID string, match func(m directory.Member) bool) ([]directory.Member, error) {
	if err := t.sendWrite(); err != nil {
		return nil, err
	}
	g, ok := t.o.groups[groupID]
	if !ok {
		return nil, nil
	}
	var out []directory.Member
	for _, m := range t.o.members(g, slices.Sorted(maps.Keys(g.members))) {
		if match(m) {
			delete(g.members, m.Value)
			out = append(out, directory.Member{Value: m.Value, Type: m.Type})
		}
	}
	return out, nil
}

// RemoveMembers implements directory.Tx.
func (t *tx) RemoveMembers(groupID string, ids []string) ([]directory.Member, error) {
	return t.remove(groupID, func(m directory.Member) bool { return slices.Contains(ids, m.Value) })
}

// RemoveMembersWhere implements directory.Tx: the filter sees each member as an element of
// members (value, type, and display for a user), as the postgres store's SQL does.
func (t *tx) RemoveMembersWhere(groupID string, f filter.Expr) ([]directory.Member, error) {
	return t.remove(groupID, func(m directory.Member) bool {
		el := map[string]any{"value": m.Value, "type": m.Type}
		if m.Type == directory.MemberUser {
			el["display"] = m.Display
		}
		return filter.Match(f, el)
	})
}

// RemoveMembersExcept implements directory.Tx.
func (t *tx) RemoveMembersExcept(groupID string, ids []string) ([]directory.Member, error) {
	return t.remove(groupID, func(m directory.Member) bool { return !slices.Contains(ids, m.Value) })
}

// Contains implements directory.Tx: the first of groups, in the order given, that is target or
// has it among its members at any depth.
func (t *tx) Contains(groups []string, target string) (string, error) {
	if err := t.send(); err != nil {
		return "", err
	}
	for _, g := range groups {
		if g == target || slices.Contains(t.o.below(g), target) {
			return g, nil
		}
	}
	return "", nil
}

// below returns the groups nested in group at any depth.
func (o *org) below(groupID string) []string {
	var out []string
	todo := []string{groupID}
	for len(todo) > 0 {
		g := o.groups[todo[0]]
		todo = todo[1:]
		if g == nil {
			continue
		}
		for id, kind := range g.members {
			if kind == directory.MemberGroup && !slices.Contains(out, id) {
				out = append(out, id)
				todo = append(todo, id)
			}
		}
	}
	return out
}

// above returns the groups that contain id (a user or a group) at any depth.
func (o *org) above(id string) []string {
	var out []string
	todo := []string{id}
	for len(todo) > 0 {
		x := todo[0]
		todo = todo[1:]
		for gid, g := range o.groups {
			if _, ok := g.members[x]; ok && !slices.Contains(out, gid) {
				out = append(out, gid)
				todo = append(todo, gid)
			}
		}
	}
	return out
}
