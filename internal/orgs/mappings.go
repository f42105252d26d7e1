package orgs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Group-to-grant mappings (PRODUCT.md §3): an organization maps a group to an orgRole, an
// accountRole and products, and every user in the group, directly or through nested groups,
// holds them on top of their own grants (the highest role wins). Identity providers push only
// a group's name and members, so mappings are set here, by the operator. Setting or removing
// one recomputes the effective grants of the group's users in the same transaction, which
// refuses a change that would leave the organization without an active admin.

// GroupMapping is what a group maps its users to. A nil role maps none: the users keep the
// role they have otherwise.
type GroupMapping struct {
	GroupID string `json:"group_id"`
	// GroupName is the group's displayName.
	GroupName   string    `json:"group_name"`
	OrgRole     *string   `json:"org_role"`
	AccountRole *string   `json:"account_role"`
	Products    []string  `json:"products"`
	Updated     time.Time `json:"updated"`
}

// MappingInput is a mapping to set; empty roles and no products map nothing of that kind.
type MappingInput struct {
	OrgRole     string   `json:"org_role"`
	AccountRole string   `json:"account_role"`
	Products    []string `json:"products"`
}

// MappingSet is the outcome of setting a mapping: the mapping stored, whether it is new, and
// the users whose effective grants changed.
type MappingSet struct {
	GroupMapping
	Created bool `json:"-"`
	// UsersChanged is len(Changes).
	UsersChanged int                     `json:"users_changed"`
	Changes      []directory.GrantChange `json:"-"`
}

// MappingRemoved is the outcome of removing a mapping.
type MappingRemoved struct {
	GroupID      string                  `json:"group_id"`
	Removed      bool                    `json:"removed"`
	UsersChanged int                     `json:"users_changed"`
	Changes      []directory.GrantChange `json:"-"`
}

// OrgSettings is an organization with its settings.
type OrgSettings struct {
	Org
	// NestedGroups allows groups as members of groups.
	NestedGroups bool `json:"nested_groups"`
	// Notify is the default of notifications to users of changes (settings.go).
	Notify bool `json:"notify"`
}

// Errors of the mapping methods of a Store, besides ErrNoOrg and ErrNotFound (the group is
// not a group of the organization).
var (
	// ErrNoMapping: the group has no mapping.
	ErrNoMapping = errors.New("no mapping")
	// ErrNotLicensed: a product of the mapping is not licensed (withdrawn meanwhile).
	ErrNotLicensed = errors.New("product not licensed")
)

// NestedInUseError is a Store's refusal to disable nested groups while groups are members of
// groups.
type NestedInUseError struct {
	Memberships int
}

func (e *NestedInUseError) Error() string {
	return fmt.Sprintf("%d group-in-group memberships", e.Memberships)
}

// orgRoles and accountRoles are the roles a mapping may name.
var (
	orgRoles     = []string{grants.OrgAdmin, grants.OrgAdminReadOnly, grants.OrgUser}
	accountRoles = []string{grants.AccountAdmin, grants.AccountMember}
)

// normalizeRole lowercases a role and checks it is one of valid; "" stays "" (no role mapped).
func normalizeRole(field, role string, valid []string) (string, error) {
	r := strings.ToLower(strings.TrimSpace(role))
	if r == "" || slices.Contains(valid, r) {
		return r, nil
	}
	return "", scimerr.Invalid("", "%s %q is not valid; use %s, or leave it out to map none", field, role, strings.Join(valid, ", "))
}

func groupNotFound(org, group string) error {
	return scimerr.NotFound("organization %s has no group %q", org, group)
}

// canonGroup returns a group id in canonical form; an id that is not a UUID names no group.
func canonGroup(org, group string) (string, error) {
	id, err := uuid.Parse(group)
	if err != nil {
		return "", groupNotFound(org, group)
	}
	return id.String(), nil
}

func (s *Service) mappingErr(err error, org, group string) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return groupNotFound(org, group)
	case errors.Is(err, ErrNoMapping):
		return scimerr.NotFound("group %s of organization %s has no mapping", group, org)
	}
	return s.orgErr(err, org)
}

func unlicensed(org, product string, licensed []string) error {
	return scimerr.Invalid("", "product %q is not licensed by organization %s; licensed products are %s",
		product, org, strings.Join(licensed, ", "))
}

// SetGroupMapping maps a group of the organization to grants, replacing any mapping it had,
// and recomputes the effective grants of the group's users. Roles are checked and products
// must be licensed (400); an unknown group is 404; a change that would leave the organization
// without an active admin is refused (409) and changes nothing.
func (s *Service) SetGroupMapping(ctx context.Context, org, group string, in MappingInput) (*MappingSet, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if group, err = canonGroup(org, group); err != nil {
		return nil, err
	}
	m := GroupMapping{GroupID: group, Products: []string{}}
	orgRole, err := normalizeRole("org_role", in.OrgRole, orgRoles)
	if err != nil {
		return nil, err
	}
	accountRole, err := normalizeRole("account_role", in.AccountRole, accountRoles)
	if err != nil {
		return nil, err
	}
	if orgRole != "" {
		m.OrgRole = &orgRole
	}
	if accountRole != "" {
		m.AccountRole = &accountRole
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
	licensed, err := s.store.ListProducts(ctx, org)
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	for _, p := range m.Products {
		if !slices.Contains(licensed, p) {
			return nil, unlicensed(org, p, licensed)
		}
	}
	out, err := s.store.SetGroupMapping(ctx, org, m)
	if errors.Is(err, ErrNotLicensed) {
		// A product was withdrawn since it was checked: say which, from what is licensed now.
		if licensed, lerr := s.store.ListProducts(ctx, org); lerr == nil {
			for _, p := range m.Products {
				if !slices.Contains(licensed, p) {
					return nil, unlicensed(org, p, licensed)
				}
			}
		}
		return nil, scimerr.New(scimerr.KindConflict, "", "the licensed products of organization %s changed meanwhile; try again", org)
	}
	if err != nil {
		return nil, s.mappingErr(err, org, group)
	}
	out.UsersChanged = len(out.Changes)
	return out, nil
}

// ListGroupMappings lists an organization's group mappings by group name.
func (s *Service) ListGroupMappings(ctx context.Context, org string) ([]GroupMapping, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	ms, err := s.store.ListGroupMappings(ctx, org)
	return ms, s.orgErr(err, org)
}

// RemoveGroupMapping removes a group's mapping and recomputes the effective grants of its
// users; a removal that would leave the organization without an active admin is refused (409).
func (s *Service) RemoveGroupMapping(ctx context.Context, org, group string) (*MappingRemoved, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if group, err = canonGroup(org, group); err != nil {
		return nil, err
	}
	changes, err := s.store.DeleteGroupMapping(ctx, org, group)
	if err != nil {
		return nil, s.mappingErr(err, org, group)
	}
	return &MappingRemoved{GroupID: group, Removed: true, UsersChanged: len(changes), Changes: changes}, nil
}

// SetNestedGroups allows or forbids groups as members of groups. Forbidding it is refused
// (409) while any group is a member of another, saying how many such memberships exist.
func (s *Service) SetNestedGroups(ctx context.Context, org string, enabled bool) (*OrgSettings, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	err = s.store.SetNestedGroups(ctx, org, enabled)
	var inUse *NestedInUseError
	if errors.As(err, &inUse) {
		return nil, scimerr.New(scimerr.KindConflict, "",
			"nested groups cannot be disabled for organization %s: %d group-in-group memberships exist; remove the groups from their parent groups first",
			org, inUse.Memberships)
	}
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	return s.Settings(ctx, org)
}
