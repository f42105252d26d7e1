package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/retention"
)

// retentionFlags registers the retention of the audit log and of delivered outbox rows, which
// "scimd serve" and "scimd worker" both apply (internal/retention). Both are off by default:
// nothing is deleted unless the operator says how long to keep it.
func retentionFlags(ef *envFlags) *retention.Config {
	cfg := &retention.Config{}
	ef.Var((*keepFor)(&cfg.Audit), "audit-retention", "SCIMD_AUDIT_RETENTION",
		"how long audit records are kept, in days (90d) or as a duration (720h); default: for ever")
	ef.Var((*keepFor)(&cfg.Outbox), "outbox-retention", "SCIMD_OUTBOX_RETENTION",
		"how long delivered notifications and webhook deliveries are kept; undelivered ones always are; default: for ever")
	return cfg
}

// keepFor is a retention flag's value: days ("90d") or a Go duration.
type keepFor time.Duration

func (k *keepFor) String() string {
	if k == nil || *k == 0 {
		return ""
	}
	return time.Duration(*k).String()
}

func (k *keepFor) Set(v string) error {
	d, err := retention.ParseDuration(v)
	*k = keepFor(d)
	return err
}

// startRetention prunes in the background, hourly, when a retention is configured. Every
// process may run it: the deletes are batched, and a batch another process deleted first is
// simply found empty. The returned function stops it and waits for the statement in hand.
func startRetention(ctx context.Context, pool *pgxpool.Pool, cfg retention.Config, logger *slog.Logger) (stop func()) {
	if !cfg.Enabled() {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { retention.Run(ctx, postgres.NewRetention(pool), cfg, logger) })
	logger.Info("retention started", "audit", cfg.Audit.String(), "outbox", cfg.Outbox.String())
	return func() {
		cancel()
		wg.Wait()
	}
}
