package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/retention"
)

func TestRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	org := uuid.NewString()
	_, err := pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'Acme')`, org)
	require.NoError(t, err)
	ep := uuid.NewString()
	for _, q := range []string{
		`INSERT INTO audit_log (org_id, id, at, action, resource_type, resource_id)
			SELECT $1, gen_random_uuid(), now() - i * interval '1 day', 'update', 'User', gen_random_uuid() FROM generate_series(1, 12000) i`,
		`INSERT INTO notifications (org_id, id, user_id, recipient, language, kind, sent_at, created_at)
			SELECT $1, gen_random_uuid(), gen_random_uuid(), 'a@example.com', 'en', 'welcome', s.sent, now() - interval '400 days'
			FROM (VALUES (now() - interval '100 days'), (now() - interval '1 day'), (NULL)) s (sent)`,
		`INSERT INTO webhook_endpoints (org_id, id, url, secret) VALUES ($1, '` + ep + `', 'http://127.0.0.1:1/', 's')`,
		`INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, url, secret, delivered_at)
			SELECT $1, gen_random_uuid(), '` + ep + `', gen_random_uuid(), 'account.purged', '{}', 'http://127.0.0.1:1/', 's', s.at
			FROM (VALUES (now() - interval '100 days'), (NULL)) s (at)`,
	} {
		_, err := pool.Exec(ctx, q, org)
		require.NoError(t, err, q)
	}
	s := postgres.NewRetention(pool)

	// Nothing configured: nothing pruned.
	n, err := retention.Once(ctx, s, retention.Config{})
	require.NoError(t, err)
	require.Zero(t, n)

	n, err = retention.Once(ctx, s, retention.Config{Audit: 90 * 24 * time.Hour, Outbox: 30 * 24 * time.Hour})
	require.NoError(t, err)
	require.EqualValues(t, 12000-89+1+1, n, "audit older than 90 days in several batches, one sent notification, one delivery")
	require.Equal(t, 89, orgstest.Count(t, pool, `SELECT count(*) FROM audit_log`))
	require.Equal(t, 2, orgstest.Count(t, pool, `SELECT count(*) FROM notifications`), "recent and unsent notifications stay")
	require.Equal(t, 1, orgstest.Count(t, pool, `SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL`))
	require.Equal(t, 1, orgstest.Count(t, pool, `SELECT count(*) FROM webhook_deliveries`))
}

func TestParseRetention(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "90d": 90 * 24 * time.Hour, "720h": 720 * time.Hour} {
		got, err := retention.ParseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"-1d", "soon", "1w", "-5h"} {
		_, err := retention.ParseDuration(bad)
		require.Error(t, err, bad)
	}
}
