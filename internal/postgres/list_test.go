package postgres_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/scimerr"
)

// page reads one page of users with q as given (no defaults).
func (s *store) page(t *testing.T, q directory.Query) *directory.Page {
	t.Helper()
	p, err := s.dir.ListUsers(context.Background(), s.actor, q)
	require.NoError(t, err)
	return p
}

func pageIDs(p *directory.Page) []string {
	out := []string{}
	for _, r := range p.Resources {
		out = append(out, r.ID)
	}
	return out
}

// walkByIndex reads every page of q by startIndex, count at a time, each page asked for
// directly; every page must tell the same total.
func (s *store) walkByIndex(t *testing.T, q directory.Query, count, total int) []string {
	t.Helper()
	var got []string
	for start := 1; start <= total+count; start += count {
		q.StartIndex, q.Count = start, count
		p := s.page(t, q)
		require.Equal(t, total, p.Total, "startIndex %d", start)
		got = append(got, pageIDs(p)...)
	}
	return got
}

// walkByCursor follows nextCursor from the first page to the last, then previousCursor back
// to the first, and returns the ids read each way (the backward pages in list order).
func (s *store) walkByCursor(t *testing.T, q directory.Query, count int) (forward, backward []string) {
	t.Helper()
	q.ByCursor, q.Cursor, q.Count = true, "", count
	p := s.page(t, q)
	require.Empty(t, p.PreviousCursor, "RFC 9865: no previousCursor on the first page")
	for {
		require.LessOrEqual(t, len(p.Resources), count)
		forward = append(forward, pageIDs(p)...)
		if p.NextCursor == "" {
			break
		}
		require.Len(t, p.Resources, count, "only the last page may be short")
		q.Cursor = p.NextCursor
		p = s.page(t, q)
		require.NotEmpty(t, p.PreviousCursor, "a page after the first has a previous one")
	}
	for p.PreviousCursor != "" {
		q.Cursor = p.PreviousCursor
		p = s.page(t, q)
		require.Len(t, p.Resources, count, "pages before the last are full")
		require.NotEmpty(t, p.NextCursor, "a page read backwards has a next one")
		backward = append(pageIDs(p), backward...)
	}
	return forward, backward
}

// TestPagingReadsEveryUserOnce pages through users whose sort keys tie, differ only in case,
// or are missing, by every indexed sort and one that is not, both ways: by startIndex (pages
// past the middle are read from the end), by cursor forwards and backwards. Each way reads
// every user exactly once, in the order RFC 7644 §3.4.2.3 asks, checked here independently of
// the SQL: case-insensitive code point order, ties by id, no value last ascending and first
// descending.
func TestPagingReadsEveryUserOnce(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	families := []any{"Lovelace", "lovelace", "Hopper", nil, "Ångström", "hopper", "Zuse"}
	titles := []any{"Same", nil, "Same"}
	value := map[string]map[string]any{} // sortBy → id → value (nil when none)
	for _, sb := range []string{"", "userName", "name.familyName", "title", "externalId"} {
		value[sb] = map[string]any{}
	}
	const n = 23
	for i := range n {
		body := map[string]any{"userName": fmt.Sprintf("u%02d@example.com", (i*7)%n)}
		fam := families[i%len(families)]
		if fam != nil {
			body["name"] = map[string]any{"familyName": fam}
		}
		if tl := titles[i%len(titles)]; tl != nil {
			body["title"] = tl
		}
		ext := any(nil)
		if i%4 != 0 {
			ext = fmt.Sprintf("E%d", i%5) // caseExact, with ties
			body["externalId"] = ext
		}
		id := s.create(t, body)
		value["userName"][id] = body["userName"]
		value["name.familyName"][id] = fam
		value["title"][id] = body["title"]
		value["externalId"][id] = ext
		value[""][id] = i
	}
	for sb, vals := range value {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("sortBy=%s,desc=%v", sb, desc), func(t *testing.T) {
				q := directory.Query{Descending: desc}
				if sb != "" {
					p, err := reg.User.ParsePath(sb)
					require.NoError(t, err)
					q.SortBy = &p
				}
				want := slices.Collect(func(yield func(string) bool) {
					for id := range vals {
						if !yield(id) {
							return
						}
					}
				})
				slices.SortFunc(want, func(a, b string) int {
					c := compareValues(vals[a], vals[b], sb == "externalId")
					if c == 0 {
						c = strings.Compare(a, b)
					}
					if desc {
						return -c
					}
					return c
				})

				all := s.page(t, directory.Query{SortBy: q.SortBy, Descending: desc, StartIndex: 1, Count: 1000})
				require.Equal(t, want, pageIDs(all), "one page")
				require.Equal(t, n, all.Total)
				for _, count := range []int{1, 4, 7} {
					require.Equal(t, want, s.walkByIndex(t, q, count, n), "by startIndex, count %d", count)
					forward, backward := s.walkByCursor(t, q, count)
					require.Equal(t, want, forward, "by cursor, count %d", count)
					lastPage := (n-1)%count + 1
					require.Equal(t, want[:n-lastPage], backward, "back by previousCursor from the last page, count %d", count)
				}
				last := s.page(t, directory.Query{SortBy: q.SortBy, Descending: desc, StartIndex: n - 3, Count: 4})
				require.Equal(t, want[n-4:], pageIDs(last), "the last page, asked for directly")
				past := s.page(t, directory.Query{SortBy: q.SortBy, Descending: desc, StartIndex: n + 1, Count: 4})
				require.Empty(t, past.Resources)
				require.Equal(t, n, past.Total)
			})
		}
	}
}

