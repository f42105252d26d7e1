package directory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// The Organization Center (the web console in internal/console) acts as the
// admin signed in to it. Who may use it is a rule of the directory, written here once:
//
//   - Only an active user whose effective orgRole is admin or admin-readonly gets in, and this
//     is checked again on every request (Session), so that a suspension, a demotion or a
//     deletion ends a session at once; a suspension or demotion also deletes the user's
//     sessions for good in its own transaction (checkChanges), as it revokes their tokens.
//   - A person signing in through the organization's OpenID provider is found by the identity
//     (issuer and subject) bound to a user on an earlier sign-in; failing that, by an email
//     the provider vouches for, on a verified domain of the organization, that is the sign-in
//     address of exactly one user, who has no other identity of that provider bound. The
//     identity is then bound to the user, so that an email changed at the provider can never
//     lead to another account (SignInIdentity).
//   - An operator may print a single-use sign-in link for an active admin or admin-readonly
//     user; it works once, within LinkLifetime (IssueLink, UseLink).
//   - Sessions end after SessionIdle without a request, and SessionLifetime after sign-in.
//
// Sessions and links are credentials of internal/auth: the cookie or link carries the
// organization, an id and a secret, stored as its SHA-256 and compared in constant time.

// Console session and link lifetimes.
const (
	SessionIdle     = 30 * time.Minute
	SessionLifetime = 12 * time.Hour
	LinkLifetime    = 15 * time.Minute
	// sessionTouch is how old a session's last request may be before a request records its
	// time again: the idle expiry needs no more precision, and most requests then write
	// nothing.
	sessionTouch = time.Minute
)

// DenyReason tells why a person may not use the console; the console explains each one in the
// person's language.
type DenyReason string

// The reasons a person is kept out of the console.
const (
	// DeniedSignedOut: no session, or one that was ended (signed out, or ended by a
	// suspension or demotion).
	DeniedSignedOut DenyReason = "signed-out"
	// DeniedExpired: the session was idle too long or is older than SessionLifetime.
	DeniedExpired DenyReason = "expired"
	// DeniedSuspended: the user is suspended.
	DeniedSuspended DenyReason = "suspended"
	// DeniedNotAdmin: the user's effective orgRole is user.
	DeniedNotAdmin DenyReason = "not-admin"
	// DeniedDeleted: the user no longer exists.
	DeniedDeleted DenyReason = "deleted"
	// DeniedLink: the sign-in link is unknown, used already or expired.
	DeniedLink DenyReason = "link"
	// DeniedEmailUnverified: the provider does not vouch for the person's email.
	DeniedEmailUnverified DenyReason = "email-unverified"
	// DeniedDomain: the person's email is not on a verified domain of the organization.
	DeniedDomain DenyReason = "domain"
	// DeniedNoUser: no user of the organization has the email as sign-in address.
	DeniedNoUser DenyReason = "no-user"
	// DeniedAmbiguous: several users have the email as sign-in address.
	DeniedAmbiguous DenyReason = "ambiguous"
	// DeniedOtherIdentity: the user signed in before with another identity of the provider.
	DeniedOtherIdentity DenyReason = "other-identity"
)

// Denied is a refusal to let a person into the console. Detail says why in English, for the
// command line and logs.
type Denied struct {
	Reason DenyReason
	Detail string
}

func (d *Denied) Error() string { return d.Detail }

