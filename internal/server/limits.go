package server

import (
	"container/list"
	"context"
	"errors"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
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

// maxFailureAddrs bounds the addresses whose failed authentications are remembered: about
// 100 bytes each, so about 1 MiB at most. The least recently failing address is forgotten
// first.
const maxFailureAddrs = 10000

// failureLimiter limits failed authentications per client address with the generic cell rate
// algorithm: each address keeps one time, its theoretical arrival time (tat), which every
// failure pushes interval further; an address is over its limit while tat lies more than
// burst-1 intervals ahead of now.
type failureLimiter struct {
	rate     float64
	interval time.Duration
	burst    int
	max      int
	mu       sync.Mutex
	byKey    map[netip.Prefix]*list.Element
	order    *list.List // of *failureEntry, the most recent failure first
}

type failureEntry struct {
	key netip.Prefix
	tat time.Time
}

func newFailureLimiter(perSecond float64, burst, max int) *failureLimiter {
	if perSecond <= 0 {
		return nil
	}
	if burst < 1 {
		burst = int(math.Ceil(perSecond))
	}
	return &failureLimiter{rate: perSecond, interval: time.Duration(float64(time.Second) / perSecond), burst: burst,
		max: max, byKey: map[netip.Prefix]*list.Element{}, order: list.New()}
}

// wait is how long key must wait before a failure of its is answered 401 again; 0 when it is
// within its limit.
func (l *failureLimiter) wait(key netip.Prefix, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.byKey[key]
	if el == nil {
		return 0
	}
	return max(el.Value.(*failureEntry).tat.Sub(now)-time.Duration(l.burst-1)*l.interval, 0)
}

// fail records a failed authentication of key.
func (l *failureLimiter) fail(key netip.Prefix, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.byKey[key]
	if el == nil {
		if l.order.Len() >= l.max {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.byKey, oldest.Value.(*failureEntry).key)
		}
		el = l.order.PushFront(&failureEntry{key: key, tat: now})
		l.byKey[key] = el
	} else {
		l.order.MoveToFront(el)
	}
	e := el.Value.(*failureEntry)
	if e.tat.Before(now) {
		e.tat = now
	}
	e.tat = e.tat.Add(l.interval)
}

// clientAddr is the address of the request's client: the peer, or when the peer is a trusted
// proxy, the nearest address in X-Forwarded-For that is not one (proxies append the address
// they received from, so the addresses right of it were added by trusted hops).
func (s *server) clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{} // not an IP peer (a test's pipe): all such requests share one limit
	}
	addr := ap.Addr().Unmap()
	if !s.trustedProxy(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // garbage from the client's side: the last address a trusted hop vouched for
		}
		addr = hop.Unmap()
		if !s.trustedProxy(addr) {
			return addr
		}
	}
	return addr
}

func (s *server) trustedProxy(a netip.Addr) bool {
	for _, p := range s.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrKey is what failures are counted by: an IPv4 address, or an IPv6 /64, the least a site
// is given, so that one client cannot dodge the limit by walking its own prefix.
func addrKey(a netip.Addr) netip.Prefix {
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// limitAuthFailures guards an authenticating middleware (withAuth, withAdmin): a 401 it
// answers counts against the client's address, and while the address is over its limit the
// 401 is replaced by a 429 with Retry-After, written by writeErr. The token is still checked,
// so a request with a valid token is never refused by this limit.
func (s *server) limitAuthFailures(writeErr func(http.ResponseWriter, *http.Request, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if s.authFailures == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := addrKey(s.clientAddr(r))
			fw := &authFailureWriter{ResponseWriter: w, l: s.authFailures, key: key, now: s.Now,
				throttled: s.authFailures.wait(key, s.Now()) > 0}
			next.ServeHTTP(fw, r)
			if !fw.refused {
				return
			}
			secs := int(math.Ceil(max(s.authFailures.wait(key, s.Now()), time.Second).Seconds()))
			w.Header().Del("WWW-Authenticate")
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeErr(w, r, scimerr.New(scimerr.KindTooManyRequests, "",
				"too many failed authentications from this address (more than %g per second); retry after %d s",
				s.authFailures.rate, secs))
		})
	}
}

