package server_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/server"
)

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	e := newEnvWith(t, func(d *server.Deps) {
		d.RateLimit, d.RateBurst = 1, 3
		d.Now = func() time.Time { return now } // the clock stands still: no refill
	})
	for range 3 {
		e.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	}
	r := e.do(http.MethodGet, "/Users", nil, nil)
	requireError(t, r, http.StatusTooManyRequests, "")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, secs, 1)
	// Another token has a bucket of its own.
	b := e.otherOrg()
	b.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.must(http.StatusOK, http.MethodGet, "/Users", nil, nil)
	requireError(t, e.do(http.MethodGet, "/Users/nope", nil, nil), http.StatusNotFound, "")
	res, err := e.srv.Client().Get(e.srv.URL + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode)
	text := string(body)
	require.Contains(t, text, `scimd_http_requests_total{code="200",method="GET",route="/scim/v2/Users"} 1`)
	require.Contains(t, text, `scimd_http_requests_total{code="404",method="GET",route="/scim/v2/Users/{id}"} 1`)
	require.True(t, strings.Contains(text, "scimd_http_request_duration_seconds_bucket"))
}
