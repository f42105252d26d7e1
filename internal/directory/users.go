package directory

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Service carries out the directory's operations for any organization, enforcing its rules.
type Service struct {
	store       Store
	users       *schema.ResourceType
	groups      *schema.ResourceType
	membersPath schema.Path
	manager     schema.Path
	// hash turns a cleartext password into what is stored (bcrypt); tests may make it cheap.
	hash func(string) (string, error)
	// profileOnly reads a user without their groups, for the console.
	profileOnly schema.Projection
}

// New returns a Service over store for the resource types of reg.
func New(store Store, reg *schema.Registry) (*Service, error) {
	members, err := reg.Group.ParsePath("members")
	if err != nil {
		return nil, err
	}
	manager, err := reg.User.ParsePath(schema.EnterpriseUserURN + ":manager")
	if err != nil {
		return nil, err
	}
	return &Service{store: store, users: reg.User, groups: reg.Group, membersPath: members, manager: manager,
		hash: bcryptHash, profileOnly: reg.User.ParseProjection("", "groups")}, nil
}

// update runs fn in a transaction of the actor's organization; errUnchanged ends it without
// writing and is no error.
func (s *Service) update(ctx context.Context, a Actor, fn func(Tx) error) error {
	err := s.store.Update(ctx, a.Org, fn)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

func userNotFound(id string) error {
	return scimerr.NotFound("no User with id %q", id)
}

// explainUser turns what a store reports about a user write into the client's error.
func explainUser(err error, id string, doc map[string]any) error {
	switch {
	case errors.Is(err, ErrNotFound):
		return userNotFound(id)
	case errors.Is(err, ErrUserNameTaken):
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "userName %q is already taken in this organization", doc["userName"]).On("userName")
	case errors.Is(err, ErrNotLicensed):
		return scimerr.Invalid(scimerr.InvalidValue, "a granted product is no longer licensed by this organization")
	case errors.Is(err, ErrGone):
		return scimerr.Invalid(scimerr.InvalidValue, "the manager was deleted while this request ran")
	}
	return err
}

// CreateUser creates a user from a client document.
func (s *Service) CreateUser(ctx context.Context, a Actor, body map[string]any) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	hashes, err := s.hashPasswords(doc["password"])
	if err != nil {
		return nil, err
	}
	var u *User
	err = s.update(ctx, a, func(tx Tx) error {
		org, err := tx.Org()
		if err != nil {
			return err
		}
		if u, err = s.newUser(tx, a, org, schema.Clone(doc), hashes); err != nil {
			return err
		}
		return s.insertUsers(tx, a, org, []*User{u})
	})
	if err != nil {
		return nil, explainUser(err, "", doc)
	}
	return show(u), nil // u's document is the attempt's own copy, sent and no longer used
}

// GetUser returns one user.
func (s *Service) GetUser(ctx context.Context, a Actor, id string, pr schema.Projection) (*Resource, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, userNotFound(id)
	}
	u, err := s.store.User(ctx, a.Org, id, pr)
	if err != nil {
		return nil, explainUser(err, id, nil)
	}
	return show(u), nil
}

// ListUsers returns one page of users.
func (s *Service) ListUsers(ctx context.Context, a Actor, q Query) (*Page, error) {
	users, info, err := s.store.Users(ctx, a.Org, q)
	if err != nil {
		return nil, err
	}
	page := &Page{PageInfo: info, Resources: make([]*Resource, len(users))}
	for i, u := range users {
		page.Resources[i] = show(u)
	}
	return page, nil
}

// ReplaceUser replaces a user's attributes with a client document (PUT). readOnly attributes in
// the body are ignored; a password absent from the body is kept, since clients never read it
// back and so cannot resend it. Grants change by what the document changes relative to what a
// GET shows (see prepare).
func (s *Service) ReplaceUser(ctx context.Context, a Actor, id string, body map[string]any, pre Precondition) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	hashes, err := s.hashPasswords(doc["password"])
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, a, id, pre, hashes, true, s.replaceEdit(doc))
}

// replaceEdit is the edit of a PUT with the normalised document doc.
func (s *Service) replaceEdit(doc map[string]any) func(cur *User) (map[string]any, map[string]any, error) {
	return func(cur *User) (map[string]any, map[string]any, error) {
		shown := editable(cur, false)
		if err := checkImmutable(s.users, shown, doc); err != nil {
			return nil, nil, err
		}
		return shown, schema.Clone(doc), nil
	}
}

