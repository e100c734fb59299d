package ghsim

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A commit of files (writeCommit) is written here the way git fast-import
// writes it, without starting git (fast-import, and the unpack-objects it
// starts for a small import, were a third of the simulator's git runs):
// the new blobs, the trees on the changed paths (the parent's tree with
// the files applied, an emptied directory removed), and the commit, as
// loose objects. Only where the result is certain: every tree on a changed
// path must be known (a kept answer, or a loose object read here), the
// paths plain, and a path may not run through a file or put a file where
// a directory is (fast-import turns one into the other); otherwise
// fast-import is run. gitwrite_test.go compares both ways.

// treeEntry is one entry of a tree object.
type treeEntry struct {
	mode uint32 // as git stores it: 0o100644, 0o100755, 0o120000, 0o40000, 0o160000
	name string
	sha  string
}

func (e treeEntry) isTree() bool { return e.mode&0o170000 == 0o040000 }

// sortKey is git's order of tree entries: by name, a directory's as if
// it ended with a slash.
func (e treeEntry) sortKey() string {
	if e.isTree() {
		return e.name + "/"
	}
	return e.name
}

// encodeTree is a tree object's content, entries in git's order.
func encodeTree(entries []treeEntry) []byte {
	sorted := append([]treeEntry(nil), entries...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].sortKey() < sorted[j].sortKey() })
	var b bytes.Buffer
	for _, e := range sorted {
		raw, _ := hex.DecodeString(e.sha)
		b.WriteString(strconv.FormatUint(uint64(e.mode), 8))
		b.WriteByte(' ')
		b.WriteString(e.name)
		b.WriteByte(0)
		b.Write(raw)
	}
	return b.Bytes()
}

// decodeTree reads a tree object's content.
func decodeTree(b []byte) ([]treeEntry, bool) {
	var entries []treeEntry
	for len(b) > 0 {
		sp := bytes.IndexByte(b, ' ')
		if sp < 0 {
			return nil, false
		}
		mode, err := strconv.ParseUint(string(b[:sp]), 8, 32)
		if err != nil {
			return nil, false
		}
		b = b[sp+1:]
		nul := bytes.IndexByte(b, 0)
		if nul < 0 || len(b) < nul+21 {
			return nil, false
		}
		entries = append(entries, treeEntry{mode: uint32(mode), name: string(b[:nul]), sha: hex.EncodeToString(b[nul+1 : nul+21])})
		b = b[nul+21:]
	}
	return entries, true
}

// looseObject reads a loose object of the repository: its type and
// content, or false (not loose here, or unreadable).
func (g *gitRepo) looseObject(sha string) (string, []byte, bool) {
	if !isFullSHA(sha) {
		return "", nil, false
	}
	f, err := os.Open(filepath.Join(g.dir, "objects", sha[:2], sha[2:]))
	if err != nil {
		return "", nil, false
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return "", nil, false
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		return "", nil, false
	}
	header, content, ok := bytes.Cut(b, []byte{0})
	if !ok {
		return "", nil, false
	}
	typ, size, ok := strings.Cut(string(header), " ")
	if n, err := strconv.Atoi(size); !ok || err != nil || n != len(content) {
		return "", nil, false
	}
	return typ, content, true
}

// treeEntries returns a tree's entries from the kept answers, or from
// its loose object (then kept); false when neither has it.
func (g *gitRepo) treeEntries(sha string) ([]treeEntry, bool) {
	if sha == emptyTree {
		return nil, true
	}
	key := "tree-entries " + sha
	if v, ok := g.answer(key, sha); ok {
		return v.([]treeEntry), true
	}
	typ, content, ok := g.looseObject(sha)
	if !ok || typ != "tree" {
		return nil, false
	}
	entries, ok := decodeTree(content)
	if !ok {
		return nil, false
	}
	g.keep("type "+sha, "tree", sha)
	g.keep(key, entries, sha)
	return entries, true
}

// commitTreeOf is a commit's tree, from the kept answers or its loose
// object.
func (g *gitRepo) commitTreeOf(sha string) (string, bool) {
	if v, ok := g.answer("commit-info "+sha, sha); ok && g.isType(sha, "commit") {
		return v.(commitInfo).Tree, true
	}
	typ, content, ok := g.looseObject(sha)
	if !ok || typ != "commit" {
		return "", false
	}
	tree, ok := strings.CutPrefix(string(content), "tree ")
	if !ok || len(tree) < 41 || tree[40] != '\n' || !isFullSHA(tree[:40]) {
		return "", false
	}
	g.keep("type "+sha, "commit", sha)
	return tree[:40], true
}

// editTree is a tree being changed: its entries by name, and the
// subtrees opened for changes.
type editTree struct {
	entries map[string]treeEntry
	subs    map[string]*editTree
	changed bool
}

func (g *gitRepo) openTree(sha string) (*editTree, bool) {
	entries, ok := g.treeEntries(sha)
	if !ok {
		return nil, false
	}
	t := &editTree{entries: make(map[string]treeEntry, len(entries)), subs: map[string]*editTree{}}
	for _, e := range entries {
		t.entries[e.name] = e
	}
	return t, true
}

