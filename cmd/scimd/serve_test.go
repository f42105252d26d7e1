package main

// "scimd serve" as a process: version and help, shutdown order, the admin listener and
// /metrics, TLS reloaded on SIGHUP, timeouts, oversized bodies, failed authentication.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
)

// Not parallel: it sets the package's version variable, which parallel tests read.
func TestVersion(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"scimd", "version"}, env(""), &out, io.Discard))
	require.Regexp(t, `^scimd \S+`, out.String())

	version = "1.4.2"
	defer func() { version = "" }()
	out.Reset()
	require.NoError(t, run(context.Background(), []string{"scimd", "version"}, env(""), &out, io.Discard))
	require.True(t, strings.HasPrefix(out.String(), "scimd 1.4.2"), out.String())
}

// Every command's -h prints its flags and succeeds.
func TestHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"serve", "-h"}, {"serve", "--help"}, {"migrate", "-h"}, {"worker", "-h"},
		{"org", "create", "-h"}, {"org", "show", "-h"}, {"org", "set", "-h"},
		{"domain", "add", "-h"}, {"domain", "list", "-h"}, {"product", "add", "-h"},
		{"token", "create", "-h"}, {"token", "list", "-h"}, {"group-mapping", "set", "-h"},
		{"webhook", "add", "-h"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), append([]string{"scimd"}, args...), env(""), io.Discard, &stderr)
		require.NoError(t, err, "%v", args)
		require.Contains(t, stderr.String(), "Usage", "%v", args)
	}
	for _, args := range [][]string{{"org", "-h"}, {"token", "--help"}, {"domain", "help"}, {"-h"}, {"help", "admin"}} {
		var stdout bytes.Buffer
		require.NoError(t, run(context.Background(), append([]string{"scimd"}, args...), env(""), &stdout, io.Discard), "%v", args)
		require.Contains(t, stdout.String(), "usage: scimd", "%v", args)
	}
	var stderr bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"scimd", "serve", "-h"}, env(""), io.Discard, &stderr))
	for _, flag := range []string{"-drain", "-grace", "-admin-addr", "-tls-cert", "-db-max-conns", "SCIMD_DB_STATEMENT_TIMEOUT"} {
		require.Contains(t, stderr.String(), flag)
	}
}

func TestServeFlagErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"SCIMD_GRACE": "soon"}, nil, `SCIMD_GRACE="soon"`},
		{nil, []string{"--trusted-proxies", "10.0.0.0/8,proxy"}, `"proxy" is neither an address nor a CIDR`},
		{nil, []string{"--tls-cert", "cert.pem"}, "--tls-cert and --tls-key go together"},
		{nil, []string{"--tls-cert", "/nonexistent/c.pem", "--tls-key", "/nonexistent/k.pem"}, "/nonexistent/c.pem"},
		{nil, []string{"--drain", "-1s"}, "--drain must not be negative"},
		{nil, []string{"--db-max-conns", "0"}, "--db-max-conns must be at least 1"},
	}
	for _, c := range cases {
		getenv := func(k string) string { return c.env[k] }
		err := run(context.Background(), append([]string{"scimd", "serve"}, c.args...), getenv, io.Discard, io.Discard)
		require.Error(t, err, "%v %v", c.env, c.args)
		require.Contains(t, err.Error(), c.want)
	}
}

// orgToken creates an organization on dbURL and returns its id and operator token.
func orgToken(t *testing.T, dbURL, domain string) (string, string) {
	t.Helper()
	var out bytes.Buffer
	require.NoError(t, run(context.Background(), []string{"scimd", "org", "create", "--name", domain, "--domain", domain, "--json"},
		env(dbURL), &out, io.Discard))
	var created map[string]string
	require.NoError(t, json.Unmarshal(out.Bytes(), &created), out.String())
	return created["org_id"], created["token"]
}

