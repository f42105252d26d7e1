package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/scimerr"
)

func TestFailureLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	const max = 100
	l := newFailureLimiter(10, 50, max)
	now := time.Now()
	for i := range 3 * max {
		l.fail(addrKey(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})), now)
	}
	require.Len(t, l.byKey, max)
	require.Equal(t, max, l.order.Len())
	// The most recent failures are kept, the oldest forgotten.
	_, kept := l.byKey[addrKey(netip.AddrFrom4([4]byte{10, 0, 1, 43}))] // the 300th
	_, forgotten := l.byKey[addrKey(netip.AddrFrom4([4]byte{10, 0, 0, 0}))]
	require.True(t, kept)
	require.False(t, forgotten)
}

func TestFailureLimiterRate(t *testing.T) {
	t.Parallel()
	l := newFailureLimiter(10, 50, 10)
	key := addrKey(netip.MustParseAddr("192.0.2.1"))
	now := time.Now()
	for range 50 {
		require.Zero(t, l.wait(key, now), "within the burst")
		l.fail(key, now)
	}
	require.Equal(t, 100*time.Millisecond, l.wait(key, now), "one failure's worth at 10/s")
	require.Zero(t, l.wait(key, now.Add(100*time.Millisecond)))
	// Addresses of one IPv6 /64 share their limit.
	a := addrKey(netip.MustParseAddr("2001:db8:1:2::1"))
	b := addrKey(netip.MustParseAddr("2001:db8:1:2:ffff::9"))
	require.Equal(t, a, b)
	require.NotEqual(t, a, addrKey(netip.MustParseAddr("2001:db8:1:3::1")))
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	s := &server{Deps: Deps{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}}
	cases := []struct{ peer, xff, want string }{
		{"203.0.113.9:4000", "198.51.100.1", "203.0.113.9"}, // untrusted peer: its header is ignored
		{"10.1.2.3:4000", "", "10.1.2.3"},
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"10.1.2.3:4000", "192.0.2.8, 198.51.100.1, 10.9.9.9", "198.51.100.1"}, // the nearest untrusted hop
		{"10.1.2.3:4000", "garbage, 10.9.9.9", "10.9.9.9"},
		{"[::1]:4000", "2001:db8::5", "2001:db8::5"},
		{"[::ffff:10.1.2.3]:4000", "198.51.100.1", "198.51.100.1"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = c.peer
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		require.Equal(t, c.want, s.clientAddr(r).String(), "%s %q", c.peer, c.xff)
	}
}

// classify's answer to the errors a database or a departed client produce.
func TestClassifyTransientErrors(t *testing.T) {
	t.Parallel()
	var logs strings.Builder
	s := &server{log: slog.New(slog.NewTextHandler(&logs, nil))}
	// live is a request whose client is still there, one per error.
	live := func() *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		return r.WithContext(context.WithValue(r.Context(), requestKey, &requestInfo{id: "r1"}))
	}
	cases := []struct {
		err    error
		status int
		level  string
	}{
		{&pgconn.PgError{Code: "57P01"}, 503, "WARN"},
		{&pgconn.PgError{Code: "08006"}, 503, "WARN"},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, 503, "WARN"},
		{&pgconn.PgError{Code: "25006"}, 503, "WARN"},
		{fmt.Errorf("store: %w", pgconn.ErrConnClosed), 503, "WARN"},
		{fmt.Errorf("acquire: %w", context.DeadlineExceeded), 503, "WARN"},
		{&pgconn.PgError{Code: "23505"}, 500, "ERROR"}, // a constraint the code should have caught
		{errors.New("bug"), 500, "ERROR"},
		{scimerr.NotFound("no"), 404, ""},
	}
	for _, c := range cases {
		logs.Reset()
		status, e := s.classify(live(), c.err)
		require.Equal(t, c.status, status, "%v", c.err)
		require.NotEmpty(t, e.Detail)
		if c.level != "" {
			require.Contains(t, logs.String(), "level="+c.level, "%v", c.err)
		}
	}

	logs.Reset()
	r := live()
	for range 3 { // a Bulk meets it once per operation
		status, _ := s.classify(r, &pgconn.PgError{Code: "57P01"})
		require.Equal(t, http.StatusServiceUnavailable, status)
	}
	require.Equal(t, 1, strings.Count(logs.String(), "database unavailable"), "logged once per request")

	t.Run("client gone", func(t *testing.T) {
		var logs strings.Builder
		s := &server{log: slog.New(slog.NewTextHandler(&logs, nil))}
		ctx, cancel := context.WithCancel(context.WithValue(context.Background(), requestKey, &requestInfo{id: "r2"}))
		cancel()
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		for range 3 { // a Bulk meets it once per operation
			status, _ := s.classify(r, fmt.Errorf("query: %w", context.Canceled))
			require.Equal(t, statusClientClosed, status)
		}
		require.Equal(t, 1, strings.Count(logs.String(), "client went away"))
		require.Contains(t, logs.String(), "level=INFO")
		require.Contains(t, logs.String(), "request_id=r2")

		// A genuine bug met after the client left is still an error.
		status, _ := s.classify(r, errors.New("bug"))
		require.Equal(t, http.StatusInternalServerError, status)
	})
	t.Run("cancelled by the shutdown", func(t *testing.T) {
		ctx, cancel := context.WithCancelCause(context.WithValue(context.Background(), requestKey, &requestInfo{id: "r3"}))
		cancel(ErrStopped)
		r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		status, _ := s.classify(r, fmt.Errorf("query: %w", context.Canceled))
		require.Equal(t, http.StatusServiceUnavailable, status)
	})
}

// A response that the client does not read fails once WriteTimeout has passed from its first
// byte; the time before the first byte does not count.
func TestWriteDeadline(t *testing.T) {
	t.Parallel()
	s := &server{Deps: Deps{WriteTimeout: 300 * time.Millisecond}}
	result := make(chan error, 1)
	srv := httptest.NewServer(s.withWriteDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(400 * time.Millisecond) // computing the answer: longer than the timeout
		chunk := make([]byte, 64<<10)
		for range 1024 { // 64 MiB: more than the socket buffers hold
			if _, err := w.Write(chunk); err != nil {
				result <- err
				return
			}
		}
		result <- nil
	})))
	defer srv.Close()
	res, err := http.Get(srv.URL)
	require.NoError(t, err)
	defer res.Body.Close()
	_, err = io.ReadFull(res.Body, make([]byte, 1)) // the first byte arrives despite the slow start
	require.NoError(t, err)
	start := time.Now()
	select {
	case err := <-result:
		require.Error(t, err, "the write to a client that stopped reading fails")
		require.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(10 * time.Second):
		t.Fatal("the handler is still writing to a client that does not read")
	}
}
