package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/delivery"
)

// DefaultFrom is the From address when none is configured.
const DefaultFrom = "scimd@localhost"

// Config configures a Worker; zero values take the defaults.
type Config struct {
	// From is the From address, e.g. "Acme IT <it@acme.com>" (SCIMD_MAIL_FROM); default
	// DefaultFrom.
	From string
	// Poll is how long the worker waits when nothing is due; default 2 seconds.
	Poll time.Duration
	// BatchSize is how many notifications one transaction claims; default 10. A crash
	// between sending and committing resends at most one batch.
	BatchSize int
	// RetryBase and RetryMax shape the backoff after a failed send: the n-th failure waits
	// RetryBase·2^(n-1), at most RetryMax, plus up to a fifth of that as jitter. Defaults 1
	// second and 15 minutes.
	RetryBase time.Duration
	RetryMax  time.Duration
	// SendTimeout bounds one message's delivery, connecting included; default 1 minute.
	SendTimeout time.Duration
	// Unavailable tells the errors that mean the database could not be used
	// (postgres.Unavailable); the worker logs them at WARN and carries on once it is back.
	// Default: none, every error is logged at ERROR.
	Unavailable func(error) bool
	// Logger receives one line per failed send (ids, kind and the error, never an address
	// or a name); default slog.Default().
	Logger *slog.Logger
}

// dbTimeout bounds each database statement of a claimed batch, which runs to its end even
// when the worker is stopped.
const dbTimeout = 30 * time.Second

// Worker delivers queued notifications. Run it in as many goroutines or processes as
// needed, each Worker with its own Sender: claims skip the rows other workers hold.
type Worker struct {
	queue  Queue
	sender Sender
	render *Renderer
	from   mail.Address
	cfg    Config
	log    *slog.Logger
}

// NewWorker returns a worker taking notifications from queue and sending them with sender.
func NewWorker(queue Queue, sender Sender, cfg Config) (*Worker, error) {
	if cfg.From == "" {
		cfg.From = DefaultFrom
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("mail from %q is not an email address: %v", cfg.From, err)
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 10
	}
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = time.Second
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = 15 * time.Minute
	}
	if cfg.RetryMax < cfg.RetryBase {
		cfg.RetryMax = cfg.RetryBase
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r, err := NewRenderer()
	if err != nil {
		return nil, err
	}
	return &Worker{queue: queue, sender: sender, render: r, from: *from, cfg: cfg, log: cfg.Logger}, nil
}

// Run delivers notifications until ctx is cancelled, then returns nil once the batch in hand
// is committed: the message being sent is finished and marked, the rest of the batch stays
// queued for the next worker. Errors of the database are logged and retried after Poll.
func (w *Worker) Run(ctx context.Context) error {
	delivery.Run(ctx, w.cfg.Poll, w.cfg.BatchSize, w.log, "notification delivery", w.cfg.Unavailable, w.RunOnce)
	return nil
}

// RunOnce claims one batch of due notifications and tries each; it returns how many it
// tried. Once claimed, the batch is finished even if ctx is cancelled meanwhile (only the
// notifications not yet tried are left), so that a message the SMTP server accepted is
// marked sent.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	b, err := w.queue.Claim(ctx, w.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("claiming notifications: %w", err)
	}
	items := b.Items()
	if len(items) == 0 {
		return 0, b.Rollback(ctx)
	}
	bctx := context.WithoutCancel(ctx)
	defer w.sender.Close()
	mark := func(f func(context.Context) error) error {
		dctx, cancel := context.WithTimeout(bctx, dbTimeout)
		defer cancel()
		return f(dctx)
	}
	tried := 0
	for i := range items {
		if ctx.Err() != nil {
			break
		}
		n := &items[i]
		sendErr := w.deliver(bctx, n)
		tried++
		if sendErr == nil {
			if err := mark(func(c context.Context) error { return b.Sent(c, n) }); err != nil {
				_ = mark(b.Rollback)
				return tried, fmt.Errorf("marking notification %s sent: %w", n.ID, err)
			}
			w.log.Debug("notification sent", "notification", n.ID, "org", n.OrgID, "kind", n.Kind)
			continue
		}
		msg := Redact(sendErr.Error(), n)
		retry := w.backoff(n.Attempts + 1)
		if err := mark(func(c context.Context) error { return b.Failed(c, n, msg, retry) }); err != nil {
			_ = mark(b.Rollback)
			return tried, fmt.Errorf("recording the failure of notification %s: %w", n.ID, err)
		}
		w.log.Warn("notification not sent; it will be retried", "notification", n.ID, "org", n.OrgID,
			"kind", n.Kind, "attempt", n.Attempts+1, "retry_in", retry.String(), "err", msg)
	}
	if err := mark(b.Commit); err != nil {
		return tried, fmt.Errorf("committing notification marks: %w", err)
	}
	return tried, nil
}

// deliver renders and sends one notification.
func (w *Worker) deliver(ctx context.Context, n *Notification) error {
	r, err := w.render.Render(n)
	if err != nil {
		return fmt.Errorf("rendering: %w", err)
	}
	to, err := mail.ParseAddress(n.Recipient)
	if err != nil {
		return errors.New("the recipient is not a valid email address")
	}
	if name := clean(n.RecipientName); name != "" {
		to.Name = name
	}
	msg := &Message{ID: n.ID, From: w.from, To: *to, Subject: r.Subject, Body: r.Body,
		Language: r.Language, Date: time.Now()}
	sctx, cancel := context.WithTimeout(ctx, w.cfg.SendTimeout)
	defer cancel()
	return w.sender.Send(sctx, msg)
}

// backoff is the wait after the attempt-th failed attempt.
func (w *Worker) backoff(attempt int) time.Duration {
	return delivery.Backoff(attempt, w.cfg.RetryBase, w.cfg.RetryMax)
}

var emailLike = regexp.MustCompile(`[^\s<>()\[\],;:"']+@[^\s<>()\[\],;:"']+`)

// maxErrorLen bounds a recorded error.
const maxErrorLen = 500

// Redact removes personal data from an error about n, for logs and last_error: email
// addresses (SMTP servers quote the recipient in refusals) and the recipient's name.
func Redact(msg string, n *Notification) string {
	msg = emailLike.ReplaceAllString(msg, "<address>")
	if name := clean(n.RecipientName); len(name) >= 3 {
		msg = strings.ReplaceAll(msg, name, "<name>")
	}
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
