package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/webhook"
)

// fixture is an organization on a database of the test's own, with the delivery queue.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	pool  *pgxpool.Pool
	svc   *orgs.Service
	org   string
	queue *postgres.WebhookQueue
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	pool := dbtest.New(t)
	svc, err := orgs.New(postgres.NewOrgs(pool), orgs.Config{})
	require.NoError(t, err)
	o, err := svc.CreateOrg(context.Background(), orgs.CreateOrgInput{Name: "Acme"})
	require.NoError(t, err)
	return &fixture{t: t, ctx: context.Background(), pool: pool, svc: svc, org: o.ID, queue: postgres.NewWebhookQueue(pool)}
}

// endpoint registers url and returns the endpoint's id and secret.
func (f *fixture) endpoint(url string) (string, string) {
	f.t.Helper()
	w, err := f.svc.AddWebhook(f.ctx, f.org, url)
	require.NoError(f.t, err)
	return w.ID, w.Secret
}

// event is an account.purged event as the purge queues it.
type event struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Created    string `json:"created"`
	OrgID      string `json:"org_id"`
	ResourceID string `json:"resource_id"`
	AccountID  string `json:"account_id"`
}

// enqueue queues the event id for each endpoint, as the purge does, and returns the
// delivery ids.
func (f *fixture) enqueue(eventID string, endpoints ...string) []string {
	f.t.Helper()
	payload, err := json.Marshal(event{ID: eventID, Type: "account.purged", Created: time.Now().UTC().Format(time.RFC3339),
		OrgID: f.org, ResourceID: uuid.NewString(), AccountID: "1234"})
	require.NoError(f.t, err)
	var ids []string
	for _, ep := range endpoints {
		id := uuid.NewString()
		_, err := f.pool.Exec(f.ctx, `INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, url, secret)
			SELECT $1, $2, e.id, $4, 'account.purged', $5, e.url, e.secret FROM webhook_endpoints e WHERE e.org_id = $1 AND e.id = $3`, f.org, id, ep, eventID, string(payload))
		require.NoError(f.t, err)
		ids = append(ids, id)
	}
	return ids
}

// row is a delivery's state.
type row struct {
	Attempts    int
	Delivered   bool
	LastError   *string
	NextAttempt time.Duration // from now
	Payload     string
}

