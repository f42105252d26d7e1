package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/notify"
	"github.com/scimd/scimd/internal/notify/smtptest"
	"github.com/scimd/scimd/internal/postgres"
)

// outbox is a database of the test's own with one organization, "Acme".
type outbox struct {
	t    *testing.T
	pool *pgxpool.Pool
	org  string
}

func newOutbox(t *testing.T) *outbox {
	t.Helper()
	pool := dbtest.New(t)
	org := uuid.NewString()
	_, err := pool.Exec(context.Background(), `INSERT INTO organizations (id, name) VALUES ($1, 'Acme')`, org)
	require.NoError(t, err)
	return &outbox{t: t, pool: pool, org: org}
}

// queue inserts a notification as the provisioning transaction would, and returns its id.
func (o *outbox) queue(recipient, name, lang, kind, data string) string {
	o.t.Helper()
	id := uuid.NewString()
	_, err := o.pool.Exec(context.Background(), `INSERT INTO notifications
		(org_id, id, user_id, recipient, recipient_name, language, kind, data)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, o.org, id, uuid.NewString(), recipient, name, lang, kind, data)
	require.NoError(o.t, err)
	return id
}

// queueMany inserts n grants notifications in one statement and returns their ids.
func (o *outbox) queueMany(n int) []string {
	o.t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	_, err := o.pool.Exec(context.Background(), `INSERT INTO notifications
		(org_id, id, user_id, recipient, language, kind, data)
		SELECT $1, id, gen_random_uuid(), 'user' || ord || '@example.com', 'en', 'grants', '{"products_added": ["meeting"]}'
		FROM unnest($2::uuid[]) WITH ORDINALITY AS x (id, ord)`, o.org, ids)
	require.NoError(o.t, err)
	return ids
}

// unsent counts the notifications not sent yet.
func (o *outbox) unsent() int {
	o.t.Helper()
	var n int
	require.NoError(o.t, o.pool.QueryRow(context.Background(),
		`SELECT count(*) FROM notifications WHERE sent_at IS NULL`).Scan(&n))
	return n
}

// startWorker runs a worker over pool until the test ends and returns a function that stops
// it and returns Run's result.
func startWorker(t *testing.T, pool *pgxpool.Pool, srv *smtptest.Server, cfg notify.Config) func() error {
	t.Helper()
	smtpCfg, err := notify.ParseSMTPURL(srv.URL("", "", ""))
	require.NoError(t, err)
	smtpCfg.Timeout = 5 * time.Second
	if cfg.Poll == 0 {
		cfg.Poll = 10 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	w, err := notify.NewWorker(postgres.NewNotifications(pool), notify.NewSMTPSender(smtpCfg), cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(10 * time.Second):
				result = errors.New("the worker did not stop within 10s of its context's cancellation")
			}
		})
		return result
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// messageIDs counts the messages received per notification id (from the Message-ID).
func messageIDs(t *testing.T, msgs []smtptest.Message) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range msgs {
		id, _, ok := strings.Cut(strings.TrimPrefix(m.Header.Get("Message-ID"), "<"), "@")
		require.True(t, ok, "Message-ID %q", m.Header.Get("Message-ID"))
		out[id]++
	}
	return out
}

func TestWorkerDeliversInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{})
	grants := `{"products_added": ["meeting"], "products_removed": ["webinar"], "org_role": {"before": "user", "after": "admin"}}`
	want := map[string]struct{ to, subject, body string }{
		o.queue("ada@example.com", "Ada Lovelace", "en", "grants", grants): {"ada@example.com",
			"Your products and roles at Acme have changed", "Products added: Meeting\nProducts removed: Webinar\nOrganization role: User → Administrator"},
		o.queue("bea@example.com", "Béatrice", "fr", "grants", grants): {"bea@example.com",
			"Vos produits et rôles chez Acme ont changé", "Produits ajoutés : Meeting\nProduits retirés : Webinar\nRôle dans l’organisation : Utilisateur → Administrateur"},
		o.queue("gunter@example.com", "Günter", "de", "suspended", `{}`): {"gunter@example.com",
			"Ihr Konto bei Acme wurde gesperrt", "Sie können sich nicht mehr anmelden"},
		o.queue("jan@example.com", "", "nl", "reactivated", `{}`): {"jan@example.com",
			"Uw account bij Acme is opnieuw geactiveerd", "Hallo,\n\nUw account bij Acme is opnieuw geactiveerd"},
		o.queue("ana@example.com", "Ana", "es", "welcome", `{"product": "webinar"}`): {"ana@example.com",
			"Le damos la bienvenida a Webinar", "Ahora tiene acceso a Webinar a través de Acme"},
		o.queue("chloe@example.com", "Chloé", "fr", "welcome", `{"product": "openvoice"}`): {"chloe@example.com",
			"Bienvenue dans OpenVoice", "Vous avez désormais accès à OpenVoice grâce à Acme"},
	}
	stop := startWorker(t, o.pool, srv, notify.Config{From: "Acme IT <it@acme.example>"})
	eventually.Holds(t, "every notification sent", func() bool { return o.unsent() == 0 })
	require.NoError(t, stop())

	msgs := srv.Messages()
	require.Equal(t, len(want), len(msgs))
	for _, m := range msgs {
		id := strings.TrimSuffix(strings.TrimPrefix(m.Header.Get("Message-ID"), "<"), "@acme.example>")
		w, ok := want[id]
		require.True(t, ok, "unexpected message %s", m.Header.Get("Message-ID"))
		require.Equal(t, []string{w.to}, m.To)
		require.Equal(t, "it@acme.example", m.From)
		require.Equal(t, w.subject, m.Subject)
		require.Contains(t, m.Body, w.body)
		require.Contains(t, m.Header.Get("To"), w.to)
		require.Equal(t, `"Acme IT" <it@acme.example>`, m.Header.Get("From"))
		require.Equal(t, "text/plain; charset=utf-8", m.Header.Get("Content-Type"))
		require.Equal(t, "auto-generated", m.Header.Get("Auto-Submitted"))
		delete(want, id)
	}
	// The greeting names the user; a non-ASCII name is encoded in the To header.
	for _, m := range msgs {
		if m.To[0] == "bea@example.com" {
			require.Contains(t, m.Body, "Bonjour Béatrice,")
			require.Equal(t, "fr", m.Header.Get("Content-Language"))
			require.Contains(t, m.Header.Get("To"), "=?utf-8?")
		}
	}
	var attempts, withError int
	require.NoError(t, o.pool.QueryRow(context.Background(), `SELECT sum(attempts), count(last_error)
		FROM notifications WHERE sent_at IS NOT NULL`).Scan(&attempts, &withError))
	require.Equal(t, len(msgs), attempts, "each was sent at the first attempt")
	require.Zero(t, withError)
}

// The SMTP server goes away mid-run: the notifications queued meanwhile fail, are retried
// with backoff, and all arrive, each once, when it is back.
func TestWorkerSurvivesSMTPOutage(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{})
	stop := startWorker(t, o.pool, srv, notify.Config{RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond, BatchSize: 3})
	first := o.queueMany(10)
	eventually.Holds(t, "the first notifications sent", func() bool { return o.unsent() == 0 })

	srv.Stop()
	second := o.queueMany(10)
	eventually.Holds(t, "every queued notification to fail at least twice", func() bool {
		var n int
		require.NoError(t, o.pool.QueryRow(context.Background(), `SELECT count(*) FROM notifications
			WHERE sent_at IS NULL AND attempts >= 2`).Scan(&n))
		return n == len(second)
	})
	rows, err := o.pool.Query(context.Background(), `SELECT last_error, next_attempt_at > created_at FROM notifications WHERE sent_at IS NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var lastError string
		var later bool
		require.NoError(t, rows.Scan(&lastError, &later))
		require.Contains(t, lastError, "smtp connect")
		require.NotContains(t, lastError, "@example.com")
		require.True(t, later, "the retry is scheduled after a backoff")
	}
	require.NoError(t, rows.Err())

	srv.Restart()
	eventually.Holds(t, "every notification sent after the outage", func() bool { return o.unsent() == 0 })
	require.NoError(t, stop())
	got := messageIDs(t, srv.Messages())
	require.Len(t, got, len(first)+len(second))
	for _, id := range append(first, second...) {
		require.Equal(t, 1, got[id], "notification %s delivered once", id)
	}
}

