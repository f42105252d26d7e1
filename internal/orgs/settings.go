package orgs

import (
	"context"
	"errors"
)

// The notification setting (PRODUCT.md §6): whether changes of a user's products or roles,
// suspensions and reactivations are mailed to the user. It is the organization's default; a
// provisioning request may override it, and welcomes go out whatever it says.

// Settings are an organization's stored settings.
type Settings struct {
	NestedGroups bool
	Notify       bool
}

// SettingsStore is the part of a Store that reads the settings and stores the notification
// setting; postgres.Orgs implements it. Both answer ErrNoOrg for an organization that does
// not exist.
type SettingsStore interface {
	Settings(ctx context.Context, org string) (Settings, error)
	SetNotify(ctx context.Context, org string, notify bool) error
}

// settingsStore is the service's store as a SettingsStore.
func (s *Service) settingsStore() (SettingsStore, error) {
	st, ok := s.store.(SettingsStore)
	if !ok {
		return nil, errors.New("the organization store keeps no settings")
	}
	return st, nil
}

// Settings returns an organization with its settings.
func (s *Service) Settings(ctx context.Context, org string) (*OrgSettings, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	st, err := s.settingsStore()
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrg(ctx, org)
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	set, err := st.Settings(ctx, org)
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
	st, err := s.settingsStore()
	if err != nil {
		return nil, err
	}
	if err := st.SetNotify(ctx, org, notify); err != nil {
		return nil, s.orgErr(err, org)
	}
	return s.Settings(ctx, org)
}
