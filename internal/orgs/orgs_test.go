package orgs_test

import (
	"context"
	"crypto/sha256"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/scimerr"
)

// fixture is the orgs service on a database of the test's own, asking a DNS server of the
// test's own, with two organizations.
type fixture struct {
	t    *testing.T
	ctx  context.Context
	pool *pgxpool.Pool
	dns  *orgstest.DNS
	svc  *orgs.Service
	a, b *orgs.CreatedOrg
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := dbtest.New(t)
	dns := orgstest.StartDNS(t)
	svc, err := orgs.New(postgres.NewOrgs(pool), orgs.Config{Resolver: dns.Addr, DNSTimeout: 5 * time.Second})
	require.NoError(t, err)
	f := &fixture{t: t, ctx: context.Background(), pool: pool, dns: dns, svc: svc}
	f.a, err = svc.CreateOrg(f.ctx, orgs.CreateOrgInput{Name: "Acme", Domains: []string{"acme.example"}})
	require.NoError(t, err)
	f.b, err = svc.CreateOrg(f.ctx, orgs.CreateOrgInput{Name: "Globex", Domains: []string{"globex.example"}})
	require.NoError(t, err)
	return f
}

// requireErr checks an error's kind and that its detail contains every fragment.
func requireErr(t *testing.T, err error, kind scimerr.Kind, fragments ...string) {
	t.Helper()
	require.Error(t, err)
	e := scimerr.As(err)
	require.NotNil(t, e, "want a *scimerr.Error, got %T: %v", err, err)
	require.Equal(t, kind, e.Kind, "kind of %q", e.Detail)
	for _, f := range fragments {
		require.Contains(t, e.Detail, f)
	}
}

// refused runs fn, which must fail with kind, and requires that nothing stored changed.
func (f *fixture) refused(kind scimerr.Kind, fn func() error, fragments ...string) {
	f.t.Helper()
	before := orgstest.Snapshot(f.t, f.pool)
	requireErr(f.t, fn(), kind, fragments...)
	require.Equal(f.t, before, orgstest.Snapshot(f.t, f.pool), "a refused request must change nothing")
}

func TestCreateOrg(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	o := f.a
	require.Equal(t, "Acme", o.Name)
	require.Equal(t, "en-US", o.DefaultLocale)
	require.Equal(t, []string{"connect", "meeting", "openvoice", "training", "webinar"}, o.Products)
	require.Len(t, o.Domains, 1)
	require.Equal(t, "acme.example", o.Domains[0].Domain)
	require.True(t, o.Domains[0].Verified)
	require.NotNil(t, o.Domains[0].VerifiedAt)
	require.Nil(t, o.Domains[0].TXT, "an operator-verified domain has no challenge")
	require.Regexp(t, `^scimd_[0-9a-f]{64}[A-Za-z0-9_-]{43}$`, o.Token)
	_, err := uuid.Parse(o.ID)
	require.NoError(t, err)

	// The operator token is a service token with the admin role, stored hashed.
	var tokID, role, label string
	var issuer *string
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT id::text, issuer_user_id::text, role, label FROM tokens WHERE org_id = $1`, o.ID).
		Scan(&tokID, &issuer, &role, &label))
	require.Nil(t, issuer)
	require.Equal(t, "admin", role)
	require.Equal(t, "operator", label)
	f.requireStoredHash(o.ID, tokID, o.Token)

	got, err := f.svc.GetOrg(f.ctx, o.ID)
	require.NoError(t, err)
	require.Equal(t, o.Org, *got)

	// Explicit products, normalised domains, duplicates dropped.
	c, err := f.svc.CreateOrg(f.ctx, orgs.CreateOrgInput{Name: "  Initech ",
		Domains: []string{"Initech.Example", "initech.example", "mail.initech.example"}, Products: []string{"meeting", "x-ray", "meeting"}})
	require.NoError(t, err)
	require.Equal(t, "Initech", c.Name)
	require.Equal(t, []string{"meeting", "x-ray"}, c.Products)
	require.Equal(t, []string{"initech.example", "mail.initech.example"}, domainNames(c.Domains))

	// A new organization without domains.
	c, err = f.svc.CreateOrg(f.ctx, orgs.CreateOrgInput{Name: "Hooli"})
	require.NoError(t, err)
	require.Empty(t, c.Domains)
	require.NotNil(t, c.Domains, "lists are [] in JSON, never null")

	for _, tc := range []struct {
		in        orgs.CreateOrgInput
		fragments []string
	}{
		{orgs.CreateOrgInput{Name: " "}, []string{"needs a name"}},
		{orgs.CreateOrgInput{Name: strings.Repeat("n", 201)}, []string{"at most 200"}},
		{orgs.CreateOrgInput{Name: "X", Domains: []string{"ok.example", "a@b.example"}}, []string{`"a@b.example" is not a domain`, "after the @"}},
		{orgs.CreateOrgInput{Name: "X", Products: []string{"Meeting"}}, []string{`"Meeting" is not a product name`}},
	} {
		f.refused(scimerr.KindInvalid, func() error { _, err := f.svc.CreateOrg(f.ctx, tc.in); return err }, tc.fragments...)
	}
}

func domainNames(ds []orgs.Domain) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.Domain)
	}
	return out
}

// requireStoredHash checks that the token's row holds the SHA-256 of the token's secret (the
// part after "scimd_" and the two 32-hex ids) and nothing of the token itself.
func (f *fixture) requireStoredHash(org, id, token string) {
	f.t.Helper()
	var hash []byte
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT secret_hash FROM tokens WHERE org_id = $1 AND id = $2`, org, id).Scan(&hash))
	want := sha256.Sum256([]byte(token[len("scimd_")+64:]))
	require.Equal(f.t, want[:], hash)
}

func TestGetOrgNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, id := range []string{uuid.NewString(), "nope", ""} {
		_, err := f.svc.GetOrg(f.ctx, id)
		requireErr(t, err, scimerr.KindNotFound, "there is no organization")
	}
	// Any spelling of a UUID names the organization.
	got, err := f.svc.GetOrg(f.ctx, strings.ToUpper(f.a.ID))
	require.NoError(t, err)
	require.Equal(t, f.a.ID, got.ID)
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"example.com":                          "example.com",
		" Example.COM ":                        "example.com",
		"a-b.c0.example":                       "a-b.c0.example",
		"xn--bcher-kva.example":                "xn--bcher-kva.example",
		"x." + strings.Repeat("a", 63) + ".io": "x." + strings.Repeat("a", 63) + ".io",
	} {
		got, err := orgs.NormalizeDomain(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for in, fragment := range map[string]string{
		"":                                       "a domain is required",
		"   ":                                    "a domain is required",
		"ada@example.com":                        "after the @",
		"exa mple.com":                           "spaces",
		"example.com\t.x":                        "spaces",
		"bücher.example":                         "xn--",
		"localhost":                              "at least two labels",
		"-a.example":                             "label",
		"a-.example":                             "label",
		"a..example":                             "label",
		"example.com.":                           "label",
		"a_b.example":                            "label",
		"x." + strings.Repeat("a", 64) + ".io":   "label",
		strings.Repeat("abcdefghi.", 26) + "com": "longer than 253",
		"192.168.0.1":                            "IP addresses",
	} {
		_, err := orgs.NormalizeDomain(in)
		requireErr(t, err, scimerr.KindInvalid, fragment)
	}
}

var txtValue = regexp.MustCompile(`^scimd-verify=[0-9a-f]{32}$`)

func TestDomains(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.a.ID

	d, created, err := f.svc.AddDomain(f.ctx, a, "Sub.Acme.Example", false)
	require.NoError(t, err)
	require.True(t, created)
	require.Equal(t, "sub.acme.example", d.Domain)
	require.False(t, d.Verified)
	require.Nil(t, d.VerifiedAt)
	require.NotNil(t, d.TXT)
	require.Equal(t, "_scimd-challenge.sub.acme.example", d.TXT.Name)
	require.Regexp(t, txtValue, d.TXT.Value)
	var stored *string
	var verifiedAt *time.Time
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT txt_value, verified_at FROM org_domains WHERE org_id = $1 AND domain = $2`,
		a, "sub.acme.example").Scan(&stored, &verifiedAt))
	require.Equal(t, d.TXT.Value, *stored)
	require.Nil(t, verifiedAt)

	// Each domain gets its own random value.
	d2, _, err := f.svc.AddDomain(f.ctx, a, "other.example", false)
	require.NoError(t, err)
	require.NotEqual(t, d.TXT.Value, d2.TXT.Value)

	// Adding it again is a conflict that repeats the record to publish.
	f.refused(scimerr.KindConflict, func() error { _, _, err := f.svc.AddDomain(f.ctx, a, "sub.acme.example", false); return err },
		"already added", "not verified yet", d.TXT.Value)
	f.refused(scimerr.KindConflict, func() error { _, _, err := f.svc.AddDomain(f.ctx, a, "acme.example", false); return err },
		"already verified")
	f.refused(scimerr.KindConflict, func() error { _, _, err := f.svc.AddDomain(f.ctx, a, "ACME.example", true); return err },
		"already verified")
	f.refused(scimerr.KindInvalid, func() error { _, _, err := f.svc.AddDomain(f.ctx, a, "not a domain", false); return err },
		"spaces")
	f.refused(scimerr.KindNotFound, func() error { _, _, err := f.svc.AddDomain(f.ctx, uuid.NewString(), "x.example", false); return err },
		"there is no organization")

	// An operator vouches for a domain: verified at once, no challenge.
	v, created, err := f.svc.AddDomain(f.ctx, a, "vouched.example", true)
	require.NoError(t, err)
	require.True(t, created)
	require.True(t, v.Verified)
	require.NotNil(t, v.VerifiedAt)
	require.Nil(t, v.TXT)
	// ... or for one waiting for its challenge.
	v, created, err = f.svc.AddDomain(f.ctx, a, "other.example", true)
	require.NoError(t, err)
	require.False(t, created)
	require.True(t, v.Verified)
	require.Equal(t, d2.TXT, v.TXT)

	list, err := f.svc.ListDomains(f.ctx, a)
	require.NoError(t, err)
	require.Equal(t, []string{"acme.example", "other.example", "sub.acme.example", "vouched.example"}, domainNames(list))
	require.Equal(t, []bool{true, true, false, true}, []bool{list[0].Verified, list[1].Verified, list[2].Verified, list[3].Verified})
	_, err = f.svc.ListDomains(f.ctx, uuid.NewString())
	requireErr(t, err, scimerr.KindNotFound, "there is no organization")

	// Another organization may claim the same domain name (it must prove it in its own right).
	db, _, err := f.svc.AddDomain(f.ctx, f.b.ID, "sub.acme.example", false)
	require.NoError(t, err)
	require.NotEqual(t, d.TXT.Value, db.TXT.Value)

	require.NoError(t, f.svc.RemoveDomain(f.ctx, a, "SUB.acme.example"))
	list, err = f.svc.ListDomains(f.ctx, a)
	require.NoError(t, err)
	require.Equal(t, []string{"acme.example", "other.example", "vouched.example"}, domainNames(list))
	listB, err := f.svc.ListDomains(f.ctx, f.b.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"globex.example", "sub.acme.example"}, domainNames(listB), "removing A's domain leaves B's")

	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveDomain(f.ctx, a, "sub.acme.example") }, "has no domain sub.acme.example")
	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveDomain(f.ctx, a, "bad domain") }, "has no domain")
	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveDomain(f.ctx, uuid.NewString(), "acme.example") }, "there is no organization")
	// Tenant isolation: B's domain named under A's id.
	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveDomain(f.ctx, a, "globex.example") }, "has no domain globex.example")
	f.refused(scimerr.KindNotFound, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "globex.example"); return err }, "has no domain")
}

func TestVerifyDomain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.a.ID
	add := func(name string) *orgs.Domain {
		d, _, err := f.svc.AddDomain(f.ctx, a, name, false)
		require.NoError(t, err)
		return d
	}
	verified := func(name string) bool {
		var at *time.Time
		require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT verified_at FROM org_domains WHERE org_id = $1 AND domain = $2`, a, name).Scan(&at))
		return at != nil
	}

	t.Run("matching value", func(t *testing.T) {
		d := add("match.example")
		f.dns.SetTXT(d.TXT.Name, "v=spf1 -all", d.TXT.Value)
		got, err := f.svc.VerifyDomain(f.ctx, a, "Match.Example")
		require.NoError(t, err)
		require.True(t, got.Verified)
		require.NotNil(t, got.VerifiedAt)
		require.Equal(t, d.TXT, got.TXT)
		require.True(t, verified("match.example"))
		// Verifying again answers without asking DNS and keeps the time.
		n := f.dns.Queries()
		again, err := f.svc.VerifyDomain(f.ctx, a, "match.example")
		require.NoError(t, err)
		require.Equal(t, got.VerifiedAt, again.VerifiedAt)
		require.Equal(t, n, f.dns.Queries())
	})
	t.Run("long value split over strings", func(t *testing.T) {
		d := add("long.example")
		f.dns.SetTXT(d.TXT.Name, strings.Repeat("x", 300), d.TXT.Value)
		_, err := f.svc.VerifyDomain(f.ctx, a, "long.example")
		require.NoError(t, err)
		require.True(t, verified("long.example"))
	})
	t.Run("wrong value", func(t *testing.T) {
		d := add("wrong.example")
		f.dns.SetTXT(d.TXT.Name, "scimd-verify=00000000000000000000000000000000", d.TXT.Value+" ")
		f.refused(scimerr.KindConflict, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "wrong.example"); return err },
			"wrong.example is not verified", `"scimd-verify=00000000000000000000000000000000"`, d.TXT.Name, `not the expected "`+d.TXT.Value+`"`)
		require.False(t, verified("wrong.example"))
	})
	t.Run("no TXT record", func(t *testing.T) {
		d := add("empty.example")
		f.dns.SetTXT(d.TXT.Name) // the name exists, without TXT records
		f.refused(scimerr.KindConflict, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "empty.example"); return err },
			"empty.example is not verified", "no TXT record at "+d.TXT.Name, d.TXT.Value)
		require.False(t, verified("empty.example"))
	})
	t.Run("NXDOMAIN", func(t *testing.T) {
		d := add("nx.example")
		f.refused(scimerr.KindConflict, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "nx.example"); return err },
			"nx.example is not verified", "no TXT record at "+d.TXT.Name, "does not exist", d.TXT.Value)
		require.False(t, verified("nx.example"))
		// Publishing the record afterwards verifies it.
		f.dns.SetTXT(d.TXT.Name, d.TXT.Value)
		_, err := f.svc.VerifyDomain(f.ctx, a, "nx.example")
		require.NoError(t, err)
		require.True(t, verified("nx.example"))
	})
	t.Run("another organization's value", func(t *testing.T) {
		d := add("shared.example")
		db, _, err := f.svc.AddDomain(f.ctx, f.b.ID, "shared.example", false)
		require.NoError(t, err)
		f.dns.SetTXT(db.TXT.Name, db.TXT.Value)
		f.refused(scimerr.KindConflict, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "shared.example"); return err },
			`not the expected "`+d.TXT.Value+`"`)
		_, err = f.svc.VerifyDomain(f.ctx, f.b.ID, "shared.example")
		require.NoError(t, err)
		require.False(t, verified("shared.example"))
	})
	t.Run("DNS failure", func(t *testing.T) {
		d := add("servfail.example")
		f.dns.Fail(d.TXT.Name)
		f.refused(scimerr.KindUnavailable, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "servfail.example"); return err },
			"could not be verified", d.TXT.Name)
	})
	t.Run("unknown domain", func(t *testing.T) {
		f.refused(scimerr.KindNotFound, func() error { _, err := f.svc.VerifyDomain(f.ctx, a, "unknown.example"); return err },
			"has no domain unknown.example")
		f.refused(scimerr.KindNotFound, func() error { _, err := f.svc.VerifyDomain(f.ctx, uuid.NewString(), "acme.example"); return err },
			"there is no organization")
	})
}

