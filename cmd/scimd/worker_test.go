package main

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/logtest"
	"github.com/scimd/scimd/internal/notify/smtptest"
)

// queueNotification stores an organization's notification as provisioning would.
func queueNotification(t *testing.T, c *cli, org, recipient, lang, kind, data string) {
	t.Helper()
	_, err := c.pool.Exec(context.Background(), `INSERT INTO notifications (org_id, id, user_id, recipient, language, kind, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, org, uuid.NewString(), uuid.NewString(), recipient, lang, kind, data)
	require.NoError(t, err)
}

func TestWorkerCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	srv := smtptest.Start(t, smtptest.Options{Users: map[string]string{"mailer": "hunter2"}})
	queueNotification(t, c, org, "ada@acme.example", "fr", "welcome", `{"product": "meeting"}`)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	env := map[string]string{"DATABASE_URL": c.env["DATABASE_URL"], "SMTP_URL": srv.URL("mailer", "hunter2", ""),
		"SCIMD_MAIL_FROM": "Acme IT <it@acme.example>"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"scimd", "worker", "--poll", "20ms"}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	eventually.Holds(t, "the notification delivered", func() bool { return len(srv.Messages()) == 1 })
	m := srv.Messages()[0]
	require.Equal(t, "Bienvenue dans Meeting", m.Subject)
	require.Equal(t, "it@acme.example", m.From)
	require.Equal(t, []string{"ada@acme.example"}, m.To)
	require.Equal(t, "mailer", m.AuthUser)

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("scimd worker did not stop within 10s of its context's cancellation")
	}
	require.Contains(t, stdout.String(), "delivering notifications through smtp://"+srv.Addr)
	for _, out := range []string{stdout.String(), stderr.String()} {
		require.NotContains(t, out, "hunter2")
		require.NotContains(t, out, "ada@acme.example")
	}
}

// "scimd worker" (and "scimd serve", sharing the flags) prunes what the retention flags say,
// and only that.
func TestWorkerRetention(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	_, err := c.pool.Exec(context.Background(), `INSERT INTO audit_log (org_id, id, at, action, resource_type, resource_id)
		SELECT $1, gen_random_uuid(), now() - i * interval '1 day', 'update', 'User', gen_random_uuid()
		FROM generate_series(1, 40) i`, org)
	require.NoError(t, err)
	audit := func() int {
		var n int
		require.NoError(t, c.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE org_id = $1`, org).Scan(&n))
		return n
	}
	before := audit()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr logtest.Buffer
	env := map[string]string{"DATABASE_URL": c.env["DATABASE_URL"], "SCIMD_AUDIT_RETENTION": "30d"}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"scimd", "worker"}, func(k string) string { return env[k] }, &stdout, &stderr)
	}()
	eventually.Holds(t, "audit records older than 30 days pruned", func() bool { return audit() == before-11 })
	cancel()
	require.NoError(t, <-done)
	require.Contains(t, stderr.String(), `"msg":"retention started","audit":"720h0m0s"`)

	var out bytes.Buffer
	err = run(context.Background(), []string{"scimd", "worker", "--outbox-retention", "soon"},
		func(k string) string { return env[k] }, io.Discard, &out)
	require.ErrorContains(t, err, `retention "soon": give a number of days such as 90d`)
}

