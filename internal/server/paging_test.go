package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// cursorWalk reads a list by cursor (RFC 9865), count at a time, through page(cursor): from the
// first page along nextCursor, then back along previousCursor. It checks each ListResponse's
// paging attributes and returns the ids read forwards, and those read backwards in list order.
func cursorWalk(t *testing.T, count int, total any, page func(cursor string) resp) (forward, backward []string) {
	t.Helper()
	r := page("")
	require.NotContains(t, r.Body, "previousCursor", "not on the first page")
	for {
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		require.NotContains(t, r.Body, "startIndex", "cursor pages have no index: %s", r.Raw)
		require.Equal(t, total, r.Body["totalResults"], "%s", r.Raw)
		require.EqualValues(t, len(ids(r)), r.Body["itemsPerPage"])
		forward = append(forward, ids(r)...)
		next, ok := r.Body["nextCursor"].(string)
		if !ok {
			break
		}
		require.Len(t, ids(r), count, "only the last page may be short")
		require.Regexp(t, `^[A-Za-z0-9._~-]+$`, next, "RFC 3986 unreserved characters only")
		r = page(next)
		require.Contains(t, r.Body, "previousCursor")
	}
	for {
		prev, ok := r.Body["previousCursor"].(string)
		if !ok {
			break
		}
		r = page(prev)
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Raw)
		require.Contains(t, r.Body, "nextCursor")
		backward = append(ids(r), backward...)
	}
	return forward, backward
}

// TestCursorPaging reads Users and Groups by cursor, through GET and POST .search, and gets
// what index paging gets, each resource once; back along previousCursor it gets the pages
// before the last again.
func TestCursorPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 7 {
		e.user(fmt.Sprintf("p%d", (i*3)%7), map[string]any{"title": []string{"x", "y"}[i%2]})
	}
	for i := range 5 {
		e.group(fmt.Sprintf("Team %d", (i*2)%5))
	}
	for _, c := range []struct {
		endpoint, query string
		total           int
	}{
		{"/Users", "", 7},
		{"/Users", "sortBy=userName&sortOrder=descending", 7},
		{"/Groups", "", 5},
		{"/Groups", "sortBy=displayName", 5},
	} {
		t.Run(c.endpoint+"?"+c.query, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			params, err := url.ParseQuery(c.query)
			require.NoError(t, err)
			want := ids(e.must(http.StatusOK, http.MethodGet, c.endpoint+"?"+c.query, nil, nil))
			require.Len(t, want, c.total)
			get := func(cursor string) resp {
				q := url.Values{}
				for k, v := range params {
					q[k] = v
				}
				q.Set("cursor", cursor)
				q.Set("count", "2")
				return e.do(http.MethodGet, c.endpoint+"?"+q.Encode(), nil, nil)
			}
			search := func(cursor string) resp {
				body := map[string]any{"cursor": cursor, "count": 2}
				for k := range params {
					body[k] = params.Get(k)
				}
				return e.do(http.MethodPost, c.endpoint+"/.search", searchBody(body), nil)
			}
			for _, page := range []func(string) resp{get, search} {
				forward, backward := cursorWalk(t, 2, float64(c.total), page)
				require.Equal(t, want, forward)
				require.Equal(t, want[:c.total-1], backward, "the pages before the last (of 1)")
			}
		})
	}
	t.Run("bare cursor parameter", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		r := e.must(http.StatusOK, http.MethodGet, "/Users?cursor&count=5", nil, nil)
		require.Len(t, ids(r), 5)
		require.Contains(t, r.Body, "nextCursor")
		require.NotContains(t, r.Body, "startIndex")
	})
	t.Run("filtered: totalResults on the first page only", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		filter := url.QueryEscape(`title eq "x"`)
		r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+filter+"&cursor=&count=3", nil, nil)
		require.EqualValues(t, 4, r.Body["totalResults"])
		got := ids(r)
		r = e.must(http.StatusOK, http.MethodGet, "/Users?filter="+filter+"&count=3&cursor="+r.Body["nextCursor"].(string), nil, nil)
		require.NotContains(t, r.Body, "totalResults", "RFC 9865 §2 lets it go; counting every page would not be flat")
		require.NotContains(t, r.Body, "nextCursor")
		got = append(got, ids(r)...)
		require.Equal(t, ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+filter, nil, nil)), got)
	})
	t.Run("index paging keeps its shape", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		r := e.must(http.StatusOK, http.MethodGet, "/Users?startIndex=6&count=5", nil, nil)
		require.EqualValues(t, 6, r.Body["startIndex"])
		require.EqualValues(t, 7, r.Body["totalResults"])
		require.Len(t, ids(r), 2)
		require.NotContains(t, r.Body, "nextCursor")
		require.NotContains(t, r.Body, "previousCursor")
	})
}

