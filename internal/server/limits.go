package server

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/scimd/scimd/internal/scimerr"
)

// limiter keeps one token bucket per provisioning token. Buckets are per process: with several
// scimd processes behind a load balancer a token's effective limit is the sum of theirs.
type limiter struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	// buckets by token id; idle buckets are dropped so the map stays small.
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow reports whether token may make a request now, and if not, how long to wait.
func (l *limiter) allow(token string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b := l.buckets[token]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[token] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// withRateLimit answers 429 with Retry-After when the request's token exceeds its rate.
func (s *server) withRateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.limiter != nil {
			if ok, wait := s.limiter.allow(actor(r).TokenID, s.Now()); !ok {
				secs := int(math.Ceil(wait.Seconds()))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				s.writeError(w, r, scimerr.New(scimerr.KindTooManyRequests, "",
					"this token is over its rate limit of %g requests per second; retry after %d s", float64(s.limiter.rate), secs))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
