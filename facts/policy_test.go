package facts

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/internal/ghsim"
	"github.com/hotfix-bot/hotfix-bot/policy"
)

const policyFile = ".github/hotfix-bot.yml"

func TestLoadPolicy(t *testing.T) {
	ctx := context.Background()
	type world struct {
		*simWorld
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, w *world)
		base  string // the pull request's base, "" for an event without one
		// want: the branch whose policy applies and a fragment of its
		// origin; or a fragment of why nothing could be trusted.
		branch, origin, untrusted, invalid string
		approval                           policy.Permission
	}{
		{name: "no file anywhere: the defaults of main", branch: "main", origin: "the defaults (`main` at `", approval: policy.PermissionWrite},
		{name: "the file on main", setup: func(t *testing.T, w *world) {
			w.push(t, "main", "policy", ghsim.Files{policyFile: "approval:\n  permission: maintain\n"})
		}, branch: "main", origin: "`.github/hotfix-bot.yml` on `main` at `", approval: policy.PermissionMaintain},
		{name: "a broken file on main is shown as it is", setup: func(t *testing.T, w *world) {
			w.push(t, "main", "policy", ghsim.Files{policyFile: "approval:\n  permission: god\n"})
		}, invalid: `line 2: approval.permission: "god" is not a permission`},
		{name: "the owner's shared policy", setup: func(t *testing.T, w *world) {
			shared, err := w.sim.CreateRepo("acme", ".github")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := shared.Push(w.dana, "main", "shared", ghsim.Files{"hotfix-bot.yml": "approval:\n  permission: admin\n"}); err != nil {
				t.Fatal(err)
			}
			w.inst.Repos[shared.FullName()] = shared // installed on the owner's repositories
		}, branch: "main", origin: "(the owner's shared policy, as `main` at `", approval: policy.PermissionAdmin},
		// git-flow: develop is the default branch and less protected.
		{name: "a weaker policy merged on develop only is ignored", setup: func(t *testing.T, w *world) {
			w.push(t, "main", "policy", ghsim.Files{policyFile: "approval:\n  permission: maintain\n"})
			w.repo.SetDefaultBranch("develop")
			w.repo.Protect("main", ghsim.Protection{})
			w.push(t, "develop", "weaken", ghsim.Files{policyFile: "approval:\n  permission: read\ncommands:\n  emergency:\n    users: [mallory]\n"})
		}, branch: "main", origin: "on `main`", approval: policy.PermissionMaintain},
		{name: "develop redirecting production to itself, unprotected", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.repo.Protect("main", ghsim.Protection{})
			w.push(t, "develop", "redirect", ghsim.Files{policyFile: "branches:\n  production: develop\napproval:\n  permission: read\n"})
		}, untrusted: "The production branch `develop` (named by `.github/hotfix-bot.yml` on the default branch `develop`) is not protected, while this repository protects other branches"},
		{name: "the same pull request into develop: develop is not trusted either", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.repo.Protect("main", ghsim.Protection{})
			w.push(t, "develop", "redirect", ghsim.Files{policyFile: "branches:\n  production: develop\napproval:\n  permission: read\n"})
		}, base: "develop", untrusted: "`develop`"},
		{name: "a repository that protects nothing trusts the file that names itself", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.push(t, "develop", "production is develop", ghsim.Files{policyFile: "branches:\n  production: develop\napproval:\n  permission: maintain\n"})
		}, branch: "develop", origin: "on `develop`", approval: policy.PermissionMaintain},
		{name: "a protected production branch the hint names", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.must(t)(w.repo.CreateBranch(w.dana, "master", "main"))
			w.repo.Protect("master", ghsim.Protection{})
			w.push(t, "develop", "hint", ghsim.Files{policyFile: "branches:\n  production: master\n"})
			w.push(t, "master", "policy", ghsim.Files{policyFile: "branches:\n  production: master\napproval:\n  permission: admin\n"})
		}, branch: "master", origin: "on `master`", approval: policy.PermissionAdmin},
		{name: "the hint and the production branch disagree", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.push(t, "develop", "hint", ghsim.Files{policyFile: "branches:\n  production: main\n"})
			w.push(t, "main", "policy", ghsim.Files{policyFile: "branches:\n  production: master\n"})
		}, untrusted: "`.github/hotfix-bot.yml` on the default branch `develop` names `main` as the production branch (`branches.production`), but the policy on `main` (at `"},
		// A pull request's base is the first candidate: its own file
		// decides when it names itself, whatever the hint says.
		{name: "a pull request into production, the hint broken", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.push(t, "develop", "broken", ghsim.Files{policyFile: "approval: [\n"})
			w.must(t)(w.repo.CreateBranch(w.dana, "master", "main"))
			w.push(t, "master", "policy", ghsim.Files{policyFile: "branches:\n  production: master\napproval:\n  permission: admin\n"})
		}, base: "master", branch: "master", origin: "on `master`", approval: policy.PermissionAdmin},
		{name: "a pull request into develop: the hint decides", setup: func(t *testing.T, w *world) {
			w.repo.SetDefaultBranch("develop")
			w.push(t, "main", "policy", ghsim.Files{policyFile: "approval:\n  permission: maintain\n"})
			w.push(t, "develop", "hint", ghsim.Files{policyFile: "approval:\n  permission: read\n"})
		}, base: "develop", branch: "main", origin: "on `main`", approval: policy.PermissionMaintain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &world{simWorld: newSimWorld(t)}
			w.push(t, "main", "init", ghsim.Files{"README.md": "x"})
			w.must(t)(w.repo.CreateBranch(w.dana, "develop", "main"))
			if tt.setup != nil {
				tt.setup(t, w)
			}
			r := w.facts(t)
			p, err := r.PolicyFor(ctx, nil, tt.base)
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.untrusted != "":
				if !p.Broken() || !strings.Contains(p.Untrusted, tt.untrusted) || !strings.Contains(p.Describe(), p.Untrusted) {
					t.Fatalf("policy = %+v, want untrusted: %q", p, tt.untrusted)
				}
				return
			case tt.invalid != "":
				if !p.Broken() || !strings.Contains(p.Invalid[0].Error(), tt.invalid) || !strings.Contains(p.Describe(), "hotfix-bot validate") {
					t.Fatalf("policy = %+v, want invalid: %q", p, tt.invalid)
				}
				return
			}
			if p.Broken() {
				t.Fatalf("policy broken: %v %s", p.Invalid, p.Untrusted)
			}
			tip := w.repo.Branch(tt.branch)
			if p.Branch != tt.branch || p.Commit != tip || !strings.Contains(p.Origin(), tt.origin) || !strings.Contains(p.Origin(), tip[:7]) {
				t.Errorf("policy of %q at %q, origin %q; want %s at %s, %q", p.Branch, p.Commit, p.Origin(), tt.branch, tip[:7], tt.origin)
			}
			if p.Config.Approval.Permission != tt.approval {
				t.Errorf("approval.permission = %s, want %s", p.Config.Approval.Permission, tt.approval)
			}
		})
	}
}

func TestLoadPolicyGitHubFailureIsAnError(t *testing.T) {
	w := newSimWorld(t)
	w.push(t, "main", "init", ghsim.Files{"README.md": "x"})
	w.sim.Inject(&ghsim.Fault{Op: "repos/get-content", Status: http.StatusBadGateway})
	if p, err := w.facts(t).Policy(context.Background(), nil); err == nil {
		t.Fatalf("LoadPolicy = %+v, want an error", p)
	}
}
