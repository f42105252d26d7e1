package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/notify"
	"github.com/scimd/scimd/internal/postgres"
)

// queueNotification inserts a notification due after delay, as a producer would.
func queueNotification(t *testing.T, pool *pgxpool.Pool, org string, delay time.Duration) string {
	t.Helper()
	id := uuid.NewString()
	_, err := pool.Exec(context.Background(), `INSERT INTO notifications
		(org_id, id, user_id, recipient, recipient_name, language, kind, data, next_attempt_at)
		VALUES ($1, $2, $3, 'ada@example.com', 'Ada', 'fr', 'welcome', '{"product": "meeting"}',
			now() + $4 * interval '1 millisecond')`, org, id, uuid.NewString(), delay.Milliseconds())
	require.NoError(t, err)
	return id
}

func ids(items []notify.Notification) []string {
	out := []string{}
	for _, n := range items {
		out = append(out, n.ID)
	}
	return out
}

func TestNotificationsClaim(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	org := uuid.NewString()
	_, err := pool.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, 'Acme')`, org)
	require.NoError(t, err)
	q := postgres.NewNotifications(pool)

	// Nothing due: an empty batch that holds nothing.
	b, err := q.Claim(ctx, 5)
	require.NoError(t, err)
	require.Empty(t, b.Items())
	require.NoError(t, b.Commit(ctx))

	first := queueNotification(t, pool, org, -2*time.Second)
	second := queueNotification(t, pool, org, -time.Second)
	third := queueNotification(t, pool, org, 0)
	later := queueNotification(t, pool, org, time.Hour)

	// Oldest due first, with everything the worker needs; the row not due is left.
	b1, err := q.Claim(ctx, 2)
	require.NoError(t, err)
	require.Equal(t, []string{first, second}, ids(b1.Items()))
	n := b1.Items()[0]
	require.Equal(t, notify.Notification{OrgID: org, ID: first, OrgName: "Acme", UserID: n.UserID, Recipient: "ada@example.com",
		RecipientName: "Ada", Language: "fr", Kind: "welcome", Data: n.Data, CreatedAt: n.CreatedAt}, n)
	require.JSONEq(t, `{"product": "meeting"}`, string(n.Data))

	// A concurrent claim skips the locked rows instead of waiting for them.
	b2, err := q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{third}, ids(b2.Items()))

	require.NoError(t, b1.Sent(ctx, &b1.Items()[0]))
	require.NoError(t, b1.Failed(ctx, &b1.Items()[1], "smtp connect: refused", time.Minute))
	require.NoError(t, b1.Commit(ctx))
	require.NoError(t, b1.Rollback(ctx), "a rollback after commit does nothing")
	// A batch rolled back releases its rows unchanged.
	require.NoError(t, b2.Sent(ctx, &b2.Items()[0]))
	require.NoError(t, b2.Rollback(ctx))

	type state struct {
		Attempts  int
		LastError *string
		Sent      bool
		DueIn     float64
	}
	read := func(id string) state {
		var s state
		require.NoError(t, pool.QueryRow(ctx, `SELECT attempts, last_error, sent_at IS NOT NULL,
			extract(epoch FROM next_attempt_at - now())::float8 FROM notifications WHERE id = $1`, id).
			Scan(&s.Attempts, &s.LastError, &s.Sent, &s.DueIn))
		return s
	}
	require.Equal(t, 1, read(first).Attempts)
	require.True(t, read(first).Sent)
	s := read(second)
	require.Equal(t, 1, s.Attempts)
	require.False(t, s.Sent)
	require.Equal(t, "smtp connect: refused", *s.LastError)
	require.InDelta(t, 60, s.DueIn, 5, "due again after the backoff")
	s = read(third)
	require.Zero(t, s.Attempts)
	require.False(t, s.Sent)

	// Now only third is due: sent and backed-off rows are not claimed again.
	b3, err := q.Claim(ctx, 10)
	require.NoError(t, err)
	require.Equal(t, []string{third}, ids(b3.Items()))
	// Marking a row that is no longer queued (sent already) is an error, never a silent
	// success.
	stale := b1.Items()[0]
	require.Error(t, b3.Sent(ctx, &stale))
	require.NoError(t, b3.Rollback(ctx))

	_, err = q.Claim(ctx, 0)
	require.Error(t, err)
	require.False(t, read(later).Sent)
}