// slowCreate starts a POST /Users whose body arrives in two parts: with "Expect:
// 100-continue" the client sends nothing before the handler reads, so once the first part is
// taken from the pipe the request is inside the handler. finish sends the rest; status
// receives the answer's status, or -1 when the request failed. The body ends with the test.
func slowCreate(t *testing.T, base, token, userName string) (finish func(), status chan int) {
	t.Helper()
	pr, pw := io.Pipe()
	req, err := http.NewRequest(http.MethodPost, base+"/Users", pr)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/scim+json")
	req.Header.Set("Expect", "100-continue")
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Minute}}
	t.Cleanup(client.CloseIdleConnections)
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	status = make(chan int, 1)
	go func() {
		res, err := client.Do(req)
		if err != nil {
			status <- -1
			return
		}
		res.Body.Close()
		status <- res.StatusCode
	}()
	_, err = fmt.Fprintf(pw, `{"userName":%q,`, userName)
	require.NoError(t, err)
	return func() {
		_, err := pw.Write([]byte(`"displayName":"In Flight"}`))
		require.NoError(t, err)
		require.NoError(t, pw.Close())
	}, status
}

func listening(addr string) bool {
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	return err == nil
}

func getStatus(url string) int { return authorizedStatus(url, "") }

// authorizedStatus is the status of a GET of url with a bearer token (none when token is
// empty), or -1 when no answer came.
func authorizedStatus(url, token string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return -1
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	res.Body.Close()
	return res.StatusCode
}

// SIGTERM: /readyz turns 503 at once while requests are still served for the drain period;
// then the listener closes, the request in flight completes, and run returns nil (exit 0).
func TestServeShutdownOrder(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "drain.example")
	p := startServeProcess(t, env(dbURL), "--drain", "3s", "--grace", "20s")
	addr := strings.TrimPrefix(p.root, "http://")
	require.Equal(t, http.StatusOK, getStatus(p.root+"/readyz"))

	finish, status := slowCreate(t, p.base, token, "inflight@drain.example")
	stopped := make(chan error, 1)
	go func() { stopped <- p.stop() }()

	eventually.Holds(t, "/readyz to answer 503", func() bool { return getStatus(p.root+"/readyz") == http.StatusServiceUnavailable })
	code, body := httpGet(t, p.base+"/Users", token)
	require.Equal(t, http.StatusOK, code, "requests are served during the drain: %s", body)
	require.True(t, listening(addr))

	eventually.Holds(t, "the listener to close after the drain", func() bool { return !listening(addr) })
	select {
	case err := <-stopped:
		t.Fatalf("serve returned (%v) before its in-flight request finished", err)
	default:
	}
	finish()
	require.Equal(t, http.StatusCreated, <-status, "the in-flight request completes")
	require.NoError(t, <-stopped, "exit code 0")

	log := p.log.String()
	iDrain := strings.Index(log, "shutting down: /readyz answers 503")
	iClose := strings.Index(log, "closing the listeners")
	iStopped := strings.Index(log, `"msg":"stopped"`)
	require.True(t, iDrain >= 0 && iDrain < iClose && iClose < iStopped, "%s", log)
	require.NotContains(t, log, "grace period over")
	require.NotContains(t, log, `"level":"ERROR"`)

	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "SELECT count(*) FROM users WHERE user_name = 'inflight@drain.example'").Scan(&n))
	require.Equal(t, 1, n)
}

// A request still running when the grace period is over is cancelled; the process still
// stops as asked, with exit code 0.
func TestServeGraceRunsOut(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "grace.example")
	p := startServeProcess(t, env(dbURL), "--grace", "1s")
	_, status := slowCreate(t, p.base, token, "never@grace.example")
	start := time.Now()
	require.NoError(t, p.stop())
	require.Less(t, time.Since(start), 10*time.Second)
	require.Contains(t, p.log.String(), "grace period over: cancelling the requests still running")
	select {
	case code := <-status:
		t.Fatalf("the unfinished request was answered %d", code)
	default: // its client is still sending; its connection was closed under it
	}
}

