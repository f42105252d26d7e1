// Package memstore is an in-memory directory.Store: every organization's directory held in
// maps, with the semantics the PostgreSQL store (internal/postgres) has for everything the
// directory relies on. The directory's unit tests run on it without a database, and it is a
// readable statement of what a Store promises.
//
// Transactions are serialised: Update holds the store's one mutex while fn runs on a copy of
// the organization's data, and swaps the copy in when fn returns nil, so a failed fn leaves
// nothing behind. Writes are checked against the constraints PostgreSQL enforces, and fail
// when the postgres store's would: a write that store queues reports a violation from the next
// read, or from Update (see tx). The errors are those the postgres store maps violations to:
//   - a userName another user of the organization has, compared case-insensitively:
//     directory.ErrUserNameTaken; a group displayName likewise: directory.ErrDisplayNameTaken;
//   - a direct product or a mapped product the organization does not license:
//     directory.ErrNotLicensed;
//   - a manager, or a member added, that is not a user (or group) of the organization, or a
//     member added to a group that is gone: directory.ErrGone;
//   - a user, group, mapping or token the organization does not have: directory.ErrNotFound;
//   - an organization that does not exist: directory.ErrNoOrg from Org and LockOrg, and from
//     any write.
//
// Account IDs come from one counter shared by every organization and, like PostgreSQL's
// sequence, not rolled back: a rolled-back insert uses its number up, and none is reused.
//
// Console sessions, links and identities go with their user, as the foreign keys ON DELETE
// CASCADE take them in PostgreSQL.
//
// What it leaves out, being for the directory's tests: Users and Groups take no filter and no
// sortBy (they answer an error; filters are the postgres store's job) and page with startIndex
// and count in creation order; projections are ignored (reads return every attribute); product
// data, webhook endpoints and deliveries are not kept, and QueueEvent keeps each event once
// where PostgreSQL queues one delivery per endpoint.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
)

// Store is an in-memory directory.Store. The zero value is not usable; call New.
type Store struct {
	mu   sync.Mutex
	orgs map[string]*org
	// accounts is the last account ID given.
	accounts int64
}

var _ directory.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{orgs: map[string]*org{}}
}

// org is everything of one organization.
type org struct {
	settings directory.Org
	// seq orders users and groups by creation.
	seq        int64
	users      map[string]*user
	groups     map[string]*group
	mappings   map[string]*directory.Mapping
	tokens     map[string]*token
	welcomes   map[directory.Welcome]bool
	audit      []auditRecord
	notices    []directory.Notice
	events     []directory.Event
	tombstones []Tombstone
	// The console's sign-ins (console.go).
	identities map[identityKey]string
	sessions   map[string]*directory.StoredSession
	links      map[string]*directory.StoredLink
}

// user is a stored user: its profile Doc without the computed groups attribute, its grants and
// its password hash.
type user struct {
	directory.User
	seq int64
}

// group is a stored group: its Doc holds displayName and externalId, as the groups table does.
type group struct {
	directory.Resource
	seq int64
	// members maps each member's id to its kind, directory.MemberUser or MemberGroup.
	members map[string]string
}

type token struct {
	directory.Token
	hash []byte
}

// auditRecord keeps an entry's changes as the JSON the audit log holds, so that a purge can
// replace the ids it names.
type auditRecord struct {
	entry   directory.AuditEntry
	changes string
	at      time.Time
}

// Tombstone is what remains of a purged user.
type Tombstone struct {
	ResourceType string
	ResourceID   string
	Pseudonym    string
	TokenID      string
	ActorUserID  string
	RequestID    string
	At           time.Time
}

// now is a timestamp with PostgreSQL's precision.
func now() time.Time {
	return time.Now().UTC().Truncate(time.Microsecond)
}

// errStale ends an attempt whose guarded group update found the version changed; Update runs fn
// again, as the postgres store does.
var errStale = errors.New("changed concurrently")

// updateAttempts bounds how often Update runs a stale fn, as in the postgres store.
const updateAttempts = 10

