package server_test

// The server as a process: oversized bodies, failed authentication, clients that go away, a
// database that goes away, one organization's stalled requests, the access log, shutdown.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/logtest"
	"github.com/scimd/scimd/internal/server"
)

// rawRequest sends a request the way Python's http.client and many SDKs do: the headers and
// the whole body are written before anything is read. It returns the response, or the error
// that writing or reading met. chunked sends the body without a Content-Length.
func rawRequest(t *testing.T, addr, method, path string, h hdr, body []byte, chunked bool) (*http.Response, []byte, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	var head strings.Builder
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: scimd.test\r\n", method, path)
	for k, v := range h {
		fmt.Fprintf(&head, "%s: %s\r\n", k, v)
	}
	if chunked {
		head.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&head, "Content-Length: %d\r\n\r\n", len(body))
	}
	if _, err := io.WriteString(c, head.String()); err != nil {
		return nil, nil, err
	}
	if chunked {
		cw := httputil.NewChunkedWriter(c)
		if _, err := io.Copy(cw, bytes.NewReader(body)); err != nil {
			return nil, nil, err
		}
		if err := cw.Close(); err != nil {
			return nil, nil, err
		}
		if _, err := io.WriteString(c, "\r\n"); err != nil {
			return nil, nil, err
		}
	} else if _, err := c.Write(body); err != nil {
		return nil, nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res, raw, err
}

func hostOf(srvURL string) string { return strings.TrimPrefix(srvURL, "http://") }

// A client that writes its whole 12 MiB body before reading gets the 413, for SCIM bodies,
// Bulk's larger limit and the admin API, declared or chunked.
func TestOversizedBodyIsAnsweredToClientsThatSendFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := bytes.Repeat([]byte("x"), 12<<20)
	scimHdr := hdr{"Authorization": "Bearer " + e.token, "Content-Type": scimJSON}
	cases := []struct {
		name, method, path, limit string
		chunked                   bool
	}{
		{"POST /Users", http.MethodPost, "/scim/v2/Users", strconv.Itoa(maxBodyLen), false},
		{"POST /Users chunked", http.MethodPost, "/scim/v2/Users", strconv.Itoa(maxBodyLen), true},
		{"POST /Bulk", http.MethodPost, "/scim/v2/Bulk", "4194304", false},
		{"POST /Bulk chunked", http.MethodPost, "/scim/v2/Bulk", "4194304", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res, raw, err := rawRequest(t, hostOf(e.srv.URL), c.method, c.path, scimHdr, big, c.chunked)
			require.NoError(t, err, "the client must read the answer, not a reset connection")
			require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", raw)
			require.Contains(t, string(raw), c.limit, "the detail names the limit")
		})
	}
	t.Run("admin API", func(t *testing.T) {
		t.Parallel()
		a := newAdminAPI(t, testAdminToken)
		res, raw, err := rawRequest(t, hostOf(a.srv.URL), http.MethodPost, "/admin/v1/orgs",
			hdr{"Authorization": "Bearer " + testAdminToken, "Content-Type": "application/json"}, big, false)
		require.NoError(t, err)
		require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode, "%s", raw)
		require.Zero(t, countRows(t, a.pool, "SELECT count(*) FROM organizations"))
	})
	t.Run("a body refused before it is read", func(t *testing.T) {
		t.Parallel()
		res, _, err := rawRequest(t, hostOf(e.srv.URL), http.MethodPost, "/scim/v2/Users",
			hdr{"Authorization": "Bearer wrong", "Content-Type": scimJSON}, big, false)
		require.NoError(t, err)
		require.Equal(t, http.StatusUnauthorized, res.StatusCode)
	})
	t.Run("discarding stops at DiscardBytes", func(t *testing.T) {
		t.Parallel()
		e := newEnvWith(t, func(d *server.Deps) { d.DiscardBytes = 1 << 20 })
		_, _, err := rawRequest(t, hostOf(e.srv.URL), http.MethodPost, "/scim/v2/Users",
			hdr{"Authorization": "Bearer " + e.token, "Content-Type": scimJSON}, big, false)
		require.Error(t, err, "the server closes the connection after 1 MiB of the 12")
	})
	require.Zero(t, e.count("SELECT count(*) FROM users"), "nothing was created")
}

