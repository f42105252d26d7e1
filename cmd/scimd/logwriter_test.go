package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Lines written through the batching writer all arrive, whole, each goroutine's in its order,
// including those written past the pending bound and after close.
func TestLogWriterKeepsEveryLineInOrder(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	require.NoError(t, err)
	defer f.Close()
	w, closeLog := batchLogs(f)
	_, batched := w.(*logWriter)
	require.True(t, batched, "a file is written through the batching writer")

	const writers, lines = 8, 5000
	long := strings.Repeat("x", 300) // 8 x 5000 x 300 bytes: past maxPendingLog
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				fmt.Fprintf(w, "%d %d %s\n", g, i, long)
			}
		}()
	}
	wg.Wait()
	closeLog()
	fmt.Fprintf(w, "after close\n")

	b, err := os.ReadFile(f.Name())
	require.NoError(t, err)
	all := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	require.Len(t, all, writers*lines+1)
	next := make([]int, writers)
	for _, line := range all[:len(all)-1] {
		var g, i int
		var rest string
		_, err := fmt.Sscanf(string(line), "%d %d %s", &g, &i, &rest)
		require.NoError(t, err, "a whole line: %.40q", line)
		require.Equal(t, next[g], i, "writer %d's lines in order", g)
		require.Equal(t, long, rest)
		next[g]++
	}
	require.Equal(t, "after close", string(all[len(all)-1]))
}

// Writers that are not files (tests' buffers) are used as they are.
func TestLogWriterLeavesBuffersAlone(t *testing.T) {
	var buf bytes.Buffer
	w, closeLog := batchLogs(&buf)
	defer closeLog()
	require.Same(t, &buf, w)
}
