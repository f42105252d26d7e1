package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
)

// statements records the statements a pool sends, batched or not, with their arguments: those
// keep accepts, or all when keep is nil.
type statements struct {
	keep func(sql string) bool
	mu   sync.Mutex
	sql  []string
	args [][]any
}

// isPage tells a page read (postgres/list.go): pages that skip rows read them back by key;
// pages that skip none read them whole (pageSQL).
func isPage(sql string) bool {
	return strings.Contains(sql, ") page CROSS JOIN LATERAL ") || strings.Contains(sql, " FROM (SELECT ")
}

func (s *statements) record(sql string, args []any) {
	if s.keep != nil && !s.keep(sql) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sql, s.args = append(s.sql, sql), append(s.args, args)
}

func (s *statements) last() (string, []any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sql[len(s.sql)-1], s.args[len(s.args)-1]
}

// since returns the statements recorded after the first n.
func (s *statements) since(n int) ([]string, [][]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sql[n:]), slices.Clone(s.args[n:])
}

func (s *statements) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sql)
}

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s.record(d.SQL, d.Args)
	return ctx
}
func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}
func (s *statements) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	s.record(d.SQL, d.Args)
}
func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// tracedPool is a pool on a migrated database of the test's own that records the statements
// keep accepts (all when nil).
func tracedPool(t *testing.T, keep func(sql string) bool) (*pgxpool.Pool, *statements) {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	traced := &statements{keep: keep}
	cfg.ConnConfig.Tracer = traced
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	require.NoError(t, postgres.Migrate(ctx, pool))
	return pool, traced
}

// TestFilteredLatePagesAreReadFromTheEnd: by startIndex, a filtered page is counted first and
// read from the nearer end of the selection, as an unfiltered one is, so that the last page
// skips none of the selection instead of nearly all of it; every page holds what reading the
// selection forwards would.
func TestFilteredLatePagesAreReadFromTheEnd(t *testing.T) {
	t.Parallel()
	pool, traced := tracedPool(t, isPage)
	s := orgStore(t, pool, "Acme", "example.com")
	for i := range 40 {
		s.create(t, map[string]any{"userName": fmt.Sprintf("f%02d@example.com", i), "title": []string{"a", "b"}[i%2]})
	}
	f, err := filter.Parse(registry(t).User, `title eq "a"`)
	require.NoError(t, err)
	for _, desc := range []bool{false, true} {
		want := pageIDs(s.page(t, directory.Query{Filter: f, Descending: desc, StartIndex: 1, Count: 100}))
		require.Len(t, want, 20)
		for start := 1; start <= 20; start += 3 {
			p := s.page(t, directory.Query{Filter: f, Descending: desc, StartIndex: start, Count: 3})
			require.Equal(t, 20, p.Total)
			require.Equal(t, want[start-1:min(start+2, 20)], pageIDs(p), "startIndex %d", start)
			sql, _ := traced.last()
			skipped := 0
			if _, after, ok := strings.Cut(sql, " OFFSET "); ok {
				_, err := fmt.Sscanf(after, "%d", &skipped)
				require.NoError(t, err)
			}
			require.LessOrEqual(t, skipped, 10, "startIndex %d skips at most half the selection: %s", start, sql)
			if start == 19 {
				require.Zero(t, skipped, "the last page skips nothing")
			}
		}
	}
}

// explain returns the plan PostgreSQL makes for sql with args, and the plan as it printed it.
func explain(t *testing.T, pool *pgxpool.Pool, sql string, args []any) (planNode, []byte) {
	t.Helper()
	var out []byte
	require.NoError(t, pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&out))
	var plans []struct{ Plan planNode }
	require.NoError(t, json.Unmarshal(out, &plans))
	return plans[0].Plan, out
}

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	Type  string     `json:"Node Type"`
	Index string     `json:"Index Name"`
	Plans []planNode `json:"Plans"`
}

func (n planNode) find(typ string) *planNode {
	if n.Type == typ {
		return &n
	}
	for _, c := range n.Plans {
		if f := c.find(typ); f != nil {
			return f
		}
	}
	return nil
}

// collect returns of(m) for n and every node m below it, in plan order, leaving out "".
func (n planNode) collect(of func(planNode) string) []string {
	var out []string
	if v := of(n); v != "" {
		out = append(out, v)
	}
	for _, c := range n.Plans {
		out = append(out, c.collect(of)...)
	}
	return out
}

func (n planNode) types() []string { return n.collect(func(m planNode) string { return m.Type }) }