// compareValues orders two sort values as RFC 7644 §3.4.2.3 does ascending: none last, strings
// by code point, lowercased unless caseExact, numbers (creation order) as numbers.
func compareValues(a, b any, caseExact bool) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	if x, ok := a.(int); ok {
		return cmp.Compare(x, b.(int))
	}
	x, y := a.(string), b.(string)
	if !caseExact {
		x, y = strings.ToLower(x), strings.ToLower(y)
	}
	return strings.Compare(x, y)
}

// TestCursorWalkWhileUsersChange creates and deletes users between the pages of a walk in
// creation order. By cursor, every user that exists throughout is read exactly once, a user
// deleted before its page is not read, and one created meanwhile comes at the end (it sorts
// after every cursor). By startIndex, deleting a user already read shifts every later user one
// place forward, so one of them is never read: what clients that page by index see.
func TestCursorWalkWhileUsersChange(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	var ids []string
	for i := range 10 {
		ids = append(ids, s.create(t, map[string]any{"userName": fmt.Sprintf("c%d@example.com", i)}))
	}
	del := func(id string) {
		require.NoError(t, s.dir.DeleteUser(context.Background(), s.actor, id, directory.Precondition{}))
	}

	q := directory.Query{ByCursor: true, Count: 3}
	p := s.page(t, q)
	got := pageIDs(p)
	require.Equal(t, ids[:3], got)
	del(ids[1]) // read already
	del(ids[4]) // not read yet
	late := s.create(t, map[string]any{"userName": "late@example.com"})
	for p.NextCursor != "" {
		q.Cursor = p.NextCursor
		p = s.page(t, q)
		require.Equal(t, 9, p.Total, "the total follows the deletions and the creation")
		got = append(got, pageIDs(p)...)
	}
	want := append(append(slices.Clone(ids[:4]), ids[5:]...), late)
	require.Equal(t, want, got)

	// By startIndex: c0 c2 c3 are read, then c3 is deleted; page 2 starts at the 4th user,
	// now c6, so c5 is never read.
	first := s.page(t, directory.Query{StartIndex: 1, Count: 3})
	require.Equal(t, []string{ids[0], ids[2], ids[3]}, pageIDs(first))
	del(ids[3])
	second := s.page(t, directory.Query{StartIndex: 4, Count: 3})
	require.Equal(t, []string{ids[6], ids[7], ids[8]}, pageIDs(second))
}

