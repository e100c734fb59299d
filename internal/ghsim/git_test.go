package ghsim

import (
	"fmt"
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