// Update implements directory.Store.
func (s *Store) Update(ctx context.Context, orgID string, fn func(directory.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range updateAttempts {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := s.begin(orgID)
		err := fn(t)
		if err == nil {
			err = t.queued // the commit sends what is queued
		}
		if errors.Is(err, errStale) {
			continue
		}
		if err != nil {
			return err
		}
		if !t.missing {
			s.orgs[orgID] = t.o
		}
		return nil
	}
	return directory.ErrContended
}

// tx implements directory.Tx on a copy of one organization.
//
// Its writes fail as the postgres store's do: those that store queues (Insert, Update and
// Delete of users and groups, SetEffective, the journal, tokens' inserts and revocations)
// return nil, and a constraint they violate surfaces from the next call that reads, or from
// Update; those it sends at once (member changes, mappings, ClearManager, RevokeToken) fail at
// once. After a failure the transaction is aborted: every later read answers the same error.
type tx struct {
	s *Store
	o *org
	// first is the organization's settings as the transaction began.
	first directory.Org
	// missing tells that the organization does not exist: o is empty and nothing is written.
	missing bool
	// queued is the failure of a queued write, or nil.
	queued error
}

var _ directory.Tx = (*tx)(nil)

func (s *Store) begin(orgID string) *tx {
	o, ok := s.orgs[orgID]
	if !ok {
		return &tx{s: s, o: newOrg(directory.Org{ID: orgID}), missing: true}
	}
	c := o.clone()
	return &tx{s: s, o: c, first: cloneSettings(c.settings)}
}

// send is how a read, or a write sent at once, begins: the queued writes go first, and the
// failure of one is its answer.
func (t *tx) send() error {
	return t.queued
}

// sendWrite is send for a write: it answers directory.ErrNoOrg for an organization that does
// not exist, as a foreign key would.
func (t *tx) sendWrite() error {
	if t.queued != nil {
		return t.queued
	}
	if t.missing {
		return directory.ErrNoOrg
	}
	return nil
}

// queue runs a write the postgres store queues: its failure is kept for the next send.
func (t *tx) queue(write func() error) {
	if t.queued == nil {
		if t.missing {
			t.queued = directory.ErrNoOrg
			return
		}
		t.queued = write()
	}
}

func newOrg(settings directory.Org) *org {
	return &org{settings: settings, users: map[string]*user{}, groups: map[string]*group{},
		mappings: map[string]*directory.Mapping{}, tokens: map[string]*token{}, welcomes: map[directory.Welcome]bool{},
		identities: map[identityKey]string{}, sessions: map[string]*directory.StoredSession{}, links: map[string]*directory.StoredLink{}}
}

// clone is a deep copy of o.
func (o *org) clone() *org {
	c := newOrg(cloneSettings(o.settings))
	c.seq = o.seq
	for id, u := range o.users {
		c.users[id] = &user{User: cloneUser(&u.User), seq: u.seq}
	}
	for id, g := range o.groups {
		c.groups[id] = &group{Resource: cloneResource(&g.Resource), seq: g.seq, members: maps.Clone(g.members)}
	}
	for id, m := range o.mappings {
		c.mappings[id] = cloneMapping(m)
	}
	for id, tk := range o.tokens {
		c.tokens[id] = &token{Token: cloneToken(tk.Token), hash: slices.Clone(tk.hash)}
	}
	c.welcomes = maps.Clone(o.welcomes)
	c.identities = maps.Clone(o.identities)
	for id, st := range o.sessions {
		c.sessions[id] = cloneSession(st)
	}
	for id, l := range o.links {
		c.links[id] = cloneLink(l)
	}
	// Records are never changed in place, only replaced: copying the slices is enough.
	c.audit = slices.Clone(o.audit)
	c.notices = slices.Clone(o.notices)
	c.events = slices.Clone(o.events)
	c.tombstones = slices.Clone(o.tombstones)
	return c
}

func cloneSettings(o directory.Org) directory.Org {
	o.VerifiedDomains = slices.Clone(o.VerifiedDomains)
	o.Products = slices.Clone(o.Products)
	return o
}

func cloneResource(r *directory.Resource) directory.Resource {
	c := *r
	c.Doc = schema.Clone(r.Doc)
	return c
}

func cloneUser(u *directory.User) directory.User {
	c := *u
	c.Resource = cloneResource(&u.Resource)
	c.Direct.Products = slices.Clone(u.Direct.Products)
	c.Effective.Products = slices.Clone(u.Effective.Products)
	return c
}

func cloneMapping(m *directory.Mapping) *directory.Mapping {
	c := *m
	if m.OrgRole != nil {
		r := *m.OrgRole
		c.OrgRole = &r
	}
	if m.AccountRole != nil {
		r := *m.AccountRole
		c.AccountRole = &r
	}
	c.Products = slices.Clone(m.Products)
	return &c
}

func cloneToken(t directory.Token) directory.Token {
	for _, p := range []**time.Time{&t.ExpiresAt, &t.RevokedAt} {
		if *p != nil {
			v := **p
			*p = &v
		}
	}
	return t
}

// Setup and inspection, for tests: what an operator's tools would set up, and what the
// directory stored. Like every method of Store they take its mutex: call them outside a
// function given to Update.

// AddOrg creates an organization with the settings given (an ID is made when o.ID is empty)
// and returns its ID. Domains are kept lower-case and sorted, products sorted, as the postgres
// store reads them.
func (s *Store) AddOrg(o directory.Org) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	s.orgs[o.ID] = newOrg(normalizeSettings(o))
	return o.ID
}