// Two workers, each with its own database pool (as two processes would have), share 200
// notifications: every one is sent exactly once.
func TestTwoWorkersNeverSendTwice(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{Delay: time.Millisecond})
	ids := o.queueMany(200)
	pool2, err := pgxpool.NewWithConfig(context.Background(), o.pool.Config())
	require.NoError(t, err)
	t.Cleanup(pool2.Close)
	cfg := notify.Config{BatchSize: 5}
	stop1 := startWorker(t, o.pool, srv, cfg)
	stop2 := startWorker(t, pool2, srv, cfg)
	eventually.Holds(t, "every notification sent", func() bool { return o.unsent() == 0 })
	require.NoError(t, stop1())
	require.NoError(t, stop2())

	msgs := srv.Messages()
	got := messageIDs(t, msgs)
	require.Equal(t, len(ids), len(msgs), "no message sent twice")
	for _, id := range ids {
		require.Equal(t, 1, got[id], "notification %s", id)
	}
	require.GreaterOrEqual(t, srv.Sessions(), 2, "both workers delivered")
	var maxAttempts int
	require.NoError(t, o.pool.QueryRow(context.Background(), `SELECT max(attempts) FROM notifications`).Scan(&maxAttempts))
	require.Equal(t, 1, maxAttempts)
}

