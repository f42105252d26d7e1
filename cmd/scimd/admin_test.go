package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/logtest"
	"github.com/scimd/scimd/internal/orgs/orgstest"
)

// cli runs scimd's administration commands in-process against a database schema of the
// test's own.
type cli struct {
	t    *testing.T
	env  map[string]string
	pool *pgxpool.Pool
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	c := &cli{t: t, env: map[string]string{"DATABASE_URL": dbtest.URL(t)}}
	c.ok("migrate")
	pool, err := pgxpool.New(context.Background(), c.env["DATABASE_URL"])
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	c.pool = pool
	return c
}

// exec runs "scimd args..." and returns its standard output and error.
func (c *cli) exec(args ...string) (string, error) {
	c.t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"scimd"}, args...), func(k string) string { return c.env[k] }, &out, io.Discard)
	return out.String(), err
}

// ok runs a command that must succeed and returns its output.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	out, err := c.exec(args...)
	require.NoError(c.t, err, "scimd %s", strings.Join(args, " "))
	return out
}

// json runs a command with --json that must succeed and decodes its output.
func (c *cli) json(args ...string) map[string]any {
	c.t.Helper()
	out := c.ok(append(args, "--json")...)
	var v map[string]any
	require.NoError(c.t, json.Unmarshal([]byte(out), &v), out)
	return v
}

// fails runs a command that must fail with an error containing every fragment, and requires
// that it changed nothing stored.
func (c *cli) fails(args []string, fragments ...string) {
	c.t.Helper()
	before := orgstest.Snapshot(c.t, c.pool)
	_, err := c.exec(args...)
	require.Error(c.t, err, "scimd %s", strings.Join(args, " "))
	for _, f := range fragments {
		require.Contains(c.t, err.Error(), f)
	}
	require.Equal(c.t, before, orgstest.Snapshot(c.t, c.pool), "scimd %s must change nothing", strings.Join(args, " "))
}

func (c *cli) createOrg(args ...string) string {
	c.t.Helper()
	v := c.json(append([]string{"org", "create"}, args...)...)
	return v["org_id"].(string)
}

func TestCLIOrg(t *testing.T) {
	t.Parallel()
	c := newCLI(t)

	out := c.ok("org", "create", "--name", "Acme", "--domain", "Acme.Example", "--product", "meeting", "--product", "whiteboard", "--json")
	var created map[string]string
	require.NoError(t, json.Unmarshal([]byte(out), &created), out)
	require.Len(t, created, 2, "org create --json prints exactly {org_id, token}: %s", out)
	require.Regexp(t, `^scimd_[0-9a-f]{64}[A-Za-z0-9_-]{43}$`, created["token"])
	org := created["org_id"]

	show := c.json("org", "show", "--org", org)
	require.Equal(t, org, show["id"])
	require.Equal(t, "Acme", show["name"])
	require.Equal(t, "en-US", show["default_locale"])
	require.Equal(t, []any{"meeting", "whiteboard"}, show["products"])
	require.Equal(t, "acme.example", show["domains"].([]any)[0].(map[string]any)["domain"])

	text := c.ok("org", "show", "--org", org)
	for _, want := range []string{"organization " + org, "name: Acme", "default locale: en-US", "products: meeting, whiteboard", "acme.example"} {
		require.Contains(t, text, want)
	}

	// Without --product the default products are licensed.
	other := c.createOrg("--name", "Globex")
	require.Equal(t, []any{"connect", "meeting", "openvoice", "training", "webinar"}, c.json("org", "show", "--org", other)["products"])

	c.fails([]string{"org", "create", "--domain", "x.example"}, "--name is required")
	c.fails([]string{"org", "create", "--name", "X", "--product", "Bad Product"}, `"Bad Product" is not a product name`)
	c.fails([]string{"org", "create", "--name", "X", "--domain", "ada@x.example"}, "is not a domain")
	c.fails([]string{"org", "show"}, "--org is required")
	c.fails([]string{"org", "show", "--org", "00000000-0000-4000-8000-000000000000"}, "there is no organization")
	c.fails([]string{"org", "archive", "--org", org}, `unknown command "org archive"`, "domain verify")
	c.fails([]string{"domain"}, `unknown command "domain"`)
	c.fails([]string{"org", "show", "--org", org, "extra"}, `unexpected argument "extra"`)

	help := c.ok("help", "admin")
	require.Contains(t, help, "token create")
}

