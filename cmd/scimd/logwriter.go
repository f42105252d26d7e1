package main

import (
	"io"
	"os"
	"sync"
	"time"
)

// logWriter batches log lines into few writes: every request logs a line, and a write(2) per
// line cost a few percent of a read's CPU. Lines are handed to one goroutine that writes what
// has accumulated logBatchDelay after the first of them, so that under load one write carries
// many lines and the goroutine wakes a few hundred times a second rather than once or twice
// per request (writing as soon as it could, it woke for nearly every line: on 2 cores, a
// thread's wake-up costs more than the write). A line is at risk only for that delay, in a
// process killed without its shutdown (close writes what is left).
type logWriter struct {
	out io.Writer
	// write is held while lines are taken from pending and written, so lines reach out in
	// the order they were written.
	write   sync.Mutex
	mu      sync.Mutex // guards pending, closed and sends on wake
	pending []byte
	spare   []byte // the buffer of the last batch written, reused for the next; held by write
	closed  bool
	wake    chan struct{}
	done    chan struct{}
}

// logBatchDelay is how long a line may wait for others to be written with it: short enough
// that a log follower sees requests as they happen.
const logBatchDelay = 2 * time.Millisecond

// maxPendingLog bounds the lines waiting: past it, Write writes itself, which slows logging
// (and so requests) to what the log's destination takes rather than growing without bound.
const maxPendingLog = 1 << 20

// batchLogs returns w for logging through a logWriter when w is a file (stderr in
// production: a terminal, a pipe to a log collector, a file), and w itself otherwise (tests'
// in-memory buffers, which cost nothing to write and are read right after). close writes what
// is pending.
func batchLogs(w io.Writer) (out io.Writer, close func()) {
	if _, ok := w.(*os.File); !ok {
		return w, func() {}
	}
	l := &logWriter{out: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l, l.close
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if !l.closed && len(l.pending)+len(p) <= maxPendingLog {
		l.pending = append(l.pending, p...)
		select {
		case l.wake <- struct{}{}:
		default: // a wake-up is already due
		}
		l.mu.Unlock()
		return len(p), nil
	}
	l.mu.Unlock()
	l.write.Lock()
	defer l.write.Unlock()
	l.flush()
	return l.out.Write(p)
}

// flush writes what is pending; l.write is held.
func (l *logWriter) flush() {
	l.mu.Lock()
	batch := l.pending
	l.pending, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	if len(batch) > 0 {
		_, _ = l.out.Write(batch)
	}
	if cap(batch) <= maxPendingLog {
		l.spare = batch
	}
}

func (l *logWriter) run() {
	defer close(l.done)
	for range l.wake {
		time.Sleep(logBatchDelay)
		l.write.Lock()
		l.flush()
		l.write.Unlock()
	}
}

// close writes what is pending; later lines are written directly.
func (l *logWriter) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	close(l.wake)
	l.mu.Unlock()
	<-l.done
	l.write.Lock()
	defer l.write.Unlock()
	l.flush()
}