// plainPath is a path fast-import takes as it is: components that are
// not empty, not . or .., not .git, valid UTF-8 without control
// characters.
func plainPath(p string) bool {
	if p == "" || !utf8.ValidString(p) {
		return false
	}
	for _, c := range strings.Split(p, "/") {
		if c == "" || c == "." || c == ".." || strings.EqualFold(c, ".git") {
			return false
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' {
			return false
		}
	}
	return true
}

// set puts a blob at the path's components; false when fast-import would
// do something other than a plain write.
func (g *gitRepo) set(t *editTree, parts []string, blob string) bool {
	name := parts[0]
	e, exists := t.entries[name]
	if len(parts) == 1 {
		if exists && e.isTree() {
			return false // a file where a directory is
		}
		if !exists || e.mode != 0o100644 || e.sha != blob {
			t.entries[name] = treeEntry{mode: 0o100644, name: name, sha: blob}
			t.changed = true
		}
		return true
	}
	sub := t.subs[name]
	if sub == nil {
		switch {
		case !exists:
			sub = &editTree{entries: map[string]treeEntry{}, subs: map[string]*editTree{}}
		case e.isTree():
			var ok bool
			if sub, ok = g.openTree(e.sha); !ok {
				return false
			}
		default:
			return false // a path through a file
		}
		t.subs[name] = sub
		t.entries[name] = treeEntry{mode: 0o040000, name: name, sha: e.sha}
	}
	if !g.set(sub, parts[1:], blob) {
		return false
	}
	t.changed = t.changed || sub.changed
	return true
}

// remove deletes the path's components; a directory left empty goes too.
func (g *gitRepo) remove(t *editTree, parts []string) bool {
	name := parts[0]
	e, exists := t.entries[name]
	if !exists {
		return true // nothing to delete
	}
	if len(parts) == 1 {
		delete(t.entries, name)
		delete(t.subs, name)
		t.changed = true
		return true
	}
	if !e.isTree() {
		return false // a path through a file
	}
	sub := t.subs[name]
	if sub == nil {
		var ok bool
		if sub, ok = g.openTree(e.sha); !ok {
			return false
		}
		t.subs[name] = sub
	}
	if !g.remove(sub, parts[1:]) {
		return false
	}
	if sub.changed {
		t.changed = true
		if len(sub.entries) == 0 {
			delete(t.entries, name)
			delete(t.subs, name)
		}
	}
	return true
}

// writeTree writes the changed trees, deepest first, and returns the
// tree's name.
func (g *gitRepo) writeTree(t *editTree, sha string) (string, error) {
	if !t.changed {
		return sha, nil
	}
	entries := make([]treeEntry, 0, len(t.entries))
	for name, e := range t.entries {
		if sub := t.subs[name]; sub != nil {
			s, err := g.writeTree(sub, e.sha)
			if err != nil {
				return "", err
			}
			e.sha = s
		}
		entries = append(entries, e)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].sortKey() < entries[j].sortKey() })
	out, err := g.writeObject("tree", encodeTree(entries))
	if err != nil {
		return "", err
	}
	g.keep("type "+out, "tree", out)
	g.keep("tree-entries "+out, entries, out)
	return out, nil
}

// writeCommitHere is writeCommit without git, or false when git must
// write it.
func (g *gitRepo) writeCommitHere(parent string, files map[string]File, message string, author, committer Identity) (string, bool, error) {
	if !plainIdentity(author) || !plainIdentity(committer) || !plainText(message) {
		return "", false, nil
	}
	base := emptyTree
	var parents []string
	if parent != "" {
		tree, ok := g.commitTreeOf(parent)
		if !ok || !g.isType(parent, "commit") {
			return "", false, nil
		}
		base, parents = tree, []string{parent}
	}
	root, ok := g.openTree(base)
	if !ok {
		return "", false, nil
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		if !plainPath(p) {
			return "", false, nil
		}
		paths = append(paths, p)
	}
	sort.Strings(paths)
	blobs := map[string]string{}
	for _, p := range paths {
		f := files[p]
		parts := strings.Split(p, "/")
		if f.Delete {
			if !g.remove(root, parts) {
				return "", false, nil
			}
			continue
		}
		blob, ok := blobs[f.Content]
		if !ok {
			var err error
			if blob, err = g.writeObject("blob", []byte(f.Content)); err != nil {
				return "", true, err
			}
			blobs[f.Content] = blob
		}
		if !g.set(root, parts, blob) {
			return "", false, nil
		}
	}
	for _, blob := range blobs {
		g.keep("type "+blob, "blob", blob)
	}
	tree := base
	if root.changed {
		var err error
		if tree, err = g.writeTree(root, base); err != nil {
			return "", true, err
		}
	} else if tree == emptyTree {
		// fast-import writes the empty tree; git knows it without.
		if _, err := g.writeObject("tree", nil); err != nil {
			return "", true, err
		}
	}
	if _, ok := g.commitObject(tree, parents, message, author, committer); !ok {
		return "", false, nil
	}
	sha, err := g.commitTree(tree, parents, message, author, committer)
	return sha, true, err
}