// TestSortedPagesWalkAnIndex: in an organization of 20,000 users and 5,000 groups beside
// another organization, the first page, the last page (startIndex=N-99, read from the end) and
// a cursor page of every indexed sort, both ways, choose their rows by walking that sort's index
// (forwards or backwards) and stop after the page: no Sort below the page's LIMIT, so nothing
// sorts the organization. Sorting the page's own rows afterwards is cheap and allowed.
func TestSortedPagesWalkAnIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, traced := tracedPool(t, isPage)
	reg := registry(t)
	st, err := postgres.NewStore(pool, reg)
	require.NoError(t, err)
	dir, err := directory.New(st, reg)
	require.NoError(t, err)
	o := postgres.NewOrgs(pool)
	acme, err := o.CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	globex, err := o.CreateOrg(ctx, "", "Globex", []string{"globex.example"})
	require.NoError(t, err)
	const users, groups = 20000, 5000
	for org, n := range map[string]int{acme.OrgID: users, globex.OrgID: 2000} {
		_, err = pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name, display_name, family_name, given_name, external_id,
				created_at, last_modified)
			SELECT $1, gen_random_uuid(), 'user' || g || '@example.com',
				CASE WHEN g % 10 <> 0 THEN md5(g::text) END, CASE WHEN g % 20 <> 0 THEN 'Family' || g % 997 END,
				'Given' || g % 501, CASE WHEN g % 3 <> 0 THEN 'ext-' || g END,
				now() - make_interval(secs => $2 - g), now() - make_interval(secs => g)
			FROM generate_series(1, $2::int) g`, org, n)
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `INSERT INTO groups (org_id, id, display_name, external_id, created_at)
		SELECT $1, gen_random_uuid(), 'group ' || g, CASE WHEN g % 2 = 0 THEN 'ext-' || g END, now() - make_interval(secs => g)
		FROM generate_series(1, $2::int) g`, acme.OrgID, groups)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE users; ANALYZE groups")
	require.NoError(t, err)

	actor := directory.Operator(acme.OrgID)
	for _, c := range []struct {
		rt      *schema.ResourceType
		n       int
		list    func(directory.Query) (*directory.Page, error)
		indexes map[string]string // sortBy → the index it walks
	}{
		{reg.User, users, func(q directory.Query) (*directory.Page, error) { return dir.ListUsers(ctx, actor, q) }, map[string]string{
			"": "users_created", "userName": "users_sort_user_name", "displayName": "users_sort_display_name",
			"name.familyName": "users_sort_family_name", "name.givenName": "users_sort_given_name",
			"externalId": "users_sort_external_id", "meta.created": "users_created", "meta.lastModified": "users_last_modified",
		}},
		{reg.Group, groups, func(q directory.Query) (*directory.Page, error) { return dir.ListGroups(ctx, actor, q) }, map[string]string{
			"": "groups_created", "displayName": "groups_sort_display_name", "externalId": "groups_sort_external_id",
			"meta.created": "groups_created", "meta.lastModified": "groups_last_modified",
		}},
	} {
		for sb, index := range c.indexes {
			for _, desc := range []bool{false, true} {
				q := directory.Query{Descending: desc, Count: 100}
				if sb != "" {
					p, err := c.rt.ParsePath(sb)
					require.NoError(t, err)
					q.SortBy = &p
				}
				requirePlan := func(what string) {
					t.Helper()
					sql, args := traced.last()
					plan, out := explain(t, pool, sql, args)
					limit := plan.find("Limit")
					name := fmt.Sprintf("%s sortBy=%q descending=%v, %s", c.rt.Name, sb, desc, what)
					require.NotNil(t, limit, name)
					require.NotContains(t, limit.types(), "Sort", "%s: %s", name, out)
					require.NotContains(t, limit.types(), "Incremental Sort", "%s: %s", name, out)
					scan := limit.find("Index Scan")
					if scan == nil {
						scan = limit.find("Index Only Scan")
					}
					require.NotNil(t, scan, "%s: %s", name, out)
					require.Equal(t, index, scan.Index, "%s: %s", name, out)
				}
				q.StartIndex = 1
				first, err := c.list(q)
				require.NoError(t, err)
				require.Len(t, first.Resources, 100)
				requirePlan("first page")
				q.StartIndex = c.n - 99
				last, err := c.list(q)
				require.NoError(t, err)
				require.Len(t, last.Resources, 100)
				requirePlan("last page")
				q.StartIndex, q.ByCursor = 0, true
				byCursor, err := c.list(q)
				require.NoError(t, err)
				q.Cursor = byCursor.NextCursor
				_, err = c.list(q)
				require.NoError(t, err)
				requirePlan("second page by cursor")
			}
		}
	}
}

func (n planNode) indexes() []string { return n.collect(func(m planNode) string { return m.Index }) }

// TestPerUserConditionsReadTheUsersOwnRows: a condition on a multi-valued attribute that
// PostgreSQL evaluates once per user (under OR or NOT, on the roles view, in a sort key) reads
// that user's own element rows by the user's key, whatever the statistics say. Here they say
// what ANALYZE saw before the organization's users got their roles, products, groups and
// emails: few enough rows for an index led by (org_id, attr), (org_id, product) or (org_id,
// group_id) to look as cheap as the user's key, when each probe through it reads the rows of
// every user of the organization (minutes instead of a fraction of a second at 36,000 users).
// A condition at the top of the filter still starts from the element rows' value index, and a
// sort key reads a user's elements once.
func TestPerUserConditionsReadTheUsersOwnRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, recorded := tracedPool(t, nil)
	s := orgStore(t, pool, "Acme", "example.com")
	reg := registry(t)
	g, err := s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": "Everyone"})
	require.NoError(t, err)
	group := g.ID

	const users = 3000
	_, err = pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name)
		SELECT $1, gen_random_uuid(), 'user' || g || '@example.com' FROM generate_series(1, $2::int) g`, s.org, users)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	for _, sql := range []string{
		`INSERT INTO user_values (org_id, user_id, attr, pos, value, type)
			SELECT org_id, id, 'roles', 0, 'role-' || (random() * 9)::int, 'app' FROM users WHERE org_id = $1`,
		`INSERT INTO user_values (org_id, user_id, attr, pos, value, type, "primary")
			SELECT org_id, id, 'emails', 0, user_name, 'work', true FROM users WHERE org_id = $1`,
		`INSERT INTO user_effective_products (org_id, user_id, product) SELECT org_id, id, 'meeting' FROM users WHERE org_id = $1`,
		`INSERT INTO group_members (org_id, group_id, member_id, member_type)
			SELECT org_id, '` + group + `', id, 'User' FROM users WHERE org_id = $1`,
	} {
		_, err = pool.Exec(ctx, sql, s.org)
		require.NoError(t, err)
	}

	// plannedIndexes lists the indexes of the plans of the statements that reading the first
	// user of the filtered, sorted list sends (its page and, when the page is full, its count).
	plannedIndexes := func(filterText, sortBy string) []string {
		t.Helper()
		q := directory.Query{StartIndex: 1, Count: 1}
		if filterText != "" {
			f, err := filter.Parse(reg.User, filterText)
			require.NoError(t, err)
			q.Filter = f
		}
		if sortBy != "" {
			p, err := reg.User.ParsePath(sortBy)
			require.NoError(t, err)
			q.SortBy = &p
		}
		n := recorded.count()
		_, err := s.dir.ListUsers(ctx, s.actor, q)
		require.NoError(t, err)
		sqls, args := recorded.since(n)
		var out []string
		for i, sql := range sqls {
			if !strings.Contains(sql, "FROM users u") {
				continue
			}
			plan, _ := explain(t, pool, sql, args[i])
			out = append(out, plan.indexes()...)
		}
		require.NotEmpty(t, out, "%s: no plan read", filterText)
		return out
	}
	probes := []string{"user_values_value", "user_values_value_trgm", "user_effective_products_product", "group_members_pkey"}
	for _, c := range []struct{ filter, sortBy string }{
		{filter: `roles.value le "a"`},
		{filter: `not (roles.value le "0000" or emails[type eq "work" and value ge "x"])`},
		{filter: `userName eq "x" or emails.value eq "user7@example.com"`},
		{filter: `userName eq "x" or entitlements.value eq "meeting"`},
		{filter: `not (groups.value eq "` + group + `")`},
		{sortBy: "emails.value"},
	} {
		used := plannedIndexes(c.filter, c.sortBy)
		for _, probe := range probes {
			assert.NotContains(t, used, probe, "filter %q sortBy %q", c.filter, c.sortBy)
		}
	}
	require.Contains(t, plannedIndexes(`emails.value eq "user7@example.com"`, ""), "user_values_value",
		"a lookup by email starts from the value index")
	// The sort key's value, which both parts of the key use, is read once per user.
	reads := 0
	for _, index := range plannedIndexes("", "emails.value") {
		if index == "user_values_pkey" {
			reads++
		}
	}
	require.Equal(t, 1, reads, "reads of a user's emails to sort the page")
}

