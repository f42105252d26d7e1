package delivery

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
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
	Run(ctx, time.Hour, 10, log, "test", nil, func(context.Context) (int, error) {
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

func TestRunLogsAnUnavailableDatabaseAtWarn(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	down, broken := errors.New("database down"), errors.New("bad row")
	calls := 0
	Run(ctx, time.Millisecond, 10, log, "test", func(err error) bool { return errors.Is(err, down) },
		func(context.Context) (int, error) {
			calls++
			switch calls {
			case 1:
				return 0, down
			case 2:
				return 0, broken
			}
			cancel()
			return 0, nil
		})
	lines := strings.Split(strings.TrimSpace(logged.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], "level=WARN")
	require.Contains(t, lines[0], "database down")
	require.Contains(t, lines[1], "level=ERROR")
	require.Contains(t, lines[1], "bad row")
}