// A notification the server refuses, or that cannot be rendered, is retried without holding
// up the others, and its recorded error carries no address or name.
func TestWorkerRecordsFailuresWithoutPersonalData(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{Reject: func(to string) error {
		if strings.HasPrefix(to, "gone@") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: Grace Hopper unknown"}
		}
		return nil
	}})
	gone := o.queue("gone@example.com", "Grace Hopper", "en", "suspended", `{}`)
	broken := o.queue("ok2@example.com", "", "en", "welcome", `{}`)
	invalid := o.queue("not an address", "", "en", "suspended", `{}`)
	ok := o.queue("ok@example.com", "", "it", "suspended", `{}`)
	logs := &lockedBuffer{}
	stop := startWorker(t, o.pool, srv, notify.Config{RetryBase: time.Hour,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	eventually.Holds(t, "the good notification sent and the others tried", func() bool {
		var n int
		require.NoError(t, o.pool.QueryRow(context.Background(), `SELECT count(*) FROM notifications WHERE attempts > 0`).Scan(&n))
		return n == 4
	})
	require.NoError(t, stop())
	require.Equal(t, 1, messageIDs(t, srv.Messages())[ok])
	require.Equal(t, 1, len(srv.Messages()))
	errs := map[string]string{}
	rows, err := o.pool.Query(context.Background(), `SELECT id::text, coalesce(last_error, ''), attempts,
		next_attempt_at > clock_timestamp() + interval '50 minutes' FROM notifications WHERE sent_at IS NULL`)
	require.NoError(t, err)
	for rows.Next() {
		var id, e string
		var attempts int
		var later bool
		require.NoError(t, rows.Scan(&id, &e, &attempts, &later))
		require.Equal(t, 1, attempts)
		require.True(t, later, "retried after the configured backoff")
		errs[id] = e
	}
	require.NoError(t, rows.Err())
	require.Len(t, errs, 3)
	require.Contains(t, errs[gone], "RCPT TO")
	require.Contains(t, errs[gone], "550")
	require.Contains(t, errs[broken], "names no product")
	require.Contains(t, errs[invalid], "not a valid email address")
	for id, e := range errs {
		for _, personal := range []string{"gone@", "Grace Hopper", "not an address"} {
			require.NotContains(t, e, personal, "last_error of %s", id)
		}
	}
	for _, personal := range []string{"@example.com", "Grace Hopper", "not an address"} {
		require.NotContains(t, logs.String(), personal)
	}
	require.Contains(t, logs.String(), gone, "failures are logged by notification id")
}

// Cancelling the worker's context stops it promptly, with nothing lost.
func TestWorkerStopsOnCancel(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{Delay: 20 * time.Millisecond})
	o.queueMany(50)
	stop := startWorker(t, o.pool, srv, notify.Config{BatchSize: 10})
	eventually.Holds(t, "some notifications sent", func() bool { return len(srv.Messages()) >= 3 })
	start := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(start), 2*time.Second)
	sent := 50 - o.unsent()
	require.Equal(t, len(srv.Messages()), sent, "every message accepted was marked sent, none other")
	require.Less(t, sent, 50, "the worker stopped before the end of the queue")

	// Another worker picks up the rest.
	startWorker(t, o.pool, srv, notify.Config{})
	eventually.Holds(t, "the rest sent", func() bool { return o.unsent() == 0 })
	got := messageIDs(t, srv.Messages())
	require.Len(t, got, 50)
	for id, n := range got {
		require.Equal(t, 1, n, id)
	}
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	t.Parallel()
	o := newOutbox(t)
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Stop()
	id := o.queue("ada@example.com", "", "en", "suspended", `{}`)
	smtpCfg, err := notify.ParseSMTPURL(srv.URL("", "", ""))
	require.NoError(t, err)
	w, err := notify.NewWorker(postgres.NewNotifications(o.pool), notify.NewSMTPSender(smtpCfg),
		notify.Config{RetryBase: time.Second, RetryMax: 4 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	ctx := context.Background()
	for attempt, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		// Make it due again at once.
		_, err := o.pool.Exec(ctx, `UPDATE notifications SET next_attempt_at = now() WHERE id = $1`, id)
		require.NoError(t, err)
		n, err := w.RunOnce(ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		var delay float64
		var attempts int
		require.NoError(t, o.pool.QueryRow(ctx, `SELECT attempts, extract(epoch FROM next_attempt_at - clock_timestamp())::float8
			FROM notifications WHERE id = $1`, id).Scan(&attempts, &delay))
		require.Equal(t, attempt+1, attempts)
		// The backoff plus up to a fifth of it as jitter.
		require.InDelta(t, want.Seconds()*1.1, delay, want.Seconds()*0.1+0.2, "attempt %d", attempts)
	}
	n, err := w.RunOnce(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not due before its backoff")
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
