package directory

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Provisioning tokens. A token either acts as the admin user who issued it,
// with that user's effective orgRole, or is a service token with a label and a role of its own
// and no person behind it (what an identity provider should hold, so that an admin leaving
// never stops provisioning). A token stops working when it is revoked or expires, and a user's
// tokens are revoked for good the moment the user is suspended, deleted or demoted
// (checkChanges).

// Authenticate finds who a bearer token acts as. Every failure is the same 401, so that a
// caller learns nothing about which part was wrong.
func (s *Service) Authenticate(ctx context.Context, token string, now time.Time) (Actor, error) {
	// Built only on refusal: this runs on every request.
	denied := func() error {
		return scimerr.New(scimerr.KindUnauthorized, "", "the bearer token is invalid, expired or revoked")
	}
	org, id, secret, ok := auth.Parse(token)
	if !ok {
		return Actor{}, denied()
	}
	st, err := s.store.Token(ctx, org, id)
	if errors.Is(err, ErrNotFound) {
		return Actor{}, denied()
	}
	if err != nil {
		return Actor{}, err
	}
	if !auth.Matches(st.Hash, secret) || st.RevokedAt != nil || (st.ExpiresAt != nil && !now.Before(*st.ExpiresAt)) {
		return Actor{}, denied()
	}
	role := st.Role
	if st.IssuerUserID != "" {
		// Revocation at the issuer's suspension, deletion or demotion is what stops such a
		// token; this is the same rule read from the issuer's state, for tokens revoked
		// before revocation existed.
		if !st.IssuerFound || !st.IssuerActive || grants.Rank(st.IssuerRole) == 0 {
			return Actor{}, denied()
		}
		role = st.IssuerRole
	}
	return Actor{Org: org, UserID: st.IssuerUserID, TokenID: id, Role: role}, nil
}

// TokenInput describes a new provisioning token: either a user's (IssuerUserID, an active
// admin or admin-readonly user of the organization) or a service token (Role).
type TokenInput struct {
	IssuerUserID string `json:"issuer_user_id"`
	Role         string `json:"role"`
	Label        string `json:"label"`
	// ExpiresIn, when positive, makes the token expire that long from now.
	ExpiresIn time.Duration `json:"-"`
}

// IssuedToken is a new token with the token string, shown once.
type IssuedToken struct {
	Token
	Value string `json:"token"`
}

// maxLabel is the longest token label, in bytes.
const maxLabel = 200

// CreateToken issues a provisioning token. The token string is in the result only: it is
// stored hashed.
func (s *Service) CreateToken(ctx context.Context, a Actor, in TokenInput, now time.Time) (*IssuedToken, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	label := strings.TrimSpace(in.Label)
	switch {
	case len(label) > maxLabel:
		return nil, scimerr.Invalid("", "the label is %d bytes long; at most %d are allowed", len(label), maxLabel)
	case strings.ContainsFunc(label, unicode.IsControl):
		return nil, scimerr.Invalid("", "the label must not contain control characters")
	case in.ExpiresIn < 0:
		return nil, scimerr.Invalid("", "the expiry %s is negative; give a positive duration, or none for a token that does not expire", in.ExpiresIn)
	case in.IssuerUserID == "" && in.Role == "":
		return nil, scimerr.Invalid("", "a token needs a role (admin or admin-readonly) for a service token, or an issuer: the id of an active admin or admin-readonly user of the organization")
	case in.IssuerUserID != "" && in.Role != "":
		return nil, scimerr.Invalid("", "a token has a role of its own (a service token) or acts as its issuer, not both")
	}
	t := Token{Label: label}
	if in.Role != "" {
		role := strings.ToLower(strings.TrimSpace(in.Role))
		if role != grants.OrgAdmin && role != grants.OrgAdminReadOnly {
			return nil, scimerr.Invalid("", "the role %q is not a token role; use admin or admin-readonly", in.Role)
		}
		t.Role = role
	}
	tok, err := auth.Generate(a.Org)
	if err != nil {
		return nil, explainOrg(ErrNoOrg, a.Org)
	}
	// Stored with PostgreSQL's precision, so that what is answered is what a list shows.
	now = now.UTC().Truncate(time.Microsecond)
	t.ID, t.Created = tok.ID, now
	if in.ExpiresIn > 0 {
		at := now.Add(in.ExpiresIn)
		t.ExpiresAt = &at
	}
	err = s.update(ctx, a, func(tx Tx) error {
		if _, err := tx.Org(); err != nil {
			return err
		}
		if in.IssuerUserID != "" {
			if err := checkIssuer(tx, a.Org, in.IssuerUserID); err != nil {
				return err
			}
			t.IssuerUserID, _ = canonicalID(in.IssuerUserID)
		}
		if err := tx.InsertToken(&t, tok.Hash); err != nil {
			return err
		}
		tx.Audit(a.audit(ActionCreate, "Token", t.ID, map[string]any{"label": t.Label, "role": t.Role,
			"issuer_user_id": t.IssuerUserID}))
		return nil
	})
	if errors.Is(err, ErrGone) {
		return nil, scimerr.Invalid("", "the issuer %s was deleted while the token was being issued", in.IssuerUserID)
	}
	if err != nil {
		return nil, explainOrg(err, a.Org)
	}
	return &IssuedToken{Token: t, Value: tok.Token}, nil
}

// checkIssuer accepts an active user of the organization whose effective orgRole is admin or
// admin-readonly, locked until the token is stored so that they cannot be demoted meanwhile.
func checkIssuer(tx Tx, org, issuer string) error {
	id, ok := canonicalID(issuer)
	if !ok {
		return scimerr.Invalid("", "the issuer %q is not a user id (a UUID)", issuer)
	}
	u, err := tx.LockUser(id)
	if errors.Is(err, ErrNotFound) {
		return scimerr.Invalid("", "the issuer %s is not a user of organization %s", issuer, org)
	}
	switch {
	case err != nil:
		return err
	case !u.Active():
		return scimerr.Invalid("", "the issuer %s is suspended; only an active user can issue tokens", issuer)
	case grants.Rank(u.Effective.OrgRole) == 0:
		return scimerr.Invalid("", "the issuer %s has the orgRole %q; only admin and admin-readonly users can issue tokens", issuer, u.Effective.OrgRole)
	}
	return nil
}

// ListTokens lists the organization's tokens, oldest first, without their secrets.
func (s *Service) ListTokens(ctx context.Context, a Actor) ([]Token, error) {
	ts, err := s.store.Tokens(ctx, a.Org)
	return ts, explainOrg(err, a.Org)
}

// RevokeToken revokes a token; revoking it again keeps the first revocation time.
func (s *Service) RevokeToken(ctx context.Context, a Actor, id string, now time.Time) (*Token, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	notFound := scimerr.NotFound("organization %s has no token %q", a.Org, id)
	tid, ok := canonicalID(id)
	if !ok {
		return nil, notFound
	}
	var t *Token
	err := s.update(ctx, a, func(tx Tx) error {
		if _, err := tx.Org(); err != nil {
			return err
		}
		var err error
		if t, err = tx.RevokeToken(tid, now.UTC()); err != nil {
			return err
		}
		tx.Audit(a.audit(ActionUpdate, "Token", tid, map[string]any{"revoked_at": t.RevokedAt}))
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, notFound
	}
	return t, explainOrg(err, a.Org)
}