func TestNewResolverAddress(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"127.0.0.1", ":53", "127.0.0.1:"} {
		_, err := orgs.New(nil, orgs.Config{Resolver: bad})
		require.ErrorContains(t, err, "want HOST:PORT", bad)
	}
	_, err := orgs.New(nil, orgs.Config{Resolver: "[::1]:5353"})
	require.NoError(t, err)
}

func TestProducts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a := f.a.ID

	require.NoError(t, f.svc.AddProduct(f.ctx, a, "whiteboard"))
	ps, err := f.svc.ListProducts(f.ctx, a)
	require.NoError(t, err)
	require.Equal(t, []string{"connect", "meeting", "openvoice", "training", "webinar", "whiteboard"}, ps)

	f.refused(scimerr.KindConflict, func() error { return f.svc.AddProduct(f.ctx, a, "meeting") }, "already licenses the product meeting")
	for _, bad := range []string{"", "Meeting", "9lives", "has space", "under_score", "a" + strings.Repeat("b", 63)} {
		f.refused(scimerr.KindInvalid, func() error { return f.svc.AddProduct(f.ctx, a, bad) }, "is not a product name")
	}
	f.refused(scimerr.KindNotFound, func() error { return f.svc.AddProduct(f.ctx, uuid.NewString(), "meeting") }, "there is no organization")
	_, err = f.svc.ListProducts(f.ctx, "nope")
	requireErr(t, err, scimerr.KindNotFound, "there is no organization")

	// A product granted to users cannot be withdrawn.
	u1 := orgstest.InsertUser(t, f.pool, a, "u1@acme.example", "user", true)
	u2 := orgstest.InsertUser(t, f.pool, a, "u2@acme.example", "user", false)
	orgstest.Grant(t, f.pool, a, u1, "webinar")
	orgstest.Grant(t, f.pool, a, u2, "webinar")
	f.refused(scimerr.KindConflict, func() error { return f.svc.RemoveProduct(f.ctx, a, "webinar") },
		"webinar is still granted to 2 users")

	require.NoError(t, f.svc.RemoveProduct(f.ctx, a, "whiteboard"))
	require.NoError(t, f.svc.RemoveProduct(f.ctx, a, "meeting"))
	ps, err = f.svc.ListProducts(f.ctx, a)
	require.NoError(t, err)
	require.Equal(t, []string{"connect", "openvoice", "training", "webinar"}, ps)
	psB, err := f.svc.ListProducts(f.ctx, f.b.ID)
	require.NoError(t, err)
	require.Contains(t, psB, "meeting", "removing A's product leaves B's")

	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveProduct(f.ctx, a, "meeting") }, "does not license a product \"meeting\"")
	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveProduct(f.ctx, a, "Bad Name") }, "does not license")
	f.refused(scimerr.KindNotFound, func() error { return f.svc.RemoveProduct(f.ctx, uuid.NewString(), "meeting") }, "there is no organization")
	// Tenant isolation: a product B granted is B's alone.
	ub := orgstest.InsertUser(t, f.pool, f.b.ID, "u@globex.example", "user", true)
	orgstest.Grant(t, f.pool, f.b.ID, ub, "connect")
	require.NoError(t, f.svc.RemoveProduct(f.ctx, a, "connect"), "B's grant does not hold A's license")
	f.refused(scimerr.KindConflict, func() error { return f.svc.RemoveProduct(f.ctx, f.b.ID, "connect") }, "granted to 1 users")
}

