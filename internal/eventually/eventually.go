// Package eventually waits in tests for something another goroutine or process brings about.
package eventually

import (
	"testing"
	"time"
)

// Timeout is how long Holds waits: generous, since a loaded machine running the race detector
// is slow, and a condition that holds returns at once.
const Timeout = 30 * time.Second

// Holds polls cond until it returns true, and fails the test, naming what it waited for, if it
// does not within Timeout. Unlike testify's Eventually, cond runs on the caller's goroutine, so
// it may use require and t.Fatal.
func Holds(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", Timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