// TestFilteredCursorTotals: a filtered walk tells its total on the first page only (counting
// on every page would make the walk O(N²)); an unfiltered one on every page.
func TestFilteredCursorTotals(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	for i := range 7 {
		s.create(t, map[string]any{"userName": fmt.Sprintf("f%d@example.com", i), "title": []string{"a", "b"}[i%2]})
	}
	f, err := filter.Parse(reg.User, `title eq "a"`)
	require.NoError(t, err)
	q := directory.Query{Filter: f, ByCursor: true, Count: 2}
	p := s.page(t, q)
	require.Equal(t, 4, p.Total, "first page: counted")
	n := len(p.Resources)
	for p.NextCursor != "" {
		q.Cursor = p.NextCursor
		p = s.page(t, q)
		require.Equal(t, directory.Uncounted, p.Total)
		n += len(p.Resources)
	}
	require.Equal(t, 4, n)
	whole := s.page(t, directory.Query{Filter: f, ByCursor: true, Count: 10})
	require.Equal(t, 4, whole.Total, "a page holding the whole selection tells its total")
	require.Empty(t, whole.NextCursor)
	only := s.page(t, directory.Query{Filter: f, ByCursor: true, Count: 0})
	require.Equal(t, 4, only.Total)
	require.Empty(t, only.Resources)
}

