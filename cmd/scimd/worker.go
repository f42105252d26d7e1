package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/notify"
	"github.com/scimd/scimd/internal/postgres"
)

// The notification worker (internal/notify): "scimd worker" runs it alone, and "scimd serve"
// runs it beside the HTTP server when an SMTP server is configured. Any number of either may
// run against one database: a notification is sent by one of them.

const defaultNotifyPoll = 2 * time.Second

// notifyOptions are the worker's flags, shared by serve and worker.
type notifyOptions struct {
	smtpURL  string
	mailFrom string
	poll     time.Duration
	pollErr  error
	smtp     notify.SMTPConfig
}

// notifyFlags registers --smtp-url, --mail-from and --poll on fs.
func notifyFlags(fs *flag.FlagSet, getenv func(string) string) *notifyOptions {
	o := &notifyOptions{poll: defaultNotifyPoll}
	if v := getenv("SCIMD_NOTIFY_POLL"); v != "" {
		if o.poll, o.pollErr = time.ParseDuration(v); o.pollErr != nil {
			o.pollErr = fmt.Errorf("SCIMD_NOTIFY_POLL=%q is not a duration such as 2s", v)
		}
	}
	fs.StringVar(&o.smtpURL, "smtp-url", getenv("SMTP_URL"),
		"SMTP server for notification emails: smtp://user:password@host:587 (STARTTLS when offered; ?starttls=required insists) or smtps://user:password@host:465 (SMTP_URL)")
	fs.StringVar(&o.mailFrom, "mail-from", envOr(getenv, "SCIMD_MAIL_FROM", notify.DefaultFrom),
		"From address of notification emails, e.g. \"Acme IT <it@acme.com>\" (SCIMD_MAIL_FROM)")
	fs.DurationVar(&o.poll, "poll", o.poll, "how long the worker waits when no notification is due (SCIMD_NOTIFY_POLL)")
	return o
}

// check validates the options once parsed; the SMTP URL only when one is set.
func (o *notifyOptions) check(cmd string) error {
	if o.pollErr != nil {
		return fmt.Errorf("%s: %w", cmd, o.pollErr)
	}
	if o.poll <= 0 {
		return fmt.Errorf("%s: --poll must be positive", cmd)
	}
	if o.smtpURL == "" {
		return nil
	}
	cfg, err := notify.ParseSMTPURL(o.smtpURL)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	o.smtp = cfg
	if _, err := mail.ParseAddress(o.mailFrom); err != nil {
		return fmt.Errorf("%s: --mail-from (SCIMD_MAIL_FROM) %q is not an email address such as \"Acme IT <it@acme.com>\": %v", cmd, o.mailFrom, err)
	}
	return nil
}

func (o *notifyOptions) newWorker(pool *pgxpool.Pool, logger *slog.Logger) (*notify.Worker, error) {
	return notify.NewWorker(postgres.NewNotifications(pool), notify.NewSMTPSender(o.smtp),
		notify.Config{From: o.mailFrom, Poll: o.poll, Unavailable: postgres.Unavailable, Logger: logger})
}

// startWorker runs the worker in the background when an SMTP server is configured; the
// returned function stops it and waits for the batch in hand to be committed.
func (o *notifyOptions) startWorker(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (stop func(), err error) {
	if o.smtpURL == "" {
		logger.Info("notification worker not started: no SMTP server configured (--smtp-url, SMTP_URL)")
		return func() {}, nil
	}
	w, err := o.newWorker(pool, logger)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(wctx); err != nil {
			logger.Error("notification worker stopped", "err", err.Error())
		}
	})
	logger.Info("notification worker started", "smtp", o.smtp.Redacted())
	return func() {
		cancel()
		wg.Wait()
	}, nil
}

// worker is "scimd worker": the delivery workers (notifications, when an SMTP server is
// configured, and webhooks) without the HTTP server, until ctx is cancelled.
func worker(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	opts := notifyFlags(fs, getenv)
	ef := newEnvFlags(fs)
	keep := retentionFlags(ef)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := ef.apply(getenv); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("worker: unexpected argument %q", fs.Arg(0))
	}
	if err := opts.check("worker"); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	pool, err := openDB(ctx, *dbURL, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Webhook deliveries always (webhook_worker.go); stopped before the pool closes.
	stopWebhooks := startWebhookWorker(ctx, pool, logger)
	defer stopWebhooks()
	stopRetention := startRetention(ctx, pool, *keep, logger)
	defer stopRetention()
	if opts.smtpURL == "" {
		// Without an SMTP server this process delivers webhooks only; notifications wait
		// in the outbox for a worker that has one.
		fmt.Fprintln(stdout, "delivering webhooks; notifications need --smtp-url (SMTP_URL)")
		<-ctx.Done()
		return nil
	}
	w, err := opts.newWorker(pool, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "delivering notifications through %s\n", opts.smtp.Redacted())
	logger.Info("notification worker started", "smtp", opts.smtp.Redacted())
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("notification worker stopped")
	return nil
}
