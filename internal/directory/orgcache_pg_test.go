package directory_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/scimerr"
)

// The store keeps organizations' settings between transactions (postgres/orgcache.go). A
// change of them made anywhere else (another process, the admin API's own statements) applies
// to this process's very next write: it must never run on the settings it kept.
func TestSettingsChangedElsewhereApplyToTheNextWrite(t *testing.T) {
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	create := func(body string) error {
		_, err := f.dir.CreateUser(f.ctx, op, doc(t, body))
		return err
	}
	// This process reads and keeps Acme's settings: example.com verified, no products.
	require.NoError(t, create(`{"userName":"ada@example.com","emails":[{"value":"ada@example.com"}]}`))

	// Elsewhere: example.com is removed and a product licensed.
	elsewhere := postgres.NewOrgs(f.pool)
	require.NoError(t, elsewhere.DeleteDomain(f.ctx, f.org, "example.com"))
	require.NoError(t, elsewhere.InsertProduct(f.ctx, f.org, "meetings"))

	err := create(`{"userName":"grace@example.com","emails":[{"value":"grace@example.com"}]}`)
	requireErr(t, err, scimerr.KindInvalid, "example.com")
	require.NoError(t, create(`{"userName":"linus","entitlements":[{"value":"meetings"}]}`),
		"the product licensed elsewhere is granted")

	// A refusal made on kept settings is checked too: here a domain verified elsewhere.
	_, err = f.pool.Exec(f.ctx, `INSERT INTO org_domains (org_id, domain, verified_at) VALUES ($1, 'acme.example', now())`, f.org)
	require.NoError(t, err)
	require.NoError(t, create(`{"userName":"barbara@acme.example"}`), "the domain verified elsewhere is accepted")

	// A second process over the same database keeps its own copy, checked the same way.
	_, dir2 := newPGDirectory(t, f.pool)
	require.NoError(t, elsewhere.InsertProduct(f.ctx, f.org, "webinars"))
	_, err = dir2.CreateUser(f.ctx, op, doc(t, `{"userName":"margaret"}`))
	require.NoError(t, err)
	require.NoError(t, elsewhere.DeleteProduct(f.ctx, f.org, "webinars"))
	_, err = dir2.CreateUser(f.ctx, op, doc(t, `{"userName":"ken","entitlements":[{"value":"webinars"}]}`))
	requireErr(t, err, scimerr.KindInvalid, "webinars")
}

// An organization deleted after this process kept its settings refuses the next write as a
// missing organization, not as a violated constraint.
func TestWriteToAnOrganizationDeletedElsewhere(t *testing.T) {
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	_, err := f.dir.CreateUser(f.ctx, op, doc(t, `{"userName":"ada@example.com"}`))
	require.NoError(t, err)
	require.NoError(t, postgres.NewOrgs(f.pool).DeleteOrg(f.ctx, f.org,
		orgs.OrgPurge{Actor: "test", EventID: "0190f3c2-0000-7000-8000-000000000001", Event: []byte(`{}`)}))

	_, err = f.dir.CreateUser(f.ctx, op, doc(t, `{"userName":"grace@example.com"}`))
	require.ErrorIs(t, err, directory.ErrNoOrg)
}