func countRows(t *testing.T, pool *pgxpool.Pool, sql string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql).Scan(&n))
	return n
}

// logBuffer captures a server's log for assertions.
func withLog(buf *logtest.Buffer) func(*server.Deps) {
	return func(d *server.Deps) { d.Logger = slog.New(slog.NewTextHandler(buf, nil)) }
}

func TestAuthFailureLimit(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	e := newEnvWith(t, func(d *server.Deps) {
		d.AuthFailureRate, d.AuthFailureBurst = 1, 5
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		d.Now = clock
	})
	wrong := hdr{"Authorization": "Bearer scimd_" + strings.Repeat("0", 139)}
	for range 5 {
		requireError(t, e.do(http.MethodGet, "/Users", nil, wrong), http.StatusUnauthorized, "")
	}
	r := e.do(http.MethodGet, "/Users", nil, wrong)
	requireError(t, r, http.StatusTooManyRequests, "")
	require.Equal(t, "1", r.Header.Get("Retry-After"))
	require.Empty(t, r.Header.Get("WWW-Authenticate"))
	require.Contains(t, r.Body["detail"], "failed authentications")

	// A valid token from the same address is never refused.
	for range 20 {
		e.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	}
	// The test's peer, 127.0.0.1, is a trusted proxy here: the client is the nearest untrusted
	// address of X-Forwarded-For, with a budget of its own.
	for _, xff := range []string{"198.51.100.7", "198.51.100.7, 127.0.0.1"} {
		h := hdr{"Authorization": wrong["Authorization"], "X-Forwarded-For": xff}
		requireError(t, e.do(http.MethodGet, "/Users", nil, h), http.StatusUnauthorized, "")
	}

	// The budget refills at the rate: one second, one more failure answered 401.
	advance(time.Second)
	requireError(t, e.do(http.MethodGet, "/Users", nil, wrong), http.StatusUnauthorized, "")
	requireError(t, e.do(http.MethodGet, "/Users", nil, wrong), http.StatusTooManyRequests, "")

	t.Run("untrusted peers' X-Forwarded-For is ignored", func(t *testing.T) {
		t.Parallel()
		e := newEnvWith(t, func(d *server.Deps) { d.AuthFailureRate, d.AuthFailureBurst = 1, 2; d.Now = clock })
		for i := range 3 {
			// A new forwarded address each time does not give a new budget.
			h := hdr{"Authorization": wrong["Authorization"], "X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)}
			want := http.StatusUnauthorized
			if i == 2 {
				want = http.StatusTooManyRequests
			}
			require.Equal(t, want, e.do(http.MethodGet, "/Users", nil, h).Status)
		}
	})
}

// userLock holds a row lock on a user in a transaction of its own, so that requests changing
// the user wait in PostgreSQL, each holding a pooled connection, until release.
type userLock struct {
	t    *testing.T
	tx   pgx.Tx
	pid  uint32
	once sync.Once
	conn *pgx.Conn
}

func lockUser(t *testing.T, pool *pgxpool.Pool, id string) *userLock {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pool.Config().ConnString())
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT 1 FROM users WHERE id = $1 FOR UPDATE", id)
	require.NoError(t, err)
	l := &userLock{t: t, tx: tx, pid: conn.PgConn().PID(), conn: conn}
	t.Cleanup(l.release)
	return l
}

func (l *userLock) release() {
	l.once.Do(func() {
		_ = l.tx.Rollback(context.Background())
		_ = l.conn.Close(context.Background())
	})
}

