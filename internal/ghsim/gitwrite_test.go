package ghsim

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// What the simulator writes without git is byte for byte what git writes:
// the same object names, objects git reads back and fsck accepts, the same
// refs and directories.
func TestGitWritesAsGitDoes(t *testing.T) {
	mine, err := newGitRepo(t.TempDir()) // writes in Go where it can
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := newGitRepo(t.TempDir()) // git does everything
	who := Identity{Name: "hotfix-bot[bot]", Email: "1+hotfix-bot[bot]@users.noreply.github.com", When: time.Unix(1_800_000_000, 0)}
	root, _ := mine.writeCommit("", map[string]File{"a": {Content: "1\n"}}, "root", who, who)
	if r2, _ := theirs.writeCommit("", map[string]File{"a": {Content: "1\n"}}, "root", who, who); r2 != root {
		t.Fatal("the repositories differ from the start")
	}
	infos, _ := mine.commits(root)
	tree := infos[0].Tree
	if typ, _ := mine.objectType(tree); typ != "tree" {
		t.Fatal(typ)
	}
	var runs int64 // by the writes

	for _, msg := range []string{"hello", "hello\n", "a\n\nb\n\n", "  lead", "\n\nlead", "x\r\ny", `{"state":"held","pr":7}`, "ünïcode ✅"} {
		for _, parents := range [][]string{nil, {root}} {
			before := mine.runs.Load()
			got, err := mine.commitTree(tree, parents, msg, who, who)
			if err != nil {
				t.Fatal(err)
			}
			runs += mine.runs.Load() - before
			args := []string{"commit-tree", tree}
			for _, p := range parents {
				args = append(args, "-p", p)
			}
			date := strconv.FormatInt(who.When.Unix(), 10) + " +0000"
			env := []string{"GIT_AUTHOR_NAME=" + who.Name, "GIT_AUTHOR_EMAIL=" + who.Email, "GIT_AUTHOR_DATE=" + date,
				"GIT_COMMITTER_NAME=" + who.Name, "GIT_COMMITTER_EMAIL=" + who.Email, "GIT_COMMITTER_DATE=" + date}
			want, err := theirs.run(env, []byte(msg), args...)
			if err != nil {
				t.Fatal(err)
			}
			if got != strings.TrimSpace(want) {
				t.Errorf("commit %q with %d parents: %s, git writes %s", msg, len(parents), got, want)
			}
			// What the simulator says of it is what git says.
			kept, _ := mine.commits(got)
			read, err := mine.readCommits([]string{got})
			if err != nil || !reflect.DeepEqual(kept, read) {
				t.Errorf("commit %q: kept %+v, git reads %+v (%v)", msg, kept, read, err)
			}
		}
	}

	if runs != 0 {
		t.Errorf("git ran %d times to write commits", runs)
	}
	tag, err := mine.mktag("v1.0.0", root, "commit", "Release 1.0.0", who)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("object %s\ntype commit\ntag v1.0.0\ntagger %s\n\nRelease 1.0.0\n", root, who.signature())
	if want, err := theirs.run(nil, []byte(body), "mktag"); err != nil || strings.TrimSpace(want) != tag {
		t.Errorf("tag %s, git writes %s (%v)", tag, want, err)
	}

	// Refs: the same files, the same listing, the same directories left.
	runs = mine.runs.Load()
	for _, r := range []*gitRepo{mine, theirs} {
		write := func(args ...string) {
			if r == mine {
				if args[0] == "-d" {
					noErr(t, r.deleteRef(args[1]))
				} else {
					noErr(t, r.updateRef(args[0], args[1]))
				}
				return
			}
			if _, err := r.run(nil, nil, append([]string{"update-ref"}, args...)...); err != nil {
				t.Fatal(err)
			}
		}
		write("refs/heads/main", root)
		write("refs/tags/v1.0.0", tag)
		write("refs/heads/hotfix/x", root)
		write("refs/hotfix-bot/checks/"+root, root)
		write("-d", "refs/heads/hotfix/x")
		write("-d", "refs/hotfix-bot/checks/"+root)
	}
	if n := mine.runs.Load() - runs; n != 0 {
		t.Errorf("git ran %d times to write refs", n)
	}
	list := func(r *gitRepo) string {
		out, _ := r.run(nil, nil, "for-each-ref")
		var dirs []string
		_ = filepath.Walk(filepath.Join(r.dir, "refs"), func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				rel, _ := filepath.Rel(r.dir, p)
				dirs = append(dirs, rel)
			}
			return nil
		})
		return out + strings.Join(dirs, " ")
	}
	if a, b := list(mine), list(theirs); a != b {
		t.Errorf("refs differ:\nsimulator: %s\ngit:       %s", a, b)
	}
	if out, err := mine.run(nil, nil, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}

	// What git would refuse, git is asked, and refuses.
	noErr(t, mine.updateRef("refs/heads/a", root))
	if err := mine.updateRef("refs/heads/a/b", root); err == nil {
		t.Error("a branch under an existing branch's name was written")
	}
	if err := mine.updateRef("refs/heads/blob", "0123456789012345678901234567890123456789"); err == nil {
		t.Error("a branch at a missing object was written")
	}
	if err := mine.updateRef("refs/heads/t", tag); err == nil {
		t.Error("a branch at a tag object was written")
	}
}

