package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

func registry(t *testing.T) *schema.Registry {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	return reg
}

// store is the store with an organization, on a database of the test's own, and the directory
// service over it.
type store struct {
	pool  *pgxpool.Pool
	dir   *directory.Service
	org   string
	actor directory.Actor
}

func newStore(t *testing.T) *store {
	t.Helper()
	return orgStore(t, dbtest.New(t), "Acme", "example.com")
}

// orgStore is the directory over a store on pool, a migrated database, acting for a new
// organization named name with domain verified.
func orgStore(t *testing.T, pool *pgxpool.Pool, name, domain string) *store {
	t.Helper()
	_, _, dir := dbtest.Directory(t, pool)
	tok, err := postgres.NewOrgs(pool).CreateOrg(context.Background(), "", name, []string{domain})
	require.NoError(t, err)
	return &store{pool: pool, dir: dir, org: tok.OrgID, actor: directory.Operator(tok.OrgID)}
}

func (s *store) create(t *testing.T, body map[string]any) string {
	t.Helper()
	u, err := s.dir.CreateUser(context.Background(), s.actor, body)
	require.NoError(t, err)
	return u.ID
}

// seed creates users that between them assign and leave unassigned every kind of attribute.
func (s *store) seed(t *testing.T) []string {
	t.Helper()
	full := map[string]any{
		"userName": "full@example.com", "externalId": "ext-1", "displayName": "Full", "nickName": "F",
		"profileUrl": "https://example.com/f", "title": "Engineer", "userType": "Employee",
		"preferredLanguage": "fr-FR", "locale": "fr-FR", "timezone": "Europe/Paris", "active": true,
		"name": map[string]any{"formatted": "F U", "familyName": "U", "givenName": "F", "middleName": "M",
			"honorificPrefix": "Dr", "honorificSuffix": "Jr"},
		"emails":           []any{map[string]any{"value": "full@example.com", "type": "work", "primary": true, "display": "Work"}},
		"phoneNumbers":     []any{map[string]any{"value": "+1 555", "type": "mobile"}},
		"ims":              []any{map[string]any{"value": "full@im", "type": "xmpp"}},
		"photos":           []any{map[string]any{"value": "https://example.com/p.png", "type": "photo"}},
		"x509Certificates": []any{map[string]any{"value": "TUlJ"}},
		"addresses":        []any{map[string]any{"locality": "Paris", "country": "FR", "type": "work", "primary": true}},
		schema.EnterpriseUserURN: map[string]any{"employeeNumber": "1", "costCenter": "c", "organization": "o",
			"division": "d", "department": "dep"},
	}
	ids := []string{s.create(t, full)}
	ids = append(ids, s.create(t, map[string]any{"userName": "minimal@example.com"}))
	ids = append(ids, s.create(t, map[string]any{"userName": "suspended@example.com", "active": false,
		schema.EnterpriseUserURN: map[string]any{"manager": map[string]any{"value": ids[0]}}}))
	return ids
}

// allPaths are every attribute path of the User resource type, sub-attributes included, as a
// filter or sortBy spells them.
func allPaths(rt *schema.ResourceType) []string {
	out := []string{"id", "externalId", "meta.created", "meta.lastModified", "meta.resourceType", "meta.version"}
	walk := func(prefix string, attrs []*schema.Attribute) {
		for _, a := range attrs {
			out = append(out, prefix+a.Name)
			for _, sub := range a.SubAttributes {
				out = append(out, prefix+a.Name+"."+sub.Name)
			}
		}
	}
	walk("", rt.Schema.Attributes)
	for _, e := range rt.Extensions {
		walk(e.ID+":", e.Attributes)
	}
	return out
}

func (s *store) list(t *testing.T, q directory.Query) (*directory.Page, error) {
	t.Helper()
	if q.Count == 0 {
		q.Count = 1000
	}
	if q.StartIndex == 0 {
		q.StartIndex = 1
	}
	return s.dir.ListUsers(context.Background(), s.actor, q)
}

