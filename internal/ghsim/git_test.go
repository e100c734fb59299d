package ghsim

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestGitRepo(t *testing.T) {
	if err := checkGit(); err != nil {
		t.Fatal(err)
	}
	g, err := newGitRepo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	who := Identity{Name: "Ada", Email: "ada@example.com", When: time.Unix(1_800_000_000, 0)}
	root, err := g.writeCommit("", map[string]File{"README.md": {Content: "hi\n"}, "db/schema.sql": {Content: "create table t(a int);\n"}}, "root", who, who)
	if err != nil {
		t.Fatal(err)
	}
	many := map[string]File{"README.md": {Delete: true}, "docs/read me.md": {Content: "hi\n"}}
	for i := 0; i < 320; i++ {
		many[fmt.Sprintf("gen/f%03d.txt", i)] = File{Content: fmt.Sprint(i)}
	}
	second, err := g.writeCommit(root, many, "many files", who, who)
	if err != nil {
		t.Fatal(err)
	}
	files, err := g.diff(root, second)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 321 {
		t.Fatalf("diff has %d files, want 321 (320 added + 1 renamed)", len(files))
	}
	var renamed *changedFile
	for i := range files {
		if files[i].Status == "renamed" {
			renamed = &files[i]
		}
	}
	if renamed == nil || renamed.PreviousFilename != "README.md" || renamed.Filename != "docs/read me.md" {
		t.Errorf("rename not detected: %+v", renamed)
	}

	// Deterministic: same content, same times, same sha.
	g2, _ := newGitRepo(t.TempDir())
	root2, _ := g2.writeCommit("", map[string]File{"README.md": {Content: "hi\n"}, "db/schema.sql": {Content: "create table t(a int);\n"}}, "root", who, who)
	if root2 != root {
		t.Errorf("commits are not deterministic: %s vs %s", root, root2)
	}

	// Conflicting edits.
	a, _ := g.writeCommit(root, map[string]File{"db/schema.sql": {Content: "A\n"}}, "a", who, who)
	b, _ := g.writeCommit(root, map[string]File{"db/schema.sql": {Content: "B\n"}}, "b", who, who)
	if _, conflicts, err := g.mergeTree(a, b, ""); err != nil || len(conflicts) != 1 || conflicts[0] != "db/schema.sql" {
		t.Errorf("merge conflict: %v %v", conflicts, err)
	}
	if tree, conflicts, err := g.mergeTree(a, second, ""); err != nil || len(conflicts) != 0 || tree == "" {
		t.Errorf("clean merge: %q %v %v", tree, conflicts, err)
	}
	if mb, _ := g.mergeBase(a, b); mb != root {
		t.Errorf("merge base = %s, want %s", mb, root)
	}
	if n, _ := g.count(root, second); n != 1 {
		t.Errorf("count = %d", n)
	}

	// Annotated tag peels to its commit.
	tag, err := g.mktag("v1.0.0", root, "commit", "release", who)
	if err != nil {
		t.Fatal(err)
	}
	_ = g.updateRef("refs/tags/v1.0.0", tag)
	if c, _ := g.revParse("v1.0.0"); c != root {
		t.Errorf("tag peels to %s, want %s", c, root)
	}
	refs, _ := g.refs("refs/tags/")
	if len(refs) != 1 || refs[0].Type != "tag" || refs[0].Peeled != root {
		t.Errorf("tag ref = %+v", refs)
	}
	to, err := g.readTag(tag)
	if err != nil || to.Tag != "v1.0.0" || to.Object != root || to.Tagger.Name != "Ada" {
		t.Errorf("readTag = %+v, %v", to, err)
	}
	infos, err := g.commits(second, root)
	if err != nil || len(infos) != 2 || infos[0].Message != "many files" || infos[0].Parents[0] != root || len(infos[1].Parents) != 0 {
		t.Errorf("commits = %+v, %v", infos, err)
	}
}

