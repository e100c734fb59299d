package facts

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/go-github/v60/github"
	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// The other checks on a commit, as GitHub gives them: each known by its
// source (the app's slug for a check run, the creator for a status);
// every page of statuses read, and two sources of one context both kept
// (the combined status would keep only the newest).
func TestOtherChecksKnowTheirSource(t *testing.T) {
	w := newSimWorld(t)
	r := w.repo
	ci, err := w.sim.RegisterApp(ghsim.AppOptions{Slug: "github-actions", Permissions: map[string]string{"checks": "write"}})
	if err != nil {
		t.Fatal(err)
	}
	w.sim.Install(ci, r)
	head := w.push(t, "main", "init", ghsim.Files{"a": "1"})
	r.ReportCheck(ci, head, "test", "completed", "failure")
	mallory, jenkins := w.sim.User("mallory"), w.sim.User("jenkins")
	r.AddStatus(jenkins, head, "test", "failure")
	r.AddStatus(mallory, head, "test", "success") // newer: the combined status would show only this one
	for i := 0; i < 120; i++ {
		r.AddStatus(jenkins, head, fmt.Sprintf("shard-%03d", i), "success")
	}
	checks, err := w.facts(t).OtherChecks(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, c := range checks {
		got[c.Kind+" "+c.Key()] = c.State
	}
	for key, want := range map[string]string{
		"check run github-actions/test":   "failure",
		"commit status jenkins/test":      "failure",
		"commit status mallory/test":      "success",
		"commit status jenkins/shard-119": "success",
	} {
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
	if len(checks) != 1+2+120 {
		t.Errorf("%d checks, want 123 (every page of statuses)", len(checks))
	}

	suites, err := w.facts(t).CheckSuites(context.Background(), head)
	if err != nil || len(suites) != 1 || suites[0].App != "github-actions" || suites[0].Status != "completed" || suites[0].Runs != 1 {
		t.Errorf("suites = %+v, %v; want CI's only (not this app's own)", suites, err)
	}
}

// A commit's tree is read once per process: trees never change.
func TestTreesAreRememberedAcrossEvents(t *testing.T) {
	r, rec := mockedRepo(mock.WithRequestMatch(mock.GetReposGitCommitsByOwnerByRepoByCommitSha,
		github.Commit{SHA: github.String("abc"), Tree: &github.Tree{SHA: github.String("tree-1")}}))
	r.Trees = NewTreeCache()
	for i := 0; i < 3; i++ {
		next := r.Fresh() // another event
		if tree, err := next.Tree(context.Background(), "abc"); err != nil || tree != "tree-1" {
			t.Fatalf("Tree = %q, %v", tree, err)
		}
	}
	if n := len(rec.matching("/git/commits/abc")); n != 1 {
		t.Errorf("%d reads of the commit, want 1", n)
	}
}