// PatchUser applies PATCH operations to a user. While the user is suspended the operations see
// the pending grants in roles, entitlements and the extension, so that an identity provider's
// add or remove of an assignment changes what the user gets back on reactivation.
func (s *Service) PatchUser(ctx context.Context, a Actor, id string, ops []patch.Operation, pre Precondition) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	hashes, err := s.hashPasswords(patchedPasswords(ops)...)
	if err != nil {
		return nil, err
	}
	return s.changeUser(ctx, a, id, pre, hashes, false, s.patchEdit(ops))
}

// patchEdit is the edit of a PATCH with operations ops.
func (s *Service) patchEdit(ops []patch.Operation) func(cur *User) (map[string]any, map[string]any, error) {
	return func(cur *User) (map[string]any, map[string]any, error) {
		base := editable(cur, true)
		doc := schema.Clone(base)
		if err := patch.Apply(s.users, doc, ops); err != nil {
			return nil, nil, err
		}
		return base, doc, nil
	}
}

// changeUser runs a replacement (PUT) or a patch of user id: edit returns the document the
// client's change is relative to and the document it asks for.
func (s *Service) changeUser(ctx context.Context, a Actor, id string, pre Precondition, hashes map[string]string, replace bool,
	edit func(cur *User) (prev, doc map[string]any, err error)) (*Resource, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, userNotFound(id)
	}
	var out *User
	var doc map[string]any
	err := s.store.Update(ctx, a.Org, func(tx Tx) error {
		var err error
		out, doc, err = s.changeUserTx(tx, a, id, pre, hashes, replace, edit)
		return err
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, explainUser(err, id, doc)
	}
	return present(out), nil
}

// changeUserTx is changeUser inside tx. It returns the user as it is after the change (as it
// was, with errUnchanged) and the document the change asked for.
func (s *Service) changeUserTx(tx Tx, a Actor, id string, pre Precondition, hashes map[string]string, replace bool,
	edit func(cur *User) (prev, doc map[string]any, err error)) (*User, map[string]any, error) {
	cur, err := tx.LockUser(id)
	if err != nil {
		return nil, nil, err
	}
	if err := pre.Check(cur.Version); err != nil {
		return cur, nil, err
	}
	org, err := tx.Org()
	if err != nil {
		return cur, nil, err
	}
	prev, doc, err := edit(cur)
	if err != nil {
		return cur, doc, err
	}
	next, err := s.prepare(tx, a, org, cur, prev, doc, replace, hashes)
	if err != nil {
		return cur, doc, err
	}
	if next == nil {
		return cur, doc, errUnchanged
	}
	return next, doc, s.writeUser(tx, a, org, cur, next)
}

// newUser applies the rules of a new user to a normalised document.
func (s *Service) newUser(tx Tx, a Actor, org *Org, doc map[string]any, hashes map[string]string) (*User, error) {
	u, err := s.prepare(tx, a, org, nil, nil, doc, true, hashes)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	u.ID = id.String()
	return u, nil
}

// prepare applies the organization's rules to doc, the document a write asks for, and returns
// the user to store; nil when the write changes nothing. cur is the stored user (nil on
// create) and prev the document the client's change is relative to: what a GET shows, or for a
// PATCH of a suspended user the same with the pending grants in the grant views. replace tells
// a PUT or POST from a PATCH.
func (s *Service) prepare(tx Tx, a Actor, org *Org, cur *User, prev, doc map[string]any, replace bool,
	hashes map[string]string) (*User, error) {
	name, _ := doc["userName"].(string)
	if strings.TrimSpace(name) == "" {
		return nil, scimerr.Invalid(scimerr.InvalidValue, "userName is required and must not be empty").On("userName")
	}
	if _, ok := doc["active"]; !ok {
		switch {
		case cur == nil:
			doc["active"] = true
		case replace:
			// A PUT that leaves active out keeps the user's state, as it keeps grants: a
			// client that does not send active must not reactivate a suspended user.
			doc["active"] = cur.Doc["active"] != false
		default:
			return nil, scimerr.Invalid(scimerr.InvalidValue, "active cannot be removed; set it to true or false")
		}
	}
	if err := s.checkManager(tx, doc, prev); err != nil {
		return nil, err
	}
	if err := checkLocales(org, doc); err != nil {
		return nil, err
	}
	if cur == nil || !reflect.DeepEqual(addressedBy(prev), addressedBy(doc)) {
		if err := checkSignIn(org, doc); err != nil {
			return nil, err
		}
	}
	next := &User{Resource: Resource{Doc: doc}}
	if cur != nil {
		next.Resource = cur.Resource
		next.Doc, next.AccountID, next.Effective = doc, cur.AccountID, cur.Effective
	}
	if err := settleDirect(a, cur, prev, next, replace); err != nil {
		return nil, err
	}
	for _, p := range next.Direct.Products {
		if !slices.Contains(org.Products, p) {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "product %q is not licensed by this organization; licensed products are %s",
				p, strings.Join(org.Products, ", ")).On("products")
		}
	}
	if pw, ok := doc["password"].(string); ok {
		delete(doc, "password")
		h, err := s.hashed(hashes, pw)
		if err != nil {
			return nil, err
		}
		next.PasswordHash = h
	}
	next.Doc = profile(doc)
	next.SignIn = SignInAddress(next.Doc)
	if cur != nil && next.PasswordHash == "" && next.Direct.Equal(cur.Direct) && reflect.DeepEqual(profile(editable(cur, false)), next.Doc) {
		return nil, nil
	}
	return next, nil
}

