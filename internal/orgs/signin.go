package orgs

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/scimerr"
)

// SignIn is whether a user can sign in, and with which effective grants: the direct grants
// united with those of the user's groups, none while the user is suspended.
type SignIn struct {
	UserID    string `json:"user_id"`
	CanSignIn bool   `json:"can_sign_in"`
	// Status is "active" or "suspended".
	Status      string   `json:"status"`
	OrgRole     string   `json:"org_role"`
	AccountRole string   `json:"account_role"`
	Products    []string `json:"products"`
}

// User statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// SignInStore is the part of a Store that reads users' sign-in state; postgres.Orgs
// implements it. SignIn answers ErrNoOrg for an organization that does not exist and
// ErrNotFound for a user who is not one of the organization's.
type SignInStore interface {
	SignIn(ctx context.Context, org, user string) (*SignIn, error)
}

// SignIn returns whether a user of the organization can sign in, and their effective grants.
func (s *Service) SignIn(ctx context.Context, org, user string) (*SignIn, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	st, ok := s.store.(SignInStore)
	if !ok {
		return nil, errors.New("the organization store does not read users")
	}
	notFound := scimerr.NotFound("organization %s has no user %q", org, user)
	id, err := uuid.Parse(user)
	if err != nil {
		return nil, notFound
	}
	si, err := st.SignIn(ctx, org, id.String())
	if errors.Is(err, ErrNotFound) {
		return nil, notFound
	}
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	return si, nil
}
