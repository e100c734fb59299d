package app

import (
	"bytes"
	"testing"
)

func TestResponseCache(t *testing.T) {
	c := newResponseCache(1000)
	a, b := c.Namespace(), c.Namespace()

	a.Set("/repos/o/r", []byte("from a"))
	if _, ok := b.Get("/repos/o/r"); ok {
		t.Fatal("one installation's cache view sees another's entry")
	}
	if v, ok := a.Get("/repos/o/r"); !ok || string(v) != "from a" {
		t.Fatalf("Get = %q, %v", v, ok)
	}

	// Least recently used goes first once the byte budget is exceeded.
	big := bytes.Repeat([]byte("x"), 200)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		b.Set(k, big)
	}
	a.Get("/repos/o/r") // touch: now most recent
	b.Set("k5", big)
	if _, ok := b.Get("k1"); ok {
		t.Error("oldest entry survived past the byte budget")
	}
	if _, ok := a.Get("/repos/o/r"); !ok {
		t.Error("recently used entry was evicted")
	}
	if c.Bytes() > 1000 {
		t.Errorf("cache holds %d bytes, budget 1000", c.Bytes())
	}

	// A response bigger than a quarter of the budget is not cached.
	a.Set("huge", bytes.Repeat([]byte("y"), 400))
	if _, ok := a.Get("huge"); ok {
		t.Error("an oversized response was cached")
	}

	a.Delete("/repos/o/r")
	if _, ok := a.Get("/repos/o/r"); ok {
		t.Error("Delete left the entry")
	}
	// Replacing an entry keeps the size honest.
	before := c.Bytes()
	b.Set("k5", []byte("small"))
	if c.Bytes() >= before {
		t.Errorf("replacing an entry with a smaller one did not shrink the cache (%d -> %d)", before, c.Bytes())
	}
}
