package memstore

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/directory"
)

// The console's sign-ins (directory/console.go): identities bound to users, sessions and
// sign-in links, and the users tab's walk.

type identityKey struct{ issuer, subject string }

func cloneSession(st *directory.StoredSession) *directory.StoredSession {
	c := *st
	c.Hash = slices.Clone(st.Hash)
	return &c
}

func cloneLink(l *directory.StoredLink) *directory.StoredLink {
	c := *l
	c.Hash = slices.Clone(l.Hash)
	if l.UsedAt != nil {
		v := *l.UsedAt
		c.UsedAt = &v
	}
	return &c
}

// dropConsole removes what the console keeps of a user, as the foreign keys' cascades do.
func (o *org) dropConsole(user string) {
	for k, u := range o.identities {
		if u == user {
			delete(o.identities, k)
		}
	}
	for id, st := range o.sessions {
		if st.UserID == user {
			delete(o.sessions, id)
		}
	}
	for id, l := range o.links {
		if l.UserID == user {
			delete(o.links, id)
		}
	}
}

// ConsoleSession implements directory.Store.
func (s *Store) ConsoleSession(ctx context.Context, orgID, id string) (*directory.StoredSession, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.ErrNotFound
	}
	st, ok := o.sessions[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return cloneSession(st), nil
}

// TouchSession implements directory.Store.
func (s *Store) TouchSession(ctx context.Context, orgID, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.orgs[orgID]; ok {
		if st, ok := o.sessions[id]; ok {
			st.LastSeen = at.UTC().Truncate(time.Microsecond)
		}
	}
	return nil
}

// DeleteSession implements directory.Store.
func (s *Store) DeleteSession(ctx context.Context, orgID, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return directory.ErrNotFound
	}
	if _, ok := o.sessions[id]; !ok {
		return directory.ErrNotFound
	}
	delete(o.sessions, id)
	return nil
}

// Sessions returns the organization's sessions, for tests.
func (s *Store) Sessions(orgID string) []directory.Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []directory.Session
	if o, ok := s.orgs[orgID]; ok {
		for _, st := range o.sessions {
			out = append(out, st.Session)
		}
	}
	slices.SortFunc(out, func(a, b directory.Session) int { return a.Created.Compare(b.Created) })
	return out
}

// Identities returns the identities bound to a user, as issuer and subject, for tests.
func (s *Store) Identities(orgID, user string) [][2]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][2]string
	if o, ok := s.orgs[orgID]; ok {
		for k, u := range o.identities {
			if u == user {
				out = append(out, [2]string{k.issuer, k.subject})
			}
		}
	}
	slices.SortFunc(out, func(a, b [2]string) int { return cmp.Compare(a[0]+"\n"+a[1], b[0]+"\n"+b[1]) })
	return out
}

// BrowseUsers implements directory.Store. Names compare lower-cased, byte by byte (PostgreSQL
// compares lower(userName) in the database's collation); every match is looked at, so a page
// is never partial.
func (s *Store) BrowseUsers(ctx context.Context, orgID string, b directory.Browse) ([]*directory.User, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, false, nil
	}
	key := func(u *user) string { n, _ := u.Doc["userName"].(string); return strings.ToLower(n) }
	all := make([]*user, 0, len(o.users))
	for _, u := range o.users {
		all = append(all, u)
	}
	slices.SortFunc(all, func(a, b *user) int { return strings.Compare(key(a), key(b)) })
	if b.Before != "" {
		slices.Reverse(all)
	}
	text := strings.ToLower(b.Text)
	var out []*directory.User
	for _, u := range all {
		switch k := key(u); {
		case b.After != "" && k <= strings.ToLower(b.After),
			b.Before != "" && k >= strings.ToLower(b.Before),
			b.Role != "" && u.Effective.OrgRole != b.Role,
			text != "" && !strings.Contains(searchText(&u.User), text):
			continue
		}
		if len(out) == b.Limit {
			break
		}
		out = append(out, o.read(u))
	}
	return out, false, nil
}

// searchText is what the users tab's text filter looks in, as the function user_search_text of
// migration 0011 writes it.
func searchText(u *directory.User) string {
	name, _ := u.Doc["name"].(map[string]any)
	str := func(v any) string { s, _ := v.(string); return s }
	return strings.ToLower(strings.Join([]string{u.SignIn, str(u.Doc["userName"]), str(u.Doc["displayName"]),
		str(name["givenName"]) + " " + str(name["familyName"])}, "\n"))
}