// The cached answers are git's: refs follow every ref write, and answers
// about full object names are given again without asking git.
func TestGitCache(t *testing.T) {
	g, err := newGitRepo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	who := Identity{Name: "Ada", Email: "ada@example.com", When: time.Unix(1_800_000_000, 0)}
	root, _ := g.writeCommit("", map[string]File{"a": {Content: "1\n"}}, "root", who, who)
	next, _ := g.writeCommit(root, map[string]File{"a": {Content: "2\n"}}, "next", who, who)
	if left, _ := g.run(nil, nil, "for-each-ref"); left != "" {
		t.Errorf("writing commits left refs behind: %q", left)
	}

	// Refs: each write is seen by the next read.
	if _, err := g.revParse("refs/heads/main"); err != errNotFound {
		t.Fatalf("an absent branch: %v", err)
	}
	noErr(t, g.updateRef("refs/heads/main", root))
	if sha, _ := g.revParse("refs/heads/main"); sha != root {
		t.Errorf("after creating main: %s, want %s", sha, root)
	}
	noErr(t, g.updateRef("refs/heads/main", next))
	if sha, _ := g.revParse("refs/heads/main"); sha != next {
		t.Errorf("after moving main: %s, want %s", sha, next)
	}
	// git's own resolution rules: a tag wins over a branch of one name.
	tag, _ := g.mktag("v1", root, "commit", "release", who)
	noErr(t, g.updateRef("refs/tags/v1", tag))
	noErr(t, g.updateRef("refs/heads/v1", next))
	for _, rev := range []string{"refs/tags/v1", "v1", "refs/heads/v1"} {
		want, err := g.run(nil, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := g.revParse(rev); got != strings.TrimSpace(want) {
			t.Errorf("revParse(%s) = %s, git says %s", rev, got, want)
		}
	}
	if name, typ, _ := g.objectName("refs/tags/v1"); name != tag || typ != "tag" {
		t.Errorf("objectName = %s %s, want the tag object", name, typ)
	}
	noErr(t, g.deleteRef("refs/heads/main"))
	if _, err := g.revParse("refs/heads/main"); err != errNotFound {
		t.Errorf("a deleted branch resolves: %v", err)
	}

	// The table the writes kept is what git lists.
	noErr(t, g.updateRef("refs/heads/main", root))
	noErr(t, g.updateRef("refs/tags/v1", tag))
	noErr(t, g.deleteRef("refs/heads/v1"))
	kept, _ := g.refs("")
	g.cache.refsWritten(false, nil)
	listed, _ := g.refs("")
	if fmt.Sprint(kept) != fmt.Sprint(listed) {
		t.Errorf("kept refs %+v, git lists %+v", kept, listed)
	}

	// Another repository with the same objects (the same story told
	// again) is answered without git; one without them asks git.
	same, _ := newGitRepo(t.TempDir())
	if sha, _ := same.writeCommit("", map[string]File{"a": {Content: "1\n"}}, "root", who, who); sha != root {
		t.Fatalf("the same commit is %s, not %s", sha, root)
	}
	if sha, _ := same.writeCommit(root, map[string]File{"a": {Content: "2\n"}}, "next", who, who); sha != next {
		t.Fatalf("the same commit is %s, not %s", sha, next)
	}
	// Merging writes a tree: each repository gets its own.
	left := map[string]File{"b": {Content: "b\n"}}
	right := map[string]File{"c": {Content: "c\n"}}
	l1, _ := g.writeCommit(root, left, "left", who, who)
	r1, _ := g.writeCommit(root, right, "right", who, who)
	tree, _, err := g.mergeTree(l1, r1, "")
	if err != nil {
		t.Fatal(err)
	}
	l2, _ := same.writeCommit(root, left, "left", who, who)
	r2, _ := same.writeCommit(root, right, "right", who, who)
	if tree2, _, err := same.mergeTree(l2, r2, ""); err != nil || tree2 != tree {
		t.Fatalf("the same merge: %s %v, want %s", tree2, err, tree)
	}
	if typ, err := same.run(nil, nil, "cat-file", "-t", tree); err != nil || strings.TrimSpace(typ) != "tree" {
		t.Errorf("the merged tree is not in the second repository: %q %v", typ, err)
	}

	_, _ = g.mergeBase(root, next)
	same.dir = t.TempDir() // only kept answers now
	if mb, err := same.mergeBase(root, next); err != nil || mb != root {
		t.Errorf("the same question in a repository with the objects: %s %v", mb, err)
	}
	other, _ := newGitRepo(t.TempDir())
	if _, err := other.mergeBase(root, next); err == nil || err == errNotFound {
		t.Errorf("a repository without the objects was answered: %v", err)
	}

	// Answers about objects: git is not asked twice.
	if mb, _ := g.mergeBase(root, next); mb != root {
		t.Fatalf("merge base %s", mb)
	}
	files, _ := g.diff(root, next)
	files[0].Filename = "changed by a caller"
	g.dir = t.TempDir() // git would fail now: only the cache can answer
	if mb, err := g.mergeBase(root, next); err != nil || mb != root {
		t.Errorf("merge base not kept: %s %v", mb, err)
	}
	if again, err := g.diff(root, next); err != nil || again[0].Filename != "a" {
		t.Errorf("diff not kept, or a caller changed it: %+v %v", again, err)
	}
}

func noErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// What is answered from a commit's parents without git is what git says.
func TestGitAnswersFromParents(t *testing.T) {
	g, err := newGitRepo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	who := Identity{Name: "Ada", Email: "ada@example.com", When: time.Unix(1_800_000_000, 0)}
	root, _ := g.writeCommit("", map[string]File{"a": {Content: "1\n"}}, "root", who, who)
	left, _ := g.writeCommit(root, map[string]File{"b": {Content: "b\n"}}, "left", who, who)
	right, _ := g.writeCommit(root, map[string]File{"c": {Content: "c\n"}}, "right", who, who)
	tree, _, err := g.mergeTree(left, right, "")
	if err != nil {
		t.Fatal(err)
	}
	merge, err := g.commitTree(tree, []string{left, right}, "merge", who, who)
	if err != nil {
		t.Fatal(err)
	}
	gitSays := func(args ...string) string {
		out, err := g.run(nil, nil, args...)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	commits := []string{root, left, right, merge}
	for _, a := range commits {
		for _, b := range commits {
			before := g.runs.Load()
			list, err := g.revList(a, b)
			if want := gitSays("rev-list", "--reverse", "--topo-order", b, "^"+a); err != nil || strings.Join(list, "\n") != want {
				t.Errorf("revList(%s, %s) = %v %v, git says %q", a[:7], b[:7], list, err, want)
			}
			mb, err := g.mergeBase(a, b)
			if want := gitSays("merge-base", a, b); err != nil || mb != want {
				t.Errorf("mergeBase(%s, %s) = %s %v, git says %s", a[:7], b[:7], mb, err, want)
			}
			// git's own answers above are two runs; a commit and its
			// parent need none more (revList: its only parent).
			want := int64(2)
			if a != b && !(g.isParent(a, b) && b != merge) {
				want++ // revList asks git
			}
			if a != b && !g.isParent(a, b) && !g.isParent(b, a) {
				want++ // mergeBase asks git
			}
			if ran := g.runs.Load() - before; ran != want {
				t.Errorf("revList and mergeBase(%s, %s) ran git %d times, want %d", a[:7], b[:7], ran-2, want-2)
			}
		}
	}
}
