package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/scimerr"
)

// Admin API endpoints for group-to-grant mappings and the organization's settings (routes in
// routes.go, conventions in admin.go).

// adminSetGroupMapping answers 201 for a new mapping, 200 for a replaced one; both carry the
// mapping and users_changed.
func (s *server) adminSetGroupMapping(w http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	var in directory.MappingInput
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	m, err := s.Directory.SetGroupMapping(r.Context(), a, chi.URLParam(r, "group"), in)
	if err != nil {
		return 0, nil, err
	}
	if m.Created {
		return http.StatusCreated, m, nil
	}
	return http.StatusOK, m, nil
}

func (s *server) adminListGroupMappings(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	ms, err := s.Directory.ListGroupMappings(r.Context(), a)
	return http.StatusOK, map[string]any{"group_mappings": ms}, err
}

// adminRemoveGroupMapping answers 200 with users_changed, not 204: removing a mapping changes
// the grants of the group's users, and the caller is told how many.
func (s *server) adminRemoveGroupMapping(_ http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	m, err := s.Directory.RemoveGroupMapping(r.Context(), a, chi.URLParam(r, "group"))
	return http.StatusOK, m, err
}

// adminPatchOrg changes an organization: its name and default locale, and its settings
// nested_groups (a rule of the directory) and notify (the default of notifications to users).
// Every value is checked first, and nested_groups is applied first: it is the one that can be
// refused, and then nothing changes.
func (s *server) adminPatchOrg(w http.ResponseWriter, r *http.Request, a directory.Actor) (int, any, error) {
	var in struct {
		Name          *string `json:"name"`
		DefaultLocale *string `json:"default_locale"`
		NestedGroups  *bool   `json:"nested_groups"`
		Notify        *bool   `json:"notify"`
	}
	if err := s.decodeAdmin(w, r, &in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil && in.DefaultLocale == nil && in.NestedGroups == nil && in.Notify == nil {
		return 0, nil, scimerr.Invalid("", `nothing to change: send one or more of "name", "default_locale", "nested_groups" (true|false) and "notify" (true|false)`)
	}
	ch, err := orgs.OrgChange{Name: in.Name, DefaultLocale: in.DefaultLocale}.Checked()
	if err != nil {
		return 0, nil, err
	}
	if in.NestedGroups != nil {
		if err := s.Directory.SetNestedGroups(r.Context(), a, *in.NestedGroups); err != nil {
			return 0, nil, err
		}
	}
	if in.Notify != nil {
		if _, err := s.Orgs.SetNotify(r.Context(), a.Org, *in.Notify); err != nil {
			return 0, nil, err
		}
	}
	if ch.Name != nil || ch.DefaultLocale != nil {
		if err := s.Orgs.ChangeOrg(r.Context(), a.Org, ch); err != nil {
			return 0, nil, err
		}
	}
	o, err := s.Orgs.Settings(r.Context(), a.Org)
	return http.StatusOK, o, err
}
