package postgres

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

// A list cursor (RFC 9865) is the position of a page's first or last resource in its list: the
// resource's order key and id (keyset pagination), so that reading the next page costs the same
// wherever it lies and nothing is kept on the server between pages. The cursor also carries the
// fingerprint of the query it belongs to (resource type, organization, filter, sort), and when
// it was given.
//
// It is sealed with AES-256-GCM under a key every scimd process on the database shares
// (migrations/0009_paging.sql, cursor_key): opaque to clients, who would otherwise read sort
// keys (a userName) in it, and tamper-evident, so what comes back is exactly what was given.
type cursor struct {
	Query  []byte `json:"q"`           // the fingerprint of the query
	Before bool   `json:"b,omitempty"` // the page before the position, not after it
	Keys   []any  `json:"k"`           // the key parts' values (times as RFC 3339 strings)
	ID     string `json:"i"`
	Given  int64  `json:"t"` // Unix seconds
}

// maxCursorLen bounds the cursor a client may send; the longest one scimd gives, with sort keys
// at their indexed maximum (schema.MaxIndexedBytes), is far shorter.
const maxCursorLen = 8 << 10

// cursors seals and opens list cursors.
type cursors struct {
	pool *pgxpool.Pool
	now  func() time.Time

	mu   sync.Mutex
	aead cipher.AEAD // read from cursor_key on first use
}

func (c *cursors) cipher(ctx context.Context) (cipher.AEAD, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.aead != nil {
		return c.aead, nil
	}
	var secret []byte
	if err := c.pool.QueryRow(ctx, "SELECT secret FROM cursor_key").Scan(&secret); err != nil {
		return nil, fmt.Errorf("reading the cursor key: %w", err)
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return nil, err
	}
	if c.aead, err = cipher.NewGCM(block); err != nil {
		return nil, err
	}
	return c.aead, nil
}

// seal returns the cursor at the resource with id and key values, for the query with
// fingerprint fp: after it, or before it.
func (c *cursors) seal(ctx context.Context, fp []byte, before bool, k rowKey) (string, error) {
	keys := make([]any, len(k.vals))
	for i, v := range k.vals {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		keys[i] = v
	}
	plain, err := json.Marshal(cursor{Query: fp, Before: before, Keys: keys, ID: k.id, Given: c.now().Unix()})
	if err != nil {
		return "", err
	}
	aead, err := c.cipher(ctx)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	// Base64url without padding: only RFC 3986 unreserved characters, as RFC 9865 §2 asks.
	return base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, nil)), nil
}

// open returns the cursor s, checked: one scimd sealed, given less than CursorTimeout ago, for
// the query with fingerprint fp, with key values of the kinds of parts.
func (c *cursors) open(ctx context.Context, s string, fp []byte, parts []keyPart) (*cursor, rowKey, error) {
	invalid := scimerr.Invalid(scimerr.InvalidCursor, "the cursor is not one this server gave; send the nextCursor or "+
		"previousCursor of a page as it was given, or an empty cursor for the first page")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if len(s) > maxCursorLen || err != nil {
		return nil, rowKey{}, invalid
	}
	aead, err := c.cipher(ctx)
	if err != nil {
		return nil, rowKey{}, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, rowKey{}, invalid
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], nil)
	if err != nil {
		return nil, rowKey{}, invalid
	}
	var cur cursor
	if err := json.Unmarshal(plain, &cur); err != nil {
		return nil, rowKey{}, invalid
	}
	if age := c.now().Sub(time.Unix(cur.Given, 0)); age > directory.CursorTimeout {
		return nil, rowKey{}, scimerr.Invalid(scimerr.ExpiredCursor, "the cursor expired: it was given more than %d seconds ago "+
			"(cursorTimeout in /ServiceProviderConfig); start again with an empty cursor", int(directory.CursorTimeout.Seconds()))
	}
	if string(cur.Query) != string(fp) {
		return nil, rowKey{}, scimerr.Invalid(scimerr.InvalidCursor, "the cursor belongs to another list: a cursor continues the "+
			"list of its first page, so send the same filter, sortBy and sortOrder to the same endpoint, changing only cursor and count")
	}
	// Sealed by this server for this very query, the cursor has the query's key shape; this
	// only guards against a change of that shape between scimd versions.
	k := rowKey{id: cur.ID, vals: make([]any, len(parts))}
	if len(cur.Keys) != len(parts) || uuid.Validate(cur.ID) != nil {
		return nil, rowKey{}, invalid
	}
	for i, p := range parts {
		var ok bool
		switch p.kind {
		case kindBool:
			k.vals[i], ok = cur.Keys[i].(bool)
		case kindText:
			k.vals[i], ok = cur.Keys[i].(string)
		case kindTime:
			var s string
			if s, ok = cur.Keys[i].(string); ok {
				var err error
				k.vals[i], err = time.Parse(time.RFC3339Nano, s)
				ok = err == nil
			}
		}
		if !ok {
			return nil, rowKey{}, invalid
		}
	}
	return &cur, k, nil
}

// fingerprint identifies a list query: what a cursor may only be used with. Two spellings of one
// filter (attribute names in another case) translate to the same SQL, so they share it.
func fingerprint(t *table, where string, args []any, parts []keyPart, desc bool) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%v\x00", t.name, where, desc)
	for _, a := range args {
		fmt.Fprintf(h, "%T:%v\x00", a, a)
	}
	for _, p := range parts {
		fmt.Fprintf(h, "%s\x00", p.sql)
	}
	return h.Sum(nil)[:16]
}