func deny(reason DenyReason, format string, args ...any) *Denied {
	return &Denied{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Admin is a person signed in to the console: the actor the console acts as (Org, UserID, and
// Role, their effective orgRole; the console adds RequestID and Notify per request), and what
// the console shows of them.
type Admin struct {
	Actor
	SessionID string
	Name      string
	SignIn    string
	OrgName   string
	// Language is the one the console speaks to them (locale.For of their preferredLanguage
	// and locale, else the organization's default locale).
	Language string
}

// Session is a console session as stored.
type Session struct {
	ID       string
	UserID   string
	Created  time.Time
	LastSeen time.Time
}

// StoredSession is a session with the hash of its secret.
type StoredSession struct {
	Session
	Hash []byte
}

// Link is a sign-in link as stored.
type Link struct {
	ID        string
	UserID    string
	Created   time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// StoredLink is a link with the hash of its secret.
type StoredLink struct {
	Link
	Hash []byte
}

// IssuedLink is a new sign-in link: Value, the credential that goes in the link's URL, is
// shown once.
type IssuedLink struct {
	Link
	Value string
}

// Identity is a person as an OpenID provider of the organization signed them in.
type Identity struct {
	Issuer  string
	Subject string
	Email   string
	// EmailVerified tells that the provider vouches for Email: email_verified, or the
	// provider's equivalent.
	EmailVerified bool
}

// Binding binds an identity to a user.
type Binding struct {
	Issuer, Subject, UserID string
}

// admit decides whether u may use the console, and returns them as its admin.
func admit(u *User, org *Org) (*Admin, error) {
	switch {
	case !u.Active():
		return nil, deny(DeniedSuspended, "the user %s is suspended; only active admin and admin-readonly users may use the console", u.ID)
	case grants.Rank(u.Effective.OrgRole) == 0:
		return nil, deny(DeniedNotAdmin, "the user %s has the orgRole %q; only admin and admin-readonly users may use the console", u.ID, u.Effective.OrgRole)
	}
	pref, _ := u.Doc["preferredLanguage"].(string)
	loc, _ := u.Doc["locale"].(string)
	return &Admin{
		Actor:    Actor{Org: org.ID, UserID: u.ID, Role: u.Effective.OrgRole},
		Name:     DisplayName(u.Doc),
		SignIn:   u.SignIn,
		OrgName:  org.Name,
		Language: locale.For(pref, loc, org.DefaultLocale),
	}, nil
}

// DisplayName is how the console names a user: displayName, else given and family name, else
// userName.
func DisplayName(doc map[string]any) string {
	if d, _ := doc["displayName"].(string); strings.TrimSpace(d) != "" {
		return strings.TrimSpace(d)
	}
	name, _ := doc["name"].(map[string]any)
	given, _ := name["givenName"].(string)
	family, _ := name["familyName"].(string)
	if n := strings.TrimSpace(given + " " + family); n != "" {
		return n
	}
	un, _ := doc["userName"].(string)
	return un
}

// openSession admits user u and opens a session for them in tx; it returns the admin and the
// session cookie's value.
func openSession(tx Tx, u *User, now time.Time) (*Admin, string, error) {
	org, err := tx.Org()
	if err != nil {
		return nil, "", err
	}
	admin, err := admit(u, org)
	if err != nil {
		return nil, "", err
	}
	cred, err := auth.Session.Generate(org.ID)
	if err != nil {
		return nil, "", err
	}
	now = now.UTC().Truncate(time.Microsecond)
	if err := tx.PruneSessions(u.ID, now.Add(-SessionIdle), now.Add(-SessionLifetime)); err != nil {
		return nil, "", err
	}
	if err := tx.InsertSession(&Session{ID: cred.ID, UserID: u.ID, Created: now, LastSeen: now}, cred.Hash); err != nil {
		return nil, "", err
	}
	admin.SessionID = cred.ID
	return admin, cred.Token, nil
}

// Session finds the admin a session cookie signs in, checking again that they may use the
// console: a session whose user is suspended, demoted or deleted ends here, as does one idle
// for SessionIdle or older than SessionLifetime. Every refusal is a *Denied.
func (s *Service) Session(ctx context.Context, cookie string, now time.Time) (*Admin, error) {
	signedOut := deny(DeniedSignedOut, "no console session, or one that has ended")
	org, id, secret, ok := auth.Session.Parse(cookie)
	if !ok {
		return nil, signedOut
	}
	st, err := s.store.ConsoleSession(ctx, org, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoOrg) {
		return nil, signedOut
	}
	if err != nil {
		return nil, err
	}
	if !auth.Matches(st.Hash, secret) {
		return nil, signedOut
	}
	if !now.Before(st.LastSeen.Add(SessionIdle)) || !now.Before(st.Created.Add(SessionLifetime)) {
		return nil, s.endSession(ctx, org, id, deny(DeniedExpired, "the console session has expired"))
	}
	u, err := s.store.User(ctx, org, st.UserID, s.profileOnly)
	if errors.Is(err, ErrNotFound) {
		return nil, s.endSession(ctx, org, id, deny(DeniedDeleted, "the user %s no longer exists", st.UserID))
	}
	if err != nil {
		return nil, err
	}
	o, err := s.store.Org(ctx, org)
	if errors.Is(err, ErrNoOrg) {
		return nil, signedOut
	}
	if err != nil {
		return nil, err
	}
	admin, err := admit(u, o)
	if err != nil {
		return nil, s.endSession(ctx, org, id, err)
	}
	admin.SessionID = id
	if now.Sub(st.LastSeen) >= sessionTouch {
		if err := s.store.TouchSession(ctx, org, id, now.UTC()); err != nil {
			return nil, err
		}
	}
	return admin, nil
}

// endSession deletes a session and answers why it ended.
func (s *Service) endSession(ctx context.Context, org, id string, why error) error {
	if err := s.store.DeleteSession(ctx, org, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return why
}

// EndSession signs a session out. A cookie that names no session is not an error.
func (s *Service) EndSession(ctx context.Context, cookie string) error {
	org, id, secret, ok := auth.Session.Parse(cookie)
	if !ok {
		return nil
	}
	st, err := s.store.ConsoleSession(ctx, org, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoOrg) {
		return nil
	}
	if err != nil {
		return err
	}
	if !auth.Matches(st.Hash, secret) {
		return nil
	}
	if err := s.store.DeleteSession(ctx, org, id); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// IssueLink issues a single-use sign-in link for a user who may use the console now; it works
// once, within LinkLifetime.
func (s *Service) IssueLink(ctx context.Context, a Actor, user string, now time.Time) (*IssuedLink, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	id, ok := canonicalID(user)
	if !ok {
		return nil, scimerr.NotFound("organization %s has no user %q", a.Org, user)
	}
	cred, err := auth.Link.Generate(a.Org)
	if err != nil {
		return nil, explainOrg(ErrNoOrg, a.Org)
	}
	now = now.UTC().Truncate(time.Microsecond)
	l := Link{ID: cred.ID, UserID: id, Created: now, ExpiresAt: now.Add(LinkLifetime)}
	err = s.update(ctx, a, func(tx Tx) error {
		org, err := tx.Org()
		if err != nil {
			return err
		}
		u, err := tx.LockUser(id)
		if err != nil {
			return err
		}
		if _, err := admit(u, org); err != nil {
			return err
		}
		if err := tx.PruneLinks(id, now); err != nil {
			return err
		}
		if err := tx.InsertLink(&l, cred.Hash); err != nil {
			return err
		}
		tx.Audit(a.audit(ActionCreate, "ConsoleLink", id, map[string]any{"expires_at": l.ExpiresAt}))
		return nil
	})
	if errors.Is(err, ErrNotFound) {
		return nil, scimerr.NotFound("organization %s has no user %q", a.Org, user)
	}
	if err != nil {
		return nil, explainOrg(err, a.Org)
	}
	return &IssuedLink{Link: l, Value: cred.Token}, nil
}

// UseLink signs in with a sign-in link: it opens a session for the link's user if the link is
// unused and not expired and the user may use the console now, and marks the link used. It
// returns the admin and the session cookie's value.
func (s *Service) UseLink(ctx context.Context, link string, now time.Time) (*Admin, string, error) {
	invalid := deny(DeniedLink, "the sign-in link is not valid: it is unknown, was used already, or has expired")
	org, id, secret, ok := auth.Link.Parse(link)
	if !ok {
		return nil, "", invalid
	}
	var admin *Admin
	var cookie string
	err := s.update(ctx, Actor{Org: org}, func(tx Tx) error {
		l, err := tx.LockLink(id)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrNoOrg) {
			return invalid
		}
		if err != nil {
			return err
		}
		if !auth.Matches(l.Hash, secret) || l.UsedAt != nil || !now.Before(l.ExpiresAt) {
			return invalid
		}
		u, err := tx.LockUser(l.UserID)
		if errors.Is(err, ErrNotFound) {
			return invalid
		}
		if err != nil {
			return err
		}
		if admin, cookie, err = openSession(tx, u, now); err != nil {
			return err
		}
		return tx.UseLink(id, now.UTC())
	})
	if err != nil {
		return nil, "", err
	}
	return admin, cookie, nil
}

// SignInIdentity signs in a person whom an OpenID provider of organization org signed in, and
// returns the admin and the session cookie's value. The identity is found by its binding
// first; a first sign-in is matched by email and binds it (see the rules at the top of this
// file).
func (s *Service) SignInIdentity(ctx context.Context, org string, id Identity, now time.Time) (*Admin, string, error) {
	if id.Issuer == "" || id.Subject == "" {
		return nil, "", scimerr.Invalid("", "an identity needs an issuer and a subject")
	}
	var admin *Admin
	var cookie string
	signIn := func(tx Tx) error {
		user, err := tx.IdentityUser(id.Issuer, id.Subject)
		bound := err == nil
		if errors.Is(err, ErrNotFound) {
			user, err = matchIdentity(tx, id)
		}
		if err != nil {
			return err
		}
		u, err := tx.LockUser(user)
		if err != nil {
			return err
		}
		if admin, cookie, err = openSession(tx, u, now); err != nil {
			return err
		}
		if bound {
			return nil
		}
		if err := tx.BindIdentity(Binding{Issuer: id.Issuer, Subject: id.Subject, UserID: user}); err != nil {
			return err
		}
		tx.Audit(Actor{Org: org, UserID: user}.audit(ActionCreate, "ConsoleIdentity", user, map[string]any{"issuer": id.Issuer}))
		return nil
	}
	err := s.update(ctx, Actor{Org: org}, signIn)
	if errors.Is(err, ErrBound) {
		// A concurrent first sign-in bound the identity, or another one to the user: the next
		// attempt sees the binding and decides by it.
		err = s.update(ctx, Actor{Org: org}, signIn)
	}
	if err != nil {
		return nil, "", err
	}
	return admin, cookie, nil
}

// matchIdentity finds the user a first sign-in of id is for: the one user whose sign-in
// address is id's email, which the provider vouches for and which is on a verified domain,
// and who has no other identity of id's issuer bound.
func matchIdentity(tx Tx, id Identity) (string, error) {
	email := strings.TrimSpace(id.Email)
	switch {
	case email == "" || !strings.Contains(email, "@"):
		return "", deny(DeniedEmailUnverified, "the identity provider gave no email address for this person")
	case !id.EmailVerified:
		return "", deny(DeniedEmailUnverified, "the identity provider does not vouch for the email %s (email_verified is not true)", email)
	}
	org, err := tx.Org()
	if err != nil {
		return "", err
	}
	if !org.verified(email) {
		return "", deny(DeniedDomain, "the email %s is not on a verified domain of the organization", email)
	}
	users, err := tx.UsersBySignIn(email)
	if err != nil {
		return "", err
	}
	switch len(users) {
	case 0:
		return "", deny(DeniedNoUser, "no user of the organization has the sign-in address %s", email)
	case 1:
	default:
		return "", deny(DeniedAmbiguous, "%d users of the organization have the sign-in address %s", len(users), email)
	}
	other, err := tx.HasIdentity(users[0], id.Issuer)
	if err != nil {
		return "", err
	}
	if other {
		return "", deny(DeniedOtherIdentity,
			"the user with the sign-in address %s has signed in before with another identity of this provider", email)
	}
	return users[0], nil
}

// Browse asks for a page of the console's users tab: users in the order of their userName,
// compared case-insensitively, optionally those whose email or name contains Text and those
// with one effective orgRole.
type Browse struct {
	// Text is a part of the sign-in address, userName, displayName, or given and family name,
	// compared case-insensitively.
	Text string
	// Role, when set, is the effective orgRole of the users listed.
	Role string
	// After and Before are the userName of the user the page starts after or ends before
	// (Browsed.Next, Browsed.Prev); at most one is set.
	After, Before string
	// Limit is the page size, at most MaxPageSize.
	Limit int
	// Projection is what the store reads of each user; BrowseUsers sets it.
	Projection schema.Projection
}

// Browsed is a page of the users tab; Next and Prev are the cursors of the pages after and
// before it, "" when there is none.
type Browsed struct {
	Users      []*Resource
	Next, Prev string
	// Partial tells that very many users have the text, clustered where the walk had not
	// reached yet, so the page lists the first by name among a part of them only, to answer in
	// time (postgres/console.go); a longer text narrows the search to every match.
	Partial bool
}

// maxBrowseText bounds the text of a users tab filter, in bytes.
const maxBrowseText = 256

// BrowseUsers reads a page of the users tab. The store walks users by lower(userName), from
// After or back from Before, and answers them in the order it walks, at most b.Limit.
func (s *Service) BrowseUsers(ctx context.Context, a Actor, b Browse) (*Browsed, error) {
	b.Text = strings.TrimSpace(b.Text)
	switch {
	case len(b.Text) > maxBrowseText:
		return nil, scimerr.Invalid("", "the search text is %d bytes long; at most %d are allowed", len(b.Text), maxBrowseText).On("q")
	case strings.ContainsFunc(b.Text, unicode.IsControl):
		return nil, scimerr.Invalid("", "the search text must not contain control characters").On("q")
	case b.Role != "" && !slices.Contains([]string{grants.OrgAdmin, grants.OrgAdminReadOnly, grants.OrgUser}, b.Role):
		return nil, scimerr.Invalid("", "the role %q is not an orgRole; use admin, admin-readonly or user", b.Role).On("role")
	case b.After != "" && b.Before != "":
		return nil, scimerr.Invalid("", "a page starts after a user or ends before one, not both")
	case b.Limit <= 0 || b.Limit > MaxPageSize:
		b.Limit = min(max(b.Limit, 1), MaxPageSize)
	}
	b.Projection = s.profileOnly
	want := b.Limit
	b.Limit++ // one more tells whether there is another page
	users, partial, err := s.store.BrowseUsers(ctx, a.Org, b)
	if err != nil {
		return nil, err
	}
	more := len(users) > want
	users = users[:min(len(users), want)]
	backward := b.Before != ""
	if backward {
		slices.Reverse(users)
	}
	out := &Browsed{Users: make([]*Resource, len(users)), Partial: partial}
	for i, u := range users {
		out.Users[i] = present(u)
	}
	if len(users) == 0 {
		return out, nil
	}
	first, _ := users[0].Doc["userName"].(string)
	last, _ := users[len(users)-1].Doc["userName"].(string)
	switch {
	case backward:
		out.Next = last
		if more {
			out.Prev = first
		}
	default:
		if more {
			out.Next = last
		}
		if b.After != "" {
			out.Prev = first
		}
	}
	return out, nil
}

// UserGroups lists the groups a user is directly in, with what each maps to.
func (s *Service) UserGroups(ctx context.Context, a Actor, user string) ([]Membership, error) {
	id, ok := canonicalID(user)
	if !ok {
		return nil, userNotFound(user)
	}
	ms, err := s.store.Memberships(ctx, a.Org, id)
	return ms, explainOrg(err, a.Org)
}
