package ghsim

import (
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The simulator's most frequent git writes are written here the way git
// writes them, without starting git: a commit or an annotated tag object
// (a loose object: zlib-compressed "<type> <size>\0<content>", named by
// the SHA-1 of that), and a ref (a file under refs/ holding the object's
// name). They are used only where the result is certain to be what git
// would write, and what git would refuse is certain not to be asked:
// objects and refs whose inputs git would clean up or check (odd names or
// emails, a tree or parent not known to be here, an unusual ref name, a
// ref in packed-refs, a file where a directory should be) go to git
// itself. git_test.go compares both ways.

// writeObject stores a loose object and returns its name.
func (g *gitRepo) writeObject(typ string, content []byte) (string, error) {
	header := typ + " " + strconv.Itoa(len(content)) + "\x00"
	sum := sha1.New()
	sum.Write([]byte(header))
	sum.Write(content)
	sha := hex.EncodeToString(sum.Sum(nil))
	path := filepath.Join(g.dir, "objects", sha[:2], sha[2:])
	if _, err := os.Stat(path); err == nil {
		return sha, nil // objects are named by their content: it is there
	}
	var b bytes.Buffer
	zw := zlibWriters.Get().(*zlib.Writer) // a new one allocates its window
	defer zlibWriters.Put(zw)
	zw.Reset(&b)
	zw.Write([]byte(header))
	zw.Write(content)
	if err := zw.Close(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, b.Bytes(), 0o444); err != nil {
		return "", err
	}
	return sha, nil
}

var zlibWriters = sync.Pool{New: func() any { return zlib.NewWriter(nil) }}

// writeFileAtomic writes a file under a temporary name and renames it,
// as git does, so no reader sees half of it.
func writeFileAtomic(path string, b []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ghsim-tmp-")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// commitObject is the content git commit-tree writes, or false when git
// would change or refuse something: then git is asked.
func (g *gitRepo) commitObject(tree string, parents []string, message string, author, committer Identity) ([]byte, bool) {
	if !g.isType(tree, "tree") || !plainIdentity(author) || !plainIdentity(committer) || !plainText(message) {
		return nil, false
	}
	var b strings.Builder
	fmt.Fprintf(&b, "tree %s\n", tree)
	seen := map[string]bool{}
	for _, p := range parents {
		if seen[p] || !g.isType(p, "commit") {
			return nil, false // git drops a repeated parent, with a warning
		}
		seen[p] = true
		fmt.Fprintf(&b, "parent %s\n", p)
	}
	fmt.Fprintf(&b, "author %s\n", author.signature())
	fmt.Fprintf(&b, "committer %s\n", committer.signature())
	fmt.Fprintf(&b, "\n%s", message)
	return []byte(b.String()), true
}

// isType reports whether sha is known to be here, as an object of typ.
func (g *gitRepo) isType(sha, typ string) bool {
	if sha == emptyTree {
		return typ == "tree" // git has the empty tree always
	}
	if !isFullSHA(sha) {
		return false
	}
	v, ok := g.answer("type "+sha, sha)
	return ok && v.(string) == typ
}

// plainIdentity reports whether git would write the name and email as
// they are (git trims some characters at the ends and refuses < > and
// newlines).
func plainIdentity(id Identity) bool {
	for _, s := range []string{id.Name, id.Email} {
		if s == "" || strings.ContainsAny(s, "<>\n\x00") || strings.Trim(s, " \t.,:;<>\"\\'") != s || !utf8.ValidString(s) {
			return false
		}
	}
	return id.When.Unix() >= 0
}

// plainText is a message git stores as it is.
func plainText(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// writeRefFile points ref at sha as git update-ref does: the file
// refs/... holds the name. False when git must do it (see above).
func (g *gitRepo) writeRefFile(ref, sha string) (bool, error) {
	if !plainRefName(ref) || !strings.HasPrefix(ref, "refs/") || g.inPackedRefs(ref) {
		return false, nil
	}
	typ := "commit"
	if !strings.HasPrefix(ref, "refs/heads/") {
		v, ok := g.answer("type "+sha, sha)
		if !ok {
			return false, nil
		}
		typ = v.(string)
	}
	if !g.isType(sha, typ) {
		return false, nil // git refuses a missing object, and a branch at a non-commit
	}
	path := filepath.Join(g.dir, filepath.FromSlash(ref))
	// A file where a directory goes, or a directory where the file goes:
	// git refuses; let it say how.
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return false, nil
	}
	for dir := filepath.Dir(path); dir != g.dir; dir = filepath.Dir(dir) {
		if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
			return false, nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return true, err
	}
	return true, writeFileAtomic(path, []byte(sha+"\n"), 0o644)
}

// removeRefFile deletes ref as git update-ref -d does: its file, and the
// directories left empty. False when git must do it.
func (g *gitRepo) removeRefFile(ref string) (bool, error) {
	if !plainRefName(ref) || !strings.HasPrefix(ref, "refs/") || g.inPackedRefs(ref) {
		return false, nil
	}
	path := filepath.Join(g.dir, filepath.FromSlash(ref))
	if fi, err := os.Stat(path); err != nil || fi.IsDir() {
		return false, nil
	}
	if err := os.Remove(path); err != nil {
		return true, err
	}
	// Like git, remove the directories left empty below the ref's first
	// two components (refs/heads/ stays).
	parts := strings.SplitN(ref, "/", 3)
	if len(parts) < 3 {
		return true, nil
	}
	keep := filepath.Join(g.dir, "refs", parts[1])
	for dir := filepath.Dir(path); len(dir) > len(keep); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty
			break
		}
	}
	return true, nil
}

// inPackedRefs reports whether ref is in packed-refs (or whether that
// cannot be told): git rewrites that file, the simulator does not.
func (g *gitRepo) inPackedRefs(ref string) bool {
	b, err := os.ReadFile(filepath.Join(g.dir, "packed-refs"))
	if os.IsNotExist(err) {
		return false
	}
	return err != nil || bytes.Contains(b, []byte(" "+ref+"\n"))
}
