package server

import (
	"errors"
	"sync"
	"time"
)

// ErrStopped is the cause with which the process cancels the contexts of requests still
// running when the shutdown grace period is over; they answer 503.
var ErrStopped = errors.New("scimd is shutting down")

// Lifecycle tells the handlers where the process stands in its shutdown. "scimd serve" calls
// Drain on SIGTERM: /readyz answers 503 from then on, so load balancers stop sending new
// requests, while requests keep being served until the drain period ends; then the listeners
// close and in-flight requests have until Deadline to answer. A request that works in steps
// (Bulk) checks Deadline before starting each step, so it can answer in time.
type Lifecycle struct {
	mu       sync.Mutex
	draining chan struct{}
	deadline time.Time
	// bulkStop is closed bulkReserve before the deadline.
	bulkStop chan struct{}
}

// bulkReserve is how long before the end of the shutdown grace a Bulk request stops starting
// operations (bulk.Runner.Stop): time to finish the one in hand and to write the response.
const bulkReserve = 3 * time.Second

// NewLifecycle returns a Lifecycle that is not draining.
func NewLifecycle() *Lifecycle {
	return &Lifecycle{draining: make(chan struct{}), bulkStop: make(chan struct{})}
}

// Drain marks the start of shutdown: every request must have answered by deadline. Calls after
// the first change nothing.
func (l *Lifecycle) Drain(deadline time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-l.draining:
	default:
		l.deadline = deadline
		close(l.draining)
		if stop := time.Until(deadline) - bulkReserve; stop > 0 {
			time.AfterFunc(stop, func() { close(l.bulkStop) })
		} else {
			close(l.bulkStop) // a grace shorter than the reserve: from now on, not in a moment
		}
	}
}

// stopBulk is closed when Bulk requests must stop starting operations; a nil Lifecycle never
// closes it.
func (l *Lifecycle) stopBulk() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.bulkStop
}

// Draining is closed once shutdown has begun; a nil Lifecycle never drains.
func (l *Lifecycle) Draining() <-chan struct{} {
	if l == nil {
		return nil
	}
	return l.draining
}

// Deadline is when in-flight requests must have answered; ok is false until shutdown began.
func (l *Lifecycle) Deadline() (deadline time.Time, ok bool) {
	if l == nil {
		return time.Time{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline, !l.deadline.IsZero()
}

func (l *Lifecycle) isDraining() bool {
	select {
	case <-l.Draining():
		return true
	default:
		return false
	}
}
