package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
)

// The organization and its users: directory.OrgTx, directory.UserTx and the Store reads of
// users.

// Org implements directory.Store.
func (s *Store) Org(ctx context.Context, orgID string) (*directory.Org, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.ErrNoOrg
	}
	c := cloneSettings(o.settings)
	return &c, nil
}

// Org implements directory.Tx: the settings as the transaction began.
func (t *tx) Org() (*directory.Org, error) {
	if t.missing {
		return nil, directory.ErrNoOrg
	}
	c := cloneSettings(t.first)
	return &c, nil
}

// LockOrg implements directory.Tx. Transactions are serialised already; the settings are the
// current ones, the transaction's own changes included.
func (t *tx) LockOrg() (*directory.Org, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	if t.missing {
		return nil, directory.ErrNoOrg
	}
	c := cloneSettings(t.o.settings)
	return &c, nil
}

// NestedMemberships implements directory.Tx.
func (t *tx) NestedMemberships() (int, error) {
	if err := t.send(); err != nil {
		return 0, err
	}
	n := 0
	for _, g := range t.o.groups {
		for _, kind := range g.members {
			if kind == directory.MemberGroup {
				n++
			}
		}
	}
	return n, nil
}

// SetNestedGroups implements directory.Tx.
func (t *tx) SetNestedGroups(enabled bool) error {
	t.queue(func() error {
		t.o.settings.NestedGroups = enabled
		return nil
	})
	return nil
}