// blocked is how many backends wait for the lock, directly or behind another waiter; asked on
// the lock's own connection, since the server's pool may be taken.
func (l *userLock) blocked() int {
	// pg_stat_activity is read once per transaction unless its snapshot is cleared.
	_, err := l.tx.Exec(context.Background(), "SELECT pg_stat_clear_snapshot()")
	require.NoError(l.t, err)
	var n int
	require.NoError(l.t, l.tx.QueryRow(context.Background(), `WITH RECURSIVE b(pid) AS (
			SELECT $1::int
			UNION SELECT a.pid FROM pg_stat_activity a JOIN b ON b.pid = ANY(pg_blocking_pids(a.pid)))
		SELECT count(*) - 1 FROM b`, int(l.pid)).Scan(&n))
	return n
}

// activity lists the database's busy backends, for a test that failed waiting for them.
func (l *userLock) activity() string {
	_, err := l.tx.Exec(context.Background(), "SELECT pg_stat_clear_snapshot()")
	require.NoError(l.t, err)
	rows, err := l.tx.Query(context.Background(), `SELECT pid, state, coalesce(wait_event_type, ''), coalesce(wait_event, ''),
			pg_blocking_pids(pid)::text, left(query, 200)
		FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend' AND state <> 'idle'`)
	require.NoError(l.t, err)
	var b strings.Builder
	for rows.Next() {
		var pid int
		var state, waitType, wait, blockers, query string
		require.NoError(l.t, rows.Scan(&pid, &state, &waitType, &wait, &blockers, &query))
		fmt.Fprintf(&b, "%d %s %s %s blocked by %s: %s\n", pid, state, waitType, wait, blockers, query)
	}
	require.NoError(l.t, rows.Err())
	return b.String()
}