// TestFilterEveryPathEveryOperator runs every operator on every filterable path. The SQL must
// always be valid (an error is only ever a client error), and `not (F)` must select exactly
// the users F does not: a user without the attribute does not match `title eq "x"`, so it
// matches `not (title eq "x")` (SQL's NULL must not leak into SCIM's two-valued logic).
func TestFilterEveryPathEveryOperator(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	s.seed(t)
	all, err := s.list(t, directory.Query{})
	require.NoError(t, err)
	total := all.Total
	require.Equal(t, 3, total)

	// One value that fits each attribute type; filter.Parse rejects the combinations that make
	// no sense (co on a boolean), and those are skipped.
	valueFor := map[string]string{
		schema.TypeBoolean: "true", schema.TypeDateTime: `"2020-01-01T00:00:00Z"`,
		schema.TypeInteger: "1", schema.TypeDecimal: "1.5",
	}
	var sqlErrors []string
	notComplement := map[string][]string{} // path → failing operators
	tried := 0
	for _, path := range allPaths(reg.User) {
		p, err := reg.User.ParsePath(path)
		if err != nil {
			continue
		}
		v, ok := valueFor[p.Leaf().Type]
		if !ok {
			v = `"f"`
		}
		for _, op := range []string{"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr"} {
			text := path + " " + op
			if op != "pr" {
				text += " " + v
			}
			f, err := filter.Parse(reg.User, text)
			if err != nil {
				continue // not a valid filter for this attribute's type
			}
			tried++
			pos, err := s.list(t, directory.Query{Filter: f})
			if err != nil {
				if e := scimerr.As(err); e == nil || e.Kind != scimerr.KindInvalid {
					sqlErrors = append(sqlErrors, fmt.Sprintf("%s: %v", text, err))
				}
				continue
			}
			neg, err := s.list(t, directory.Query{Filter: filter.Not{X: f}})
			require.NoError(t, err, "not (%s)", text)
			if pos.Total+neg.Total != total {
				notComplement[path] = append(notComplement[path], op)
			}
		}
	}
	require.Greater(t, tried, 100)
	require.Empty(t, sqlErrors, "filters that fail in SQL (a 500 for the client)")
	var summary []string
	for path, ops := range notComplement {
		summary = append(summary, path+" ("+strings.Join(ops, " ")+")")
	}
	slices.Sort(summary)
	require.Empty(t, summary, "paths where `not (path op value)` is not the complement of `path op value`")
}

// TestSortEveryPath sorts by every path the whitelist offers, both ways: it either works or is
// a client error, never failing SQL.
func TestSortEveryPath(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	s.seed(t)
	var failed []string
	for _, path := range allPaths(reg.User) {
		p, err := reg.User.ParsePath(path)
		if err != nil {
			continue
		}
		for _, desc := range []bool{false, true} {
			page, err := s.list(t, directory.Query{SortBy: &p, Descending: desc})
			switch {
			case err == nil:
				require.Len(t, page.Resources, 3, path)
			case scimerr.As(err) == nil || scimerr.As(err).Kind != scimerr.KindInvalid:
				failed = append(failed, fmt.Sprintf("sortBy=%s: %v", path, err))
			}
		}
	}
	require.Empty(t, failed, "sorts that fail in SQL (a 500 for the client)")
}

// TestPagingWithTies pages one user at a time through users that all sort equal: the id
// tie-break keeps every page disjoint, in both directions.
func TestPagingWithTies(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	var want []string
	for i := range 12 {
		want = append(want, s.create(t, map[string]any{"userName": fmt.Sprintf("tie%02d@example.com", i), "title": "Same"}))
	}
	slices.Sort(want)
	title, err := reg.User.ParsePath("title")
	require.NoError(t, err)
	for _, desc := range []bool{false, true} {
		var got []string
		for start := 1; start <= len(want)+1; start++ {
			page, err := s.list(t, directory.Query{SortBy: &title, Descending: desc, StartIndex: start, Count: 1})
			require.NoError(t, err)
			require.Equal(t, len(want), page.Total)
			for _, r := range page.Resources {
				got = append(got, r.ID)
			}
		}
		sorted := slices.Clone(got)
		slices.Sort(sorted)
		require.Equal(t, want, sorted, "every user exactly once (descending=%v)", desc)
	}
}

