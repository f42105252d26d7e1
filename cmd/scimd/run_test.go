package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/logtest"
)

// env returns a getenv that knows only DATABASE_URL.
func env(dbURL string) func(string) string {
	return func(k string) string {
		if k == "DATABASE_URL" {
			return dbURL
		}
		return ""
	}
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.EmptyURL(t)
	const n = 5
	errs := make(chan error, n)
	outs := make([]bytes.Buffer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- run(context.Background(), []string{"scimd", "migrate"}, env(dbURL), &outs[i], io.Discard)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for i := range outs {
		require.Contains(t, outs[i].String(), "migrations applied")
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var applied, distinct int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&applied, &distinct))
	require.Positive(t, applied)
	require.Equal(t, distinct, applied, "each migration is recorded once")
	var tables int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_name IN ('organizations', 'users', 'tokens')`).Scan(&tables))
	require.Equal(t, 3, tables, "the migrations ran in the test's own database")

	// Migrating again is a no-op.
	require.NoError(t, run(ctx, []string{"scimd", "migrate"}, env(dbURL), io.Discard, io.Discard))
	var again int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM schema_migrations").Scan(&again))
	require.Equal(t, applied, again)
}

// startServe runs "scimd serve" in the background and returns its SCIM base URL, its output
// and a function that stops it and returns run's result.
func startServe(t *testing.T, dbURL string, extra ...string) (string, *logtest.Buffer, func() error) {
	t.Helper()
	return startServeWith(t, dbURL, io.Discard, extra...)
}

// startServeWith is startServe with the server's log written to stderr too.
func startServeWith(t *testing.T, dbURL string, stderr io.Writer, extra ...string) (string, *logtest.Buffer, func() error) {
	t.Helper()
	p := launchServe(t, env(dbURL), stderr, extra...)
	return p.base, p.out, p.stop
}

// served is a "scimd serve" running in the background.
type served struct {
	base string // the SCIM base URL
	root string // the base URL without /scim/v2
	// out and log are what it printed and logged.
	out, log *logtest.Buffer
	// stop cancels serve's context (SIGTERM) and returns run's result.
	stop func() error
}

func startServeProcess(t *testing.T, getenv func(string) string, extra ...string) *served {
	t.Helper()
	return launchServe(t, getenv, io.Discard, extra...)
}

func launchServe(t *testing.T, getenv func(string) string, stderr io.Writer, extra ...string) *served {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &served{out: &logtest.Buffer{}, log: &logtest.Buffer{}}
	done := make(chan error, 1)
	// No drain period unless a test asks for one (flags given later win).
	args := append([]string{"scimd", "serve", "--addr", "127.0.0.1:0", "--drain", "0s"}, extra...)
	go func() { done <- run(ctx, args, getenv, p.out, io.MultiWriter(p.log, stderr)) }()
	eventually.Holds(t, "the SCIM base URL line", func() bool {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("serve returned early: %v\n%s", err, p.out.String())
		default:
		}
		for _, line := range strings.Split(p.out.String(), "\n") {
			if rest, ok := strings.CutPrefix(line, "SCIM base URL: "); ok {
				p.base = strings.TrimSpace(rest)
				return true
			}
		}
		return false
	})
	p.root = strings.TrimSuffix(p.base, "/scim/v2")
	stopped := false
	p.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(60 * time.Second):
			return errors.New("serve did not return within 60s of its context being cancelled")
		}
	}
	t.Cleanup(func() { _ = p.stop() })
	return p
}

func httpGet(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, b
}

func TestOrgCreateAndServe(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	ctx := context.Background()

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"scimd", "org", "create", "--name", "X", "--domain", "a.com", "--json"}, env(dbURL), &out, io.Discard))
	var created map[string]string
	require.NoError(t, json.Unmarshal(out.Bytes(), &created), out.String())
	require.Len(t, created, 2, out.String())
	require.NotEmpty(t, created["org_id"])
	require.NotEmpty(t, created["token"])

	base, _, stop := startServe(t, dbURL)
	require.True(t, strings.HasPrefix(base, "http://127.0.0.1:"), base)
	require.True(t, strings.HasSuffix(base, "/scim/v2"), base)
	root := strings.TrimSuffix(base, "/scim/v2")

	status, _ := httpGet(t, root+"/healthz", "")
	require.Equal(t, http.StatusOK, status)
	status, _ = httpGet(t, root+"/readyz", "")
	require.Equal(t, http.StatusOK, status)

	status, body := httpGet(t, base+"/Users", created["token"])
	require.Equal(t, http.StatusOK, status, "%s", body)
	var list map[string]any
	require.NoError(t, json.Unmarshal(body, &list))
	require.EqualValues(t, 0, list["totalResults"])

	// The token acts for the organization it was created for.
	req, err := http.NewRequest(http.MethodPost, base+"/Users", strings.NewReader(`{"userName":"someone@a.com"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+created["token"])
	req.Header.Set("Content-Type", "application/scim+json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var org string
	require.NoError(t, conn.QueryRow(ctx, "SELECT org_id::text FROM users WHERE user_name = 'someone@a.com'").Scan(&org))
	require.Equal(t, created["org_id"], org)

	status, _ = httpGet(t, base+"/Users", "")
	require.Equal(t, http.StatusUnauthorized, status)

	// Graceful shutdown: run returns nil once its context is cancelled, and stops listening.
	require.NoError(t, stop())
	_, err = http.Get(root + "/healthz")
	require.Error(t, err)
}

// TestGracefulShutdown cancels serve's context while a request is in flight: the listener
// closes, the request still completes, and run returns nil.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"scimd", "org", "create", "--name", "G", "--domain", "g.example", "--json"}, env(dbURL), &out, io.Discard))
	var created map[string]string
	require.NoError(t, json.Unmarshal(out.Bytes(), &created))
	base, _, stop := startServe(t, dbURL)
	addr := strings.TrimPrefix(strings.TrimSuffix(base, "/scim/v2"), "http://")

	// A request whose body arrives in two parts. With "Expect: 100-continue" the client sends no
	// body before the handler starts reading it, so once the first part has been taken from the
	// pipe, the request is inside the handler.
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, base+"/Users", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+created["token"])
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	status := make(chan int, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			status <- -1
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	}()
	_, err = pw.Write([]byte(`{"userName":"inflight@g.example",`))
	require.NoError(t, err)

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	eventually.Holds(t, "the listener to close", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-stopped:
		t.Fatalf("serve returned (%v) before its in-flight request finished", err)
	default:
	}
	_, err = pw.Write([]byte(`"displayName":"In Flight"}`))
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	require.Equal(t, http.StatusCreated, <-status, "the in-flight request completes")
	require.NoError(t, <-stopped)
}