func TestCLIDomains(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	dns := orgstest.StartDNS(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")

	out := c.ok("domain", "add", "--org", org, "--domain", "New.Example")
	require.Contains(t, out, "domain new.example added to organization "+org+", not verified yet")
	require.Contains(t, out, "name:  _scimd-challenge.new.example\n")
	value := regexp.MustCompile(`value: (scimd-verify=[0-9a-f]{32})\n`).FindStringSubmatch(out)
	require.NotNil(t, value, out)

	d := c.json("domain", "add", "--org", org, "--domain", "json.example")
	require.Equal(t, false, d["verified"])
	jsonValue := d["txt_record"].(map[string]any)["value"].(string)

	d = c.json("domain", "add", "--org", org, "--domain", "vouched.example", "--verified")
	require.Equal(t, true, d["verified"])
	require.Contains(t, c.ok("domain", "add", "--org", org, "--domain", "vouched2.example", "--verified"), "is verified")

	c.fails([]string{"domain", "add", "--org", org, "--domain", "new.example"}, "already added", value[1])
	c.fails([]string{"domain", "add", "--org", org}, "--domain is required")
	c.fails([]string{"domain", "add", "--org", org, "--domain", "no spaces.example"}, "spaces")

	// Verification over DNS, through --resolver and through SCIMD_DNS_RESOLVER.
	c.fails([]string{"domain", "verify", "--org", org, "--domain", "new.example", "--resolver", dns.Addr},
		"new.example is not verified", "no TXT record at _scimd-challenge.new.example")
	dns.SetTXT("_scimd-challenge.new.example", "scimd-verify=stale")
	c.fails([]string{"domain", "verify", "--org", org, "--domain", "new.example", "--resolver", dns.Addr},
		`"scimd-verify=stale"`, value[1])
	dns.SetTXT("_scimd-challenge.new.example", value[1])
	out = c.ok("domain", "verify", "--org", org, "--domain", "new.example", "--resolver", dns.Addr)
	require.Contains(t, out, "domain new.example of organization "+org+" is verified")

	dns.SetTXT("_scimd-challenge.json.example", jsonValue)
	c.env["SCIMD_DNS_RESOLVER"] = dns.Addr
	d = c.json("domain", "verify", "--org", org, "--domain", "json.example")
	require.Equal(t, true, d["verified"])
	delete(c.env, "SCIMD_DNS_RESOLVER")
	c.fails([]string{"domain", "verify", "--org", org, "--domain", "json.example", "--resolver", "nonsense"}, "want HOST:PORT")

	list := c.json("domain", "list", "--org", org)["domains"].([]any)
	var names []string
	for _, d := range list {
		names = append(names, d.(map[string]any)["domain"].(string))
		require.Equal(t, true, d.(map[string]any)["verified"])
	}
	require.Equal(t, []string{"acme.example", "json.example", "new.example", "vouched.example", "vouched2.example"}, names)
	require.Contains(t, c.ok("domain", "list", "--org", org), "vouched2.example")

	require.Equal(t, map[string]any{"domain": "vouched2.example", "removed": true},
		c.json("domain", "remove", "--org", org, "--domain", "VOUCHED2.example"))
	require.Contains(t, c.ok("domain", "remove", "--org", org, "--domain", "vouched.example"), "removed")
	c.fails([]string{"domain", "remove", "--org", org, "--domain", "vouched.example"}, "has no domain vouched.example")

	// Another organization's domains are not reachable under this one.
	other := c.createOrg("--name", "Globex", "--domain", "globex.example")
	c.fails([]string{"domain", "remove", "--org", org, "--domain", "globex.example"}, "has no domain globex.example")
	c.fails([]string{"domain", "remove", "--org", other, "--domain", "acme.example"}, "has no domain acme.example")
}

func TestCLIProducts(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")

	require.Equal(t, map[string]any{"product": "whiteboard"}, c.json("product", "add", "--org", org, "--product", "whiteboard"))
	require.Contains(t, c.ok("product", "add", "--org", org, "--product", "chat"), "now licenses chat")
	require.Equal(t, []any{"chat", "connect", "meeting", "openvoice", "training", "webinar", "whiteboard"},
		c.json("product", "list", "--org", org)["products"])
	require.Equal(t, "chat\nconnect\nmeeting\nopenvoice\ntraining\nwebinar\nwhiteboard\n", c.ok("product", "list", "--org", org))

	c.fails([]string{"product", "add", "--org", org, "--product", "chat"}, "already licenses the product chat")
	c.fails([]string{"product", "add", "--org", org, "--product", "Chat"}, "is not a product name")
	c.fails([]string{"product", "add", "--org", org}, "--product is required")

	u := orgstest.InsertUser(t, c.pool, org, "u@acme.example", "user", true)
	orgstest.Grant(t, c.pool, org, u, "chat")
	c.fails([]string{"product", "remove", "--org", org, "--product", "chat"}, "chat is still granted to 1 users")
	require.Equal(t, map[string]any{"product": "whiteboard", "removed": true}, c.json("product", "remove", "--org", org, "--product", "whiteboard"))
	c.fails([]string{"product", "remove", "--org", org, "--product", "whiteboard"}, `does not license a product "whiteboard"`)

	other := c.createOrg("--name", "Globex")
	c.fails([]string{"product", "remove", "--org", other, "--product", "chat"}, `does not license a product "chat"`)
}

func TestCLITokens(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	admin := orgstest.InsertUser(t, c.pool, org, "admin@acme.example", "admin", true)
	plain := orgstest.InsertUser(t, c.pool, org, "plain@acme.example", "user", true)

	out := c.ok("token", "create", "--org", org, "--issuer", admin)
	m := regexp.MustCompile(`(?m)^token ([0-9a-f-]{36}) issued by ` + admin + `, expires never\ntoken \(shown once\): (scimd_\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, m, out)
	textID, secret := m[1], m[2][len("scimd_")+64:]

	tok := c.json("token", "create", "--org", org, "--issuer", admin, "--expires", "2h")
	require.Regexp(t, `^scimd_`, tok["token"])
	expires, err := time.Parse(time.RFC3339Nano, tok["expires_at"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now().Add(2*time.Hour), expires, time.Minute)

	c.fails([]string{"token", "create", "--org", org, "--issuer", plain}, `orgRole "user"`)
	c.fails([]string{"token", "create", "--org", org}, "needs a role", "or an issuer")
	c.fails([]string{"token", "create", "--org", org, "--role", "user"}, `"user" is not a token role`)

	// A service token belongs to no person: a label and a role of its own.
	out = c.ok("token", "create", "--org", org, "--role", "admin", "--label", "Entra ID")
	require.Regexp(t, `(?m)^service token [0-9a-f-]{36} "Entra ID" with role admin, expires never\ntoken \(shown once\): scimd_\S+$`, out)
	svc := c.json("token", "create", "--org", org, "--role", "admin-readonly", "--label", "Okta", "--expires", "720h")
	require.Equal(t, "admin-readonly", svc["role"])
	require.Equal(t, "Okta", svc["label"])
	require.Empty(t, svc["issuer_user_id"])
	require.Regexp(t, `^scimd_`, svc["token"])
	c.fails([]string{"token", "create", "--org", org, "--issuer", admin, "--expires", "-1h"}, "negative")
	c.fails([]string{"token", "create", "--org", org, "--issuer", admin, "--expires", "soon"}, "invalid value")

	list := c.json("token", "list", "--org", org)
	raw, err := json.Marshal(list)
	require.NoError(t, err)
	require.NotContains(t, string(raw), secret)
	require.Len(t, list["tokens"], 5)
	text := c.ok("token", "list", "--org", org)
	require.Contains(t, text, "operator")
	require.Contains(t, text, "Entra ID")
	require.Contains(t, text, "role admin-readonly")
	require.Contains(t, text, textID)
	require.NotContains(t, text, secret)

	out = c.ok("token", "revoke", "--org", org, "--id", textID)
	require.Contains(t, out, "token "+textID+" revoked at ")
	revoked := c.json("token", "revoke", "--org", org, "--id", tok["id"].(string))
	require.NotNil(t, revoked["revoked_at"])
	c.fails([]string{"token", "revoke", "--org", org, "--id", "nope"}, `has no token "nope"`)

	other := c.createOrg("--name", "Globex")
	c.fails([]string{"token", "revoke", "--org", other, "--id", textID}, "has no token")
	c.fails([]string{"token", "create", "--org", other, "--issuer", admin}, "is not a user of organization "+other)
}

// serveAdmin runs "scimd serve" with env until the test ends and returns its root URL.
func serveAdmin(t *testing.T, env map[string]string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out logtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"scimd", "serve", "--addr", "127.0.0.1:0"}, func(k string) string { return env[k] }, &out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	re := regexp.MustCompile(`SCIM base URL: (http://\S+)/scim/v2`)
	var root string
	eventually.Holds(t, "serve to start", func() bool {
		select {
		case err := <-done:
			done <- err // for the cleanup, which waits for run's result
			t.Fatalf("serve ended: %v", err)
		default:
		}
		if m := re.FindStringSubmatch(out.String()); m != nil {
			root = m[1]
		}
		return root != ""
	})
	return root
}

func adminGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(body)
}

func TestServeAdminAPI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	const token = "serve-admin-token-0123456789"

	env := map[string]string{"DATABASE_URL": c.env["DATABASE_URL"], "SCIMD_ADMIN_TOKEN": token}
	root := serveAdmin(t, env)
	status, body := adminGet(t, root+"/admin/v1/orgs/"+org, token)
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, `"name":"Acme"`)
	status, _ = adminGet(t, root+"/admin/v1/orgs/"+org, "")
	require.Equal(t, http.StatusUnauthorized, status)

	// Without an admin token the admin API is not there.
	root = serveAdmin(t, map[string]string{"DATABASE_URL": c.env["DATABASE_URL"]})
	status, _ = adminGet(t, root+"/admin/v1/orgs/"+org, token)
	require.Equal(t, http.StatusNotFound, status)

	_, err := c.exec("serve", "--addr", "127.0.0.1:0", "--admin-token", "short")
	require.ErrorContains(t, err, "--admin-token must be at least 16 characters")
	_, err = c.exec("serve", "--addr", "127.0.0.1:0", "--dns-resolver", "nonsense")
	require.ErrorContains(t, err, "want HOST:PORT")
}

