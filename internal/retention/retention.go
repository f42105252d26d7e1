// Package retention deletes what scimd no longer needs to keep, when the operator says how long
// to keep it: audit records older than the audit retention, and notifications and webhook
// deliveries delivered longer ago than the outbox retention. Nothing is pruned unless a
// retention is configured: by default everything is kept. Undelivered messages are never
// pruned, whatever their age.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Store deletes old rows in batches; internal/postgres implements it.
type Store interface {
	// PruneAudit deletes up to limit audit records written before before, and says how many.
	PruneAudit(ctx context.Context, before time.Time, limit int) (int64, error)
	// PruneDelivered deletes up to limit notifications and webhook deliveries delivered
	// before before, and says how many.
	PruneDelivered(ctx context.Context, before time.Time, limit int) (int64, error)
}

// Config says how long to keep what; zero keeps it for ever.
type Config struct {
	Audit  time.Duration
	Outbox time.Duration
	// Every is how often to prune; default an hour.
	Every time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Enabled reports whether anything is to be pruned.
func (c Config) Enabled() bool { return c.Audit > 0 || c.Outbox > 0 }

// batch is how many rows one statement deletes, so that no prune holds locks for long.
const batch = 5000

// Run prunes now and then every cfg.Every until ctx ends. Errors are logged and the next round
// tries again.
func Run(ctx context.Context, s Store, cfg Config, log *slog.Logger) {
	if !cfg.Enabled() {
		return
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	for {
		if n, err := Once(ctx, s, cfg); err != nil && ctx.Err() == nil {
			log.Warn("retention: pruning failed; trying again later", "err", err.Error())
		} else if n > 0 {
			log.Info("retention: pruned old rows", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Every):
		}
	}
}

// Once prunes everything due, batch by batch, and says how many rows went.
func Once(ctx context.Context, s Store, cfg Config) (int64, error) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	var total int64
	for _, job := range []struct {
		keep  time.Duration
		prune func(context.Context, time.Time, int) (int64, error)
	}{{cfg.Audit, s.PruneAudit}, {cfg.Outbox, s.PruneDelivered}} {
		if job.keep <= 0 {
			continue
		}
		before := now().Add(-job.keep)
		for {
			n, err := job.prune(ctx, before, batch)
			total += n
			if err != nil {
				return total, err
			}
			if n < batch {
				break
			}
		}
	}
	return total, nil
}

// ParseDuration reads a retention: a Go duration ("720h") or a number of days ("90d"); "" and
// "0" keep for ever.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if v == "" || v == "0" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("retention %q: give a number of days such as 90d, or a duration such as 720h", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, errors.New("retention " + strconv.Quote(v) + ": give a number of days such as 90d, or a duration such as 720h")
	}
	return d, nil
}