// settleDirect works out the direct grants next asks for (grants.Reconcile writes them back
// into next.Doc's views) and applies the suspension and self-protection rules to them.
//
//   - An active user's write changes direct grants by what the client changed relative to
//     what it was shown, the effective grants (grants.Apply): an identity provider that reads
//     a user and writes it back never turns a group-mapped role into a direct one.
//   - A suspension (active going false) clears the direct grants, whatever else the request
//     asked for: a request that suspends always succeeds and ends with nothing granted.
//   - While a user is suspended, grant changes are kept as pending grants (the direct grants
//     of a suspended user), applied on reactivation: a PATCH sees them in the grant views, a
//     PUT adds what it changed relative to the suspended view. A request that reactivates and
//     grants does both.
//   - An actor cannot change their own roles or suspend themselves.
func settleDirect(a Actor, cur *User, prev map[string]any, next *User, replace bool) error {
	g, err := grants.Reconcile(next.Doc, prev, replace)
	if err != nil {
		return err
	}
	switch {
	case cur == nil:
		next.Direct = g
	default:
		next.Direct = grants.Apply(cur.Direct, grants.FromExtension(prev), g)
	}
	if !next.Active() && (cur == nil || cur.Active()) {
		next.Direct = grants.Default()
	}
	if cur != nil && a.UserID != "" && a.UserID == cur.ID {
		if cur.Active() && !next.Active() {
			return errSelfSuspend()
		}
		shown := grants.FromExtension(prev)
		if g.OrgRole != shown.OrgRole || g.AccountRole != shown.AccountRole {
			return errSelfRoles()
		}
	}
	return nil
}

// writeUser stores next, a change of cur, with what follows from it: the user's effective
// grants and the rules on their change, the audit record and the notifications.
func (s *Service) writeUser(tx Tx, a Actor, org *Org, cur, next *User) error {
	if err := tx.UpdateUser(cur, next); err != nil {
		return err
	}
	var changes []GrantChange
	if cur.Active() != next.Active() || !cur.Direct.Equal(next.Direct) {
		var err error
		if changes, err = s.settle(tx, a, []string{next.ID}); err != nil {
			return err
		}
	}
	for _, c := range changes {
		next.Effective = c.After
	}
	action, activity := ActionUpdate, ""
	switch {
	case cur.Active() && !next.Active():
		action, activity = ActionSuspend, KindSuspended
	case !cur.Active() && next.Active():
		action, activity = ActionReactivate, KindReactivated
	}
	diff := Diff(editable(cur, false), editable(next, false))
	addPending(diff, cur, next)
	if next.PasswordHash != "" {
		diff["password"] = Change{After: Secret}
	}
	tx.Audit(a.audit(action, "User", next.ID, diff))
	return s.journal(tx, a, org, changes, &subject{user: next, activity: activity})
}

// insertUsers stores new users with what follows from them: their effective grants (a new
// user is in no group yet), the audit records and the notifications.
func (s *Service) insertUsers(tx Tx, a Actor, org *Org, users []*User) error {
	for _, u := range users {
		u.Effective = grants.Effective(u.Direct, u.Active(), nil)
		if err := tx.InsertUser(u); err != nil {
			return err
		}
		diff := Diff(nil, editable(u, false))
		addPending(diff, nil, u)
		if u.PasswordHash != "" {
			diff["password"] = Change{After: Secret}
		}
		tx.Audit(a.audit(ActionCreate, "User", u.ID, diff))
		var changes []GrantChange
		if !u.Effective.Equal(grants.Default()) {
			changes = []GrantChange{{UserID: u.ID, Before: grants.Default(), After: u.Effective}}
		}
		if err := s.journal(tx, a, org, changes, &subject{user: u, created: true}); err != nil {
			return err
		}
	}
	return nil
}