// The organization's lifecycle and the user commands for support staff, as an operator runs
// them: the same rules as the admin API and SCIM.
func TestCLILifecycle(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	org := c.createOrg("--name", "Acme", "--domain", "acme.example")
	other := c.createOrg("--name", "Globex")
	admin := orgstest.InsertUser(t, c.pool, org, "admin@acme.example", "admin", true)
	user := orgstest.InsertUser(t, c.pool, org, "bob@acme.example", "user", true)

	list := c.json("org", "list", "--limit", "1")
	require.Len(t, list["orgs"], 1)
	require.NotNil(t, list["next_cursor"])
	next := c.json("org", "list", "--cursor", list["next_cursor"].(string))
	require.Equal(t, other, next["orgs"].([]any)[0].(map[string]any)["id"])

	set := c.json("org", "set", "--org", org, "--name", "Acme Corp", "--default-locale", "de_de", "--notify=false")
	require.Equal(t, "Acme Corp", set["name"])
	require.Equal(t, "de-DE", set["default_locale"])
	require.Equal(t, false, set["notify"])
	c.fails([]string{"org", "set", "--org", org, "--default-locale", "klingon", "--notify=true"}, "default_locale")
	c.fails([]string{"org", "set", "--org", org}, "nothing to change")

	users := c.json("user", "list", "--org", org, "--filter", `userName sw "bob"`)
	require.EqualValues(t, 1, users["total_results"])
	out := c.ok("user", "suspend", "--org", org, "--id", user)
	require.Contains(t, out, "status: suspended")
	shown := c.json("user", "show", "--org", org, "--id", strings.ToUpper(user))
	require.Equal(t, false, shown["active"])
	c.ok("user", "reactivate", "--org", org, "--id", user)
	c.fails([]string{"user", "suspend", "--org", org, "--id", admin}, "without an active admin")
	c.fails([]string{"user", "delete", "--org", org, "--id", admin}, "without an active admin")
	require.Equal(t, map[string]any{"user": user, "deleted": true}, c.json("user", "delete", "--org", org, "--id", user))
	c.fails([]string{"user", "show", "--org", org, "--id", user}, "no User")

	c.fails([]string{"org", "delete", "--org", org}, "--yes")
	require.Equal(t, map[string]any{"org": org, "deleted": true}, c.json("org", "delete", "--org", org, "--yes"))
	c.fails([]string{"org", "show", "--org", org}, "there is no organization")
	c.fails([]string{"org", "delete", "--org", org, "--yes"}, "there is no organization")
	require.Equal(t, 1, orgstest.Count(t, c.pool, `SELECT count(*) FROM organization_tombstones WHERE id = $1`, org))
	require.Zero(t, orgstest.Count(t, c.pool, `SELECT count(*) FROM users WHERE org_id = $1`, org))
}
