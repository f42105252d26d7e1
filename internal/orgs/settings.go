package orgs

import (
	"context"
)

// The notification setting: whether changes of a user's products or roles,
// suspensions and reactivations are mailed to the user. It is the organization's default; a
// provisioning request may override it, and welcomes go out whatever it says.

// Settings are an organization's stored settings.
type Settings struct {
	NestedGroups bool
	Notify       bool
}

// Settings returns an organization with its settings.
func (s *Service) Settings(ctx context.Context, org string) (*OrgSettings, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrg(ctx, org)
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	set, err := s.store.Settings(ctx, org)
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	return &OrgSettings{Org: *o, NestedGroups: set.NestedGroups, Notify: set.Notify}, nil
}

// SetNotify sets whether the organization's users are notified of changes by default, and
// returns the organization with its settings.
func (s *Service) SetNotify(ctx context.Context, org string, notify bool) (*OrgSettings, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if err := s.store.SetNotify(ctx, org, notify); err != nil {
		return nil, s.orgErr(err, org)
	}
	return s.Settings(ctx, org)
}

// OrgSettings is an organization with its settings.
type OrgSettings struct {
	Org
	// NestedGroups allows groups as members of groups.
	NestedGroups bool `json:"nested_groups"`
	// Notify is the default of notifications to users of changes.
	Notify bool `json:"notify"`
}