// SetOrg changes an organization's settings as the operator's tools would (domains verified or
// not, products licensed, the notification default, nesting).
func (s *Store) SetOrg(orgID string, change func(o *directory.Org)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return directory.ErrNoOrg
	}
	settings := cloneSettings(o.settings)
	change(&settings)
	settings.ID = orgID
	o.settings = normalizeSettings(settings)
	return nil
}

func normalizeSettings(o directory.Org) directory.Org {
	o = cloneSettings(o)
	for i, d := range o.VerifiedDomains {
		o.VerifiedDomains[i] = strings.ToLower(d)
	}
	slices.Sort(o.VerifiedDomains)
	slices.Sort(o.Products)
	return o
}

// SetUser changes a stored user behind the directory's back, as a concurrent change would look
// to a read made before it, for tests of the checks that must not trust an earlier read.
func (s *Store) SetUser(orgID, id string, change func(u *directory.User)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		if u, ok := o.users[id]; ok {
			change(&u.User)
		}
	}
}

// StoredUser is the stored record of a user, password hash included, without the computed
// groups attribute; ok is false when the organization has no such user.
func (s *Store) StoredUser(orgID, id string) (u *directory.User, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, false
	}
	su, ok := o.users[id]
	if !ok {
		return nil, false
	}
	c := cloneUser(&su.User)
	return &c, true
}

// Audit returns the organization's audit log, oldest first, each entry's Changes as the JSON
// the log holds decoded (nil when the organization does not exist).
func (s *Store) Audit(orgID string) []directory.AuditEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil
	}
	out := make([]directory.AuditEntry, len(o.audit))
	for i, r := range o.audit {
		out[i] = r.entry
		out[i].Changes = decodeJSON(r.changes)
	}
	return out
}

// Notifications returns the notifications queued for the organization's users, oldest first.
func (s *Store) Notifications(orgID string) []directory.Notice {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		return cloneNotices(o.notices)
	}
	return nil
}

// Events returns the webhook events queued for the organization, oldest first.
func (s *Store) Events(orgID string) []directory.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		return slices.Clone(o.events)
	}
	return nil
}

// Welcomes returns the (user, product) pairs the organization's users were ever welcomed to,
// by user and product.
func (s *Store) Welcomes(orgID string) []directory.Welcome {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil
	}
	out := make([]directory.Welcome, 0, len(o.welcomes))
	for w := range o.welcomes {
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b directory.Welcome) int {
		return strings.Compare(a.UserID+" "+a.Product, b.UserID+" "+b.Product)
	})
	return out
}

// Tombstones returns what remains of the organization's purged users, oldest first.
func (s *Store) Tombstones(orgID string) []Tombstone {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		return slices.Clone(o.tombstones)
	}
	return nil
}

// Snapshot is a copy of everything the store holds except the account counter, for comparing
// with require.Equal: a refused change must leave it as it was.
func (s *Store) Snapshot() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]*org, len(s.orgs))
	for id, o := range s.orgs {
		out[id] = o.clone()
	}
	return out
}

// errUnsupported answers a list the in-memory store cannot run.
func errUnsupported(what string) error {
	return fmt.Errorf("memstore: %s is not supported; lists take only startIndex and count", what)
}
