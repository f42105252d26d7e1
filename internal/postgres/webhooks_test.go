package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
)

func TestWebhookStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	store := postgres.NewOrgs(pool)
	a, err := store.CreateOrg(ctx, "", "Acme", nil)
	require.NoError(t, err)
	b, err := store.CreateOrg(ctx, "", "Globex", nil)
	require.NoError(t, err)

	w1, err := store.InsertWebhook(ctx, a.OrgID, orgs.Webhook{ID: uuid.NewString(), URL: "https://a.example/1"}, "s1")
	require.NoError(t, err)
	require.False(t, w1.Created.IsZero())
	require.Equal(t, time.UTC, w1.Created.Location())
	_, err = store.InsertWebhook(ctx, a.OrgID, orgs.Webhook{ID: uuid.NewString(), URL: "https://a.example/2"}, "s2")
	require.NoError(t, err)
	var exists *orgs.WebhookExistsError
	_, err = store.InsertWebhook(ctx, a.OrgID, orgs.Webhook{ID: uuid.NewString(), URL: "https://a.example/1"}, "s3")
	require.ErrorAs(t, err, &exists)
	require.Equal(t, w1.ID, exists.ID)
	// Another organization may register the same URL.
	_, err = store.InsertWebhook(ctx, b.OrgID, orgs.Webhook{ID: uuid.NewString(), URL: "https://a.example/1"}, "s4")
	require.NoError(t, err)
	_, err = store.InsertWebhook(ctx, uuid.NewString(), orgs.Webhook{ID: uuid.NewString(), URL: "https://x.example"}, "s")
	require.ErrorIs(t, err, orgs.ErrNoOrg)

	ws, err := store.ListWebhooks(ctx, a.OrgID)
	require.NoError(t, err)
	require.Len(t, ws, 2)
	require.Equal(t, "https://a.example/1", ws[0].URL)
	require.Equal(t, "https://a.example/2", ws[1].URL)
	_, err = store.ListWebhooks(ctx, uuid.NewString())
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	ws, err = store.ListWebhooks(ctx, b.OrgID)
	require.NoError(t, err)
	require.Len(t, ws, 1)

	require.ErrorIs(t, store.DeleteWebhook(ctx, b.OrgID, w1.ID), orgs.ErrNotFound, "another organization's webhook")
	require.ErrorIs(t, store.DeleteWebhook(ctx, uuid.NewString(), w1.ID), orgs.ErrNoOrg)
	require.NoError(t, store.DeleteWebhook(ctx, a.OrgID, w1.ID))
	require.ErrorIs(t, store.DeleteWebhook(ctx, a.OrgID, w1.ID), orgs.ErrNotFound)
	require.Equal(t, 2, orgstest.Count(t, pool, `SELECT count(*) FROM webhook_endpoints`))
}

// Claims of concurrent workers are disjoint, an empty claim holds nothing, and marks apply to
// the claimed rows only.
func TestWebhookQueueClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	store := postgres.NewOrgs(pool)
	tok, err := store.CreateOrg(ctx, "", "Acme", nil)
	require.NoError(t, err)
	org := tok.OrgID
	ep, err := store.InsertWebhook(ctx, org, orgs.Webhook{ID: uuid.NewString(), URL: "https://a.example/hook"}, "secret")
	require.NoError(t, err)
	var due []string
	for i := range 5 {
		id := uuid.NewString()
		_, err := pool.Exec(ctx, `INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, next_attempt_at, url, secret)
			SELECT $1, $2, e.id, $4, 'account.purged', '{"b": 1, "a": [1, 2]}', now() - $5 * interval '1 second', e.url, e.secret
			FROM webhook_endpoints e WHERE e.org_id = $1 AND e.id = $3`,
			org, id, ep.ID, uuid.NewString(), 10-i)
		require.NoError(t, err)
		due = append(due, id)
	}
	// Not due: delivered, or later.
	_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, next_attempt_at, delivered_at, url, secret)
		SELECT $1, x.id, e.id, x.event, 'account.purged', '{}', x.at, x.delivered, e.url, e.secret
		FROM webhook_endpoints e, (VALUES ($2::uuid, $4::uuid, now(), now()), ($5::uuid, $6::uuid, now() + interval '1 hour', NULL))
			AS x (id, event, at, delivered)
		WHERE e.org_id = $1 AND e.id = $3`,
		org, uuid.NewString(), ep.ID, uuid.NewString(), uuid.NewString(), uuid.NewString())
	require.NoError(t, err)

	q := postgres.NewWebhookQueue(pool)
	first, err := q.Claim(ctx, 3)
	require.NoError(t, err)
	second, err := q.Claim(ctx, 3)
	require.NoError(t, err)
	third, err := q.Claim(ctx, 3)
	require.NoError(t, err)
	require.Len(t, first.Items(), 3)
	require.Len(t, second.Items(), 2)
	require.Empty(t, third.Items())
	require.NoError(t, third.Commit(ctx))
	seen := map[string]bool{}
	for _, d := range append(first.Items(), second.Items()...) {
		require.False(t, seen[d.ID], "claimed twice")
		seen[d.ID] = true
		require.Equal(t, org, d.OrgID)
		require.Equal(t, ep.ID, d.EndpointID)
		require.Equal(t, "https://a.example/hook", d.URL)
		require.Equal(t, "secret", d.Secret)
		require.Equal(t, "account.purged", d.EventType)
		require.Equal(t, `{"a": [1, 2], "b": 1}`, string(d.Payload), "the payload as PostgreSQL stores it")
	}
	// The longest due first.
	for i, d := range first.Items() {
		require.Equal(t, due[i], d.ID)
	}

	d := first.Items()[0]
	require.NoError(t, first.Delivered(ctx, &d))
	f := first.Items()[1]
	require.NoError(t, first.Failed(ctx, &f, "boom", time.Hour))
	require.NoError(t, first.Commit(ctx))
	require.NoError(t, second.Rollback(ctx))
	require.NoError(t, second.Rollback(ctx), "rolling back twice is harmless")

	var attempts int
	var lastError *string
	var delivered bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempts, last_error, delivered_at IS NOT NULL FROM webhook_deliveries WHERE id = $1`, d.ID).
		Scan(&attempts, &lastError, &delivered))
	require.Equal(t, 1, attempts)
	require.Nil(t, lastError)
	require.True(t, delivered)
	var wait float64
	require.NoError(t, pool.QueryRow(ctx, `SELECT attempts, last_error, extract(epoch FROM next_attempt_at - now()) FROM webhook_deliveries WHERE id = $1`, f.ID).
		Scan(&attempts, &lastError, &wait))
	require.Equal(t, 1, attempts)
	require.Equal(t, "boom", *lastError)
	require.InDelta(t, 3600, wait, 60)

	// The rolled back and unmarked ones are due again.
	again, err := q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Len(t, again.Items(), 3)
	require.NoError(t, again.Rollback(ctx))
	_, err = q.Claim(ctx, 0)
	require.Error(t, err)
}
