package directory

import (
	"context"
	"errors"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// SignIn is whether a user can sign in, and with which effective grants: the direct grants
// united with those of the user's groups, none while the user is suspended.
type SignIn struct {
	UserID    string `json:"user_id"`
	CanSignIn bool   `json:"can_sign_in"`
	// Status is StatusActive or StatusSuspended.
	Status      string   `json:"status"`
	OrgRole     string   `json:"org_role"`
	AccountRole string   `json:"account_role"`
	Products    []string `json:"products"`
}

// SignIn returns whether a user of the organization can sign in, and their effective grants.
func (s *Service) SignIn(ctx context.Context, a Actor, user string) (*SignIn, error) {
	notFound := scimerr.NotFound("organization %s has no user %q", a.Org, user)
	id, ok := canonicalID(user)
	if !ok {
		return nil, notFound
	}
	u, err := s.store.User(ctx, a.Org, id, schema.Projection{})
	if errors.Is(err, ErrNotFound) {
		if _, err := s.store.Org(ctx, a.Org); err != nil {
			return nil, explainOrg(err, a.Org)
		}
		return nil, notFound
	}
	if err != nil {
		return nil, err
	}
	si := &SignIn{UserID: id, CanSignIn: u.Active(), Status: StatusActive, OrgRole: u.Effective.OrgRole,
		AccountRole: u.Effective.AccountRole, Products: u.Effective.Products}
	if !u.Active() {
		si.Status = StatusSuspended
	}
	if si.Products == nil {
		si.Products = []string{}
	}
	return si, nil
}
