// Package webhook delivers the events scimd queues for product systems: an
// account.purged event per registered endpoint, queued in the transaction of the purge
// (table webhook_deliveries), POSTed signed (sign.go) and retried with backoff until the
// endpoint answers 2xx. Delivery is at least once: receivers deduplicate by event id.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/delivery"
)

// Delivery is one event to POST to one endpoint.
type Delivery struct {
	OrgID      string
	ID         string
	EndpointID string
	EventID    string
	EventType  string
	// Payload is the event's JSON, sent as it is.
	Payload []byte
	// Attempts is how many attempts were made before this one.
	Attempts int
	Created  time.Time
	// URL and Secret are the endpoint's.
	URL    string
	Secret string
}

// Queue is where deliveries wait (internal/postgres implements it).
type Queue interface {
	// Claim locks up to limit due deliveries (not delivered, next attempt not in the future)
	// that no other claim holds, until the batch commits or rolls back.
	Claim(ctx context.Context, limit int) (Batch, error)
}

// Batch is a set of claimed deliveries.
type Batch interface {
	Items() []Delivery
	// Delivered marks d delivered.
	Delivered(ctx context.Context, d *Delivery) error
	// Failed records a failed attempt of d and schedules the next one retryIn from now.
	Failed(ctx context.Context, d *Delivery, lastError string, retryIn time.Duration) error
	// Commit stores the marks and releases the claim; Rollback releases it only.
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Config configures a Worker; zero values take the defaults.
type Config struct {
	// Poll is how long the worker waits when nothing is due; default 2 seconds.
	Poll time.Duration
	// BatchSize is how many deliveries one claim takes; they are POSTed concurrently.
	// Default 10.
	BatchSize int
	// RetryBase and RetryMax shape the backoff after a failed attempt: the n-th failure
	// waits RetryBase·2^(n-1), at most RetryMax, plus up to a fifth of that as jitter.
	// Defaults 10 seconds and 1 hour.
	RetryBase time.Duration
	RetryMax  time.Duration
	// Timeout bounds one POST, connecting and reading the answer included; default 10
	// seconds.
	Timeout time.Duration
	// Client sends the requests; default a client of its own. Redirects are never followed
	// (a 3xx answer is a failed attempt): a POST must not turn into a GET elsewhere.
	Client *http.Client
	// Now is the clock of signatures; default time.Now.
	Now func() time.Time
	// Unavailable tells the errors that mean the database could not be used
	// (postgres.Unavailable); the worker logs them at WARN and carries on once it is back.
	// Default: none, every error is logged at ERROR.
	Unavailable func(error) bool
	// Logger receives one line per failed attempt; default slog.Default().
	Logger *slog.Logger
}

// UserAgent is sent with every delivery.
const UserAgent = "scimd-webhook/1"

// dbTimeout bounds each database statement that marks a claimed batch, which runs to its end
// even when the worker is stopped.
const dbTimeout = 30 * time.Second

// maxErrorLen bounds a recorded error; maxBodyRead is how much of an answer is read.
const (
	maxErrorLen = 500
	maxBodyRead = 64 << 10
)

// Worker delivers queued webhook events. Run as many as needed, in goroutines or processes:
// claims skip the deliveries other workers hold, so no delivery is attempted by two workers
// at once.
type Worker struct {
	queue  Queue
	cfg    Config
	client *http.Client
	log    *slog.Logger
}

// NewWorker returns a worker delivering from queue.
func NewWorker(queue Queue, cfg Config) *Worker {
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = 10 * time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = time.Hour
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	client := &http.Client{}
	if cfg.Client != nil {
		c := *cfg.Client
		client = &c
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Worker{queue: queue, cfg: cfg, client: client, log: cfg.Logger}
}

// Run delivers events until ctx is cancelled, then returns nil once the batch in hand is
// settled: POSTs in flight are abandoned (those deliveries stay due, unchanged, and are
// delivered again later), the outcomes already known are stored. Database errors are logged
// and retried after Poll.
func (w *Worker) Run(ctx context.Context) error {
	delivery.Run(ctx, w.cfg.Poll, w.cfg.BatchSize, w.log, "webhook delivery", w.cfg.Unavailable, w.RunOnce)
	return nil
}

// outcome is the result of one attempt; abandoned is set when the worker was stopped during
// it.
type outcome struct {
	err       error
	abandoned bool
}

// RunOnce claims one batch of due deliveries, POSTs them concurrently and records each
// outcome; it returns how many it claimed.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	b, err := w.queue.Claim(ctx, w.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claiming webhook deliveries: %w", err)
	}
	items := b.Items()
	bctx := context.WithoutCancel(ctx)
	mark := func(f func(context.Context) error) error {
		dctx, cancel := context.WithTimeout(bctx, dbTimeout)
		defer cancel()
		return f(dctx)
	}
	if len(items) == 0 {
		return 0, mark(b.Rollback)
	}
	outcomes := make([]outcome, len(items))
	var wg sync.WaitGroup
	for i := range items {
		wg.Go(func() {
			err := w.deliver(ctx, &items[i])
			outcomes[i] = outcome{err: err, abandoned: err != nil && ctx.Err() != nil}
		})
	}
	wg.Wait()
	for i := range items {
		d, o := &items[i], outcomes[i]
		switch {
		case o.abandoned:
			continue
		case o.err == nil:
			if err := mark(func(c context.Context) error { return b.Delivered(c, d) }); err != nil {
				_ = mark(b.Rollback)
				return len(items), fmt.Errorf("marking webhook delivery %s delivered: %w", d.ID, err)
			}
			w.log.Debug("webhook delivered", "delivery", d.ID, "event", d.EventID, "org", d.OrgID, "endpoint", d.EndpointID)
		default:
			msg := errorText(o.err.Error())
			retry := w.backoff(d.Attempts + 1)
			if err := mark(func(c context.Context) error { return b.Failed(c, d, msg, retry) }); err != nil {
				_ = mark(b.Rollback)
				return len(items), fmt.Errorf("recording the failure of webhook delivery %s: %w", d.ID, err)
			}
			w.log.Warn("webhook not delivered; it will be retried", "delivery", d.ID, "event", d.EventID,
				"org", d.OrgID, "endpoint", d.EndpointID, "attempt", d.Attempts+1, "retry_in", retry.String(), "err", msg)
		}
	}
	if err := mark(b.Commit); err != nil {
		return len(items), fmt.Errorf("committing webhook delivery marks: %w", err)
	}
	return len(items), nil
}

