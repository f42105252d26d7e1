package server_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/directory"
)

func TestUnauthorized(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("victim", nil)
	before := e.snapshot(id)

	unknown, err := auth.Generate(uuid.NewString()) // well-formed, never stored
	require.NoError(t, err)
	wrongSecret := e.token[:len(e.token)-4] + "AAAA"
	if wrongSecret == e.token {
		wrongSecret = e.token[:len(e.token)-4] + "BBBB"
	}
	revoked, err := e.dir.CreateToken(context.Background(), e.operator(), directory.TokenInput{Role: "admin"}, time.Now())
	require.NoError(t, err)
	_, err = e.pool.Exec(context.Background(), "UPDATE tokens SET revoked_at = now() WHERE id = $1", revoked.ID)
	require.NoError(t, err)
	expired, err := e.dir.CreateToken(context.Background(), e.operator(), directory.TokenInput{Role: "admin"}, time.Now())
	require.NoError(t, err)
	_, err = e.pool.Exec(context.Background(), "UPDATE tokens SET expires_at = now() - interval '1 minute' WHERE id = $1", expired.ID)
	require.NoError(t, err)

	auths := map[string]string{
		"missing":            "",
		"Okta non-token":     "non-token",
		"empty bearer":       "Bearer ",
		"garbage":            "Bearer garbage",
		"basic":              "Basic " + e.token,
		"unknown token":      "Bearer " + unknown.Token,
		"wrong secret":       "Bearer " + wrongSecret,
		"revoked":            "Bearer " + revoked.Value,
		"expired":            "Bearer " + expired.Value,
		"token of other org": "Bearer scimd_" + strings.Repeat("0", 64) + e.token[len(e.token)-43:],
	}
	requests := []struct{ method, path string }{
		{http.MethodGet, "/Users"},
		{http.MethodGet, "/Users/" + id},
		{http.MethodPost, "/Users"},
		{http.MethodPut, "/Users/" + id},
		{http.MethodPatch, "/Users/" + id},
		{http.MethodDelete, "/Users/" + id},
	}
	bodies := map[string]any{
		http.MethodPost:  map[string]any{"userName": "intruder@example.com"},
		http.MethodPut:   map[string]any{"userName": "victim@example.com", "title": "Owned"},
		http.MethodPatch: patchBody(op("replace", "active", false)),
	}
	for name, a := range auths {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			for _, rq := range requests {
				r := e.do(rq.method, rq.path, bodies[rq.method], hdr{"Authorization": a})
				requireError(t, r, http.StatusUnauthorized, "")
				require.True(t, strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer"),
					"WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		})
	}
	t.Cleanup(func() {
		e.requireUnchanged(id, before)
		require.Equal(t, 1, e.count("SELECT count(*) FROM users"))
	})
	// The lower-case scheme is accepted (RFC 7235: schemes are case-insensitive).
	e.must(http.StatusOK, http.MethodGet, "/Users", nil, hdr{"Authorization": "bearer " + e.token})
}

// unsized hides a reader's length so the client sends it chunked, without Content-Length.
type unsized struct{ io.Reader }

func TestBodyLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("limits", nil)
	before := e.snapshot(id)
	huge := `{"userName":"huge@example.com","displayName":"` + strings.Repeat("x", maxBodyLen) + `"}`
	hugePatch := `{"schemas":["` + patchURN + `"],"Operations":[{"op":"replace","path":"title","value":"` + strings.Repeat("x", maxBodyLen) + `"}]}`

	cases := []struct {
		name         string
		method, path string
		body         func() any
	}{
		{"POST with Content-Length", http.MethodPost, "/Users", func() any { return huge }},
		{"POST chunked", http.MethodPost, "/Users", func() any { return unsized{strings.NewReader(huge)} }},
		{"PUT", http.MethodPut, "/Users/" + id, func() any { return huge }},
		{"PATCH chunked", http.MethodPatch, "/Users/" + id, func() any { return unsized{strings.NewReader(hugePatch)} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := e.with(t)
			r := e.do(c.method, c.path, c.body(), nil)
			requireError(t, r, http.StatusRequestEntityTooLarge, "")
			require.Contains(t, r.Body["detail"], strconv.Itoa(maxBodyLen), "the detail names the limit")
		})
	}
	t.Run("just under the limit is accepted", func(t *testing.T) {
		t.Parallel()
		e := e.with(t)
		body := `{"userName":"big@example.com","displayName":"`
		body += strings.Repeat("y", maxBodyLen-len(body)-2) + `"}`
		require.Len(t, body, maxBodyLen)
		e.must(http.StatusCreated, http.MethodPost, "/Users", unsized{strings.NewReader(body)}, nil)
	})
	t.Cleanup(func() {
		e.requireUnchanged(id, before)
		require.Zero(t, e.count("SELECT count(*) FROM users WHERE user_name = 'huge@example.com'"))
	})
}

func TestMediaType(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("media", nil)
	before := e.snapshot(id)
	for _, ct := range []string{"text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "nonsense"} {
		r := e.do(http.MethodPost, "/Users", map[string]any{"userName": "media2@example.com"}, hdr{"Content-Type": ct})
		requireError(t, r, http.StatusUnsupportedMediaType, "")
		r = e.do(http.MethodPatch, "/Users/"+id, patchBody(op("replace", "title", "x")), hdr{"Content-Type": ct})
		requireError(t, r, http.StatusUnsupportedMediaType, "")
		r = e.do(http.MethodPut, "/Users/"+id, map[string]any{"userName": "media@example.com", "title": "x"}, hdr{"Content-Type": ct})
		requireError(t, r, http.StatusUnsupportedMediaType, "")
	}
	e.requireUnchanged(id, before)
	require.Zero(t, e.count("SELECT count(*) FROM users WHERE user_name = 'media2@example.com'"))

	// No Content-Type at all is taken as JSON.
	e.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "noct@example.com"}, hdr{"Content-Type": ""})
	for i, ct := range []string{"application/scim+json", "application/json", "application/json; charset=utf-8", "Application/SCIM+JSON; charset=UTF-8"} {
		e.must(http.StatusCreated, http.MethodPost, "/Users", map[string]any{"userName": "ok" + strconv.Itoa(i) + "@example.com"}, hdr{"Content-Type": ct})
	}
}

func TestUnknownQueryParametersIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Entra appends its feature flag to the tenant URL.
	u := e.must(http.StatusCreated, http.MethodPost, "/Users?aadOptscim062020", map[string]any{"userName": "flag@example.com"}, nil).Body
	id := u["id"].(string)
	e.must(http.StatusOK, http.MethodGet, "/Users?aadOptscim062020&filter="+url.QueryEscape(`userName eq "flag@example.com"`), nil, nil)
	e.must(http.StatusOK, http.MethodGet, "/Users/"+id+"?aadOptscim062020&foo=bar", nil, nil)
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+id+"?aadOptscim062020", patchBody(op("Replace", "active", "False")), nil)
	e.must(http.StatusOK, http.MethodPut, "/Users/"+id+"?AzureAdScimPatch2017=1", map[string]any{"userName": "flag@example.com"}, nil)
	e.must(http.StatusOK, http.MethodGet, "/ServiceProviderConfig?aadOptscim062020", nil, nil)
	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id+"?aadOptscim062020", nil, nil)
}

// Every SCIM response with a body, errors included, is application/scim+json (checked by do).
func TestContentTypeOfEveryAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id := e.user("ctype", nil)
	e.user("ctype.taken", nil)
	cases := []struct {
		method, path string
		body         any
		h            hdr
		status       int
	}{
		{http.MethodGet, "/Users", nil, nil, 200},
		{http.MethodGet, "/Users/" + id, nil, nil, 200},
		{http.MethodPost, "/Users", map[string]any{"userName": "ctype2@example.com"}, nil, 201},
		{http.MethodPut, "/Users/" + id, map[string]any{"userName": "ctype@example.com"}, nil, 200},
		{http.MethodPatch, "/Users/" + id, patchBody(op("add", "title", "x")), nil, 200},
		{http.MethodGet, "/ServiceProviderConfig", nil, nil, 200},
		{http.MethodGet, "/ResourceTypes", nil, nil, 200},
		{http.MethodGet, "/Schemas", nil, nil, 200},
		{http.MethodGet, "/Users/nope", nil, nil, 404},
		{http.MethodGet, "/Nope", nil, nil, 404},
		{http.MethodGet, "/Users?filter=bad", nil, nil, 400},
		{http.MethodPost, "/Users", `{"userName":`, hdr{"Content-Type": scimJSON}, 400},
		{http.MethodPost, "/Users", map[string]any{"userName": "CTYPE.taken@example.com"}, nil, 409},
		{http.MethodPatch, "/Users/" + id, patchBody(op("add", "title", "y")), hdr{"If-Match": `W/"99"`}, 412},
		{http.MethodPost, "/Users", "x", hdr{"Content-Type": "text/plain"}, 415},
		{http.MethodGet, "/Users", nil, hdr{"Authorization": ""}, 401},
		{http.MethodDelete, "/Users", nil, nil, 405},
		{http.MethodPost, "/ServiceProviderConfig", map[string]any{}, nil, 405},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, c.body, c.h)
		require.Equal(t, c.status, r.Status, "%s %s: %s", c.method, c.path, r.Raw)
		require.NotEmpty(t, r.Raw, "%s %s", c.method, c.path)
		require.Equal(t, scimJSON, r.Header.Get("Content-Type"))
		if c.status >= 400 {
			scimType, _ := r.Body["scimType"].(string)
			requireError(t, r, c.status, scimType)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"//healthz", "//readyz"} {
		r := e.do(http.MethodGet, p, nil, hdr{"Authorization": ""})
		require.Equal(t, http.StatusOK, r.Status, p)
	}
}

// A request id the client sends comes back; otherwise the server makes one up.
func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(http.MethodGet, "/Users", nil, hdr{"X-Request-Id": "abc-123"})
	require.Equal(t, "abc-123", r.Header.Get("X-Request-Id"))
	r = e.do(http.MethodGet, "/Users", nil, hdr{"X-Request-Id": "bad id\twith spaces"})
	require.NotEmpty(t, r.Header.Get("X-Request-Id"))
	require.NotEqual(t, "bad id\twith spaces", r.Header.Get("X-Request-Id"))
}