func TestLegacyCreateOrgLicensesDefaults(t *testing.T) {
	t.Parallel()
	pool := dbtest.New(t)
	ctx := context.Background()
	store := postgres.NewOrgs(pool)
	const id = "00000000-0000-4000-8000-00000000de30"
	tok, err := store.CreateOrg(ctx, id, "Demo", []string{" Example.com "})
	require.NoError(t, err)
	require.Equal(t, id, tok.OrgID)
	// Again with the same id: the organization is kept and gets another token, which replaces
	// the first (restarting "scimd serve --demo" does not pile up valid tokens).
	_, err = store.CreateOrg(ctx, id, "Demo again", []string{"example.com"})
	require.NoError(t, err)
	o, err := store.GetOrg(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "Demo", o.Name)
	require.ElementsMatch(t, orgs.DefaultProducts, o.Products)
	require.Equal(t, []string{"example.com"}, domainNames(o.Domains))
	require.True(t, o.Domains[0].Verified)
	require.Equal(t, 2, orgstest.Count(t, pool, `SELECT count(*) FROM tokens WHERE org_id = $1 AND issuer_user_id IS NULL`, id))
	require.Equal(t, 1, orgstest.Count(t, pool, `SELECT count(*) FROM tokens WHERE org_id = $1 AND revoked_at IS NULL`, id))
	var revoked string
	require.NoError(t, pool.QueryRow(ctx, `SELECT id::text FROM tokens WHERE org_id = $1 AND revoked_at IS NOT NULL`, id).Scan(&revoked))
	require.Equal(t, tok.ID, revoked, "the first token is the one revoked")
}