func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	dbURL := dbtest.URL(t)
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"scimd", "serve", "--addr", ln.Addr().String()}, env(dbURL), io.Discard, io.Discard)
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		require.Contains(t, err.Error(), "address already in use")
	case <-time.After(30 * time.Second):
		t.Fatal("serve on a taken address neither failed nor returned")
	}
}

func TestOrgCreateText(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"scimd", "org", "create", "--name", "Y", "--domain", "b.com", "--domain", "C.com"},
		env(dbURL), &out, io.Discard))
	require.Contains(t, out.String(), "token (shown once): scimd_")

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT domain FROM org_domains WHERE verified_at IS NOT NULL ORDER BY domain")
	require.NoError(t, err)
	domains, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"b.com", "c.com"}, domains)
}

func TestServeDemo(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	// demo starts scimd serve --demo and returns its base URL, the demo organization and token,
	// and the console sign-in link it printed.
	demo := func() (string, string, string, string, func() error) {
		base, out, stop := startServe(t, dbURL, "--demo")
		var org, token, link string
		eventually.Holds(t, "the demo token and console link", func() bool {
			for _, line := range strings.Split(out.String(), "\n") {
				if rest, ok := strings.CutPrefix(line, "demo organization "); ok {
					org, token, _ = strings.Cut(rest, ", token: ")
				}
				if _, rest, ok := strings.Cut(line, "console sign-in link for admin@example.com (single use, 15m0s): "); ok {
					link = rest
				}
			}
			return token != "" && link != ""
		})
		return base, org, strings.TrimSpace(token), strings.TrimSpace(link), stop
	}
	base, org, token, link, stop := demo()
	status, body := httpGet(t, base+"/Users", token)
	require.Equal(t, http.StatusOK, status, "%s", body)
	// The link signs the demo admin in to the console.
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	client := &http.Client{Jar: jar}
	res, err := client.Get(link)
	require.NoError(t, err)
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	confirm := regexp.MustCompile(`name="confirm" value="([^"]+)"`).FindStringSubmatch(string(page))
	require.NotNil(t, confirm, "the link's page and its button:\n%s", page)
	res, err = client.PostForm(link, url.Values{"confirm": {confirm[1]}})
	require.NoError(t, err)
	page, _ = io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Equal(t, "/console/", res.Request.URL.Path)
	require.Contains(t, string(page), "<h1>Users</h1>")
	require.NoError(t, stop())

	// A second start finds the demo organization and its admin instead of failing or creating
	// others.
	base, org2, token2, link2, stop := demo()
	require.Equal(t, org, org2)
	require.NotEqual(t, link, link2)
	status, body = httpGet(t, base+"/Users", token2)
	require.Equal(t, http.StatusOK, status, "%s", body)
	require.Contains(t, string(body), `"totalResults":1`, "one demo admin")
	require.NoError(t, stop())
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	noDB := env("postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"scimd"}, "usage"},
		{"unknown command", []string{"scimd", "frobnicate"}, `unknown command "frobnicate"`},
		{"org without create", []string{"scimd", "org"}, "usage"},
		{"org with another verb", []string{"scimd", "org", "archive"}, "usage"},
		{"org create without name", []string{"scimd", "org", "create", "--domain", "a.com"}, "--name is required"},
		{"unknown flag", []string{"scimd", "migrate", "--nope"}, "nope"},
		{"database down", []string{"scimd", "migrate"}, "connect"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := run(ctx, c.args, noDB, io.Discard, io.Discard)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
	t.Run("flag errors go to run's stderr", func(t *testing.T) {
		t.Parallel()
		var stderr bytes.Buffer
		require.Error(t, run(ctx, []string{"scimd", "serve", "--nope"}, noDB, io.Discard, &stderr))
		require.Contains(t, stderr.String(), "-nope", "run must not write to the process's own os.Stderr")
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		require.NoError(t, run(ctx, []string{"scimd", "help"}, noDB, &out, io.Discard))
		require.Contains(t, out.String(), "usage: scimd")
	})
}

// A mistyped DATABASE_URL must not quietly create an empty database: only an explicit
// --create-database (or serve --demo) creates one.
func TestMissingDatabaseIsNotCreated(t *testing.T) {
	t.Parallel()
	base := dbtest.URL(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	name := "scimd_missing_" + strings.ReplaceAll(t.Name(), "/", "_")
	u.Path = "/" + strings.ToLower(name)
	missing := u.String()
	exists := func() bool {
		conn, err := pgx.Connect(context.Background(), base)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		var n int
		require.NoError(t, conn.QueryRow(context.Background(),
			"SELECT count(*) FROM pg_database WHERE datname = $1", strings.ToLower(name)).Scan(&n))
		return n == 1
	}
	for _, args := range [][]string{
		{"scimd", "org", "create", "--name", "Acme"},
		{"scimd", "migrate"},
		{"scimd", "domain", "list", "--org", "00000000-0000-4000-8000-000000000001"},
	} {
		err := run(context.Background(), args, env(missing), io.Discard, io.Discard)
		require.Error(t, err, "%v", args)
		require.Contains(t, err.Error(), strings.ToLower(name), "the error names the database")
		require.False(t, exists(), "%v created the database", args)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+strings.ToLower(name))
			conn.Close(context.Background())
		}
	})
	require.NoError(t, run(context.Background(), []string{"scimd", "migrate", "--create-database"}, env(missing), io.Discard, io.Discard))
	require.True(t, exists())
}