func TestWorkerCommandErrors(t *testing.T) {
	t.Parallel()
	dbURL := newCLI(t).env["DATABASE_URL"]
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want string
	}{
		"bad SMTP URL":   {[]string{"worker", "--smtp-url", "smtp://u:hunter2@host?starttls=maybe"}, nil, "starttls=maybe"},
		"bad scheme":     {[]string{"worker"}, map[string]string{"SMTP_URL": "https://u:hunter2@host"}, `scheme "https"`},
		"bad poll":       {[]string{"worker", "--smtp-url", "smtp://host", "--poll", "0s"}, nil, "--poll must be positive"},
		"bad poll env":   {[]string{"worker", "--smtp-url", "smtp://host"}, map[string]string{"SCIMD_NOTIFY_POLL": "often"}, "SCIMD_NOTIFY_POLL"},
		"extra argument": {[]string{"worker", "--smtp-url", "smtp://host", "now"}, nil, `unexpected argument "now"`},
		"unknown flag":   {[]string{"worker", "--smtp", "smtp://host"}, nil, "flag provided but not defined"},
		"bad from": {[]string{"worker", "--smtp-url", "smtp://host", "--mail-from", "not an address"},
			map[string]string{"DATABASE_URL": dbURL}, "--mail-from (SCIMD_MAIL_FROM)"},
		"bad from env": {[]string{"worker", "--smtp-url", "smtp://host"},
			map[string]string{"SCIMD_MAIL_FROM": "nobody"}, `"nobody" is not an email address`},
		"serve, bad rate limit env": {[]string{"serve", "--addr", "127.0.0.1:0"},
			map[string]string{"SCIMD_RATE_LIMIT": "lots"}, `SCIMD_RATE_LIMIT="lots"`},
		"bad retention env": {[]string{"worker"}, map[string]string{"SCIMD_AUDIT_RETENTION": "1y"}, `SCIMD_AUDIT_RETENTION="1y"`},
		"serve, bad SMTP URL": {[]string{"serve", "--addr", "127.0.0.1:0"},
			map[string]string{"SMTP_URL": "smtp://u:hunter2@host?x=1"}, `unknown parameter "x"`},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), append([]string{"scimd"}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard, &stderr)
		require.Error(t, err, name)
		require.Contains(t, err.Error()+stderr.String(), tc.want, name)
		require.NotContains(t, err.Error(), "hunter2", name)
	}
}

// "scimd serve" runs the worker when an SMTP server is configured, and stops it on shutdown.
func TestServeRunsWorker(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	srv := smtptest.Start(t, smtptest.Options{})
	queueNotification(t, c, org, "gunter@acme.example", "de", "suspended", `{}`)
	_, out, stop := startServe(t, c.env["DATABASE_URL"], "--smtp-url", srv.URL("", "", ""), "--poll", "20ms",
		"--mail-from", "it@acme.example")
	eventually.Holds(t, "the notification delivered", func() bool { return len(srv.Messages()) == 1 })
	require.Equal(t, "Ihr Konto bei Acme wurde gesperrt", srv.Messages()[0].Subject)
	require.NoError(t, stop())
	require.NotContains(t, out.String(), "gunter@")

	// Delivery resumes with the next serve.
	queueNotification(t, c, org, "jan@acme.example", "nl", "reactivated", `{}`)
	_, _, stop = startServe(t, c.env["DATABASE_URL"], "--smtp-url", srv.URL("", "", ""), "--poll", "20ms")
	eventually.Holds(t, "the second notification delivered", func() bool { return len(srv.Messages()) == 2 })
	require.Equal(t, "Uw account bij Acme is opnieuw geactiveerd", srv.Messages()[1].Subject)
	require.NoError(t, stop())
}

func TestCLIOrgSetNotify(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	v := c.json("org", "set", "--org", org, "--notify=false")
	require.Equal(t, false, v["notify"])
	require.Equal(t, false, v["nested_groups"])
	require.Equal(t, org, v["id"])
	var stored bool
	require.NoError(t, c.pool.QueryRow(context.Background(), `SELECT notify FROM organizations WHERE id = $1`, org).Scan(&stored))
	require.False(t, stored)

	out := c.ok("org", "set", "--org", org, "--notify")
	require.Equal(t, "organization "+org+" (Acme, default locale en-US): nested groups disabled, notifications on\n", out)
	out = c.ok("org", "set", "--org", org, "--notify=true", "--nested-groups=true")
	require.Equal(t, "organization "+org+" (Acme, default locale en-US): nested groups enabled, notifications on\n", out)

	c.fails([]string{"org", "set", "--org", org}, "nothing to change", "--notify")
	c.fails([]string{"org", "set", "--org", org, "--notify=maybe"}, "want true or false")
	c.fails([]string{"org", "set", "--org", uuid.NewString(), "--notify=false"}, "there is no organization")
	c.fails([]string{"org", "set", "--notify=false"}, "--org is required")
}