// read is u as a read returns it: a copy, with the groups attribute (its direct groups, by
// displayName) and never the password hash.
func (o *org) read(u *user) *directory.User {
	c := cloneUser(&u.User)
	c.PasswordHash = ""
	var groups []*group
	for _, g := range o.groups {
		if g.members[u.ID] == directory.MemberUser {
			groups = append(groups, g)
		}
	}
	if len(groups) > 0 {
		slices.SortFunc(groups, func(a, b *group) int {
			if c := strings.Compare(displayName(a), displayName(b)); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		list := make([]any, len(groups))
		for i, g := range groups {
			list[i] = map[string]any{"value": g.ID, "display": displayName(g), "type": "direct"}
		}
		c.Doc["groups"] = list
	}
	return &c
}

// User implements directory.Store; the projection is ignored.
func (s *Store) User(ctx context.Context, orgID, id string, _ schema.Projection) (*directory.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.ErrNotFound
	}
	u, ok := o.users[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return o.read(u), nil
}

// Users implements directory.Store for what the directory's tests need: no filter, no sortBy
// and no cursor, users in creation order, paged by startIndex and count.
func (s *Store) Users(ctx context.Context, orgID string, q directory.Query) ([]*directory.User, directory.PageInfo, error) {
	if q.Filter != nil || q.SortBy != nil || q.ByCursor {
		return nil, directory.PageInfo{}, errUnsupported("a filter, sortBy or cursor")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.PageInfo{}, nil
	}
	all := o.usersInOrder()
	var out []*directory.User
	for _, u := range page(all, q) {
		out = append(out, o.read(u))
	}
	return out, directory.PageInfo{Total: len(all)}, nil
}

func (o *org) usersInOrder() []*user {
	all := make([]*user, 0, len(o.users))
	for _, u := range o.users {
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b *user) int { return int(a.seq - b.seq) })
	return all
}

// page is the part of all a query's startIndex (1-based) and count select.
func page[T any](all []T, q directory.Query) []T {
	if q.Count <= 0 {
		return nil
	}
	from := min(max(q.StartIndex-1, 0), len(all))
	return all[from:min(from+q.Count, len(all))]
}

// TakenUserNames implements directory.Store.
func (s *Store) TakenUserNames(ctx context.Context, orgID string, names []string) ([]bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	taken := make([]bool, len(names))
	o, ok := s.orgs[orgID]
	if !ok {
		return taken, nil
	}
	for i, n := range names {
		taken[i] = n != "" && o.userNamed(n, "") != nil
	}
	return taken, nil
}

// userNamed finds the user other than except whose userName is name, compared as the unique
// index users_user_name_key compares (lower-cased).
func (o *org) userNamed(name, except string) *user {
	for _, u := range o.users {
		if n, _ := u.Doc["userName"].(string); u.ID != except && strings.EqualFold(n, name) {
			return u
		}
	}
	return nil
}

// LockUser implements directory.Tx.
func (t *tx) LockUser(id string) (*directory.User, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	u, ok := t.o.users[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return t.o.read(u), nil
}

// ExistingUsers implements directory.Tx.
func (t *tx) ExistingUsers(ids []string) ([]string, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		if _, ok := t.o.users[id]; ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

// checkUser applies the constraints of the users table and its children to u: a unique
// userName, an existing manager, licensed direct products.
func (o *org) checkUser(u *directory.User) error {
	name, _ := u.Doc["userName"].(string)
	if o.userNamed(name, u.ID) != nil {
		return directory.ErrUserNameTaken
	}
	if m := managerOf(u.Doc); m != "" {
		if _, ok := o.users[m]; !ok && m != u.ID {
			return directory.ErrGone
		}
	}
	for _, p := range u.Direct.Products {
		if !slices.Contains(o.settings.Products, p) {
			return directory.ErrNotLicensed
		}
	}
	return nil
}

// managerOf is the id of a document's manager, "" when none.
func managerOf(doc map[string]any) string {
	ent, _ := doc[schema.EnterpriseUserURN].(map[string]any)
	m, _ := ent["manager"].(map[string]any)
	v, _ := m["value"].(string)
	return v
}

// stored is what the store keeps of a user written by the directory: everything but the
// computed groups attribute.
func stored(u *directory.User) directory.User {
	c := cloneUser(u)
	delete(c.Doc, "groups")
	return c
}

// InsertUser implements directory.Tx.
func (t *tx) InsertUser(u *directory.User) error {
	t.queue(func() error {
		if _, ok := t.o.users[u.ID]; ok {
			return fmt.Errorf("memstore: user %s exists already", u.ID)
		}
		if err := t.o.checkUser(u); err != nil {
			return err
		}
		t.s.accounts++
		at := now()
		u.Version, u.Created, u.LastModified, u.AccountID = 1, at, at, t.s.accounts
		t.o.seq++
		t.o.users[u.ID] = &user{User: stored(u), seq: t.o.seq}
		return nil
	})
	return nil
}

// UpdateUser implements directory.Tx: the profile, the direct grants, the sign-in address and a
// new password hash are written; the effective grants are SetEffective's.
func (t *tx) UpdateUser(before, u *directory.User) error {
	t.queue(func() error {
		cur, ok := t.o.users[u.ID]
		if !ok {
			return directory.ErrNotFound
		}
		if err := t.o.checkUser(u); err != nil {
			return err
		}
		next := stored(u)
		next.AccountID, next.Created, next.Effective = cur.AccountID, cur.Created, cur.Effective
		if next.PasswordHash == "" {
			next.PasswordHash = cur.PasswordHash
		}
		next.Version, next.LastModified = cur.Version+1, now()
		u.Version, u.LastModified = next.Version, next.LastModified
		cur.User = next
		return nil
	})
	return nil
}

// ClearManager implements directory.Tx.
func (t *tx) ClearManager(id string) ([]string, error) {
	if err := t.sendWrite(); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range t.o.usersInOrder() {
		if managerOf(u.Doc) != id {
			continue
		}
		dropManager(u.Doc)
		u.Version++
		u.LastModified = now()
		out = append(out, u.ID)
	}
	return out, nil
}

// dropManager removes a document's manager, and the enterprise extension when nothing else of
// it is left, as a read of a user without those columns shows it.
func dropManager(doc map[string]any) {
	ent, _ := doc[schema.EnterpriseUserURN].(map[string]any)
	delete(ent, "manager")
	if len(ent) == 0 {
		delete(doc, schema.EnterpriseUserURN)
	}
}

// PurgeUser implements directory.Tx: the user with its grants, memberships, welcomes, tokens
// and queued notifications goes; audit records about it or by it, and records whose changes
// name it, keep the pseudonym in its place; a tombstone remains.
func (t *tx) PurgeUser(p directory.Purge) error {
	t.queue(func() error {
		t.o.notices = slices.DeleteFunc(t.o.notices, func(n directory.Notice) bool { return n.UserID == p.UserID })
		audit := make([]auditRecord, len(t.o.audit))
		for i, r := range t.o.audit {
			if r.entry.ResourceID == p.UserID {
				r.entry.ResourceID, r.changes = p.Pseudonym, "{}"
			}
			if r.entry.ActorUserID == p.UserID {
				r.entry.ActorUserID = p.Pseudonym
			}
			r.changes = strings.ReplaceAll(r.changes, p.UserID, p.Pseudonym)
			audit[i] = r
		}
		t.o.audit = audit
		delete(t.o.users, p.UserID)
		for _, u := range t.o.users {
			// The foreign key's ON DELETE SET NULL, for a reference ClearManager did not see.
			if managerOf(u.Doc) == p.UserID {
				dropManager(u.Doc)
			}
		}
		for _, g := range t.o.groups {
			if g.members[p.UserID] == directory.MemberUser {
				delete(g.members, p.UserID)
			}
		}
		for w := range t.o.welcomes {
			if w.UserID == p.UserID {
				delete(t.o.welcomes, w)
			}
		}
		for id, tk := range t.o.tokens {
			if tk.IssuerUserID == p.UserID {
				delete(t.o.tokens, id)
			}
		}
		t.o.dropConsole(p.UserID)
		t.o.tombstones = append(t.o.tombstones, Tombstone{ResourceType: "User", ResourceID: p.UserID, Pseudonym: p.Pseudonym,
			TokenID: p.TokenID, ActorUserID: p.ActorUserID, RequestID: p.RequestID, At: now()})
		return nil
	})
	return nil
}
