package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/webhook"
)

// startWebhookWorker runs the webhook delivery worker (internal/webhook) in the background:
// "scimd serve" and "scimd worker" always do, since it needs no configuration (endpoints are
// registered per organization). Any number of processes may run it against one database. The
// returned function stops it and waits until the batch in hand is settled; call it before
// the pool closes.
func startWebhookWorker(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) (stop func()) {
	w := webhook.NewWorker(postgres.NewWebhookQueue(pool), webhook.Config{Unavailable: postgres.Unavailable, Logger: logger})
	wctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := w.Run(wctx); err != nil {
			logger.Error("webhook worker stopped", "err", err.Error())
		}
	})
	logger.Info("webhook worker started")
	return func() {
		cancel()
		wg.Wait()
	}
}
