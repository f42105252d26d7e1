package directory

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Group-to-grant mappings: an organization maps a group to an orgRole, an
// accountRole and products, and every user in the group, directly or through nested groups,
// holds them on top of their own grants. Identity providers push only a group's name and
// members, so mappings are set by admins (admin API, command line, console). Setting or removing
// one recomputes the effective grants of the group's users in the same transaction, under the
// same rules as any other change of grants (checkChanges).

// MappingInput is a mapping to set; empty roles and no products map nothing of that kind.
type MappingInput struct {
	OrgRole     string   `json:"org_role"`
	AccountRole string   `json:"account_role"`
	Products    []string `json:"products"`
}

// MappingSet is the outcome of setting a mapping: the mapping stored, whether it is new, and
// the users whose effective grants changed.
type MappingSet struct {
	Mapping
	Created      bool          `json:"-"`
	UsersChanged int           `json:"users_changed"`
	Changes      []GrantChange `json:"-"`
}

// MappingRemoved is the outcome of removing a mapping.
type MappingRemoved struct {
	GroupID      string        `json:"group_id"`
	Removed      bool          `json:"removed"`
	UsersChanged int           `json:"users_changed"`
	Changes      []GrantChange `json:"-"`
}

var (
	orgRoles     = []string{grants.OrgAdmin, grants.OrgAdminReadOnly, grants.OrgUser}
	accountRoles = []string{grants.AccountAdmin, grants.AccountMember}
)

// normalizeRole lowercases a role and checks it is one of valid; "" stays "" (no role mapped).
func normalizeRole(field, role string, valid []string) (*string, error) {
	r := strings.ToLower(strings.TrimSpace(role))
	if r == "" {
		return nil, nil
	}
	if !slices.Contains(valid, r) {
		return nil, scimerr.Invalid("", "%s %q is not valid; use %s, or leave it out to map none", field, role, strings.Join(valid, ", "))
	}
	return &r, nil
}

func orgNotFound(org string) error {
	return scimerr.NotFound("there is no organization %q", org)
}

func mappingGroupNotFound(org, group string) error {
	return scimerr.NotFound("organization %s has no group %q", org, group)
}

// explainOrg turns a missing organization into the client's error.
func explainOrg(err error, org string) error {
	if errors.Is(err, ErrNoOrg) {
		return orgNotFound(org)
	}
	return err
}

func unlicensed(org *Org, product string) error {
	return scimerr.Invalid("", "product %q is not licensed by organization %s; licensed products are %s",
		product, org.ID, strings.Join(org.Products, ", "))
}

// SetGroupMapping maps a group of the organization to grants, replacing any mapping it had,
// and recomputes the effective grants of the group's users. Roles are checked and products must
// be licensed (400); an unknown group is 404; a change the grant rules refuse (the last admin,
// the actor's own demotion) changes nothing.
func (s *Service) SetGroupMapping(ctx context.Context, a Actor, group string, in MappingInput) (*MappingSet, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	gid, ok := canonicalID(group)
	if !ok {
		return nil, mappingGroupNotFound(a.Org, group)
	}
	m := Mapping{GroupID: gid, Products: []string{}}
	var err error
	if m.OrgRole, err = normalizeRole("org_role", in.OrgRole, orgRoles); err != nil {
		return nil, err
	}
	if m.AccountRole, err = normalizeRole("account_role", in.AccountRole, accountRoles); err != nil {
		return nil, err
	}
	for _, p := range in.Products {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			return nil, scimerr.Invalid("", "a product name is empty")
		}
		if !slices.Contains(m.Products, p) {
			m.Products = append(m.Products, p)
		}
	}
	slices.Sort(m.Products)
	if m.OrgRole == nil && m.AccountRole == nil && len(m.Products) == 0 {
		return nil, scimerr.Invalid("", "a mapping needs an org_role, an account_role or products; to remove a group's mapping, remove it")
	}
	out := &MappingSet{}
	err = s.update(ctx, a, func(tx Tx) error {
		org, err := tx.Org()
		if err != nil {
			return err
		}
		for _, p := range m.Products {
			if !slices.Contains(org.Products, p) {
				return unlicensed(org, p)
			}
		}
		set := MappingSet{Mapping: m}
		if set.GroupName, err = tx.LockGroupTree(gid); err != nil {
			return err
		}
		if set.Created, err = tx.PutMapping(&set.Mapping); err != nil {
			return err
		}
		if set.Changes, err = s.remap(tx, a, org, gid); err != nil {
			return err
		}
		set.UsersChanged = len(set.Changes)
		*out = set
		return nil
	})
	if errors.Is(err, ErrNotLicensed) {
		return nil, scimerr.New(scimerr.KindConflict, "", "the licensed products of organization %s changed meanwhile; try again", a.Org)
	}
	if errors.Is(err, ErrNotFound) {
		return nil, mappingGroupNotFound(a.Org, group)
	}
	if err != nil {
		return nil, explainOrg(err, a.Org)
	}
	return out, nil
}

