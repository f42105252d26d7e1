package directory_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/scimerr"
)

func TestTokens(t *testing.T) {
	t.Parallel()
	f := newPGFixture(t)
	a := f.org
	op := directory.Operator(a)
	admin := orgstest.InsertUser(t, f.pool, a, "admin@example.com", "admin", true)
	reader := orgstest.InsertUser(t, f.pool, a, "reader@example.com", "admin-readonly", true)
	plain := orgstest.InsertUser(t, f.pool, a, "plain@example.com", "user", true)
	suspended := orgstest.InsertUser(t, f.pool, a, "gone@example.com", "admin", false)
	adminB := orgstest.InsertUser(t, f.pool, f.other, "admin@globex.example", "admin", true)

	before := time.Now()
	tok, err := f.dir.CreateToken(f.ctx, op, directory.TokenInput{IssuerUserID: strings.ToUpper(admin), ExpiresIn: 24 * time.Hour}, time.Now())
	require.NoError(t, err)
	require.Equal(t, admin, tok.IssuerUserID)
	require.Regexp(t, `^scimd_[0-9a-f]{64}[A-Za-z0-9_-]{43}$`, tok.Value)
	require.Equal(t, strings.ReplaceAll(a, "-", "")+strings.ReplaceAll(tok.ID, "-", ""), tok.Value[len("scimd_"):len("scimd_")+64])
	require.NotNil(t, tok.ExpiresAt)
	require.WithinDuration(t, before.Add(24*time.Hour), *tok.ExpiresAt, time.Minute)
	require.Nil(t, tok.RevokedAt)
	f.requireStoredHash(tok.ID, tok.Value)
	var issuer string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT issuer_user_id::text FROM tokens WHERE org_id = $1 AND id = $2`, a, tok.ID).Scan(&issuer))
	require.Equal(t, admin, issuer)

	ro, err := f.dir.CreateToken(f.ctx, op, directory.TokenInput{IssuerUserID: reader}, time.Now())
	require.NoError(t, err)
	require.Nil(t, ro.ExpiresAt, "no expiry given: the token does not expire")
	svc, err := f.dir.CreateToken(f.ctx, op, directory.TokenInput{Role: "Admin-ReadOnly", Label: " Entra ID "}, time.Now())
	require.NoError(t, err)
	require.Equal(t, "admin-readonly", svc.Role)
	require.Equal(t, "Entra ID", svc.Label)
	require.Empty(t, svc.IssuerUserID)

	// The tokens authenticate as their issuers, with the issuers' roles; a service token acts
	// with its own role and as no person.
	got, err := f.dir.Authenticate(f.ctx, tok.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: a, TokenID: tok.ID, UserID: admin, Role: "admin"}, got)
	got, err = f.dir.Authenticate(f.ctx, ro.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, "admin-readonly", got.Role)
	got, err = f.dir.Authenticate(f.ctx, svc.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: a, TokenID: svc.ID, Role: "admin-readonly"}, got)
	_, err = f.dir.Authenticate(f.ctx, tok.Value, tok.ExpiresAt.Add(time.Second))
	requireErr(t, err, scimerr.KindUnauthorized)
	_, err = f.dir.Authenticate(f.ctx, tok.Value[:len(tok.Value)-1]+"x", time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)

	for _, tc := range []struct {
		in        directory.TokenInput
		fragments []string
	}{
		{directory.TokenInput{}, []string{"needs a role", "or an issuer"}},
		{directory.TokenInput{IssuerUserID: admin, Role: "admin"}, []string{"not both"}},
		{directory.TokenInput{Role: "user"}, []string{`"user" is not a token role`}},
		{directory.TokenInput{Role: "admin", Label: strings.Repeat("l", 201)}, []string{"at most 200"}},
		{directory.TokenInput{Role: "admin", Label: "a\x00b"}, []string{"control characters"}},
		{directory.TokenInput{IssuerUserID: "bob"}, []string{`"bob" is not a user id`}},
		{directory.TokenInput{IssuerUserID: uuid.NewString()}, []string{"is not a user of organization " + a}},
		{directory.TokenInput{IssuerUserID: adminB}, []string{adminB + " is not a user of organization " + a}},
		{directory.TokenInput{IssuerUserID: plain}, []string{`orgRole "user"`, "only admin and admin-readonly"}},
		{directory.TokenInput{IssuerUserID: suspended}, []string{"is suspended"}},
		{directory.TokenInput{IssuerUserID: admin, ExpiresIn: -time.Hour}, []string{"negative"}},
	} {
		f.refused(scimerr.KindInvalid, func() error { _, err := f.dir.CreateToken(f.ctx, op, tc.in, time.Now()); return err }, tc.fragments...)
	}
	f.refused(scimerr.KindNotFound, func() error {
		_, err := f.dir.CreateToken(f.ctx, directory.Operator(uuid.NewString()), directory.TokenInput{Role: "admin"}, time.Now())
		return err
	}, "there is no organization")
	f.refused(scimerr.KindForbidden, func() error {
		_, err := f.dir.CreateToken(f.ctx, directory.Actor{Org: a, Role: "admin-readonly"}, directory.TokenInput{Role: "admin"}, time.Now())
		return err
	}, "admin-readonly")

	list, err := f.dir.ListTokens(f.ctx, op)
	require.NoError(t, err)
	require.Len(t, list, 4)
	require.Equal(t, []string{"", admin, reader, ""}, []string{list[0].IssuerUserID, list[1].IssuerUserID, list[2].IssuerUserID, list[3].IssuerUserID})
	require.Equal(t, []string{"operator", "", "", "Entra ID"}, []string{list[0].Label, list[1].Label, list[2].Label, list[3].Label})
	require.Equal(t, tok.Token, list[1])
	raw, err := json.Marshal(list)
	require.NoError(t, err)
	require.NotContains(t, string(raw), tok.Value[len("scimd_")+64:], "a listing never shows a secret")
	require.NotContains(t, string(raw), "hash")

	// Revoking sets revoked_at; revoking again keeps it.
	rv, err := f.dir.RevokeToken(f.ctx, op, tok.ID, time.Now())
	require.NoError(t, err)
	require.NotNil(t, rv.RevokedAt)
	var revokedAt *time.Time
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT revoked_at FROM tokens WHERE org_id = $1 AND id = $2`, a, tok.ID).Scan(&revokedAt))
	require.NotNil(t, revokedAt)
	_, err = f.dir.Authenticate(f.ctx, tok.Value, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
	again, err := f.dir.RevokeToken(f.ctx, op, strings.ToUpper(tok.ID), time.Now())
	require.NoError(t, err)
	require.Equal(t, rv.RevokedAt, again.RevokedAt)

	// Tenant isolation: A's token under B's id, B's under A's.
	opB := directory.Operator(f.other)
	tb, err := f.dir.CreateToken(f.ctx, opB, directory.TokenInput{IssuerUserID: adminB}, time.Now())
	require.NoError(t, err)
	f.refused(scimerr.KindNotFound, func() error { _, err := f.dir.RevokeToken(f.ctx, opB, ro.ID, time.Now()); return err }, "has no token")
	f.refused(scimerr.KindNotFound, func() error { _, err := f.dir.RevokeToken(f.ctx, op, tb.ID, time.Now()); return err }, "has no token")
	f.refused(scimerr.KindNotFound, func() error { _, err := f.dir.RevokeToken(f.ctx, op, "nope", time.Now()); return err }, "has no token")
	f.refused(scimerr.KindNotFound, func() error {
		_, err := f.dir.RevokeToken(f.ctx, directory.Operator(uuid.NewString()), tb.ID, time.Now())
		return err
	}, "there is no organization")
	listB, err := f.dir.ListTokens(f.ctx, opB)
	require.NoError(t, err)
	require.Len(t, listB, 2)
	require.Nil(t, listB[1].RevokedAt)
	_, err = f.dir.ListTokens(f.ctx, directory.Operator(uuid.NewString()))
	requireErr(t, err, scimerr.KindNotFound, "there is no organization")
}

// requireStoredHash checks that the token's row holds the SHA-256 of the token's secret (the
// part after "scimd_" and the two 32-hex ids) and nothing of the token itself.
func (f *pgFixture) requireStoredHash(id, token string) {
	f.t.Helper()
	var hash []byte
	require.NoError(f.t, f.pool.QueryRow(context.Background(), `SELECT secret_hash FROM tokens WHERE id = $1`, id).Scan(&hash))
	want := sha256.Sum256([]byte(token[len("scimd_")+64:]))
	require.Equal(f.t, want[:], hash)
}