func (f *fixture) row(id string) row {
	f.t.Helper()
	var r row
	var secs float64
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT attempts, delivered_at IS NOT NULL, last_error,
			extract(epoch FROM next_attempt_at - clock_timestamp()), payload::text
		FROM webhook_deliveries WHERE org_id = $1 AND id = $2`, f.org, id).
		Scan(&r.Attempts, &r.Delivered, &r.LastError, &secs, &r.Payload))
	r.NextAttempt = time.Duration(secs * float64(time.Second))
	return r
}

func (f *fixture) undelivered() int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.pool.QueryRow(f.ctx, `SELECT count(*) FROM webhook_deliveries WHERE delivered_at IS NULL`).Scan(&n))
	return n
}

// due makes a delivery due now.
func (f *fixture) due(id string) {
	f.t.Helper()
	_, err := f.pool.Exec(f.ctx, `UPDATE webhook_deliveries SET next_attempt_at = now() WHERE org_id = $1 AND id = $2`, f.org, id)
	require.NoError(f.t, err)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// start runs w until the test ends.
func start(t *testing.T, w *webhook.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// received is one request a receiver got.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

// receiver is an HTTP server on 127.0.0.1 that records requests and answers with status(n),
// n counting from 1.
func receiver(t *testing.T, status func(n int) int) (*httptest.Server, chan received) {
	t.Helper()
	got := make(chan received, 100)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n++
		code := status(n)
		mu.Unlock()
		got <- received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now()}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "answer body\x00\n")
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func next(t *testing.T, got chan received) received {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no request arrived")
		return received{}
	}
}

// requireSigned checks a delivery request: method, headers, the body exactly as stored, and
// the signature.
func requireSigned(t *testing.T, r received, secret, eventID, stored string) {
	t.Helper()
	require.Equal(t, http.MethodPost, r.Method)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, eventID, r.Header.Get("Scimd-Event-Id"))
	require.Equal(t, "account.purged", r.Header.Get("Scimd-Event-Type"))
	require.Equal(t, stored, string(r.Body), "the body is the stored payload, byte for byte")
	require.NoError(t, webhook.Verify(secret, r.Header.Get("Scimd-Signature"), r.Body, 5*time.Minute, time.Now()))
	require.ErrorIs(t, webhook.Verify("wrong", r.Header.Get("Scimd-Signature"), r.Body, 5*time.Minute, time.Now()), webhook.ErrSignatureMismatch)
	var ev event
	require.NoError(t, json.Unmarshal(r.Body, &ev))
	require.Equal(t, eventID, ev.ID)
	require.Equal(t, "account.purged", ev.Type)
}

func TestDeliverSignedEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, got := receiver(t, func(int) int { return http.StatusNoContent })
	ep, secret := f.endpoint(srv.URL + "/hooks/scimd?tenant=acme")
	eventID := uuid.NewString()
	ids := f.enqueue(eventID, ep)
	stored := f.row(ids[0]).Payload

	start(t, webhook.NewWorker(f.queue, webhook.Config{Poll: 10 * time.Millisecond, Logger: quiet}))
	r := next(t, got)
	require.Equal(t, "/hooks/scimd", r.Path)
	requireSigned(t, r, secret, eventID, stored)
	eventually.Holds(t, "the delivery is marked delivered", func() bool { return f.row(ids[0]).Delivered })
	d := f.row(ids[0])
	require.Equal(t, 1, d.Attempts)
	require.Nil(t, d.LastError)
	select {
	case r := <-got:
		t.Fatalf("delivered again: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestRedeliverAfterFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, got := receiver(t, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	ep, secret := f.endpoint(srv.URL)
	eventID := uuid.NewString()
	ids := f.enqueue(eventID, ep)
	stored := f.row(ids[0]).Payload

	const base = 200 * time.Millisecond
	start(t, webhook.NewWorker(f.queue, webhook.Config{Poll: 10 * time.Millisecond, RetryBase: base, Logger: quiet}))
	first := next(t, got)
	requireSigned(t, first, secret, eventID, stored)
	second := next(t, got)
	requireSigned(t, second, secret, eventID, stored)
	require.GreaterOrEqual(t, second.At.Sub(first.At), base-20*time.Millisecond, "the retry waits for the backoff")

	eventually.Holds(t, "the redelivery is marked delivered", func() bool { return f.row(ids[0]).Delivered })
	d := f.row(ids[0])
	require.Equal(t, 2, d.Attempts)
	require.NotNil(t, d.LastError)
	require.Equal(t, "the endpoint answered 500 Internal Server Error: answer body", *d.LastError,
		"the last error is kept, on one line, without NUL")
}

// Failed attempts back off exponentially from RetryBase, with up to a fifth of jitter, up to
// RetryMax; timeouts, transport errors and redirects are failures too.
func TestBackoffAndFailures(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, got := receiver(t, func(int) int { return http.StatusServiceUnavailable })
	ep, _ := f.endpoint(srv.URL)
	id := f.enqueue(uuid.NewString(), ep)[0]
	w := webhook.NewWorker(f.queue, webhook.Config{RetryBase: time.Minute, RetryMax: 3 * time.Minute, Logger: quiet})
	for attempt, want := range []time.Duration{time.Minute, 2 * time.Minute, 3 * time.Minute, 3 * time.Minute} {
		n, err := w.RunOnce(f.ctx)
		require.NoError(t, err)
		require.Equal(t, 1, n)
		next(t, got)
		d := f.row(id)
		require.Equal(t, attempt+1, d.Attempts)
		require.False(t, d.Delivered)
		require.Contains(t, *d.LastError, "503 Service Unavailable")
		require.InDelta(t, want, d.NextAttempt, float64(want/5+2*time.Second), "attempt %d waits %s", attempt+1, d.NextAttempt)
		require.GreaterOrEqual(t, d.NextAttempt, want-2*time.Second)
		n, err = w.RunOnce(f.ctx)
		require.NoError(t, err)
		require.Zero(t, n, "not due before its time")
		f.due(id)
	}

	// No answer within the timeout.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	slowEP, _ := f.endpoint(slow.URL)
	slowID := f.enqueue(uuid.NewString(), slowEP)[0]
	// A redirect is not followed.
	redirect := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	t.Cleanup(redirect.Close)
	redirectEP, _ := f.endpoint(redirect.URL)
	redirectID := f.enqueue(uuid.NewString(), redirectEP)[0]
	// Nothing listens.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	closedEP, _ := f.endpoint(closed.URL)
	closedID := f.enqueue(uuid.NewString(), closedEP)[0]

	_, err := f.pool.Exec(f.ctx, `UPDATE webhook_deliveries SET next_attempt_at = 'infinity' WHERE id = $1`, id)
	require.NoError(t, err)
	w = webhook.NewWorker(f.queue, webhook.Config{Timeout: 200 * time.Millisecond, Logger: quiet})
	began := time.Now()
	n, err := w.RunOnce(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 3, n)
	require.Less(t, time.Since(began), 5*time.Second, "the attempts of a batch run concurrently, each within the timeout")
	require.Equal(t, "no answer within 200ms", *f.row(slowID).LastError)
	require.Equal(t, "the endpoint answered 302 Found", *f.row(redirectID).LastError)
	require.Contains(t, *f.row(closedID).LastError, "connect")
	for _, id := range []string{slowID, redirectID, closedID} {
		require.Equal(t, 1, f.row(id).Attempts)
		require.False(t, f.row(id).Delivered)
	}
	select {
	case r := <-got:
		t.Fatalf("the redirect was followed: %+v", r)
	default:
	}
}

// Several workers deliver one queue: every delivery is made once, never by two workers at
// the same time.
func TestWorkersNeverOverlap(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	inFlight, count := map[string]bool{}, map[string]int{}
	var overlaps []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.Path + " " + r.Header.Get("Scimd-Event-Id")
		mu.Lock()
		if inFlight[key] {
			overlaps = append(overlaps, key)
		}
		inFlight[key] = true
		count[key]++
		mu.Unlock()
		time.Sleep(15 * time.Millisecond)
		mu.Lock()
		inFlight[key] = false
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	var eps []string
	for i := range 4 {
		ep, _ := f.endpoint(fmt.Sprintf("%s/ep%d", srv.URL, i))
		eps = append(eps, ep)
	}
	const events = 15
	for range events {
		f.enqueue(uuid.NewString(), eps...)
	}
	for range 4 {
		start(t, webhook.NewWorker(f.queue, webhook.Config{Poll: time.Millisecond, BatchSize: 3, Logger: quiet}))
	}
	eventually.Holds(t, "every delivery is made", func() bool { return f.undelivered() == 0 })

	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, overlaps, "deliveries attempted by two workers at once")
	require.Len(t, count, events*len(eps))
	for k, n := range count {
		require.Equal(t, 1, n, "%s delivered %d times", k, n)
	}
	var maxAttempts int
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT max(attempts) FROM webhook_deliveries`).Scan(&maxAttempts))
	require.Equal(t, 1, maxAttempts)
}

