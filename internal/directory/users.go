package directory

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Service carries out provisioning requests for any organization.
type Service struct {
	store       Store
	groups      GroupStore
	orgs        OrgStore
	users       *schema.ResourceType
	groupRT     *schema.ResourceType
	membersPath schema.Path
}

// New returns a Service over the stores for the resource types of reg.
func New(users Store, groups GroupStore, orgs OrgStore, reg *schema.Registry) (*Service, error) {
	members, err := reg.Group.ParsePath("members")
	if err != nil {
		return nil, err
	}
	return &Service{store: users, groups: groups, orgs: orgs, users: reg.User, groupRT: reg.Group, membersPath: members}, nil
}

// CreateUser creates a user from a client document.
func (s *Service) CreateUser(ctx context.Context, a Actor, body map[string]any) (*Resource, error) {
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	org, err := s.orgs.Org(ctx, a.Org)
	if err != nil {
		return nil, err
	}
	u := &Resource{Doc: doc}
	if err := s.prepareUser(a, org, u, nil, true); err != nil {
		return nil, err
	}
	if err := s.store.CreateUser(ctx, a.Org, u); err != nil {
		return nil, err
	}
	return u, nil
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, a Actor, id string, pr schema.Projection) (*Resource, error) {
	return s.store.GetUser(ctx, a.Org, id, pr)
}

// ReplaceUser replaces a user's attributes with a client document (PUT). readOnly attributes in
// the body are ignored; a password absent from the body is kept, since clients never read it
// back and so cannot resend it.
func (s *Service) ReplaceUser(ctx context.Context, a Actor, id string, body map[string]any, pre Precondition) (*Resource, error) {
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	org, err := s.orgs.Org(ctx, a.Org)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateUser(ctx, a.Org, id, func(u *Resource) error {
		if err := pre.Check(u.Version); err != nil {
			return err
		}
		if err := checkImmutable(s.users, u.Doc, doc); err != nil {
			return err
		}
		return s.replaceDoc(a, org, u, schema.Clone(doc), true)
	})
}

// PatchUser applies PATCH operations to a user.
func (s *Service) PatchUser(ctx context.Context, a Actor, id string, ops []patch.Operation, pre Precondition) (*Resource, error) {
	org, err := s.orgs.Org(ctx, a.Org)
	if err != nil {
		return nil, err
	}
	return s.store.UpdateUser(ctx, a.Org, id, func(u *Resource) error {
		if err := pre.Check(u.Version); err != nil {
			return err
		}
		doc := schema.Clone(u.Doc)
		if err := patch.Apply(s.users, doc, ops); err != nil {
			return err
		}
		return s.replaceDoc(a, org, u, doc, false)
	})
}

// DeleteUser deletes a user. An admin may not delete themselves.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id string, pre Precondition) error {
	if a.IssuerID != "" && a.IssuerID == id {
		return forbidden("you cannot delete yourself: the token you use was issued by this user")
	}
	var check func(int64) error
	if pre != (Precondition{}) {
		check = pre.Check
	}
	return s.store.DeleteUser(ctx, a.Org, id, check)
}

// ListUsers returns one page of users.
func (s *Service) ListUsers(ctx context.Context, a Actor, q Query) (*Page, error) {
	return s.store.ListUsers(ctx, a.Org, q)
}

func (s *Service) replaceDoc(a Actor, org *Org, u *Resource, doc map[string]any, replace bool) error {
	next := &Resource{ID: u.ID, Doc: doc, Direct: u.Direct}
	if err := s.prepareUser(a, org, next, u.Doc, replace); err != nil {
		return err
	}
	if next.PasswordHash == "" && reflect.DeepEqual(u.Doc, next.Doc) {
		return ErrUnchanged
	}
	u.Doc, u.PasswordHash, u.Direct = next.Doc, next.PasswordHash, next.Direct
	return nil
}

// prepareUser validates a normalised user document against the organization's rules, settles
// its grants and moves a cleartext password out of it into a hash. prev is the stored document
// (nil on create); replace tells a PUT or POST from a PATCH.
func (s *Service) prepareUser(a Actor, org *Org, u *Resource, prev map[string]any, replace bool) error {
	doc := u.Doc
	name, _ := doc["userName"].(string)
	if strings.TrimSpace(name) == "" {
		return scimerr.Invalid(scimerr.InvalidValue, "userName is required and must not be empty")
	}
	if _, ok := doc["active"]; !ok {
		if prev != nil && !replace {
			return scimerr.Invalid(scimerr.InvalidValue, "active cannot be removed; set it to true or false")
		}
		doc["active"] = true
	}
	if ent, ok := doc[schema.EnterpriseUserURN].(map[string]any); ok {
		if m, ok := ent["manager"].(map[string]any); ok {
			// The manager's $ref is derived from its id on every read; a client's copy is not kept.
			delete(m, "$ref")
		}
	}
	if err := checkLocales(org, doc); err != nil {
		return err
	}
	if prev == nil || !reflect.DeepEqual(addressedBy(prev), addressedBy(doc)) {
		if err := checkDomains(org, doc); err != nil {
			return err
		}
	}
	g, err := grants.Reconcile(doc, prev, replace)
	if err != nil {
		return err
	}
	// The document shows effective grants; what the client changed in it applies to the
	// direct grants.
	if prev == nil {
		u.Direct = g
	} else {
		u.Direct = grants.Apply(u.Direct, grants.FromExtension(prev), g)
	}
	if doc["active"] == false {
		// Suspension strips every direct grant, whatever else the request asked for, and
		// group-mapped grants do not apply while suspended.
		g, u.Direct = grants.Default(), grants.Default()
		g.Write(doc)
	}
	for _, p := range g.Products {
		if !slices.Contains(org.Products, p) {
			return scimerr.Invalid(scimerr.InvalidValue, "product %q is not licensed by this organization; licensed products are %s",
				p, strings.Join(org.Products, ", "))
		}
	}
	if prev != nil && a.IssuerID != "" && a.IssuerID == u.ID {
		if err := checkSelf(prev, doc); err != nil {
			return err
		}
	}
	if pw, ok := doc["password"].(string); ok {
		delete(doc, "password")
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