// TestStoreRoundTrip writes a user through the service and reads it back from the store: the
// stored document is what was written, and a second organization cannot read it.
func TestStoreRoundTrip(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ids := s.seed(t)
	ctx := context.Background()
	for _, id := range ids {
		got, err := s.dir.GetUser(ctx, s.actor, id, schema.Projection{})
		require.NoError(t, err)
		page, err := s.list(t, directory.Query{})
		require.NoError(t, err)
		idx := slices.IndexFunc(page.Resources, func(r *directory.Resource) bool { return r.ID == id })
		require.GreaterOrEqual(t, idx, 0)
		require.Equal(t, got.Doc, page.Resources[idx].Doc, "GET and list read the same document")

		_, err = s.dir.GetUser(ctx, directory.Operator("00000000-0000-4000-8000-000000000000"), id, schema.Projection{})
		require.Error(t, err)
		require.Equal(t, scimerr.KindNotFound, scimerr.As(err).Kind)
	}
	full, err := s.dir.GetUser(ctx, s.actor, ids[0], schema.Projection{})
	require.NoError(t, err)
	for _, p := range []string{"userName", "nickName", "profileUrl", "userType", "timezone", "name.honorificPrefix",
		"x509Certificates", "photos", "ims", "addresses", schema.EnterpriseUserURN + ":organization"} {
		path, err := registry(t).User.ParsePath(p)
		require.NoError(t, err)
		require.NotNil(t, path.Get(full.Doc), "%s survives the round trip", p)
	}
	require.True(t, strings.HasPrefix(full.ETag(), `W/"`))
}

// TestUserGroupsInNameOrder reads a user's groups in display-name order (byte order), with
// each group's id and current name, in GET and in lists alike, and none where the projection
// leaves groups out.
func TestUserGroupsInNameOrder(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	id := s.create(t, map[string]any{"userName": "member@example.com"})
	other := s.create(t, map[string]any{"userName": "other@example.com"})
	groups := map[string]string{}
	for _, name := range []string{"beta", "Alpha", "alpha 2", "Zeta é"} {
		g, err := s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": name,
			"members": []any{map[string]any{"value": id}, map[string]any{"value": other}}})
		require.NoError(t, err)
		groups[name] = g.ID
	}
	_, err := s.dir.ReplaceGroup(ctx, s.actor, groups["beta"], map[string]any{"displayName": "gamma",
		"members": []any{map[string]any{"value": id}}}, directory.Precondition{})
	require.NoError(t, err)
	var want []any
	for _, name := range []string{"Alpha", "Zeta é", "alpha 2", "gamma"} {
		gid := groups[name]
		if name == "gamma" {
			gid = groups["beta"]
		}
		want = append(want, map[string]any{"value": gid, "display": name, "type": "direct"})
	}
	u, err := s.dir.GetUser(ctx, s.actor, id, schema.Projection{})
	require.NoError(t, err)
	require.Equal(t, want, u.Doc["groups"])
	page, err := s.list(t, directory.Query{})
	require.NoError(t, err)
	idx := slices.IndexFunc(page.Resources, func(r *directory.Resource) bool { return r.ID == id })
	require.GreaterOrEqual(t, idx, 0)
	require.Equal(t, want, page.Resources[idx].Doc["groups"])

	o, err := s.dir.GetUser(ctx, s.actor, other, schema.Projection{})
	require.NoError(t, err)
	require.Len(t, o.Doc["groups"], 3, "other left beta")

	u, err = s.dir.GetUser(ctx, s.actor, id, registry(t).User.ParseProjection("userName", ""))
	require.NoError(t, err)
	require.NotContains(t, u.Doc, "groups")
}