// Cancelling Run stops the worker promptly, abandoning the POST in flight: the delivery stays
// due and unchanged, and is delivered later.
func TestWorkerStopsOnCancel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	arrived := make(chan struct{}, 10)
	block := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(block) }) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	ep, _ := f.endpoint(srv.URL)
	id := f.enqueue(uuid.NewString(), ep)[0]

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- webhook.NewWorker(f.queue, webhook.Config{Poll: 10 * time.Millisecond, Logger: quiet}).Run(ctx)
	}()
	<-arrived
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(3 * time.Second):
		t.Fatal("the worker did not stop")
	}
	d := f.row(id)
	require.Equal(t, 0, d.Attempts)
	require.False(t, d.Delivered)
	require.Nil(t, d.LastError)

	once.Do(func() { close(block) })
	n, err := webhook.NewWorker(f.queue, webhook.Config{Logger: quiet}).RunOnce(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the claim was released")
	require.True(t, f.row(id).Delivered)
}

// Removing an endpoint drops its deliveries not made yet.
func TestRemovedEndpointDropsDeliveries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv, got := receiver(t, func(int) int { return http.StatusOK })
	ep, _ := f.endpoint(srv.URL)
	keep, _ := f.endpoint(srv.URL + "/keep")
	f.enqueue(uuid.NewString(), ep, keep)
	require.NoError(t, f.svc.RemoveWebhook(f.ctx, f.org, ep))
	n, err := webhook.NewWorker(f.queue, webhook.Config{Logger: quiet}).RunOnce(f.ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, "/keep", next(t, got).Path)
}
