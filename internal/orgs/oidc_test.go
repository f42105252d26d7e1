package orgs_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/scimerr"
)

func ptr(s string) *string { return &s }

func TestOIDCSettings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	org := f.a.ID

	_, err := f.svc.OIDC(f.ctx, org)
	requireErr(t, err, scimerr.KindNotFound, "no OpenID Connect settings")
	// A first setting needs the secret.
	f.refused(scimerr.KindInvalid, func() error {
		_, _, err := f.svc.SetOIDC(f.ctx, org, orgs.OIDCInput{Issuer: "https://idp.example.com", ClientID: "scimd"})
		return err
	}, "client_secret is required")

	set, created, err := f.svc.SetOIDC(f.ctx, org, orgs.OIDCInput{Issuer: " https://login.example.com/tenant/v2.0 ",
		ClientID: "app-1", ClientSecret: ptr("s3cret")})
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "https://login.example.com/tenant/v2.0", set.Issuer)
	require.Equal(t, "app-1", set.ClientID)
	require.True(t, set.ClientSecretSet)

	// The secret is stored to be used, and shown by nothing but OIDCClient.
	c, err := f.svc.OIDCClient(f.ctx, org)
	require.NoError(t, err)
	require.Equal(t, orgs.OIDCClient{Issuer: "https://login.example.com/tenant/v2.0", ClientID: "app-1", ClientSecret: "s3cret"}, *c)

	// Changing the issuer or client keeps the secret unless a new one is given.
	set, created, err = f.svc.SetOIDC(f.ctx, org, orgs.OIDCInput{Issuer: "http://127.0.0.1:9000", ClientID: "app-2"})
	require.NoError(t, err)
	require.False(t, created)
	c, err = f.svc.OIDCClient(f.ctx, org)
	require.NoError(t, err)
	require.Equal(t, orgs.OIDCClient{Issuer: "http://127.0.0.1:9000", ClientID: "app-2", ClientSecret: "s3cret"}, *c)
	require.Equal(t, "app-2", set.ClientID)
	// A tenant's own Entra ID issuer is fine; the multi-tenant ones are refused below.
	_, _, err = f.svc.SetOIDC(f.ctx, org, orgs.OIDCInput{Issuer: "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", ClientID: "app-2"})
	require.NoError(t, err)

	for _, tc := range []struct {
		in   orgs.OIDCInput
		frag string
	}{
		{orgs.OIDCInput{Issuer: "", ClientID: "x"}, "issuer is required"},
		{orgs.OIDCInput{Issuer: "http://idp.example.com", ClientID: "x"}, "must use https"},
		{orgs.OIDCInput{Issuer: "https://idp.example.com/?tenant=1", ClientID: "x"}, "no query"},
		{orgs.OIDCInput{Issuer: "idp.example.com", ClientID: "x"}, "absolute URL"},
		{orgs.OIDCInput{Issuer: "https://login.microsoftonline.com/common/v2.0", ClientID: "x"}, "multi-tenant endpoint"},
		{orgs.OIDCInput{Issuer: "https://login.microsoftonline.com/Organizations/v2.0", ClientID: "x"}, "use the organization's tenant"},
		{orgs.OIDCInput{Issuer: "https://login.microsoftonline.us/consumers", ClientID: "x"}, "multi-tenant endpoint"},
		{orgs.OIDCInput{Issuer: "https://idp.example.com", ClientID: " "}, "client_id is required"},
		{orgs.OIDCInput{Issuer: "https://idp.example.com", ClientID: "x", ClientSecret: ptr(" ")}, "client_secret must be"},
	} {
		f.refused(scimerr.KindInvalid, func() error { _, _, err := f.svc.SetOIDC(f.ctx, org, tc.in); return err }, tc.frag)
	}
	_, _, err = f.svc.SetOIDC(f.ctx, "00000000-0000-4000-8000-000000000009", orgs.OIDCInput{Issuer: "https://x.example", ClientID: "x", ClientSecret: ptr("y")})
	requireErr(t, err, scimerr.KindNotFound, "there is no organization")

	// Signing in with an email finds the organizations with the domain verified and OpenID
	// Connect set; Globex has the domain verified too but no settings.
	_, _, err = f.svc.AddDomain(f.ctx, f.b.ID, "acme.example", true)
	require.NoError(t, err)
	found, err := f.svc.SignInOrgs(f.ctx, "Ada@ACME.example")
	require.NoError(t, err)
	require.Equal(t, []orgs.SignInOrg{{ID: org, Name: "Acme"}}, found)
	found, err = f.svc.SignInOrgs(f.ctx, "ada@globex.example")
	require.NoError(t, err)
	require.Empty(t, found)
	_, err = f.svc.SignInOrgs(f.ctx, "ada")
	requireErr(t, err, scimerr.KindInvalid, "not an email address")

	require.NoError(t, f.svc.RemoveOIDC(f.ctx, org))
	requireErr(t, f.svc.RemoveOIDC(f.ctx, org), scimerr.KindNotFound, "no OpenID Connect settings")
	found, err = f.svc.SignInOrgs(f.ctx, "ada@acme.example")
	require.NoError(t, err)
	require.Empty(t, found)
}