// TestCursorRefusedForAnotherList: a cursor only continues the list it came from; any other
// filter, sort or order, or another organization, is invalidCursor, as is a cursor altered or
// made up.
func TestCursorRefusedForAnotherList(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	reg := registry(t)
	for i := range 3 {
		s.create(t, map[string]any{"userName": fmt.Sprintf("r%d@example.com", i), "title": "t"})
	}
	userName, err := reg.User.ParsePath("userName")
	require.NoError(t, err)
	f, err := filter.Parse(reg.User, `title eq "t"`)
	require.NoError(t, err)
	other, err := filter.Parse(reg.User, `title eq "u"`)
	require.NoError(t, err)
	base := directory.Query{Filter: f, SortBy: &userName, ByCursor: true, Count: 1}
	cur := s.page(t, base).NextCursor
	require.NotEmpty(t, cur)

	// The same filter spelt otherwise is the same list.
	same, err := filter.Parse(reg.User, `TITLE EQ "t"`)
	require.NoError(t, err)
	q := base
	q.Filter, q.Cursor = same, cur
	_, err = s.dir.ListUsers(context.Background(), s.actor, q)
	require.NoError(t, err)

	refused := func(name string, q directory.Query, a directory.Actor, scimType string) {
		t.Helper()
		_, err := s.dir.ListUsers(context.Background(), a, q)
		e := scimerr.As(err)
		require.NotNil(t, e, "%s: %v", name, err)
		require.Equal(t, scimerr.KindInvalid, e.Kind, name)
		require.Equal(t, scimType, e.ScimType, name)
	}
	with := func(change func(*directory.Query)) directory.Query {
		q := base
		q.Cursor = cur
		change(&q)
		return q
	}
	refused("another filter", with(func(q *directory.Query) { q.Filter = other }), s.actor, scimerr.InvalidCursor)
	refused("no filter", with(func(q *directory.Query) { q.Filter = nil }), s.actor, scimerr.InvalidCursor)
	refused("another sort", with(func(q *directory.Query) { q.SortBy = nil }), s.actor, scimerr.InvalidCursor)
	refused("another order", with(func(q *directory.Query) { q.Descending = true }), s.actor, scimerr.InvalidCursor)
	refused("altered", with(func(q *directory.Query) { q.Cursor = cur[:10] + flip(cur[10]) + cur[11:] }), s.actor, scimerr.InvalidCursor)
	refused("made up", with(func(q *directory.Query) { q.Cursor = "bm90LWEtY3Vyc29y" }), s.actor, scimerr.InvalidCursor)
	refused("not base64url", with(func(q *directory.Query) { q.Cursor = "a b" }), s.actor, scimerr.InvalidCursor)
	globex, err := postgres.NewOrgs(s.pool).CreateOrg(context.Background(), "", "Globex", []string{"globex.example"})
	require.NoError(t, err)
	refused("another organization", with(func(*directory.Query) {}), directory.Operator(globex.OrgID), scimerr.InvalidCursor)
	_, err = s.dir.ListGroups(context.Background(), s.actor, directory.Query{ByCursor: true, Cursor: cur, Count: 1})
	require.Equal(t, scimerr.InvalidCursor, scimerr.As(err).ScimType, "a Users cursor at Groups")
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// TestTotalsStayExact: the counters (org_counts) an unfiltered list takes its total from equal
// the rows, whatever path adds or removes users and groups: single and batch creation (Bulk's),
// deletion, rows written directly, a group deleted, and the organization deleted, which takes
// its counters with it and leaves another organization's alone.
func TestTotalsStayExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	other := otherOrg(t, s)
	requireExact := func() {
		t.Helper()
		rows, err := s.pool.Query(ctx, `SELECT o.id::text, t.tbl,
				coalesce((SELECT sum(n) FROM org_counts c WHERE c.org_id = o.id AND c.tbl = t.tbl), 0)::int,
				CASE t.tbl WHEN 'users' THEN (SELECT count(*) FROM users u WHERE u.org_id = o.id)
					ELSE (SELECT count(*) FROM groups g WHERE g.org_id = o.id) END::int
			FROM organizations o CROSS JOIN (VALUES ('users'), ('groups')) t(tbl)`)
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var org, tbl string
			var counted, stored int
			require.NoError(t, rows.Scan(&org, &tbl, &counted, &stored))
			require.Equal(t, stored, counted, "%s of %s", tbl, org)
		}
		require.NoError(t, rows.Err())
		for _, st := range []*store{s, other} {
			var users, groups int
			require.NoError(t, s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM users WHERE org_id = $1),
				(SELECT count(*) FROM groups WHERE org_id = $1)`, st.org).Scan(&users, &groups))
			require.Equal(t, users, st.page(t, directory.Query{Count: 0}).Total)
			require.Equal(t, users, st.page(t, directory.Query{ByCursor: true, Count: 1}).Total)
			g, err := st.dir.ListGroups(ctx, st.actor, directory.Query{Count: 0})
			require.NoError(t, err)
			require.Equal(t, groups, g.Total)
		}
	}

	var ids []string
	for i := range 3 {
		ids = append(ids, s.create(t, map[string]any{"userName": fmt.Sprintf("t%d@example.com", i)}))
	}
	other.create(t, map[string]any{"userName": "o@initech.example"})
	requireExact()

	var bodies []map[string]any
	for i := range 300 { // more than one transaction's chunk
		bodies = append(bodies, map[string]any{"userName": fmt.Sprintf("bulk%d@example.com", i)})
	}
	bodies = append(bodies, map[string]any{"userName": "t0@example.com"}) // taken: fails alone
	res := s.dir.CreateUsers(ctx, s.actor, bodies, 0)
	require.Error(t, res[len(res)-1].Err)
	requireExact()
	require.Equal(t, 303, s.page(t, directory.Query{}).Total)

	require.NoError(t, s.dir.DeleteUser(ctx, s.actor, ids[0], directory.Precondition{}))
	_, err := s.pool.Exec(ctx, `INSERT INTO users (org_id, id, user_name) VALUES ($1, gen_random_uuid(), 'direct@example.com')`, s.org)
	require.NoError(t, err)
	requireExact()

	g1, err := s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": "One", "members": []any{map[string]any{"value": ids[1]}}})
	require.NoError(t, err)
	_, err = s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": "Two"})
	require.NoError(t, err)
	requireExact()
	require.NoError(t, s.dir.DeleteGroup(ctx, s.actor, g1.ID, directory.Precondition{}))
	requireExact()

	require.NoError(t, postgres.NewOrgs(s.pool).DeleteOrg(ctx, s.org, orgs.OrgPurge{Actor: "test", EventID: "0190f3c2-0000-7000-8000-000000000000", Event: []byte(`{}`)}))
	var left int
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT count(*) FROM org_counts WHERE org_id = $1`, s.org).Scan(&left))
	require.Zero(t, left, "the counters go with the organization")
	requireExact()
}

