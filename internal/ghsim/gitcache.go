package ghsim

import (
	"sort"
	"strings"
	"sync"
)

// Forking git is what the simulator spends its time on, so git's answers
// are kept, in two places.
//
// Answers about objects (a merge base, a commit list, a diff, a commit's
// or a tag's content, what is at a path) are a function of the full
// object names asked about: objects are named by their content, so the
// answer is the same in every repository that has them, and forever.
// They are kept once per process (objectAnswers), and shared by every
// simulator: the same story played in many tests asks the same questions.
// A repository uses a kept answer only when it knows it has every object
// the question names (gitCache.known: objects its refs point at, that git
// named in its answers there, or that were written there); otherwise it
// asks git, which checks, and learns them.
//
// The refs are kept per repository (gitCache.refs): read with one
// for-each-ref, then kept current by the simulator's own ref writes
// (each write's result is put in the table when its object's type, and
// a tag's target, are known; otherwise the table is forgotten and read
// again). Nothing else writes refs.
type gitCache struct {
	mu      sync.Mutex
	refGen  uint64   // bumped by every ref write
	refs    []gitRef // sorted by name; replaced, never changed in place
	refsGen uint64   // the generation refs is current for
	haveRef bool
	known   map[string]bool // objects this repository has
}

func newGitCache() *gitCache { return &gitCache{known: map[string]bool{emptyTree: true}} }

// objectAnswers are git's answers about objects, kept for the process.
var objectAnswers = struct {
	sync.Mutex
	m map[string]any
}{m: map[string]any{}}

// knows reports whether the repository has every one of objects ("" is
// none, and known).
func (c *gitCache) knows(objects ...string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range objects {
		if o != "" && !c.known[o] {
			return false
		}
	}
	return true
}

// learn records objects the repository has.
func (c *gitCache) learn(objects ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, o := range objects {
		if isFullSHA(o) {
			c.known[o] = true
		}
	}
}

// answer returns the kept answer to key, when the repository has every
// object it names.
func (g *gitRepo) answer(key string, objects ...string) (any, bool) {
	if !g.cache.knows(objects...) {
		return nil, false
	}
	objectAnswers.Lock()
	defer objectAnswers.Unlock()
	v, ok := objectAnswers.m[key]
	return v, ok
}

// keep records git's answer to key, given in this repository: the objects
// it names are here.
func (g *gitRepo) keep(key string, v any, objects ...string) {
	g.cache.learn(objects...)
	objectAnswers.Lock()
	defer objectAnswers.Unlock()
	objectAnswers.m[key] = v
}

// refList returns the kept refs, if they are current. The slice is
// shared and never changed: callers copy what they keep.
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
// since; the objects they point at are here.
func (c *gitCache) setRefList(gen uint64, refs []gitRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range refs {
		c.known[r.Object] = true
		if r.Peeled != "" {
			c.known[r.Peeled] = true
		}
	}
	if gen == c.refGen {
		c.refs, c.refsGen, c.haveRef = refs, gen, true
	}
}

// refsWritten records a ref write: with ok, the table becomes edit's
// result (edit gets a copy); without, the table is forgotten.
func (c *gitCache) refsWritten(ok bool, edit func([]gitRef) []gitRef) {
	c.mu.Lock()
	defer c.mu.Unlock()
	current := c.haveRef && c.refsGen == c.refGen
	c.refGen++
	if !ok || !current || edit == nil {
		c.haveRef = false
		return
	}
	c.refs, c.refsGen = edit(append([]gitRef(nil), c.refs...)), c.refGen
}

// withRef returns refs with ref set (added or replaced), sorted by name.
func withRef(refs []gitRef, ref gitRef) []gitRef {
	i := sort.Search(len(refs), func(i int) bool { return refs[i].Name >= ref.Name })
	if i < len(refs) && refs[i].Name == ref.Name {
		refs[i] = ref
		return refs
	}
	return append(refs[:i], append([]gitRef{ref}, refs[i:]...)...)
}

// withoutRef returns refs without the ref named name.
func withoutRef(refs []gitRef, name string) []gitRef {
	i := sort.Search(len(refs), func(i int) bool { return refs[i].Name >= name })
	if i < len(refs) && refs[i].Name == name {
		return append(refs[:i], refs[i+1:]...)
	}
	return refs
}

// clone copies the cache for a copy of the repository (same objects, same
// refs).
func (c *gitCache) clone() *gitCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp := &gitCache{known: make(map[string]bool, len(c.known))}
	for k := range c.known {
		cp.known[k] = true
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

// memo answers op on objects from the kept answers when every object is
// named in full ("" stands for none) and known here, and otherwise runs
// read. Answers and errNotFound (unrelated histories, a path absent from
// a tree: git found the objects) are kept; other errors (a missing
// object, git failing) are not.
func memo[T any](g *gitRepo, op string, objects []string, read func() (T, error)) (T, error) {
	for _, o := range objects {
		if o != "" && !isFullSHA(o) {
			return read()
		}
	}
	key := op + " " + strings.Join(objects, " ")
	if v, ok := g.answer(key, objects...); ok {
		e := v.(memoEntry[T])
		return e.v, e.err
	}
	v, err := read()
	if err == nil || err == errNotFound {
		g.keep(key, memoEntry[T]{v, err}, objects...)
	}
	return v, err
}
