package ghsim

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// gitRepo is a bare git repository driven through the git CLI. Merge bases,
// ahead/behind counts, changed files and merge conflicts all come from git
// itself, never from a script. (go-git cannot merge, and the simulator must
// produce real merge conflicts; git merge-tree --write-tree, git >= 2.38,
// does.)
//
// Its answers are kept (gitcache.go): forking git is what the simulator
// spends its time on.
type gitRepo struct {
	dir   string
	cache *gitCache
	runs  atomic.Int64 // git processes started (tests count them)
}

// Identity is who authors a commit or tag.
type Identity struct {
	Name  string
	Email string
	When  time.Time
}

func (id Identity) signature() string {
	return fmt.Sprintf("%s <%s> %d +0000", id.Name, id.Email, id.When.Unix())
}

var errNotFound = errors.New("not found")

func newGitRepo(dir string) (*gitRepo, error) {
	g := &gitRepo{dir: dir, cache: newGitCache()}
	if _, err := g.run(nil, nil, "init", "--bare", "--quiet", "."); err != nil {
		return nil, err
	}
	return g, nil
}

// checkGit fails clearly when git is missing or too old for merge-tree
// (asked once per process).
var checkGit = sync.OnceValue(findGit)

func findGit() error {
	out, err := exec.Command("git", "--version").Output()
	if err != nil {
		return fmt.Errorf("the GitHub simulator needs git on PATH: %w", err)
	}
	m := regexp.MustCompile(`(\d+)\.(\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("cannot read the git version from %q", out)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	if major < 2 || (major == 2 && minor < 38) {
		return fmt.Errorf("the GitHub simulator needs git 2.38 or later (merge-tree --write-tree); found %s", strings.TrimSpace(string(out)))
	}
	return nil
}

type gitError struct {
	args   []string
	code   int
	stderr string
}

func (e *gitError) Error() string {
	return fmt.Sprintf("git %s: exit %d: %s", strings.Join(e.args, " "), e.code, strings.TrimSpace(e.stderr))
}

func exitCode(err error) int {
	var ge *gitError
	if errors.As(err, &ge) {
		return ge.code
	}
	return -1
}

// run executes git in the repository, isolated from the user's and the
// system's configuration.
func (g *gitRepo) run(extraEnv []string, stdin []byte, args ...string) (string, error) {
	g.runs.Add(1)
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append([]string{
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=" + os.DevNull,
		"HOME=" + g.dir,
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
		"PATH=" + os.Getenv("PATH"),
	}, extraEnv...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		code := -1
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		}
		return stdout.String(), &gitError{args: args, code: code, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// File is one file in a commit: its content, or Delete to remove it.
type File struct {
	Content string
	Delete  bool
}

// writeCommit creates a commit with parent (or none) whose tree is the
// parent's with files applied: in Go where the result is certain
// (gittree.go), otherwise in one git fast-import run however many files
// there are: the commit is built on a scratch branch that starts
// empty (reset), its name is printed (get-mark), and the branch is
// deleted again (a reset to the null sha), so no ref is left behind.
func (g *gitRepo) writeCommit(parent string, files map[string]File, message string, author, committer Identity) (string, error) {
	if sha, done, err := g.writeCommitHere(parent, files, message, author, committer); done {
		return sha, err
	}
	return g.fastImport(parent, files, message, author, committer)
}

// fastImport is writeCommit by git fast-import.
func (g *gitRepo) fastImport(parent string, files map[string]File, message string, author, committer Identity) (string, error) {
	var b bytes.Buffer
	const tmp = "refs/ghsim/tmp"
	fmt.Fprintf(&b, "reset %s\n\n", tmp)
	fmt.Fprintf(&b, "commit %s\nmark :1\n", tmp)
	fmt.Fprintf(&b, "author %s\n", author.signature())
	fmt.Fprintf(&b, "committer %s\n", committer.signature())
	fmt.Fprintf(&b, "data %d\n%s\n", len(message), message)
	if parent != "" {
		fmt.Fprintf(&b, "from %s\n", parent)
	}
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := files[p]
		if f.Delete {
			fmt.Fprintf(&b, "D %s\n", quotePath(p))
			continue
		}
		fmt.Fprintf(&b, "M 100644 inline %s\ndata %d\n%s\n", quotePath(p), len(f.Content), f.Content)
	}
	fmt.Fprintf(&b, "\nget-mark :1\nreset %s\nfrom %s\n\n", tmp, zeroSHA)
	out, err := g.run(nil, b.Bytes(), "fast-import", "--quiet", "--force")
	sha := strings.TrimSpace(out)
	if err == nil && !isFullSHA(sha) {
		err = fmt.Errorf("git fast-import: unexpected output %q", out)
	}
	if err != nil {
		// The scratch branch may be left: the refs are read again.
		g.cache.refsWritten(false, nil)
		return "", err
	}
	// The refs are as they were: the scratch branch came and went.
	g.keep("type "+sha, "commit", sha)
	return sha, nil
}

func quotePath(p string) string {
	if strings.ContainsAny(p, "\"\n\\ ") {
		return strconv.Quote(p)
	}
	return p
}

// commitTree writes a commit for an existing tree (merges, squashes).
func (g *gitRepo) commitTree(tree string, parents []string, message string, author, committer Identity) (string, error) {
	if content, ok := g.commitObject(tree, parents, message, author, committer); ok {
		sha, err := g.writeObject("commit", content)
		if err == nil {
			g.keep("type "+sha, "commit", sha)
			// What git show would say of it (git_test.go checks).
			var ps []string
			if len(parents) > 0 {
				ps = slices.Clone(parents)
			}
			g.keep("commit-info "+sha, commitInfo{SHA: sha, Tree: tree, Parents: ps,
				Author:    Identity{Name: author.Name, Email: author.Email, When: time.Unix(author.When.Unix(), 0).UTC()},
				Committer: Identity{Name: committer.Name, Email: committer.Email, When: time.Unix(committer.When.Unix(), 0).UTC()},
				Message:   strings.TrimRight(message, "\n"),
			}, sha)
		}
		return sha, err
	}
	args := []string{"commit-tree", tree}
	for _, p := range parents {
		args = append(args, "-p", p)
	}
	env := []string{
		"GIT_AUTHOR_NAME=" + author.Name, "GIT_AUTHOR_EMAIL=" + author.Email,
		"GIT_AUTHOR_DATE=" + strconv.FormatInt(author.When.Unix(), 10) + " +0000",
		"GIT_COMMITTER_NAME=" + committer.Name, "GIT_COMMITTER_EMAIL=" + committer.Email,
		"GIT_COMMITTER_DATE=" + strconv.FormatInt(committer.When.Unix(), 10) + " +0000",
	}
	out, err := g.run(env, []byte(message), args...)
	sha := strings.TrimSpace(out)
	if err == nil {
		g.keep("type "+sha, "commit", sha)
	}
	return sha, err
}

// revParse resolves a revision to a full object name; annotated tags are
// peeled to their commit. It returns errNotFound for unknown revisions.
// Full ref names and full object names are answered from the cache.
func (g *gitRepo) revParse(rev string) (string, error) {
	if ref, ok, cached := g.lookupRef(rev); cached {
		switch {
		case !ok:
			return "", errNotFound
		case ref.Type == "commit":
			return ref.Object, nil
		case ref.Type == "tag" && ref.PeeledType == "commit":
			return ref.Peeled, nil
		}
		// A tag of a tag, or of a tree: let git peel it.
	}
	key := "commit " + rev
	if isFullSHA(rev) {
		if g.isType(rev, "commit") {
			return rev, nil // a commit here is its own
		}
		if v, ok := g.answer(key, rev); ok {
			return v.(string), nil
		}
	}
	out, err := g.run(nil, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		if exitCode(err) == 1 {
			return "", errNotFound
		}
		return "", err
	}
	sha := strings.TrimSpace(out)
	if isFullSHA(rev) {
		g.keep(key, sha, rev, sha)
	}
	return sha, nil
}

// objectName resolves a ref without peeling (a tag ref gives the tag object).
func (g *gitRepo) objectName(ref string) (sha, typ string, err error) {
	if r, ok, cached := g.lookupRef(ref); cached {
		if !ok {
			return "", "", errNotFound
		}
		return r.Object, r.Type, nil
	}
	if isFullSHA(ref) {
		typ, err := g.objectType(ref)
		if err != nil {
			return "", "", errNotFound
		}
		return ref, typ, nil
	}
	out, err := g.run(nil, nil, "rev-parse", "--verify", "--quiet", ref)
	if err != nil {
		if exitCode(err) == 1 {
			return "", "", errNotFound
		}
		return "", "", err
	}
	sha = strings.TrimSpace(out)
	typ, err = g.objectType(sha)
	if err != nil {
		return "", "", err
	}
	return sha, typ, nil
}

// objectType returns "commit", "tag", "tree" or "blob", or errNotFound.
func (g *gitRepo) objectType(sha string) (string, error) {
	key := "type " + sha
	if isFullSHA(sha) {
		if v, ok := g.answer(key, sha); ok {
			return v.(string), nil
		}
	}
	out, err := g.run(nil, nil, "cat-file", "-t", sha)
	if err != nil {
		return "", errNotFound
	}
	typ := strings.TrimSpace(out)
	if isFullSHA(sha) {
		g.keep(key, typ, sha)
	}
	return typ, nil
}

// updateRef moves (or creates) ref to sha.
func (g *gitRepo) updateRef(ref, sha string) error {
	done, err := g.writeRefFile(ref, sha)
	if !done {
		_, err = g.run(nil, nil, "update-ref", ref, sha)
	}
	entry, described := g.describeRef(ref, sha)
	g.cache.refsWritten(err == nil && described, func(refs []gitRef) []gitRef { return withRef(refs, entry) })
	return err
}

func (g *gitRepo) deleteRef(ref string) error {
	done, err := g.removeRefFile(ref)
	if !done {
		_, err = g.run(nil, nil, "update-ref", "-d", ref)
	}
	g.cache.refsWritten(err == nil, func(refs []gitRef) []gitRef { return withoutRef(refs, ref) })
	return err
}

// describeRef is the table entry of ref pointing at sha, as for-each-ref
// would list it, from kept answers only (false: not all are kept).
func (g *gitRepo) describeRef(ref, sha string) (gitRef, bool) {
	v, ok := g.answer("type "+sha, sha)
	if !ok {
		return gitRef{}, false
	}
	r := gitRef{Name: ref, Object: sha, Type: v.(string)}
	if r.Type == "tag" {
		t, ok := g.answer("tag "+sha, sha)
		if !ok {
			return gitRef{}, false
		}
		r.Peeled, r.PeeledType = t.(tagObject).Object, t.(tagObject).ObjectType
	}
	return r, true
}

// gitRef is one ref: its name, the object it points at, that object's type
// and, for annotated tags, the object the tag names and its type.
type gitRef struct {
	Name       string
	Object     string
	Type       string
	Peeled     string
	PeeledType string
}

// Commit returns the commit a ref finally points at.
func (r gitRef) Commit() string {
	if r.Peeled != "" {
		return r.Peeled
	}
	return r.Object
}

// refs lists refs under prefix (e.g. "refs/heads/", "refs/tags/v"), sorted.
func (g *gitRepo) refs(prefix string) ([]gitRef, error) {
	all, err := g.allRefs()
	if err != nil {
		return nil, err
	}
	var refs []gitRef
	for _, ref := range all {
		if strings.HasPrefix(ref.Name, prefix) && !strings.HasPrefix(ref.Name, "refs/ghsim/") {
			refs = append(refs, ref)
		}
	}
	return refs, nil
}

// allRefs is every ref, sorted by name: one for-each-ref after each ref
// write, the cached list otherwise.
func (g *gitRepo) allRefs() ([]gitRef, error) {
	if refs, ok := g.cache.refList(); ok {
		return refs, nil
	}
	gen := g.cache.refGeneration()
	out, err := g.run(nil, nil, "for-each-ref", "--format=%(refname)%00%(objectname)%00%(objecttype)%00%(*objectname)%00%(*objecttype)")
	if err != nil {
		return nil, err
	}
	refs := []gitRef{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 5 {
			continue
		}
		refs = append(refs, gitRef{Name: f[0], Object: f[1], Type: f[2], Peeled: f[3], PeeledType: f[4]})
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Name < refs[j].Name })
	g.cache.setRefList(gen, refs)
	return refs, nil
}

// lookupRef resolves name the way git does when it is a plain ref name
// (git's rules in order: NAME, refs/NAME, refs/tags/NAME, refs/heads/NAME,
// refs/remotes/NAME, refs/remotes/NAME/HEAD), from the cached refs.
// cached is false when name is not a ref name git would resolve only that
// way (an object name, an expression such as main~1, HEAD): ask git.
func (g *gitRepo) lookupRef(name string) (ref gitRef, ok, cached bool) {
	if !strings.HasPrefix(name, "refs/") || !plainRefName(name) {
		return gitRef{}, false, false
	}
	all, err := g.allRefs()
	if err != nil {
		return gitRef{}, false, false
	}
	for _, cand := range []string{name, "refs/" + name, "refs/tags/" + name, "refs/heads/" + name, "refs/remotes/" + name, "refs/remotes/" + name + "/HEAD"} {
		i := sort.Search(len(all), func(i int) bool { return all[i].Name >= cand })
		if i < len(all) && all[i].Name == cand {
			return all[i], true, true
		}
	}
	return gitRef{}, false, true
}

// plainRefName reports whether name is a ref name git reads as nothing
// else: no revision syntax (~ ^ : @{ ..), no globs, no odd components.
func plainRefName(name string) bool {
	if strings.Contains(name, "..") || strings.Contains(name, "//") || strings.HasSuffix(name, "/") ||
		strings.HasSuffix(name, ".lock") || strings.HasSuffix(name, ".") || strings.Contains(name, "/.") {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '/', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

// isFullSHA reports whether s is a full (40 hex digit) object name.
func isFullSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// mergeBase returns the best common ancestor, or errNotFound when the
// histories are unrelated.
func (g *gitRepo) mergeBase(a, b string) (string, error) {
	// A commit that is the other or its parent is the merge base: git
	// need not walk.
	if g.isType(a, "commit") && g.isType(b, "commit") {
		if a == b || g.isParent(a, b) {
			return a, nil
		}
		if g.isParent(b, a) {
			return b, nil
		}
	}
	return memo(g, "merge-base", []string{a, b}, func() (string, error) {
		out, err := g.run(nil, nil, "merge-base", a, b)
		if err != nil {
			if exitCode(err) == 1 {
				return "", errNotFound
			}
			return "", err
		}
		mb := strings.TrimSpace(out)
		g.cache.learn(mb)
		return mb, nil
	})
}

// isParent reports whether a is known to be one of commit b's parents.
func (g *gitRepo) isParent(a, b string) bool {
	v, ok := g.answer("commit-info "+b, b)
	return ok && slices.Contains(v.(commitInfo).Parents, a)
}

func (g *gitRepo) isAncestor(a, b string) (bool, error) {
	// A commit is its own ancestor, and its parents are: git need not walk.
	if g.isType(a, "commit") && g.isType(b, "commit") {
		if a == b {
			return true, nil
		}
		if g.isParent(a, b) {
			return true, nil
		}
	}
	return memo(g, "is-ancestor", []string{a, b}, func() (bool, error) {
		_, err := g.run(nil, nil, "merge-base", "--is-ancestor", a, b)
		if err == nil {
			return true, nil
		}
		if exitCode(err) == 1 {
			return false, nil
		}
		return false, err
	})
}

// revList lists the commits reachable from head and not from base, oldest
// first (GitHub's compare order).
func (g *gitRepo) revList(base, head string) ([]string, error) {
	// Nothing is reachable from a commit and not from itself, and only
	// the commit from it and not from its only parent: git need not walk.
	if base != "" && g.isType(base, "commit") && g.isType(head, "commit") {
		if base == head {
			return nil, nil
		}
		if v, ok := g.answer("commit-info "+head, head); ok && slices.Equal(v.(commitInfo).Parents, []string{base}) {
			return []string{head}, nil
		}
	}
	shas, err := memo(g, "rev-list", []string{base, head}, func() ([]string, error) {
		args := []string{"rev-list", "--reverse", "--topo-order", head}
		if base != "" {
			args = append(args, "^"+base)
		}
		out, err := g.run(nil, nil, args...)
		if err != nil {
			return nil, err
		}
		out = strings.TrimSpace(out)
		if out == "" {
			return nil, nil
		}
		shas := strings.Split(out, "\n")
		g.cache.learn(shas...)
		return shas, nil
	})
	return append([]string(nil), shas...), err
}

// count is how many commits revList(base, head) lists: the same git run
// answers both (rev-list --count counts what rev-list lists).
func (g *gitRepo) count(base, head string) (int, error) {
	if base != "" {
		shas, err := g.revList(base, head)
		return len(shas), err
	}
	return memo(g, "count", []string{base, head}, func() (int, error) {
		out, err := g.run(nil, nil, "rev-list", "--count", head, "^"+base)
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(out))
	})
}

// commitInfo is what GitHub shows of a commit.
type commitInfo struct {
	SHA       string
	Tree      string
	Parents   []string
	Author    Identity
	Committer Identity
	Message   string
}

// commits reads several commits in one git run (none when every one was
// read before). Like git show, it lists a commit once however often it
// is named.
func (g *gitRepo) commits(shas ...string) ([]commitInfo, error) {
	if len(shas) == 0 {
		return nil, nil
	}
	var missing []string
	seen := map[string]bool{}
	for _, sha := range shas {
		if !isFullSHA(sha) {
			return g.readCommits(shas)
		}
		if _, ok := g.answer("commit-info "+sha, sha); !ok && !seen[sha] {
			missing = append(missing, sha)
		}
		seen[sha] = true
	}
	if len(missing) > 0 {
		infos, err := g.readCommits(missing)
		if err != nil {
			return nil, err
		}
		for _, in := range infos {
			g.keep("commit-info "+in.SHA, in, append([]string{in.SHA, in.Tree}, in.Parents...)...)
		}
	}
	infos := make([]commitInfo, 0, len(shas))
	clear(seen)
	for _, sha := range shas {
		if seen[sha] {
			continue
		}
		seen[sha] = true
		v, ok := g.answer("commit-info "+sha, sha)
		if !ok {
			return nil, fmt.Errorf("git show: %s is not a commit", sha)
		}
		infos = append(infos, v.(commitInfo).clone())
	}
	return infos, nil
}

// clone copies the parents, so callers cannot change a cached answer.
func (c commitInfo) clone() commitInfo {
	c.Parents = append([]string(nil), c.Parents...)
	return c
}

func (g *gitRepo) readCommits(shas []string) ([]commitInfo, error) {
	args := append([]string{"show", "-s", "--no-walk=unsorted", "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%B%x1e"}, shas...)
	out, err := g.run(nil, nil, args...)
	if err != nil {
		return nil, err
	}
	var infos []commitInfo
	for _, rec := range strings.Split(out, "\x1e") {
		rec = strings.TrimLeft(rec, "\n")
		if rec == "" {
			continue
		}
		f := strings.SplitN(rec, "\x00", 10)
		if len(f) != 10 {
			return nil, fmt.Errorf("git show: cannot parse %q", rec)
		}
		at, _ := strconv.ParseInt(f[5], 10, 64)
		ct, _ := strconv.ParseInt(f[8], 10, 64)
		var parents []string
		if f[2] != "" {
			parents = strings.Split(f[2], " ")
		}
		infos = append(infos, commitInfo{
			SHA: f[0], Tree: f[1], Parents: parents,
			Author:    Identity{Name: f[3], Email: f[4], When: time.Unix(at, 0).UTC()},
			Committer: Identity{Name: f[6], Email: f[7], When: time.Unix(ct, 0).UTC()},
			Message:   strings.TrimRight(f[9], "\n"),
		})
	}
	return infos, nil
}

// changedFile is one file of a diff, as GitHub lists it.
type changedFile struct {
	Filename         string
	PreviousFilename string
	Status           string // added, removed, modified, renamed, copied, changed
	Additions        int
	Deletions        int
	SHA              string
}

// diff lists the files that differ between two commits, with rename
// detection like GitHub's.
func (g *gitRepo) diff(from, to string) ([]changedFile, error) {
	if from == "" {
		from = emptyTree
	}
	files, err := memo(g, "diff", []string{from, to}, func() ([]changedFile, error) { return g.readDiff(from, to) })
	return append([]changedFile(nil), files...), err
}

func (g *gitRepo) readDiff(from, to string) ([]changedFile, error) {
	out, err := g.run(nil, nil, "diff", "--raw", "--numstat", "-M", "-z", "--no-abbrev", from, to)
	if err != nil {
		return nil, err
	}
	// --raw --numstat -z: raw records (":meta\0path\0[path\0]") then numstat
	// records ("add\tdel\tpath\0" or "add\tdel\t\0old\0new\0").
	tokens := strings.Split(out, "\x00")
	var files []changedFile
	byPath := map[string]*changedFile{}
	i := 0
	for i < len(tokens) && strings.HasPrefix(tokens[i], ":") {
		meta := strings.Fields(tokens[i])
		status := meta[4]
		f := changedFile{SHA: meta[3]}
		switch status[0] {
		case 'A':
			f.Status, f.Filename = "added", tokens[i+1]
			i += 2
		case 'D':
			f.Status, f.Filename, f.SHA = "removed", tokens[i+1], meta[2]
			i += 2
		case 'M':
			f.Status, f.Filename = "modified", tokens[i+1]
			i += 2
		case 'T':
			f.Status, f.Filename = "changed", tokens[i+1]
			i += 2
		case 'R', 'C':
			f.Status = map[byte]string{'R': "renamed", 'C': "copied"}[status[0]]
			f.PreviousFilename, f.Filename = tokens[i+1], tokens[i+2]
			i += 3
		default:
			f.Status, f.Filename = "modified", tokens[i+1]
			i += 2
		}
		files = append(files, f)
	}
	for k := range files {
		byPath[files[k].Filename] = &files[k]
	}
	for i < len(tokens) {
		t := tokens[i]
		if t == "" {
			i++
			continue
		}
		parts := strings.SplitN(t, "\t", 3)
		if len(parts) != 3 {
			i++
			continue
		}
		add, _ := strconv.Atoi(parts[0])
		del, _ := strconv.Atoi(parts[1])
		path := parts[2]
		if path == "" && i+2 < len(tokens) { // rename: old and new follow
			path = tokens[i+2]
			i += 3
		} else {
			i++
		}
		if f := byPath[path]; f != nil {
			f.Additions, f.Deletions = add, del
		}
	}
	return files, nil
}

// readFile returns a file's content at a revision, or errNotFound.
func (g *gitRepo) readFile(rev, path string) ([]byte, error) {
	b, err := g.atPath(rev, path, "blob", func() ([]byte, error) {
		out, err := g.run(nil, nil, "cat-file", "blob", rev+":"+path)
		if err != nil {
			return nil, errNotFound
		}
		return []byte(out), nil
	})
	return bytes.Clone(b), err
}

// isDir reports whether path is a directory at rev.
func (g *gitRepo) isDir(rev, path string) bool {
	_, err := g.atPath(rev, path, "tree", func() ([]byte, error) {
		t, err := g.run(nil, nil, "cat-file", "-t", rev+":"+path)
		if err != nil || strings.TrimSpace(t) != "tree" {
			return nil, errNotFound
		}
		return nil, nil
	})
	return err == nil
}

// atPath memoises what is at rev:path when rev is the full name of an
// object that exists: its tree never changes, so neither does the answer,
// "nothing there" included.
func (g *gitRepo) atPath(rev, path, what string, read func() ([]byte, error)) ([]byte, error) {
	if !isFullSHA(rev) {
		return read()
	}
	if _, err := g.objectType(rev); err != nil {
		return read()
	}
	return memo(g, what+" "+path, []string{rev}, read)
}

// mergeTree merges two commits without a work tree and returns the
// merged tree, or the conflicting paths. With base set, it merges theirs'
// change since base (a cherry-pick, for rebase merges).
func (g *gitRepo) mergeTree(ours, theirs, base string) (tree string, conflicts []string, err error) {
	// Merging writes the merged tree: a kept answer serves only a
	// repository that has that tree already.
	key := "merge-tree " + ours + " " + theirs + " " + base
	cacheable := isFullSHA(ours) && isFullSHA(theirs) && (base == "" || isFullSHA(base))
	if cacheable {
		if v, ok := g.answer(key, ours, theirs, base); ok {
			if m := v.(mergedTree); g.cache.knows(m.tree) {
				return m.tree, slices.Clone(m.conflicts), nil
			}
		}
	}
	var m mergedTree
	if base != "" {
		m.tree, m.conflicts, err = g.cherryPickTree(ours, theirs, base)
	} else {
		out, gitErr := g.run(nil, nil, "merge-tree", "--write-tree", "--name-only", "--no-messages", ours, theirs)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		switch {
		case gitErr == nil:
			m.tree = lines[0]
		case exitCode(gitErr) == 1 && len(lines) > 0:
			m.tree, m.conflicts = lines[0], lines[1:]
		default:
			err = gitErr
		}
	}
	if err != nil {
		return "", nil, err
	}
	if m.tree != "" {
		g.keep("type "+m.tree, "tree", m.tree)
	}
	if cacheable {
		g.keep(key, m, ours, theirs, base, m.tree)
	}
	return m.tree, slices.Clone(m.conflicts), nil
}

// mergedTree is a merge's answer: the tree written, and the conflicting
// paths.
type mergedTree struct {
	tree      string
	conflicts []string
}

// cherryPickTree applies theirs' change since base onto ours with a
// three-way read-tree in a throwaway index (merge-tree learnt
// --merge-base only in git 2.40). It merges whole files: both sides
// changing one file is a conflict, which errs on the safe side.
func (g *gitRepo) cherryPickTree(ours, theirs, base string) (string, []string, error) {
	idx, err := os.CreateTemp(filepath.Dir(g.dir), "ghsim-index-")
	if err != nil {
		return "", nil, err
	}
	idx.Close()
	os.Remove(idx.Name()) // git wants to create the index itself
	defer os.Remove(idx.Name())
	env := []string{"GIT_INDEX_FILE=" + idx.Name()}
	if _, err := g.run(env, nil, "read-tree", "-i", "-m", "--aggressive", base, ours, theirs); err != nil {
		return "", nil, err
	}
	out, err := g.run(env, nil, "write-tree")
	if err == nil {
		return strings.TrimSpace(out), nil, nil
	}
	unmerged, lerr := g.run(env, nil, "ls-files", "--unmerged", "-z")
	if lerr != nil {
		return "", nil, err
	}
	seen := map[string]bool{}
	var conflicts []string
	for _, rec := range strings.Split(unmerged, "\x00") {
		if _, path, ok := strings.Cut(rec, "\t"); ok && !seen[path] {
			seen[path] = true
			conflicts = append(conflicts, path)
		}
	}
	return "", conflicts, nil
}

// mktag writes an annotated tag object and returns its name.
func (g *gitRepo) mktag(name, object, objectType, message string, tagger Identity) (string, error) {
	body := fmt.Sprintf("object %s\ntype %s\ntag %s\ntagger %s\n\n%s\n", object, objectType, name, tagger.signature(), message)
	if g.isType(object, objectType) && plainRefName("refs/tags/"+name) && plainIdentity(tagger) && plainText(message) {
		sha, err := g.writeObject("tag", []byte(body)) // what mktag checks, checked
		if err == nil {
			g.keep("type "+sha, "tag", sha, object)
		}
		return sha, err
	}
	out, err := g.run(nil, []byte(body), "mktag")
	sha := strings.TrimSpace(out)
	if err == nil {
		g.keep("type "+sha, "tag", sha, object)
	}
	return sha, err
}

// tagObject is an annotated tag.
type tagObject struct {
	SHA, Tag, Object, ObjectType, Message string
	Tagger                                Identity
}

func (g *gitRepo) readTag(sha string) (tagObject, error) {
	key := "tag " + sha
	if v, ok := g.answer(key, sha); ok {
		return v.(tagObject), nil
	}
	t, err := g.readTagObject(sha)
	if err == nil && isFullSHA(sha) { // "not found" may be found later
		g.keep(key, t, sha, t.Object)
	}
	return t, err
}

func (g *gitRepo) readTagObject(sha string) (tagObject, error) {
	out, err := g.run(nil, nil, "cat-file", "tag", sha)
	if err != nil {
		return tagObject{}, errNotFound
	}
	t := tagObject{SHA: sha}
	head, msg, _ := strings.Cut(out, "\n\n")
	t.Message = strings.TrimRight(msg, "\n")
	for _, line := range strings.Split(head, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "object":
			t.Object = v
		case "type":
			t.ObjectType = v
		case "tag":
			t.Tag = v
		case "tagger":
			if i := strings.LastIndex(v, "> "); i > 0 {
				name, email, _ := strings.Cut(v[:i], " <")
				ts := strings.Fields(v[i+2:])
				sec, _ := strconv.ParseInt(ts[0], 10, 64)
				t.Tagger = Identity{Name: name, Email: email, When: time.Unix(sec, 0).UTC()}
			}
		}
	}
	return t, nil
}

// patches returns each changed file's patch between two commits, as GitHub
// shows it in comparisons (the hunks, without git's headers), in one git
// run. Binary files have none.
func (g *gitRepo) patches(from, to string) (map[string]string, error) {
	if from == "" {
		from = emptyTree
	}
	p, err := memo(g, "patches", []string{from, to}, func() (map[string]string, error) { return g.readPatches(from, to) })
	return maps.Clone(p), err
}

func (g *gitRepo) readPatches(from, to string) (map[string]string, error) {
	out, err := g.run(nil, nil, "diff", "--no-color", "--no-ext-diff", "-M", from, to)
	if err != nil {
		return nil, err
	}
	patches := map[string]string{}
	for _, chunk := range strings.Split(out, "\ndiff --git ")[0:] {
		chunk = strings.TrimPrefix(chunk, "diff --git ")
		lines := strings.Split(chunk, "\n")
		path := ""
		start := -1
		for i, l := range lines {
			if p, ok := strings.CutPrefix(l, "+++ b/"); ok && path == "" {
				path = p
			}
			if strings.HasPrefix(l, "@@") {
				start = i
				break
			}
		}
		if path != "" && start >= 0 {
			patches[path] = strings.TrimRight(strings.Join(lines[start:], "\n"), "\n")
		}
	}
	return patches, nil
}