// StatusError is an endpoint's answer other than 2xx.
type StatusError struct {
	Code int
	// Body is the start of the answer's body.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("the endpoint answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// deliver POSTs d once; nil means the endpoint answered 2xx.
func (w *Worker) deliver(ctx context.Context, d *Delivery) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(d.Payload))
	if err != nil {
		return fmt.Errorf("building the request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set(HeaderEventID, d.EventID)
	req.Header.Set(HeaderEventType, d.EventType)
	req.Header.Set(HeaderSignature, Sign(d.Secret, w.cfg.Now(), d.Payload))
	res, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			return fmt.Errorf("no answer within %s", w.cfg.Timeout)
		}
		return err
	}
	defer res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		// Read the rest (bounded) so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxBodyRead))
		return nil
	}
	head, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxBodyRead))
	return &StatusError{Code: res.StatusCode, Body: string(head)}
}

// backoff is the wait after the attempt-th failed attempt.
func (w *Worker) backoff(attempt int) time.Duration {
	return delivery.Backoff(attempt, w.cfg.RetryBase, w.cfg.RetryMax)
}

// errorText makes an error storable and loggable: valid UTF-8 on one line, without control
// characters (PostgreSQL text cannot hold NUL), at most maxErrorLen bytes.
func errorText(msg string) string {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, msg)
	msg = strings.Join(strings.Fields(msg), " ")
	if len(msg) > maxErrorLen {
		cut := maxErrorLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
