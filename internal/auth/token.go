// Package auth defines provisioning tokens: their format, how they are hashed for storage, and
// how a presented bearer token is checked against what is stored.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/scimerr"
)

// A token reads "scimd_" + organization id (32 hex) + token id (32 hex) + secret (43 base64url
// characters of 32 random bytes). Carrying both ids lets the server find the stored hash by
// primary key; only the secret is checked, against its SHA-256.
const (
	prefix    = "scimd_"
	secretLen = 43
	tokenLen  = len(prefix) + 32 + 32 + secretLen
)

// Issued is a newly generated token: the string shown once to its holder, and what is stored.
type Issued struct {
	Token  string
	OrgID  string
	ID     string
	Hash   []byte
	Expiry *time.Time
}

// Generate creates a token for org with a fresh id and secret.
func Generate(org string) (Issued, error) {
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
		Token: prefix + hex.EncodeToString(oid[:]) + hex.EncodeToString(id[:]) + s,
		OrgID: oid.String(),
		ID:    id.String(),
		Hash:  hash(s),
	}, nil
}

func hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Roles a token acts with: its issuer's orgRole.
const (
	RoleAdmin         = "admin"
	RoleAdminReadOnly = "admin-readonly"
)

// Stored is what the store holds for a token, with its issuer's current state.
type Stored struct {
	Hash []byte
	// IssuerID is empty for the operator token issued with the organization, which acts as an
	// admin with no user behind it.
	IssuerID string
	// IssuerRole is the issuer's orgRole now, and IssuerActive whether the issuer still exists
	// and is not suspended: a token stops working when its issuer is suspended, deleted or
	// demoted.
	IssuerRole   string
	IssuerActive bool
	ExpiresAt    *time.Time
	RevokedAt    *time.Time
}

// Principal is who a request acts as.
type Principal struct {
	OrgID    string
	TokenID  string
	IssuerID string
	// Role is RoleAdmin or RoleAdminReadOnly.
	Role string
}

// CanWrite reports whether the principal may change anything.
func (p Principal) CanWrite() bool { return p.Role == RoleAdmin }

// Lookup finds a stored token by organization and token id; it returns ok=false when there is
// none.
type Lookup func(ctx context.Context, org, id string) (t Stored, ok bool, err error)

// Authenticate checks a bearer token string and returns its principal. Every failure is the same
// 401 so that a caller learns nothing about which part was wrong.
func Authenticate(ctx context.Context, lookup Lookup, token string, now time.Time) (Principal, error) {
	denied := scimerr.New(scimerr.KindUnauthorized, "", "the bearer token is invalid, expired or revoked")
	if len(token) != tokenLen || !strings.HasPrefix(token, prefix) {
		return Principal{}, denied
	}
	rest := token[len(prefix):]
	org, err1 := hexUUID(rest[:32])
	id, err2 := hexUUID(rest[32:64])
	if err1 != nil || err2 != nil {
		return Principal{}, denied
	}
	st, ok, err := lookup(ctx, org, id)
	if err != nil {
		return Principal{}, err
	}
	if !ok || subtle.ConstantTimeCompare(st.Hash, hash(rest[64:])) != 1 ||
		st.RevokedAt != nil || (st.ExpiresAt != nil && !now.Before(*st.ExpiresAt)) {
		return Principal{}, denied
	}
	role := RoleAdmin
	if st.IssuerID != "" {
		if !st.IssuerActive || (st.IssuerRole != RoleAdmin && st.IssuerRole != RoleAdminReadOnly) {
			return Principal{}, denied
		}
		role = st.IssuerRole
	}
	return Principal{OrgID: org, TokenID: id, IssuerID: st.IssuerID, Role: role}, nil
}

func hexUUID(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil {
		return "", err
	}
	u, err := uuid.FromBytes(b)
	return u.String(), err
}
