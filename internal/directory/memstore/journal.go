package memstore

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/directory"
)

// The journal of a change (directory.JournalTx), and provisioning tokens (directory.TokenTx
// and the Store reads of tokens).

// Audit implements directory.Tx. Changes are kept as JSON, as the audit log keeps them.
func (t *tx) Audit(entries ...directory.AuditEntry) {
	t.queue(func() error {
		for _, e := range entries {
			b, err := json.Marshal(e.Changes)
			if err != nil {
				return err
			}
			e.Changes = nil
			t.o.audit = append(t.o.audit, auditRecord{entry: e, changes: string(b), at: now()})
		}
		return nil
	})
}

func decodeJSON(s string) any {
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	return v
}

// Recipients implements directory.Tx.
func (t *tx) Recipients(users []string) ([]directory.Recipient, error) {
	if err := t.send(); err != nil {
		return nil, err
	}
	var out []directory.Recipient
	for _, id := range users {
		u, ok := t.o.users[id]
		if !ok {
			continue
		}
		str := func(v any) string { s, _ := v.(string); return s }
		name := str(u.Doc["displayName"])
		if name == "" {
			n, _ := u.Doc["name"].(map[string]any)
			name = strings.TrimSpace(str(n["givenName"]) + " " + str(n["familyName"]))
		}
		out = append(out, directory.Recipient{UserID: id, SignIn: u.SignIn, Name: name,
			PreferredLanguage: str(u.Doc["preferredLanguage"]), Locale: str(u.Doc["locale"])})
	}
	return out, nil
}

// FirstWelcomes implements directory.Tx.
func (t *tx) FirstWelcomes(welcomes []directory.Welcome, known bool) ([]directory.Welcome, error) {
	var first []directory.Welcome
	record := func() error {
		for _, w := range welcomes {
			if !t.o.welcomes[w] {
				t.o.welcomes[w] = true
				first = append(first, w)
			}
		}
		return nil
	}
	if known {
		// Nothing is read back: the write is queued.
		t.queue(record)
		return welcomes, nil
	}
	if err := t.sendWrite(); err != nil {
		return nil, err
	}
	return first, record()
}

// Notify implements directory.Tx.
func (t *tx) Notify(notices ...directory.Notice) {
	t.queue(func() error {
		t.o.notices = append(t.o.notices, cloneNotices(notices)...)
		return nil
	})
}

func cloneNotices(notices []directory.Notice) []directory.Notice {
	out := slices.Clone(notices)
	for i := range out {
		out[i].Data = maps.Clone(out[i].Data)
	}
	return out
}

// QueueEvent implements directory.Tx: the event is kept once, whatever the endpoints.
func (t *tx) QueueEvent(e directory.Event) {
	e.Payload = slices.Clone(e.Payload)
	t.queue(func() error {
		t.o.events = append(t.o.events, e)
		return nil
	})
}

// Token implements directory.Store: the token and its issuer's state now.
func (s *Store) Token(ctx context.Context, orgID, id string) (*directory.StoredToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return nil, directory.ErrNotFound
	}
	tk, ok := o.tokens[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	st := &directory.StoredToken{Token: cloneToken(tk.Token), Hash: slices.Clone(tk.hash)}
	if u, ok := o.users[tk.IssuerUserID]; ok {
		st.IssuerFound, st.IssuerActive, st.IssuerRole = true, u.Active(), u.Effective.OrgRole
	}
	return st, nil
}

// Tokens implements directory.Store: oldest first.
func (s *Store) Tokens(ctx context.Context, orgID string) ([]directory.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orgs[orgID]
	if !ok {
		return []directory.Token{}, directory.ErrNoOrg
	}
	out := []directory.Token{}
	for _, tk := range o.tokens {
		out = append(out, cloneToken(tk.Token))
	}
	slices.SortFunc(out, func(a, b directory.Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// InsertToken implements directory.Tx. A user's token needs its issuer, as the foreign key
// does.
func (t *tx) InsertToken(tok *directory.Token, hash []byte) error {
	c := &token{Token: cloneToken(*tok), hash: slices.Clone(hash)}
	t.queue(func() error {
		if _, ok := t.o.users[c.IssuerUserID]; c.IssuerUserID != "" && !ok {
			return directory.ErrGone
		}
		t.o.tokens[c.ID] = c
		return nil
	})
	return nil
}

// RevokeToken implements directory.Tx.
func (t *tx) RevokeToken(id string, at time.Time) (*directory.Token, error) {
	if err := t.sendWrite(); err != nil {
		return nil, err
	}
	tk, ok := t.o.tokens[id]
	if !ok {
		return nil, directory.ErrNotFound
	}
	if tk.RevokedAt == nil {
		v := at.UTC().Truncate(time.Microsecond)
		tk.RevokedAt = &v
	}
	c := cloneToken(tk.Token)
	return &c, nil
}

// RevokeTokens implements directory.Tx.
func (t *tx) RevokeTokens(issuers []string, at time.Time) error {
	v := at.UTC().Truncate(time.Microsecond)
	t.queue(func() error {
		for _, tk := range t.o.tokens {
			if tk.RevokedAt == nil && tk.IssuerUserID != "" && slices.Contains(issuers, tk.IssuerUserID) {
				tk.RevokedAt = &v
			}
		}
		return nil
	})
	return nil
}