// otherOrg is the directory acting for another organization, Initech, on s's database.
func otherOrg(t *testing.T, s *store) *store {
	t.Helper()
	return orgStore(t, s.pool, "Initech", "initech.example")
}

// TestLookupsByUniqueAttribute: eq on an attribute unique in the organization (userName, a
// group's displayName, id) is read as one indexed lookup (postgres.lookup); it selects what the
// general list would, case-insensitively, with the same totals, in this organization only.
func TestLookupsByUniqueAttribute(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	other := otherOrg(t, s)
	reg := registry(t)
	ctx := context.Background()
	ada := s.create(t, map[string]any{"userName": "Ada@Example.com"})
	s.create(t, map[string]any{"userName": "bob@example.com"})
	other.create(t, map[string]any{"userName": "grace@initech.example"})
	sortBy, err := reg.User.ParsePath("name.familyName")
	require.NoError(t, err)

	users := func(expr string, q directory.Query) *directory.Page {
		t.Helper()
		f, err := filter.Parse(reg.User, expr)
		require.NoError(t, err)
		q.Filter = f
		return s.page(t, q)
	}
	for _, tc := range []struct {
		expr  string
		q     directory.Query
		ids   []string
		total int
	}{
		{`userName eq "ADA@example.COM"`, directory.Query{StartIndex: 1, Count: 10}, []string{ada}, 1},
		{`userName eq "ada@example.com"`, directory.Query{StartIndex: 1, Count: 10, SortBy: &sortBy, Descending: true}, []string{ada}, 1},
		{`id eq "` + ada + `"`, directory.Query{StartIndex: 1, Count: 1}, []string{ada}, 1},
		{`userName eq "nobody@example.com"`, directory.Query{StartIndex: 1, Count: 10}, []string{}, 0},
		{`userName eq "grace@initech.example"`, directory.Query{StartIndex: 1, Count: 10}, []string{}, 0},
		{`userName eq "ada@example.com"`, directory.Query{StartIndex: 2, Count: 10}, []string{}, 1},
		{`userName eq "ada@example.com"`, directory.Query{StartIndex: 1, Count: 0}, []string{}, 1},
	} {
		p := users(tc.expr, tc.q)
		require.Equal(t, tc.ids, pageIDs(p), "%s %+v", tc.expr, tc.q)
		require.Equal(t, tc.total, p.Total, "%s %+v", tc.expr, tc.q)
	}

	g, err := s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": "Admins"})
	require.NoError(t, err)
	f, err := filter.Parse(reg.Group, `displayName eq "ADMINS"`)
	require.NoError(t, err)
	groups, err := s.dir.ListGroups(ctx, s.actor, directory.Query{Filter: f, StartIndex: 1, Count: 10})
	require.NoError(t, err)
	require.Equal(t, []string{g.ID}, pageIDs(groups))
	require.Equal(t, 1, groups.Total)
}

