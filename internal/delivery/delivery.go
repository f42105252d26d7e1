// Package delivery holds what scimd's delivery workers (notification mail, webhooks) share:
// the loop that drains a queue in batches, and the retry schedule.
package delivery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// Run calls once until ctx is cancelled. once claims and handles one batch of at most batch
// items and returns how many it handled; after a full batch Run goes on at once (more may be
// due), otherwise it waits poll. Errors are logged as what, and retried after poll: at WARN
// when unavailable (which may be nil) says the database could not be used, since the
// worker carries on by itself once it is back; at ERROR otherwise.
func Run(ctx context.Context, poll time.Duration, batch int, log *slog.Logger, what string,
	unavailable func(error) bool, once func(context.Context) (int, error)) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		n, err := once(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := poll
		switch {
		case err != nil && unavailable != nil && unavailable(err):
			log.Warn(what+": database unavailable", "err", err.Error())
		case err != nil:
			log.Error(what, "err", err.Error())
		case n == batch:
			wait = 0
		}
		timer.Reset(wait)
	}
}

// Backoff is the wait after the attempt-th failed attempt: base·2^(attempt-1), at most max,
// plus up to a fifth of that as jitter so that retries of many items spread out.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d + rand.N(d/5+1)
}
