package memstore

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
)

// What effective grants follow from, and where they are kept: directory.GrantTx and the Store
// reads of mappings and memberships.

// Mapped implements directory.Tx.
func (t *tx) Mapped(groupID string) (bool, error) {
	if err := t.send(); err != nil {
		return false, err
	}
	for _, g := range append([]string{groupID}, t.o.above(groupID)...) {
		if _, ok := t.o.mappings[g]; ok {
			return true, nil
		}
	}
	return false, nil
}

// UsersIn implements directory.Tx: the users, by id.
func (t *tx) UsersIn(groups []string) ([]string, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	var out []string
	for _, top := range groups {
		for _, gid := range append([]string{top}, t.o.below(top)...) {
			g, ok := t.o.groups[gid]
			if !ok {
				continue
			}
			for id, kind := range g.members {
				if kind == directory.MemberUser && !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// GrantInputs implements directory.Tx: the users that exist, by id.
func (t *tx) GrantInputs(users []string) ([]directory.GrantInput, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	ids := slices.Clone(users)
	slices.Sort(ids)
	var out []directory.GrantInput
	for _, id := range slices.Compact(ids) {
		u, ok := t.o.users[id]
		if !ok {
			continue
		}
		c := cloneUser(&u.User)
		in := directory.GrantInput{UserID: id, Active: c.Active(), Direct: c.Direct, Effective: c.Effective}
		for _, g := range t.o.above(id) {
			if m, ok := t.o.mappings[g]; ok {
				in.Mapped = append(in.Mapped, cloneMapping(m).Grants())
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// SetEffective implements directory.Tx.
func (t *tx) SetEffective(changes []directory.GrantChange) error {
	t.queue(func() error {
		for _, c := range changes {
			if u, ok := t.o.users[c.UserID]; ok {
				u.Effective = c.After
				u.Effective.Products = slices.Clone(c.After.Products)
			}
		}
		return nil
	})
	return nil
}

// AnyActiveAdmin implements directory.Tx.
func (t *tx) AnyActiveAdmin() (bool, error) {
	if err := t.send(); err != nil {
		return false, err
	}
	for _, u := range t.o.users {
		if u.Active() && u.Effective.OrgRole == grants.OrgAdmin {
			return true, nil
		}
	}
	return false, nil
}

// LockGroupTree implements directory.Tx; locking is moot, transactions being serialised.
func (t *tx) LockGroupTree(groupID string) (string, error) {
	if err := t.send(); err != nil {
		return "", err
	}
	g, ok := t.o.groups[groupID]
	if !ok {
		return "", directory.ErrNotFound
	}
	return displayName(g), nil
}

// PutMapping implements directory.Tx. Mapped products must be licensed.
func (t *tx) PutMapping(m *directory.Mapping) (bool, error) {
	if err := t.sendWrite(); err != nil {
		return false, err
	}
	if _, ok := t.o.groups[m.GroupID]; !ok {
		return false, directory.ErrNotFound
	}
	for _, p := range m.Products {
		if !slices.Contains(t.o.settings.Products, p) {
			return false, directory.ErrNotLicensed
		}
	}
	_, existed := t.o.mappings[m.GroupID]
	m.Updated = now()
	c := cloneMapping(m)
	c.GroupName = ""
	slices.Sort(c.Products)
	c.Products = slices.Compact(c.Products)
	if c.Products == nil {
		c.Products = []string{}
	}
	t.o.mappings[m.GroupID] = c
	return !existed, nil
}

// DeleteMapping implements directory.Tx.
func (t *tx) DeleteMapping(groupID string) error {
	if err := t.sendWrite(); err != nil {
		return err
	}
	if _, ok := t.o.mappings[groupID]; !ok {
		return directory.ErrNotFound
	}
	delete(t.o.mappings, groupID)
	return nil
}

// byName orders groups by lower-cased displayName, then id.
func byName(a, b *group) int {
	if c := strings.Compare(strings.ToLower(displayName(a)), strings.ToLower(displayName(b))); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Mappings implements directory.Store: by group name.
func (s *Store) Mappings(ctx context.Context, orgID string) ([]directory.Mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return []directory.Mapping{}, directory.ErrNoOrg
	}
	out := []directory.Mapping{}
	for _, g := range slices.SortedFunc(maps.Values(o.groups), byName) {
		if m, ok := o.mappings[g.ID]; ok {
			c := cloneMapping(m)
			c.GroupName = displayName(g)
			out = append(out, *c)
		}
	}
	return out, nil
}

// Memberships implements directory.Store: the user's direct groups by name.
func (s *Store) Memberships(ctx context.Context, orgID, userID string) ([]directory.Membership, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []directory.Membership{}
	o, ok := s.orgs[orgID]
	if !ok {
		return out, nil
	}
	for _, g := range slices.SortedFunc(maps.Values(o.groups), byName) {
		if g.members[userID] != directory.MemberUser {
			continue
		}
		ms := directory.Membership{GroupID: g.ID, GroupName: displayName(g)}
		if m, ok := o.mappings[g.ID]; ok {
			gm := cloneMapping(m).Grants()
			ms.Mapping = &gm
		}
		out = append(out, ms)
	}
	return out, nil
}