// remap recomputes the effective grants of the users in group after its mapping changed.
func (s *Service) remap(tx Tx, a Actor, org *Org, group string) ([]GrantChange, error) {
	users, err := tx.UsersIn([]string{group})
	if err != nil {
		return nil, err
	}
	changes, err := s.settle(tx, a, users)
	if err != nil {
		return nil, err
	}
	return changes, s.journal(tx, a, org, changes, nil)
}

// ListGroupMappings lists an organization's group mappings by group name.
func (s *Service) ListGroupMappings(ctx context.Context, a Actor) ([]Mapping, error) {
	ms, err := s.store.Mappings(ctx, a.Org)
	return ms, explainOrg(err, a.Org)
}

// RemoveGroupMapping removes a group's mapping and recomputes the effective grants of its
// users, under the same rules as SetGroupMapping.
func (s *Service) RemoveGroupMapping(ctx context.Context, a Actor, group string) (*MappingRemoved, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	gid, ok := canonicalID(group)
	if !ok {
		return nil, mappingGroupNotFound(a.Org, group)
	}
	out := &MappingRemoved{GroupID: gid, Removed: true}
	err := s.update(ctx, a, func(tx Tx) error {
		org, err := tx.Org()
		if err != nil {
			return err
		}
		if _, err := tx.LockGroupTree(gid); err != nil {
			return err
		}
		if err := tx.DeleteMapping(gid); errors.Is(err, ErrNotFound) {
			return scimerr.NotFound("group %s of organization %s has no mapping", gid, a.Org)
		} else if err != nil {
			return err
		}
		out.Changes, err = s.remap(tx, a, org, gid)
		out.UsersChanged = len(out.Changes)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		return nil, mappingGroupNotFound(a.Org, group)
	}
	if err != nil {
		return nil, explainOrg(err, a.Org)
	}
	return out, nil
}

// SetNestedGroups allows or forbids groups as members of groups. Forbidding it is refused
// (409) while any group is a member of another, saying how many such memberships exist.
func (s *Service) SetNestedGroups(ctx context.Context, a Actor, enabled bool) error {
	if err := a.CanWrite(); err != nil {
		return err
	}
	err := s.update(ctx, a, func(tx Tx) error {
		org, err := tx.LockOrg()
		if err != nil {
			return err
		}
		if org.NestedGroups == enabled {
			return errUnchanged
		}
		if !enabled {
			n, err := tx.NestedMemberships()
			if err != nil {
				return err
			}
			if n > 0 {
				return scimerr.New(scimerr.KindConflict, "",
					"nested groups cannot be disabled for organization %s: %d group-in-group memberships exist; remove the groups from their parent groups first",
					a.Org, n)
			}
		}
		return tx.SetNestedGroups(enabled)
	})
	return explainOrg(err, a.Org)
}
