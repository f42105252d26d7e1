package directory

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Service carries out provisioning requests for any organization.
type Service struct {
	store       Store
	groups      GroupStore
	users       *schema.ResourceType
	groupRT     *schema.ResourceType
	membersPath schema.Path
}

// New returns a Service over the user and group stores for the resource types of reg.
func New(users Store, groups GroupStore, reg *schema.Registry) (*Service, error) {
	members, err := reg.Group.ParsePath("members")
	if err != nil {
		return nil, err
	}
	return &Service{store: users, groups: groups, users: reg.User, groupRT: reg.Group, membersPath: members}, nil
}

// CreateUser creates a user from a client document.
func (s *Service) CreateUser(ctx context.Context, org string, body map[string]any) (*Resource, error) {
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	u := &Resource{Doc: doc}
	if err := s.prepareUser(u); err != nil {
		return nil, err
	}
	if err := s.store.CreateUser(ctx, org, u); err != nil {
		return nil, err
	}
	return u, nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, org, id string, pr schema.Projection) (*Resource, error) {
	return s.store.GetUser(ctx, org, id, pr)
}

// ReplaceUser replaces a user's attributes with a client document (PUT). readOnly attributes in
// the body are ignored; a password absent from the body is kept, since clients never read it
// back and so cannot resend it.
func (s *Service) ReplaceUser(ctx context.Context, org, id string, body map[string]any, pre Precondition) (*Resource, error) {
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateUser(ctx, org, id, func(u *Resource) error {
		if err := pre.Check(u.Version); err != nil {
			return err
		}
		if err := checkImmutable(s.users, u.Doc, doc); err != nil {
			return err
		}
		return s.replaceDoc(u, doc)
	})
}

// PatchUser applies PATCH operations to a user.
func (s *Service) PatchUser(ctx context.Context, org, id string, ops []patch.Operation, pre Precondition) (*Resource, error) {
	return s.store.UpdateUser(ctx, org, id, func(u *Resource) error {
		if err := pre.Check(u.Version); err != nil {
			return err
		}
		doc := schema.Clone(u.Doc)
		if err := patch.Apply(s.users, doc, ops); err != nil {
			return err
		}
		return s.replaceDoc(u, doc)
	})
}

// DeleteUser deletes a user.
func (s *Service) DeleteUser(ctx context.Context, org, id string, pre Precondition) error {
	var check func(int64) error
	if pre != (Precondition{}) {
		check = pre.Check
	}
	return s.store.DeleteUser(ctx, org, id, check)
}

// ListUsers returns one page of users.
func (s *Service) ListUsers(ctx context.Context, org string, q Query) (*Page, error) {
	return s.store.ListUsers(ctx, org, q)
}

func (s *Service) replaceDoc(u *Resource, doc map[string]any) error {
	next := &Resource{Doc: doc}
	if err := s.prepareUser(next); err != nil {
		return err
	}
	if next.PasswordHash == "" && reflect.DeepEqual(u.Doc, next.Doc) {
		return ErrUnchanged
	}
	u.Doc, u.PasswordHash = next.Doc, next.PasswordHash
	return nil
}

// prepareUser validates a normalised user document and moves a cleartext password out of it
// into a hash.
func (s *Service) prepareUser(u *Resource) error {
	name, _ := u.Doc["userName"].(string)
	if strings.TrimSpace(name) == "" {
		return scimerr.Invalid(scimerr.InvalidValue, "userName is required and must not be empty")
	}
	if pw, ok := u.Doc["password"].(string); ok {
		delete(u.Doc, "password")
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
		if errors.Is(err, bcrypt.ErrPasswordTooLong) {
			return scimerr.Invalid(scimerr.InvalidValue, "password must be at most 72 bytes")
		}
		if err != nil {
			return err
		}
		u.PasswordHash = string(h)
	}
	return nil
}

// checkImmutable refuses a replacement that changes an immutable attribute already set
// (RFC 7643 §2.2).
func checkImmutable(rt *schema.ResourceType, cur, next map[string]any) error {
	check := func(p schema.Path) error {
		if p.Attr.Mutability != schema.Immutable {
			return nil
		}
		old := p.Get(cur)
		if old != nil && !reflect.DeepEqual(old, p.Get(next)) {
			return scimerr.Invalid(scimerr.Mutability, "attribute %q is immutable and cannot be changed", p.String())
		}
		return nil
	}
	for _, a := range rt.Schema.Attributes {
		if err := check(schema.Path{Attr: a}); err != nil {
			return err
		}
	}
	for _, e := range rt.Extensions {
		for _, a := range e.Attributes {
			if err := check(schema.Path{Ext: e, Attr: a}); err != nil {
				return err
			}
		}
	}
	return nil
}