// TestCursorErrors: the errors of RFC 9865 §2.1, and the requests that mix paging methods.
func TestCursorErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 3 {
		e.user(fmt.Sprintf("q%d", i), map[string]any{"title": "t"})
	}
	filter := url.QueryEscape(`title eq "t"`)
	next := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+filter+"&cursor=&count=1", nil, nil).Body["nextCursor"].(string)
	altered := next[:len(next)-2] + "AA"
	if altered == next {
		altered = next[:len(next)-2] + "BB"
	}
	for _, c := range []struct {
		method, path string
		body         map[string]any
		scimType     string
	}{
		{http.MethodGet, "/Users?filter=" + filter + "&count=1&cursor=" + altered, nil, "invalidCursor"},
		{http.MethodGet, "/Users?filter=" + filter + "&count=1&cursor=not-a-cursor", nil, "invalidCursor"},
		{http.MethodGet, "/Users?filter=" + url.QueryEscape(`title eq "u"`) + "&count=1&cursor=" + next, nil, "invalidCursor"},
		{http.MethodGet, "/Users?count=1&cursor=" + next, nil, "invalidCursor"},
		{http.MethodGet, "/Users?filter=" + filter + "&sortBy=userName&count=1&cursor=" + next, nil, "invalidCursor"},
		{http.MethodGet, "/Groups?count=1&cursor=" + next, nil, "invalidCursor"},
		{http.MethodPost, "/Users/.search", searchBody(map[string]any{"filter": `title eq "t"`, "cursor": altered}), "invalidCursor"},
		{http.MethodGet, "/Users?cursor=&count=many", nil, "invalidCount"},
		{http.MethodGet, "/Users?cursor=&startIndex=1", nil, "invalidValue"},
		{http.MethodPost, "/Users/.search", searchBody(map[string]any{"cursor": 5}), "invalidValue"},
		{http.MethodPost, "/.search", searchBody(map[string]any{"cursor": ""}), "invalidValue"},
	} {
		requireError(t, e.do(c.method, c.path, c.body, nil), http.StatusBadRequest, c.scimType)
	}
	// The cursor itself still works with its own list.
	r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+filter+"&count=5&cursor="+next, nil, nil)
	require.Len(t, ids(r), 2)
}

// TestTotalsAfterBulkAndDeletions: totalResults, read from the organization's counters, follows
// Bulk creation, deletions of users and groups, and the organization's deletion takes its
// counters with it.
func TestTotalsAfterBulkAndDeletions(t *testing.T) {
	t.Parallel()
	e := adminEnv(t)
	other := e.otherOrg()
	other.createUser(map[string]any{"userName": "g@globex.example"})
	total := func(endpoint string) any {
		t.Helper()
		return e.must(http.StatusOK, http.MethodGet, endpoint+"?count=0", nil, nil).Body["totalResults"]
	}
	var ops []map[string]any
	for i := range 6 {
		ops = append(ops, bop(http.MethodPost, "/Users", fmt.Sprintf("u%d", i), map[string]any{"userName": fmt.Sprintf("bulk%d@example.com", i)}))
	}
	ops = append(ops, bop(http.MethodPost, "/Users", "dup", map[string]any{"userName": "bulk0@example.com"}))
	ops = append(ops, bop(http.MethodPost, "/Groups", "g", map[string]any{"displayName": "Bulk", "members": []any{map[string]any{"value": "bulkId:u0"}}}))
	res := e.bulk(0, ops...)
	require.Equal(t, "409", res[6]["status"])
	require.EqualValues(t, 6, total("/Users"))
	require.EqualValues(t, 1, total("/Groups"))

	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+idOf(t, res[1]), nil, nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/Groups/"+idOf(t, res[7]), nil, nil)
	require.EqualValues(t, 5, total("/Users"))
	require.EqualValues(t, 0, total("/Groups"))
	require.EqualValues(t, 5, e.count("SELECT count(*) FROM users WHERE org_id = $1", e.org))

	e.admin(http.StatusNoContent, http.MethodDelete, "/admin/v1/orgs/"+e.org, nil)
	require.Zero(t, e.count("SELECT count(*) FROM org_counts WHERE org_id = $1", e.org))
	require.EqualValues(t, 1, other.must(http.StatusOK, http.MethodGet, "/Users?count=0", nil, nil).Body["totalResults"])
}