// TestSkippingPagesReadTheirRowsByKey: a page that skips rows (startIndex past 1) chooses its
// ids first and reads each of its rows back by primary key, never by joining the page to the
// whole organization, which PostgreSQL chose for 1,000 of 21,000 users when it could (a hash
// join over every user, read through an index led by org_id: 84 ms instead of 24).
func TestSkippingPagesReadTheirRowsByKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, traced := tracedPool(t, isPage)
	s := orgStore(t, pool, "Acme", "example.com")
	_, err := pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name, title)
		SELECT $1, gen_random_uuid(), 'user' || g || '@example.com', 't' || g % 2 FROM generate_series(1, 3000) g`, s.org)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ANALYZE")
	require.NoError(t, err)
	f, err := filter.Parse(registry(t).User, `meta.lastModified gt "2000-01-01T00:00:00Z"`)
	require.NoError(t, err)
	for _, q := range []directory.Query{
		{StartIndex: 1001, Count: 1000},
		{Filter: f, StartIndex: 1001, Count: 1000},
		{Filter: f, StartIndex: 1501, Count: 1000, Descending: true},
	} {
		p := s.page(t, q)
		require.Len(t, p.Resources, 1000)
		sql, args := traced.last()
		require.Regexp(t, `LIMIT 1000 OFFSET [1-9]`, sql, "the page skips rows")
		plan, printed := explain(t, pool, sql, args)
		for _, join := range []string{"Hash Join", "Merge Join"} {
			require.Nil(t, plan.find(join), "%s", printed)
		}
		require.Contains(t, plan.indexes(), "users_pkey", "%s", printed)
	}
}
