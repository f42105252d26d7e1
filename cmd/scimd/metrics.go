package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimd/scimd/internal/postgres"
)

// queueScrapeTimeout bounds the queue query of one scrape: a database too slow to answer it
// leaves the queue metrics out of that scrape rather than hanging it.
const queueScrapeTimeout = 2 * time.Second

// queueCollector reports the delivery queues (notifications, webhook deliveries) at /metrics,
// read from the database when scraped.
type queueCollector struct {
	pool                 *pgxpool.Pool
	log                  *slog.Logger
	pending, due, oldest *prometheus.Desc
}

func queueMetrics(pool *pgxpool.Pool, log *slog.Logger) prometheus.Collector {
	labels := []string{"queue"}
	return &queueCollector{pool: pool, log: log,
		pending: prometheus.NewDesc("scimd_queue_pending", "Undelivered items of a delivery queue (notifications, webhooks), due or waiting to be retried.", labels, nil),
		due:     prometheus.NewDesc("scimd_queue_due", "Items of a delivery queue whose next attempt is due.", labels, nil),
		oldest:  prometheus.NewDesc("scimd_queue_oldest_due_age_seconds", "How long the oldest due item of a delivery queue has been due; 0 when none is.", labels, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.due
	ch <- c.oldest
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), queueScrapeTimeout)
	defer cancel()
	queues, err := postgres.QueueDepths(ctx, c.pool)
	if err != nil {
		c.log.Warn("reading the delivery queues for /metrics", "err", err.Error())
		return
	}
	for _, q := range queues {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(q.Pending), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.due, prometheus.GaugeValue, float64(q.Due), q.Queue)
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, q.OldestDueSeconds, q.Queue)
	}
}
