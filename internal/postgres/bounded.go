package postgres

import "sync"

// bounded is a map kept between requests, safe for concurrent use, that holds at most max
// entries: past it, an arbitrary entry makes room. The caches built on it keep what a miss can
// read again (orgCache, Store.counts), so which entry goes matters little.
type bounded[V any] struct {
	mu  sync.RWMutex
	m   map[string]V
	max int
}

func newBounded[V any](max int) *bounded[V] { return &bounded[V]{m: map[string]V{}, max: max} }

func (b *bounded[V]) get(key string) (V, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	v, ok := b.m[key]
	return v, ok
}

func (b *bounded[V]) put(key string, v V) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[key]; !ok && len(b.m) >= b.max {
		for k := range b.m {
			delete(b.m, k)
			break
		}
	}
	b.m[key] = v
}

func (b *bounded[V]) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}
