package postgres

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// Authenticating a request reads its token and the token's issuer. tokenCache keeps those reads,
// so that a request needs no round trip for them, and stays correct across processes: every
// transaction that revokes a token, changes the state of a user who issued tokens, or deletes an
// organization sends a notification on the channel tokenChannel when it commits (PostgreSQL
// delivers NOTIFY at commit, to every listening session), and every process drops what the
// notification names. The process that made the change drops it at once, before answering; the
// others within the time a notification takes to arrive, well under a second.
//
// The cache is used only while its process listens: when the listening connection is lost, the
// cache is emptied and bypassed (every token read goes to the database, as without a cache)
// until listening resumes. A hit still compares the secret's hash (directory.Authenticate): the
// cache holds what the database holds, never a decision.
const tokenChannel = "scimd_tokens"

// Notification payloads: "t ORG TOKEN" (a token revoked), "u ORG USER" (a user who issued tokens
// changed: suspended, deleted, demoted, promoted), "o ORG" (an organization deleted).
func tokenNote(kind string, ids ...string) string {
	return kind + " " + strings.Join(ids, " ")
}

const (
	// tokenCacheSize bounds the cache; beyond it an arbitrary entry makes room.
	tokenCacheSize = 10000
	// tokenCacheTTL bounds how long an entry is used without being read again, as a safety net
	// should a notification be lost in a way the listener cannot notice.
	tokenCacheTTL = time.Minute
	// relisten is how long the listener waits before connecting again after losing its
	// connection.
	relisten = time.Second
)

type tokenKey struct{ org, id string }

type tokenEntry struct {
	st   directory.StoredToken
	read time.Time
}

type tokenCache struct {
	mu      sync.Mutex
	live    bool   // listening: entries are used and kept
	gen     uint64 // incremented by every drop, so that a read racing a drop is not kept
	entries map[tokenKey]tokenEntry
}

func newTokenCache() *tokenCache {
	return &tokenCache{entries: map[tokenKey]tokenEntry{}}
}

// get returns a cached token, and the generation to pass to put after reading it otherwise.
func (c *tokenCache) get(org, id string, now time.Time) (*directory.StoredToken, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[tokenKey{org, id}]
	if !c.live || !ok || now.Sub(e.read) > tokenCacheTTL {
		return nil, c.gen
	}
	st := e.st
	return &st, c.gen
}

// put keeps a token read from the database, unless something was dropped since the read began
// (gen): the read may predate the change that dropped it.
func (c *tokenCache) put(st *directory.StoredToken, org string, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || gen != c.gen {
		return
	}
	if len(c.entries) >= tokenCacheSize {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[tokenKey{org, st.ID}] = tokenEntry{st: *st, read: now}
}

// drop removes what a notification names.
func (c *tokenCache) drop(note string) {
	f := strings.Fields(note)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if len(f) < 2 {
		clear(c.entries)
		return
	}
	for k, e := range c.entries {
		if k.org != f[1] {
			continue
		}
		switch {
		case f[0] == "o",
			f[0] == "t" && len(f) > 2 && k.id == f[2],
			f[0] == "u" && len(f) > 2 && e.st.IssuerUserID == f[2]:
			delete(c.entries, k)
		}
	}
}

// setLive turns the cache on or off; either way it starts empty.
func (c *tokenCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	c.gen++
	clear(c.entries)
}

// ListenTokens keeps the token cache correct by listening to tokenChannel until ctx ends, on a
// connection of its own; while it is not listening the cache is off. "scimd serve" runs it.
func (s *Store) ListenTokens(ctx context.Context, log *slog.Logger) {
	for ctx.Err() == nil {
		err := s.listen(ctx)
		s.tokens.setLive(false)
		if ctx.Err() != nil {
			return
		}
		log.Warn("token cache off: listening for token changes failed; tokens are read from the database until it resumes",
			"err", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(relisten):
		}
	}
}

func (s *Store) listen(ctx context.Context) error {
	cfg := s.pool.Config().ConnConfig.Copy()
	cfg.RuntimeParams["application_name"] = "scimd token listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+tokenChannel); err != nil {
		return err
	}
	// Listening from here on: changes committed before are in the database, which the empty
	// cache reads.
	s.tokens.setLive(true)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.tokens.drop(n.Payload)
	}
}