// --admin-addr: the admin API and /metrics are served there and only there; SCIM is not.
func TestServeAdminListenerAndMetrics(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	org, token := orgToken(t, dbURL, "metrics.example")
	const adminToken = "admin-token-0123456789abcdef"
	p := startServeProcess(t, env(dbURL), "--admin-addr", "127.0.0.1:0", "--admin-token", adminToken, "--db-max-conns", "7")
	var admin string
	eventually.Holds(t, "the admin listener line", func() bool {
		m := regexp.MustCompile(`admin API and metrics: (\S+)`).FindStringSubmatch(p.out.String())
		if m != nil {
			admin = m[1]
		}
		return m != nil
	})
	adminGet := func(url string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		return res.StatusCode, string(b)
	}

	// The main listener: SCIM and health, no admin API, no metrics.
	code, _ := httpGet(t, p.base+"/Users", token)
	require.Equal(t, http.StatusOK, code)
	code, _ = adminGet(p.root + "/admin/v1/orgs/" + org)
	require.Equal(t, http.StatusNotFound, code)
	code, _ = httpGet(t, p.root+"/metrics", "")
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, http.StatusOK, getStatus(p.root+"/healthz"))

	// The admin listener: the admin API, metrics and health, no SCIM.
	code, body := adminGet(admin + "/admin/v1/orgs/" + org)
	require.Equal(t, http.StatusOK, code, body)
	code, _ = httpGet(t, admin+"/scim/v2/Users", token)
	require.Equal(t, http.StatusNotFound, code)
	require.Equal(t, http.StatusOK, getStatus(admin+"/readyz"))

	// A notification due for 90 seconds, as the queue metrics see it.
	conn, err := pgx.Connect(context.Background(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), `INSERT INTO notifications (org_id, id, user_id, recipient, language, kind, next_attempt_at)
		VALUES ($1, gen_random_uuid(), gen_random_uuid(), 'someone@metrics.example', 'en', 'welcome', now() - interval '90 seconds')`, org)
	require.NoError(t, err)
	code, metrics := httpGet(t, admin+"/metrics", "")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{
		`scimd_build_info{goversion="go`,
		`scimd_db_pool_max_conns 7`,
		`scimd_queue_pending{queue="notifications"} 1`,
		`scimd_queue_due{queue="notifications"} 1`,
		`scimd_queue_pending{queue="webhooks"} 0`,
		`scimd_http_requests_total{code="200",method="GET",route="/scim/v2/Users"} 1`,
	} {
		require.Contains(t, string(metrics), want)
	}
	age := regexp.MustCompile(`scimd_queue_oldest_due_age_seconds\{queue="notifications"\} (\S+)`).FindSubmatch(metrics)
	require.NotNil(t, age, "%s", metrics)
	var seconds float64
	_, err = fmt.Sscan(string(age[1]), &seconds)
	require.NoError(t, err)
	require.GreaterOrEqual(t, seconds, 90.0)

	require.Regexp(t, `"msg":"serving".*"version":".+".*"admin_addr":"127.0.0.1:\d+"`, p.log.String())
}

// Failed authentication is limited per address for SCIM and admin tokens together; valid
// tokens of either kind still pass.
func TestServeAuthFailureLimit(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "guess.example")
	const adminToken = "admin-token-0123456789abcdef"
	p := startServeProcess(t, env(dbURL), "--admin-token", adminToken, "--auth-failure-rate", "0.01", "--auth-failure-burst", "3")
	statuses := []int{}
	for _, url := range []string{p.base + "/Users", p.root + "/admin/v1/orgs/x", p.base + "/Groups", p.root + "/admin/v1/orgs/x"} {
		code, _ := httpGet(t, url, "wrong-token")
		statuses = append(statuses, code)
	}
	require.Equal(t, []int{401, 401, 401, 429}, statuses)
	code, _ := httpGet(t, p.base+"/Users", token)
	require.Equal(t, http.StatusOK, code, "a valid SCIM token is never refused")
	code, _ = httpGet(t, p.root+"/admin/v1/orgs/00000000-0000-4000-8000-000000000001", adminToken)
	require.Equal(t, http.StatusNotFound, code, "nor the admin token")
	code, _ = httpGet(t, p.base+"/Users", "scimd_"+strings.Repeat("0", 139))
	require.Equal(t, http.StatusTooManyRequests, code)
}