// waitBlocked waits until n backends wait for the lock.
func (l *userLock) waitBlocked(n int) {
	l.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for l.blocked() != n {
		if time.Now().After(deadline) {
			l.t.Fatalf("timed out waiting for %d requests to wait for the lock; activity:\n%s", n, l.activity())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// terminateWaiter terminates the backend waiting directly for the lock, as an administrator
// or a failover would.
func (l *userLock) terminateWaiter() {
	var terminated bool
	require.NoError(l.t, l.tx.QueryRow(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", int(l.pid)).Scan(&terminated))
	require.True(l.t, terminated)
}

func patchDisplayName(name string) string {
	return `{"schemas":["` + patchURN + `"],"Operations":[{"op":"replace","path":"displayName","value":"` + name + `"}]}`
}

// A client that half-closes its connection after the request, while the request waits in
// the database, is logged at INFO with its request id and counted as 499, never as an error.
func TestClientGoneIsNotAServerError(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	e := newEnvWith(t, withLog(logs))
	id := e.user("gone", nil)
	before := e.snapshot(id)
	lock := lockUser(t, e.pool, id)

	c, err := net.Dial("tcp", hostOf(e.srv.URL))
	require.NoError(t, err)
	defer c.Close()
	body := patchDisplayName("Never Stored")
	_, err = fmt.Fprintf(c, "PATCH /scim/v2/Users/%s HTTP/1.1\r\nHost: scimd.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nX-Request-Id: gone-client-1\r\nContent-Length: %d\r\n\r\n%s",
		id, e.token, len(body), body)
	require.NoError(t, err)
	lock.waitBlocked(1)
	require.NoError(t, c.(*net.TCPConn).CloseWrite())

	eventually.Holds(t, "the access log line", func() bool { return strings.Contains(logs.String(), "status=499") })
	lock.release()
	log := logs.String()
	require.Regexp(t, `level=INFO msg="client went away" .*request_id=gone-client-1`, log)
	require.Regexp(t, `msg=request method=PATCH route=/scim/v2/Users/\{id\} status=499 request_id=gone-client-1`, log)
	require.NotContains(t, log, "level=ERROR")
	require.Equal(t, 1, strings.Count(log, "client went away"), "logged once")
	metrics := e.do(http.MethodGet, "//metrics", nil, nil)
	require.Contains(t, string(metrics.Raw), `scimd_http_requests_total{code="499",method="PATCH",route="/scim/v2/Users/{id}"} 1`)
	require.NotContains(t, string(metrics.Raw), `code="500"`)
	e.requireUnchanged(id, before)
}

// With the database unreachable, requests are 503 with Retry-After, logged at WARN.
func TestDatabaseUnavailable(t *testing.T) {
	t.Parallel()
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?connect_timeout=2")
		require.NoError(t, err)
		t.Cleanup(pool.Close)
		logs := &logtest.Buffer{}
		reg, _, dir := dbtest.Directory(t, pool)
		srv := newServer(t, server.Deps{Directory: dir, Schemas: reg, Ready: pool.Ping,
			Logger: slog.New(slog.NewTextHandler(logs, nil))})
		tok, err := auth.Generate(uuid.NewString())
		require.NoError(t, err)
		req, err := http.NewRequest(http.MethodGet, srv+"/scim/v2/Users", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusServiceUnavailable, res.StatusCode, "%s", raw)
		require.Equal(t, "2", res.Header.Get("Retry-After"))
		require.Contains(t, string(raw), "the database is unavailable")
		require.Contains(t, logs.String(), `level=WARN msg="database unavailable"`)
		require.NotContains(t, logs.String(), "level=ERROR")
	})
	t.Run("connection terminated under a request", func(t *testing.T) {
		t.Parallel()
		logs := &logtest.Buffer{}
		e := newEnvWith(t, withLog(logs))
		id := e.user("terminated", nil)
		before := e.snapshot(id)
		lock := lockUser(t, e.pool, id)
		result := make(chan resp, 1)
		go func() { result <- e.do(http.MethodPatch, "/Users/"+id, patchDisplayName("Lost"), nil) }()
		lock.waitBlocked(1)
		lock.terminateWaiter()
		r := <-result
		requireError(t, r, http.StatusServiceUnavailable, "")
		require.NotEmpty(t, r.Header.Get("Retry-After"))
		require.Contains(t, logs.String(), `level=WARN msg="database unavailable"`)
		require.NotContains(t, logs.String(), "level=ERROR")
		lock.release()
		e.requireUnchanged(id, before)
	})
}

// newServer serves deps on a test server and returns its URL.
func newServer(t *testing.T, deps server.Deps) string {
	t.Helper()
	srv := httptest.NewServer(server.NewServer(deps))
	t.Cleanup(srv.Close)
	return srv.URL
}

// One organization whose requests are all stalled in the database leaves another
// organization's requests fast: it holds at most OrgConcurrency connections, and its requests
// beyond them are answered 503 after OrgWait.
func TestOneOrganizationCannotTakeThePool(t *testing.T) {
	t.Parallel()
	const limit = 2
	e := newEnvWith(t, func(d *server.Deps) { d.OrgConcurrency, d.OrgWait = limit, 300*time.Millisecond })
	other := e.otherOrg()
	id := e.user("stalled", nil)
	lock := lockUser(t, e.pool, id)
	maxConns := int(e.pool.Config().MaxConns)
	require.Greater(t, maxConns, limit, "the test needs a pool larger than the limit")

	// Twice the limit, and at least the pool: without the limit they would take every connection.
	n := max(2*limit, maxConns)
	results := make(chan int, n)
	for i := range n {
		go func() {
			results <- e.do(http.MethodPatch, "/Users/"+id, patchDisplayName(fmt.Sprintf("Stalled %d", i)), nil).Status
		}()
	}
	lock.waitBlocked(limit)
	busy := 0
	for range n - limit {
		status := <-results
		require.Equal(t, http.StatusServiceUnavailable, status)
		busy++
	}
	require.Equal(t, n-limit, busy)
	require.Equal(t, limit, lock.blocked(), "no more than the limit reached the database")

	// Were the other organization waiting for a connection, it would wait until the lock is
	// released below: any bound tells, and a generous one does not fail on a busy machine (a
	// read has taken half a second there while other tests ran).
	start := time.Now()
	for range 5 {
		other.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	}
	require.Less(t, time.Since(start), 10*time.Second, "the other organization is served at once")

	lock.release()
	for range limit {
		require.Equal(t, http.StatusOK, <-results)
	}
	require.Equal(t, 1+limit, e.count("SELECT version FROM users WHERE id = $1", id),
		"the two requests that held a slot were applied, the others not")

	t.Run("without the limit the stall reaches the other organization", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		other := e.otherOrg()
		id := e.user("stalled", nil)
		lock := lockUser(t, e.pool, id)
		maxConns := int(e.pool.Config().MaxConns)
		for range maxConns {
			go func() { e.do(http.MethodPatch, "/Users/"+id, patchDisplayName("Stalled"), nil) }()
		}
		lock.waitBlocked(maxConns)
		req, err := http.NewRequest(http.MethodGet, other.srv.URL+apiPrefix+"/Users", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+other.token)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = http.DefaultClient.Do(req.WithContext(ctx))
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &logtest.Buffer{}
	e := newEnvWith(t, withLog(logs))
	e.must(http.StatusOK, http.MethodGet, `/Users?filter=userName%20eq%20%22secret@example.com%22`, nil,
		hdr{"User-Agent": "Okta SCIM Client 1.0", "X-Request-Id": "log-line-1"})
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "request_id=log-line-1") {
			line = l
		}
	}
	require.Regexp(t, `^time=\S+ level=INFO msg=request method=GET route=/scim/v2/Users status=200 request_id=log-line-1 `+
		`org_id=`+e.org+` token_id=[0-9a-f-]{36} user_agent="Okta SCIM Client 1.0" duration_ms=[0-9.]+$`, line)
	require.NotContains(t, logs.String(), "secret", "no URL query, no personal data")
}

// Once shutdown begins, /readyz answers 503 while requests are still served, each closing its
// connection.
func TestReadyzDuringDrain(t *testing.T) {
	t.Parallel()
	lc := server.NewLifecycle()
	e := newEnvWith(t, func(d *server.Deps) { d.Lifecycle = lc })
	require.Equal(t, http.StatusOK, e.do(http.MethodGet, "//readyz", nil, nil).Status)
	_, ok := lc.Deadline()
	require.False(t, ok)

	deadline := time.Now().Add(time.Minute)
	lc.Drain(deadline)
	r := e.do(http.MethodGet, "//readyz", nil, nil)
	require.Equal(t, http.StatusServiceUnavailable, r.Status)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+apiPrefix+"/Users", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+e.token)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode, "requests are still served")
	require.True(t, res.Close, "and their connections closed after the response")
	got, ok := lc.Deadline()
	require.True(t, ok)
	require.True(t, got.Equal(deadline))
	select {
	case <-lc.Draining():
	default:
		t.Fatal("Draining is not closed")
	}
}

// Shortly before the end of the shutdown grace a Bulk request stops starting operations: each
// one left answers 503 in the BulkResponse, which is still written in time, and nothing of
// them is done.
func TestBulkStopsBeforeTheGraceEnds(t *testing.T) {
	t.Parallel()
	lc := server.NewLifecycle()
	e := newEnvWith(t, func(d *server.Deps) { d.Lifecycle = lc })
	lc.Drain(time.Now().Add(time.Second)) // within the reserve: stop at once
	res := e.bulk(0,
		bop(http.MethodPost, "/Users", "a", map[string]any{"schemas": []string{userURN}, "userName": "late-a@example.com"}),
		bop(http.MethodPost, "/Users", "", map[string]any{"schemas": []string{userURN}, "userName": "late-b@example.com"}))
	require.Equal(t, []string{"503", "503"}, statuses(res))
	require.Contains(t, res[0]["response"].(map[string]any)["detail"], "not started")
	list := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`userName sw "late-"`), nil, nil)
	require.EqualValues(t, 0, list.Body["totalResults"])
}
