package ghsim

import (
	"strings"
	"sync"
)

// gitCache keeps git's answers for one repository. Refs change, so the
// ref list is kept only until the next ref write (each write bumps a
// generation, and a list read while a write ran is not kept). Everything
// else is a function of full object names and never changes: the answer
// is kept for good, including "not found" where the objects asked about
// exist (unrelated histories, a path absent from a tree).
type gitCache struct {
	mu      sync.Mutex
	refGen  uint64
	refs    []gitRef
	refsGen uint64 // the generation refs was read in
	haveRef bool
	answers map[string]any
}

func newGitCache() *gitCache { return &gitCache{answers: map[string]any{}} }

func (c *gitCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.answers[key]
	return v, ok
}

func (c *gitCache) put(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers[key] = v
}

// refList returns the cached refs, if they are still current. The slice
// is shared: callers copy before changing it.
func (c *gitCache) refList() ([]gitRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refs, c.haveRef && c.refsGen == c.refGen
}

// refGeneration is taken before reading the refs from git.
func (c *gitCache) refGeneration() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refGen
}

// setRefList keeps refs read in generation gen, unless a ref was written
// since.
func (c *gitCache) setRefList(gen uint64, refs []gitRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.refGen {
		c.refs, c.refsGen, c.haveRef = refs, gen, true
	}
}

// refsChanged forgets the refs: a ref was (or may have been) written.
func (c *gitCache) refsChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refGen++
	c.haveRef = false
}

// clone copies the cache for a copy of the repository (same objects, same
// refs).
func (c *gitCache) clone() *gitCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := &gitCache{answers: make(map[string]any, len(c.answers))}
	for k, v := range c.answers {
		cp.answers[k] = v
	}
	if c.haveRef && c.refsGen == c.refGen {
		cp.refs, cp.haveRef = c.refs, true
	}
	return cp
}

// memoEntry is a kept answer: a value, or errNotFound.
type memoEntry[T any] struct {
	v   T
	err error
}

// memo answers op on objects from the cache when every object is named in
// full ("" stands for none), and otherwise runs read. Answers and
// errNotFound are kept; other errors (a missing object, git failing) are
// not.
func memo[T any](g *gitRepo, op string, objects []string, read func() (T, error)) (T, error) {
	for _, o := range objects {
		if o != "" && !isFullSHA(o) {
			return read()
		}
	}
	key := op + " " + strings.Join(objects, " ")
	if v, ok := g.cache.get(key); ok {
		e := v.(memoEntry[T])
		return e.v, e.err
	}
	v, err := read()
	if err == nil || err == errNotFound {
		g.cache.put(key, memoEntry[T]{v, err})
	}
	return v, err
}
