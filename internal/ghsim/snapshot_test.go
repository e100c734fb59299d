package ghsim

import (
	"errors"
	"testing"
)

// A history built in one simulator and copied into another reads the same
// through the API, under new IDs, and the copies change independently.
func TestSnapshotAndRestore(t *testing.T) {
	src, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	hist := must[*Repo](t)(src.CreateRepo("acme", "history"))
	dana, cd := src.User("dana"), src.User("deploy-bot")
	hist.SetRole("dana", "write")
	hist.SetRole("ivan", "read")
	c1 := must[string](t)(hist.Push(dana, "main", "init", Files{"db/001.sql": "create table t(a int);\n"}))
	must[string](t)(hist.AnnotatedTag(dana, "v1.0.0", "main", "Release 1.0.0"))
	c2 := must[string](t)(hist.Push(dana, "develop", "work", Files{"a.go": "package a\n"}))
	deployID := must[int64](t)(hist.SeedDeployment(cd, c1, "production", "success"))
	snap := must[*RepoSnapshot](t)(hist.Snapshot())

	f := newFixture(t) // a simulator with an app, an installation and acme/pay already
	r := must[*Repo](t)(f.sim.RestoreRepo(snap))
	if _, err := f.sim.RestoreRepo(snap); err == nil {
		t.Error("restored twice under one name")
	}
	inst := f.sim.Install(f.app, r)
	c := f.clientFor(t, f.app, inst)

	if r.Branch("main") != c1 || r.Branch("develop") != c2 || r.TagCommit("v1.0.0") != c1 {
		t.Errorf("refs: main %s develop %s v1.0.0 %s", r.Branch("main"), r.Branch("develop"), r.TagCommit("v1.0.0"))
	}
	cmp, _, err := c.Repositories.CompareCommits(ctx, "acme", "history", "v1.0.0", "develop", nil)
	if err != nil || cmp.GetStatus() != "ahead" || cmp.GetAheadBy() != 1 || len(cmp.Files) != 1 || cmp.Files[0].GetFilename() != "a.go" {
		t.Errorf("compare: %+v %v", cmp, err)
	}
	perm, _, err := c.Repositories.GetPermissionLevel(ctx, "acme", "history", "ivan")
	if err != nil || perm.GetPermission() != "read" {
		t.Errorf("ivan's permission: %+v %v", perm, err)
	}
	ds, _, err := c.Repositories.ListDeployments(ctx, "acme", "history", nil)
	if err != nil || len(ds) != 1 || ds[0].GetSHA() != c1 || ds[0].GetCreator().GetLogin() != "deploy-bot" {
		t.Fatalf("deployments: %+v %v", ds, err)
	}
	sts, _, err := c.Repositories.ListDeploymentStatuses(ctx, "acme", "history", ds[0].GetID(), nil)
	if err != nil || len(sts) != 1 || sts[0].GetState() != "success" {
		t.Errorf("deployment statuses: %+v %v", sts, err)
	}
	// New IDs, unique in the new simulator, in the old order.
	if r.ID == f.repo.ID || ds[0].GetID() == deployID || ds[0].GetID() <= r.ID || sts[0].GetID() <= ds[0].GetID() {
		t.Errorf("ids: repo %d (acme/pay %d), deployment %d (was %d), status %d", r.ID, f.repo.ID, ds[0].GetID(), deployID, sts[0].GetID())
	}
	req, _ := c.NewRequest("GET", "repos/acme/history/activity?ref=develop", nil)
	var acts []map[string]any
	if _, err := c.Do(ctx, req, &acts); err != nil || len(acts) != 1 || acts[0]["after"] != c2 || acts[0]["activity_type"] != "branch_creation" {
		t.Errorf("activity: %v %v", acts, err)
	}
	if f.sim.Clock().Now().Before(src.Clock().Now()) {
		t.Errorf("the clock is behind the history: %s < %s", f.sim.Clock().Now(), src.Clock().Now())
	}

	// The copy moves on its own.
	c3 := must[string](t)(r.Push(f.sim.User("dana"), "main", "fix", Files{"b.go": "package b\n"}))
	if hist.Branch("main") != c1 || r.Branch("main") != c3 {
		t.Errorf("after a push to the copy: original %s, copy %s", hist.Branch("main"), r.Branch("main"))
	}
	if _, _, err := c.Repositories.GetBranch(ctx, "acme", "history", "main", 0); err != nil {
		t.Error(err)
	}

	// What a snapshot cannot carry is refused.
	must[int](t)(hist.OpenPR(dana, "develop", "main", "Work"))
	if _, err := hist.Snapshot(); !errors.Is(err, ErrNotSnapshottable) {
		t.Errorf("a repository with a pull request: %v", err)
	}
}
