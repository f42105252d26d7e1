package main

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/webhook"
)

func TestCLIWebhooks(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	other := c.createOrg("--name", "Globex", "--domain", "globex.example")

	w := c.json("webhook", "add", "--org", org, "--url", "https://Hooks.Acme.Example/scimd")
	require.Equal(t, "https://hooks.acme.example/scimd", w["url"])
	raw, err := base64.RawURLEncoding.DecodeString(w["secret"].(string))
	require.NoError(t, err)
	require.Len(t, raw, 32)
	id := w["id"].(string)

	out := c.ok("webhook", "add", "--org", org, "--url", "http://127.0.0.1:9000/hook")
	require.Regexp(t, `^webhook [0-9a-f-]{36} added to organization `+org+`: http://127.0.0.1:9000/hook\n`+
		`signing secret \(shown once\): [A-Za-z0-9_-]{43}\n$`, out)

	list := c.ok("webhook", "list", "--org", org)
	require.Contains(t, list, id)
	require.Contains(t, list, "https://hooks.acme.example/scimd")
	require.NotContains(t, list, w["secret"])
	hooks := c.json("webhook", "list", "--org", org)["webhooks"].([]any)
	require.Len(t, hooks, 2)
	require.Equal(t, map[string]any{"id": id, "url": w["url"], "created": w["created"]}, hooks[0])
	require.Empty(t, c.json("webhook", "list", "--org", other)["webhooks"])

	count := func() int { return orgstest.Count(t, c.pool, `SELECT count(*) FROM webhook_endpoints`) }
	fails := func(args []string, fragments ...string) {
		t.Helper()
		before := count()
		c.fails(args, fragments...)
		require.Equal(t, before, count())
	}
	fails([]string{"webhook", "add", "--org", org}, "--url is required")
	fails([]string{"webhook", "add", "--url", "https://x.example"}, "--org is required")
	fails([]string{"webhook", "add", "--org", org, "--url", "ftp://x.example/in"}, `has the scheme "ftp"; only http and https are accepted`)
	fails([]string{"webhook", "add", "--org", org, "--url", "https://hooks.acme.example/scimd"}, "already has the webhook "+id)
	fails([]string{"webhook", "add", "--org", uuid.NewString(), "--url", "https://x.example"}, "there is no organization")
	fails([]string{"webhook", "remove", "--org", org}, "--id is required")
	fails([]string{"webhook", "remove", "--org", other, "--id", id}, "organization "+other+" has no webhook")
	fails([]string{"webhook", "rotate", "--org", org}, `unknown command "webhook rotate"`, "webhook add")

	require.Equal(t, map[string]any{"webhook": id, "removed": true}, c.json("webhook", "remove", "--org", org, "--id", id))
	fails([]string{"webhook", "remove", "--org", org, "--id", id}, "has no webhook")
	require.Len(t, c.json("webhook", "list", "--org", org)["webhooks"], 1)
	require.Contains(t, c.ok("help", "admin"), "webhook add")
}

// "scimd serve" runs the webhook worker without any configuration.
func TestServeDeliversWebhooks(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme")
	type got struct {
		header http.Header
		body   []byte
	}
	arrived := make(chan got, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		arrived <- got{r.Header.Clone(), body}
	}))
	t.Cleanup(srv.Close)
	w := c.json("webhook", "add", "--org", org, "--url", srv.URL)
	_, _, stop := startServe(t, c.env["DATABASE_URL"])

	event := uuid.NewString()
	_, err := c.pool.Exec(context.Background(), `INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, url, secret)
		SELECT $1, $2, e.id, $4, 'account.purged', jsonb_build_object('id', $5::text, 'type', 'account.purged'), e.url, e.secret
		FROM webhook_endpoints e WHERE e.org_id = $1 AND e.id = $3`,
		org, uuid.NewString(), w["id"], event, event)
	require.NoError(t, err)
	select {
	case g := <-arrived:
		require.Equal(t, event, g.header.Get(webhook.HeaderEventID))
		require.NoError(t, webhook.Verify(w["secret"].(string), g.header.Get(webhook.HeaderSignature), g.body, time.Minute, time.Now()))
	case <-time.After(20 * time.Second):
		t.Fatal("serve delivered no webhook")
	}
	eventually.Holds(t, "the delivery marked delivered", func() bool {
		return orgstest.Count(t, c.pool, `SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NOT NULL`) == 1
	})
	require.NoError(t, stop())
}