// consoleFailure is the console's Deps.Failed: the limit on failed tokens, by client address,
// applied to its session cookies and sign-in links. As with tokens, a failure while the
// address is over its limit is not counted again.
func (s *server) consoleFailure() func(r *http.Request) time.Duration {
	if s.authFailures == nil {
		return nil
	}
	return func(r *http.Request) time.Duration {
		key := addrKey(s.clientAddr(r))
		if wait := s.authFailures.wait(key, s.Now()); wait > 0 {
			return wait
		}
		s.authFailures.fail(key, s.Now())
		return 0
	}
}

// authFailureWriter counts a 401 as a failure, or swallows it while the address is over its
// limit, for limitAuthFailures to answer 429 instead.
type authFailureWriter struct {
	http.ResponseWriter
	l         *failureLimiter
	key       netip.Prefix
	now       func() time.Time
	throttled bool
	refused   bool
	wrote     bool
}

func (w *authFailureWriter) WriteHeader(code int) {
	if !w.wrote && code == http.StatusUnauthorized {
		if w.throttled {
			w.refused = true
			return
		}
		w.l.fail(w.key, w.now())
	}
	w.wrote = w.wrote || code >= 200
	w.ResponseWriter.WriteHeader(code)
}

func (w *authFailureWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil
	}
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *authFailureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// orgLimiter bounds the requests of each organization in progress at once. Entries exist only
// while an organization has requests in progress or waiting.
type orgLimiter struct {
	limit int
	wait  time.Duration
	mu    sync.Mutex
	orgs  map[string]*orgSlots
}

type orgSlots struct {
	sem   chan struct{}
	users int // requests holding or waiting for a slot
}

func newOrgLimiter(limit int, wait time.Duration) *orgLimiter {
	if limit <= 0 {
		return nil
	}
	return &orgLimiter{limit: limit, wait: wait, orgs: map[string]*orgSlots{}}
}

var errOrgBusy = errors.New("organization busy")

// acquire takes a slot of org, waiting up to l.wait; release gives it back.
func (l *orgLimiter) acquire(ctx context.Context, org string) (release func(), err error) {
	l.mu.Lock()
	e := l.orgs[org]
	if e == nil {
		e = &orgSlots{sem: make(chan struct{}, l.limit)}
		l.orgs[org] = e
	}
	e.users++
	l.mu.Unlock()
	leave := func() {
		l.mu.Lock()
		if e.users--; e.users == 0 {
			delete(l.orgs, org)
		}
		l.mu.Unlock()
	}
	release = func() { <-e.sem; leave() }
	select {
	case e.sem <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(l.wait)
	defer t.Stop()
	select {
	case e.sem <- struct{}{}:
		return release, nil
	case <-t.C:
		leave()
		return nil, errOrgBusy
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// withOrgLimit holds a slot of the request's organization while the request works, until the
// first byte of its answer (slotWriter): no organization can have more than OrgConcurrency
// requests in progress, so one tenant's slow or stalled requests cannot take every database
// connection from the others. A request that finds no slot within OrgWait is answered 503
// with Retry-After.
func (s *server) withOrgLimit(next http.Handler) http.Handler {
	if s.orgSlots == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, err := s.orgSlots.acquire(r.Context(), actor(r).Org)
		if errors.Is(err, errOrgBusy) {
			w.Header().Set("Retry-After", "1")
			err = scimerr.New(scimerr.KindUnavailable, "",
				"this organization has %d requests in progress, the most scimd serves at once for one organization; retry after 1 s",
				s.orgSlots.limit)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		sw := &slotWriter{ResponseWriter: w, release: release}
		defer sw.free()
		next.ServeHTTP(sw, r)
	})
}

// slotWriter gives the organization's slot back at the first byte of the answer: from then on
// the request only writes to its client (a group's members are read in chunks without holding
// a connection), and a client that stalls there must not keep its organization's other
// requests waiting for the write timeout.
type slotWriter struct {
	http.ResponseWriter
	release func()
}

func (w *slotWriter) free() {
	if w.release != nil {
		w.release()
		w.release = nil
	}
}

func (w *slotWriter) Write(b []byte) (int, error) {
	w.free()
	return w.ResponseWriter.Write(b)
}

func (w *slotWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
