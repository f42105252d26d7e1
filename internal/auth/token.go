// Package auth defines scimd's credentials: provisioning tokens, and the console's sessions and
// sign-in links, their format, and how their secrets are hashed for storage and compared. Who a
// credential acts as, and whether it may act at all, is decided by the directory
// (internal/directory: Authenticate for tokens, console.go for sessions and links).
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"
)

// A credential reads its kind's prefix + organization id (32 hex) + credential id (32 hex) +
// secret (43 base64url characters of 32 random bytes). Carrying both ids lets the server find
// the stored hash by primary key; only the secret is checked, against its SHA-256 (the secret
// is 256 random bits, so a slow hash would add nothing).
const secretLen = 43

// Kind is what a credential is for, written as the prefix that tells the kinds apart, so that
// one kind is never accepted as another.
type Kind string

// The kinds of credential.
const (
	// Token is a provisioning token (a SCIM bearer token).
	Token Kind = "scimd_"
	// Session is a console session, held in a cookie.
	Session Kind = "scimds_"
	// Link is a single-use console sign-in link.
	Link Kind = "scimdl_"
)

// Issued is a newly generated token: the string shown once to its holder, and what is stored.
type Issued struct {
	Token  string
	OrgID  string
	ID     string
	Hash   []byte
	Expiry *time.Time
}

// Generate creates a provisioning token for org with a fresh id and secret.
func Generate(org string) (Issued, error) {
	return Token.Generate(org)
}

// Generate creates a credential of kind k for org with a fresh id and secret.
func (k Kind) Generate(org string) (Issued, error) {
	oid, err := uuid.Parse(org)
	if err != nil {
		return Issued{}, err
	}
	id := uuid.New()
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return Issued{}, err
	}
	s := base64.RawURLEncoding.EncodeToString(secret)
	return Issued{
		Token: string(k) + hex.EncodeToString(oid[:]) + hex.EncodeToString(id[:]) + s,
		OrgID: oid.String(),
		ID:    id.String(),
		Hash:  hash(s),
	}, nil
}

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Parse splits a bearer token string into its organization id, token id and secret; ok is
// false for anything that is not shaped like a provisioning token.
func Parse(token string) (org, id, secret string, ok bool) {
	return Token.Parse(token)
}

// Parse splits a credential of kind k into its organization id, id and secret; ok is false for
// anything that is not shaped like one.
func (k Kind) Parse(s string) (org, id, secret string, ok bool) {
	if len(s) != len(k)+32+32+secretLen || !strings.HasPrefix(s, string(k)) {
		return "", "", "", false
	}
	rest := s[len(k):]
	org, err1 := hexUUID(rest[:32])
	id, err2 := hexUUID(rest[32:64])
	if err1 != nil || err2 != nil {
		return "", "", "", false
	}
	return org, id, rest[64:], true
}

// Matches reports, in constant time, whether secret is the one stored as hash.
func Matches(stored []byte, secret string) bool {
	return subtle.ConstantTimeCompare(stored, hash(secret)) == 1
}

func hexUUID(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", err
	}
	u, err := uuid.FromBytes(b)
	return u.String(), err
}