// A token has no rate limit unless one is set: 200 requests in parallel with a burst of one are
// all served (under the old default of 2,000/s, requests arriving within half a millisecond
// of each other got 429). With --rate-limit, the second request of a burst of one gets 429.
func TestServeRateLimitOnlyWhenSet(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "paced.example")
	statuses := func(p *served, n int) map[int]int {
		codes := make(chan int, n)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range n / 8 {
					codes <- authorizedStatus(p.base+"/Users?count=1", token)
				}
			})
		}
		wg.Wait()
		close(codes)
		counts := map[int]int{}
		for c := range codes {
			counts[c]++
		}
		return counts
	}
	p := startServeProcess(t, env(dbURL), "--rate-burst", "1")
	require.Equal(t, map[int]int{http.StatusOK: 200}, statuses(p, 200))
	limited := startServeProcess(t, env(dbURL), "--rate-limit", "0.01", "--rate-burst", "1")
	require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusTooManyRequests: 7}, statuses(limited, 8))
}

// sendFirst writes the whole request before reading the answer, as Python's http.client does.
func sendFirst(addr, head string, body []byte) (*http.Response, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		return nil, err
	}
	if _, err := c.Write(body); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadAll(res.Body)
	res.Body.Close()
	return res, err
}

func TestServeOversizedBody(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "big.example")
	p := startServeProcess(t, env(dbURL))
	body := bytes.Repeat([]byte("x"), 12<<20)
	head := fmt.Sprintf("POST /scim/v2/Users HTTP/1.1\r\nHost: scimd.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nContent-Length: %d\r\n\r\n", token, len(body))
	res, err := sendFirst(strings.TrimPrefix(p.root, "http://"), head, body)
	require.NoError(t, err, "the client reads the answer, not a broken pipe")
	require.Equal(t, http.StatusRequestEntityTooLarge, res.StatusCode)
}

// A body trickled at a byte every 300 ms holds its connection no longer than --read-timeout.
func TestServeReadTimeout(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	_, token := orgToken(t, dbURL, "slow.example")
	p := startServeProcess(t, env(dbURL), "--read-timeout", "1s")
	c, err := net.Dial("tcp", strings.TrimPrefix(p.root, "http://"))
	require.NoError(t, err)
	defer c.Close()
	_, err = fmt.Fprintf(c, "POST /scim/v2/Users HTTP/1.1\r\nHost: scimd.test\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n", token)
	require.NoError(t, err)
	start := time.Now()
	go func() {
		for {
			time.Sleep(300 * time.Millisecond)
			if _, err := c.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err = io.Copy(io.Discard, c) // whatever the server answers, until it closes
	require.NoError(t, err, "the server closed the connection")
	require.Less(t, time.Since(start), 4*time.Second)
}

// writeCert writes a self-signed certificate for 127.0.0.1 with the given serial number.
func writeCert(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "scimd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

// HTTPS from certificate files; SIGHUP loads the new files for new connections while an open
// connection goes on.
func TestServeTLSReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.URL(t)
	dir := t.TempDir()
	certFile, keyFile := writeCert(t, dir, 1)
	p := startServeProcess(t, env(dbURL), "--tls-cert", certFile, "--tls-key", keyFile)
	require.True(t, strings.HasPrefix(p.base, "https://127.0.0.1:"), p.base)

	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	}
	// get returns the serial of the certificate the connection was opened with, and whether
	// the connection was reused.
	get := func(c *http.Client) (serial int64, reused bool) {
		req, err := http.NewRequest(http.MethodGet, p.root+"/healthz", nil)
		require.NoError(t, err)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
		}))
		res, err := c.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode)
		return res.TLS.PeerCertificates[0].SerialNumber.Int64(), reused
	}
	old := newClient()
	serial, _ := get(old)
	require.EqualValues(t, 1, serial)

	writeCert(t, dir, 2)
	require.NoError(t, syscall.Kill(os.Getpid(), syscall.SIGHUP))
	eventually.Holds(t, "the reloaded certificate", func() bool {
		c := newClient()
		defer c.CloseIdleConnections()
		serial, _ := get(c)
		return serial == 2
	})
	serial, reused := get(old)
	require.True(t, reused, "the connection opened before the reload is still open")
	require.EqualValues(t, 1, serial)
	require.Contains(t, p.log.String(), "reloaded the TLS certificate")
}