// editable is the document a client's change to u starts from: what a GET shows without the
// computed attributes. With pending and u suspended, the grant views show the pending grants
// instead of the (empty) effective ones.
func editable(u *User, pending bool) map[string]any {
	doc := schema.Clone(u.Doc)
	delete(doc, "groups")
	if pending && !u.Active() {
		u.Direct.Write(doc)
	} else {
		u.Effective.Write(doc)
	}
	return doc
}

// present is u as clients see it: the effective grants in the extension, roles and
// entitlements, and the computed attributes: the account ID, the status and, while the user is
// suspended, the pending grants. It turns u's own Resource into that view, on a copy of its
// document, and returns it, so that what a write fills in when it is sent (version, times)
// shows in the result: u is not used as a stored user afterwards.
func present(u *User) *Resource {
	u.Doc = schema.Clone(u.Doc)
	return show(u)
}

// show is present for a user just read from the store, whose document nothing else holds: it
// writes the view into that document instead of a copy (reads are the hot path, and the copy
// was a sixth of what a GET allocated).
func show(u *User) *Resource {
	doc := u.Doc
	u.Effective.Write(doc)
	e, _ := doc[grants.ExtURN].(map[string]any)
	e["accountId"] = strconv.FormatInt(u.AccountID, 10)
	e["status"] = StatusActive
	if !u.Active() {
		e["status"] = StatusSuspended
		e["pendingOrgRole"], e["pendingAccountRole"] = u.Direct.OrgRole, u.Direct.AccountRole
		if len(u.Direct.Products) > 0 {
			e["pendingProducts"] = anyList(u.Direct.Products)
		}
	}
	return &u.Resource
}

// addPending records in an audit diff how a suspended user's pending grants changed.
func addPending(diff map[string]Change, cur, next *User) {
	pending := func(u *User) (g grants.Grants) {
		if u != nil && !u.Active() {
			return u.Direct
		}
		return grants.Grants{}
	}
	before, after := pending(cur), pending(next)
	if !before.Equal(after) {
		diff[grants.ExtURN+":pending"] = Change{Before: pendingValue(before), After: pendingValue(after)}
	}
}

func pendingValue(g grants.Grants) any {
	if g.OrgRole == "" {
		return nil
	}
	return map[string]any{"orgRole": g.OrgRole, "accountRole": g.AccountRole, "products": anyList(g.Products)}
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// User statuses, as the extension's status and the admin API show them.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// profile is what the store keeps of a document: everything but the grant views (roles keeps
// only the roles that are not grants) and the computed attributes.
func profile(doc map[string]any) map[string]any {
	out := schema.Clone(doc)
	delete(out, "entitlements")
	delete(out, "groups")
	if other := grants.OtherRoles(out["roles"]); len(other) > 0 {
		out["roles"] = other
	} else {
		delete(out, "roles")
	}
	if e, ok := out[grants.ExtURN].(map[string]any); ok {
		for _, k := range []string{"orgRole", "accountRole", "products", "accountId", "status",
			"pendingOrgRole", "pendingAccountRole", "pendingProducts"} {
			delete(e, k)
		}
		if len(e) == 0 {
			delete(out, grants.ExtURN)
		}
	}
	return out
}

// canonicalID returns an id in the form stored (a lower-case UUID); ok is false for a string
// that is not a UUID, which names nothing.
func canonicalID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	if err != nil {
		return id, false
	}
	return u.String(), true
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

// SetActive suspends (false) or reactivates (true) a user, as a PATCH of active would: the
// operator's suspend and reactivate commands and the console's buttons.
func (s *Service) SetActive(ctx context.Context, a Actor, id string, active bool) (*Resource, error) {
	if err := a.CanWrite(); err != nil {
		return nil, err
	}
	return s.changeUser(ctx, a, id, Precondition{}, nil, false, func(cur *User) (map[string]any, map[string]any, error) {
		base := editable(cur, true)
		doc := schema.Clone(base)
		doc["active"] = active
		return base, doc, nil
	})
}