// A commit of files written without git is the one fast-import writes:
// files added, changed and deleted, at the top and deep down, directories
// emptied and removed, whole directories deleted, and what fast-import
// does differently (a file made a directory and back) left to it.
func TestWriteCommitAsFastImportDoes(t *testing.T) {
	mine, err := newGitRepo(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	theirs, _ := newGitRepo(t.TempDir())
	who := Identity{Name: "Ada", Email: "ada@example.com", When: time.Unix(1_800_000_000, 0)}
	steps := []struct {
		files map[string]File
		git   string // fast-import is needed: "" never, "after" on the story so far, "always"
	}{
		{map[string]File{"README.md": {Content: "hi\n"}, "db/schema.sql": {Content: "create table t(a int);\n"}, "a/b/c/d.txt": {Content: "deep\n"}}, ""},
		{map[string]File{"README.md": {Content: "hi again\n"}, "a/b/e.txt": {Content: "deep\n"}, "a-b": {Content: "sorts between a and a/\n"}, "a.b": {Content: ""}}, ""},
		{map[string]File{"a/b/c/d.txt": {Delete: true}}, ""}, // a/b/c goes
		{map[string]File{"db": {Delete: true}, "missing/file": {Delete: true}, "gone": {Delete: true}}, ""},
		{map[string]File{"docs/read me.md": {Content: "spaced\n"}, "ünïcode/✅.txt": {Content: "x"}}, ""},
		{map[string]File{"README.md": {Content: "hi again\n"}}, ""}, // unchanged tree
		{map[string]File{"a/b/e.txt": {Delete: true}, "a-b": {Delete: true}, "a.b": {Delete: true}, "README.md": {Delete: true}, "docs/read me.md": {Delete: true}, "ünïcode/✅.txt": {Delete: true}}, ""}, // empty
		{map[string]File{"x": {Content: "file\n"}}, ""},
		{map[string]File{"x/y": {Content: "a file becomes a directory\n"}}, "after"},
		{map[string]File{"x": {Content: "and a file again\n"}}, "after"},
		{map[string]File{"x/y/z": {Delete: true}}, "after"}, // through a file
		{map[string]File{`quote"d`: {Content: "q\n"}, "back\\slash": {Content: "b\n"}}, "always"},
		// On what fast-import wrote (its loose objects read here).
		{map[string]File{"x": {Delete: true}, "y/z": {Content: "z\n"}}, ""},
	}
	mineRoot, _ := mine.writeCommit("", nil, "empty root", who, who)
	theirRoot, err := theirs.fastImport("", nil, "empty root", who, who)
	if err != nil || mineRoot != theirRoot {
		t.Fatalf("an empty root: %s, fast-import writes %s (%v)", mineRoot, theirRoot, err)
	}
	head := mineRoot
	for i, st := range steps {
		for _, parent := range []string{"", head} {
			msg := fmt.Sprintf("step %d", i)
			before := mine.runs.Load()
			got, err := mine.writeCommit(parent, st.files, msg, who, who)
			if err != nil {
				t.Fatal(err)
			}
			if ran, want := mine.runs.Load() > before, st.git == "always" || st.git == "after" && parent != ""; ran != want {
				t.Errorf("step %d on %q: git ran: %v, want %v", i, parent, ran, want)
			}
			want, err := theirs.fastImport(parent, st.files, msg, who, who)
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("step %d on %q: %s, fast-import writes %s", i, parent, got, want)
			}
			if parent != "" {
				head = got
			}
		}
	}
	if out, err := mine.run(nil, nil, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Errorf("git fsck: %v\n%s", err, out)
	}
	if left, _ := mine.run(nil, nil, "for-each-ref"); left != "" {
		t.Errorf("writing commits left refs behind: %q", left)
	}
	// A path git would not check out (fsck complains of what fast-import
	// wrote) is fast-import's to write.
	odd := map[string]File{"q/../r": {Content: "odd\n"}, ".git/config": {Content: "x"}}
	before := mine.runs.Load()
	got, _ := mine.writeCommit(head, odd, "odd", who, who)
	if want, _ := theirs.fastImport(head, odd, "odd", who, who); got != want || mine.runs.Load() == before {
		t.Errorf("odd paths: %s, fast-import writes %s, git ran %d times", got, want, mine.runs.Load()-before)
	}
}