// IdentityUser implements directory.Tx.
func (t *tx) IdentityUser(issuer, subject string) (string, error) {
	if err := t.send(); err != nil {
		return "", err
	}
	u, ok := t.o.identities[identityKey{issuer, subject}]
	if !ok {
		return "", directory.ErrNotFound
	}
	return u, nil
}

// UsersBySignIn implements directory.Tx.
func (t *tx) UsersBySignIn(addr string) ([]string, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range t.o.users {
		if u.SignIn != "" && strings.EqualFold(u.SignIn, addr) {
			out = append(out, u.ID)
		}
	}
	slices.Sort(out)
	return out, nil
}

// HasIdentity implements directory.Tx.
func (t *tx) HasIdentity(user, issuer string) (bool, error) {
	if err := t.send(); err != nil {
		return false, err
	}
	for k, u := range t.o.identities {
		if u == user && k.issuer == issuer {
			return true, nil
		}
	}
	return false, nil
}

// BindIdentity implements directory.Tx, with the constraints of console_identities: an
// identity is bound once, a user has one subject per issuer, and the user exists.
func (t *tx) BindIdentity(b directory.Binding) error {
	t.queue(func() error {
		if _, ok := t.o.users[b.UserID]; !ok {
			return directory.ErrGone
		}
		if _, ok := t.o.identities[identityKey{b.Issuer, b.Subject}]; ok {
			return directory.ErrBound
		}
		for k, u := range t.o.identities {
			if u == b.UserID && k.issuer == b.Issuer {
				return directory.ErrBound
			}
		}
		t.o.identities[identityKey{b.Issuer, b.Subject}] = b.UserID
		return nil
	})
	return nil
}

// InsertSession implements directory.Tx.
func (t *tx) InsertSession(s *directory.Session, hash []byte) error {
	st := &directory.StoredSession{Session: *s, Hash: slices.Clone(hash)}
	t.queue(func() error {
		if _, ok := t.o.users[s.UserID]; !ok {
			return directory.ErrGone
		}
		t.o.sessions[st.ID] = st
		return nil
	})
	return nil
}

// PruneSessions implements directory.Tx.
func (t *tx) PruneSessions(user string, idleBefore, createdBefore time.Time) error {
	t.queue(func() error {
		for id, st := range t.o.sessions {
			if st.UserID == user && (st.LastSeen.Before(idleBefore) || st.Created.Before(createdBefore)) {
				delete(t.o.sessions, id)
			}
		}
		return nil
	})
	return nil
}

// EndSessions implements directory.Tx.
func (t *tx) EndSessions(users []string) error {
	t.queue(func() error {
		for id, st := range t.o.sessions {
			if slices.Contains(users, st.UserID) {
				delete(t.o.sessions, id)
			}
		}
		return nil
	})
	return nil
}

// InsertLink implements directory.Tx.
func (t *tx) InsertLink(l *directory.Link, hash []byte) error {
	c := cloneLink(&directory.StoredLink{Link: *l, Hash: hash})
	t.queue(func() error {
		if _, ok := t.o.users[l.UserID]; !ok {
			return directory.ErrGone
		}
		t.o.links[c.ID] = c
		return nil
	})
	return nil
}

// PruneLinks implements directory.Tx.
func (t *tx) PruneLinks(user string, now time.Time) error {
	t.queue(func() error {
		for id, l := range t.o.links {
			if l.UserID == user && (l.UsedAt != nil || !now.Before(l.ExpiresAt)) {
				delete(t.o.links, id)
			}
		}
		return nil
	})
	return nil
}

// LockLink implements directory.Tx.
func (t *tx) LockLink(id string) (*directory.StoredLink, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	if t.missing {
		return nil, directory.ErrNotFound
	}
	l, ok := t.o.links[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	return cloneLink(l), nil
}

// UseLink implements directory.Tx.
func (t *tx) UseLink(id string, at time.Time) error {
	v := at.UTC().Truncate(time.Microsecond)
	t.queue(func() error {
		if l, ok := t.o.links[id]; ok {
			l.UsedAt = &v
		}
		return nil
	})
	return nil
}