// TestFilteredTotalsCountedOncePerChange: a filtered list's total is counted again only once a
// change to the organization's users (or groups) has committed, made by any process; paging
// through a selection nobody changes counts it once. Two stores on one database stand for two
// processes.
func TestFilteredTotalsCountedOncePerChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := newStore(t)
	_, _, dir := dbtest.Directory(t, s.pool)
	other := &store{pool: s.pool, dir: dir, org: s.org, actor: s.actor}
	var ids []string
	for i := range 10 {
		ids = append(ids, s.create(t, map[string]any{"userName": fmt.Sprintf("c%d@example.com", i), "title": []string{"a", "b"}[i%2]}))
	}
	f, err := filter.Parse(registry(t).User, `title eq "a"`)
	require.NoError(t, err)
	requireTotal := func(want int, step string) {
		t.Helper()
		for _, st := range []*store{s, other} {
			require.Equal(t, want, st.page(t, directory.Query{Filter: f, StartIndex: 2, Count: 1}).Total, step)
		}
	}
	requireTotal(5, "counted")

	// A user inserted behind the triggers' back, as no path of scimd's can, moves no change
	// count: the totals are the ones counted before, not counted again.
	conn, err := s.pool.Acquire(ctx)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `SET session_replication_role = replica`)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `INSERT INTO users (org_id, id, user_name, title) VALUES ($1, gen_random_uuid(), 'hidden@example.com', 'a')`, s.org)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `RESET session_replication_role`)
	require.NoError(t, err)
	conn.Release()
	requireTotal(5, "cached")

	// Every change that commits, through either store or none, makes both count again.
	for _, step := range []struct {
		name   string
		change func() error
		want   int
	}{
		{"create", func() error {
			_, err := s.dir.CreateUser(ctx, s.actor, map[string]any{"userName": "new@example.com", "title": "a"})
			return err
		}, 7},
		{"replace in the other process", func() error {
			_, err := other.dir.ReplaceUser(ctx, s.actor, ids[1], map[string]any{"userName": "c1@example.com", "title": "a"}, directory.Precondition{})
			return err
		}, 8},
		{"delete", func() error { return s.dir.DeleteUser(ctx, s.actor, ids[0], directory.Precondition{}) }, 7},
		{"an update in SQL", func() error {
			_, err := s.pool.Exec(ctx, `UPDATE users SET title = 'b' WHERE org_id = $1 AND id = $2`, s.org, ids[2])
			return err
		}, 6},
		{"a change that rolls back", func() error {
			tx, err := s.pool.Begin(ctx)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE users SET title = 'b' WHERE org_id = $1`, s.org); err != nil {
				return err
			}
			return tx.Rollback(ctx)
		}, 6},
	} {
		require.NoError(t, step.change(), step.name)
		requireTotal(step.want, step.name)
	}

	// Groups, renamed.
	gf, err := filter.Parse(registry(t).Group, `displayName sw "team"`)
	require.NoError(t, err)
	var groups []string
	for _, name := range []string{"Team A", "Team B", "Other"} {
		g, err := s.dir.CreateGroup(ctx, s.actor, map[string]any{"displayName": name})
		require.NoError(t, err)
		groups = append(groups, g.ID)
	}
	groupTotal := func(st *store) int {
		p, err := st.dir.ListGroups(ctx, st.actor, directory.Query{Filter: gf, StartIndex: 2, Count: 1})
		require.NoError(t, err)
		return p.Total
	}
	require.Equal(t, 2, groupTotal(other))
	_, err = s.dir.ReplaceGroup(ctx, s.actor, groups[2], map[string]any{"displayName": "Team C"}, directory.Precondition{})
	require.NoError(t, err)
	require.Equal(t, 3, groupTotal(other), "renamed")

	// The organization deleted and created again under the same id starts its change counts
	// over; even where they come back to the same sum, its totals are its own.
	var changes int64
	require.NoError(t, s.pool.QueryRow(ctx, `SELECT sum(changes) FROM org_counts WHERE org_id = $1 AND tbl = 'users'`, s.org).Scan(&changes))
	require.NoError(t, postgres.NewOrgs(s.pool).DeleteOrg(ctx, s.org, orgs.OrgPurge{Actor: "test", EventID: "0190f3c2-0000-7000-8000-000000000001", Event: []byte(`{}`)}))
	_, err = postgres.NewOrgs(s.pool).CreateOrg(ctx, s.org, "Acme", []string{"example.com"})
	require.NoError(t, err)
	s.create(t, map[string]any{"userName": "again@example.com", "title": "a"})
	_, err = s.pool.Exec(ctx, `UPDATE org_counts SET changes = CASE WHEN shard = (SELECT min(shard) FROM org_counts WHERE org_id = $1 AND tbl = 'users') THEN $2 ELSE 0 END
		WHERE org_id = $1 AND tbl = 'users'`, s.org, changes)
	require.NoError(t, err)
	requireTotal(1, "recreated")
}
