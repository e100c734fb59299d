package app

import (
	"container/list"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/gregjones/httpcache"
)

// responseCache is the storage behind httpcache: cached GitHub responses,
// so that repeated reads go out as conditional requests (If-None-Match)
// and a 304 costs no rate limit. It holds at most maxBytes of responses
// across every installation, evicting the least recently used.
//
// go-githubapp asks for one httpcache.Cache per installation client; each
// gets its own key namespace (Namespace) over the shared byte budget, so
// installations never see each other's responses.
type responseCache struct {
	mu       sync.Mutex
	maxBytes int64
	size     int64
	order    *list.List // front: most recently used
	entries  map[string]*list.Element
	next     atomic.Int64
}

type cacheEntry struct {
	key   string
	value []byte
}

func newResponseCache(maxBytes int64) *responseCache {
	return &responseCache{maxBytes: maxBytes, order: list.New(), entries: map[string]*list.Element{}}
}

// Namespace returns a cache view whose keys cannot collide with any other
// view's.
func (c *responseCache) Namespace() httpcache.Cache {
	return cacheView{c, strconv.FormatInt(c.next.Add(1), 10) + "|"}
}

func (c *responseCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*cacheEntry).value, true
}

func (c *responseCache) set(key string, value []byte) {
	n := int64(len(value) + len(key))
	if n > c.maxBytes/4 {
		// One huge response (a compare with thousands of patches) would
		// evict everything else; leave it uncached.
		c.delete(key)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		old := e.Value.(*cacheEntry)
		c.size += n - int64(len(old.value)+len(old.key))
		old.value = value
		c.order.MoveToFront(e)
	} else {
		c.entries[key] = c.order.PushFront(&cacheEntry{key, value})
		c.size += n
	}
	for c.size > c.maxBytes {
		last := c.order.Back()
		ent := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.entries, ent.key)
		c.size -= int64(len(ent.value) + len(ent.key))
	}
}

func (c *responseCache) delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[key]; ok {
		ent := e.Value.(*cacheEntry)
		c.order.Remove(e)
		delete(c.entries, key)
		c.size -= int64(len(ent.value) + len(ent.key))
	}
}

// Bytes is the size of everything cached.
func (c *responseCache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}

type cacheView struct {
	c      *responseCache
	prefix string
}

func (v cacheView) Get(key string) ([]byte, bool) { return v.c.get(v.prefix + key) }
func (v cacheView) Set(key string, value []byte)  { v.c.set(v.prefix+key, value) }
func (v cacheView) Delete(key string)             { v.c.delete(v.prefix + key) }
