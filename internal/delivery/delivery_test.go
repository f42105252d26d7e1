package delivery

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, limit := time.Second, 15*time.Minute
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second, 40: limit} {
		for range 20 {
			d := Backoff(attempt, base, limit)
			require.GreaterOrEqual(t, d, want, "attempt %d", attempt)
			require.LessOrEqual(t, d, want+want/5, "attempt %d: at most a fifth of jitter", attempt)
		}
	}
}

func TestRunDrainsFullBatchesAtOnceAndStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	start := time.Now()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	Run(ctx, time.Hour, 10, log, "test", func(context.Context) (int, error) {
		calls++
		if calls == 3 {
			// A partial batch would make Run wait an hour; stopping ends it at once.
			cancel()
			return 4, errors.New("database down")
		}
		return 10, nil // full batches: the next one is claimed without waiting
	})
	require.Equal(t, 3, calls)
	require.Less(t, time.Since(start), time.Minute)
}
