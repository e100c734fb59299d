package handlers

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hotfix-bot/hotfix-bot/facts"
	"github.com/hotfix-bot/hotfix-bot/policy"
	"github.com/migueleliasweb/go-github-mock/src/mock"
)

// `/rollback --force` crosses schema changes: write permission is not
// enough. It takes commands.force_permission (maintain by default) or a
// place on the emergency list, and a refusal says who, what and why.
func TestForceNeedsMoreThanWrite(t *testing.T) {
	g, rec := newBot(mock.WithRequestMatchHandler(mock.GetOrgsTeamsMembershipsByOrgByTeamSlugByUsername,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.Contains(r.URL.Path, "/teams/broken/") {
				mock.WriteError(w, http.StatusInternalServerError, "boom")
				return
			}
			if strings.HasSuffix(r.URL.Path, "/sre/memberships/dana") {
				_, _ = w.Write([]byte(`{"state":"active","role":"member"}`))
				return
			}
			mock.WriteError(w, http.StatusNotFound, "Not Found")
		})))
	write := facts.Permission{Level: policy.PermissionWrite, Role: "write"}
	for _, c := range []struct {
		name    string
		who     string
		perm    facts.Permission
		policy  func(*policy.Config)
		allowed bool
	}{
		{"a writer", "ivan", write, nil, false},
		{"a maintainer", "rob", facts.Permission{Level: policy.PermissionMaintain, Role: "maintain"}, nil, true},
		{"a writer on the emergency list", "oncall", write, func(c *policy.Config) { c.Commands.Emergency.Users = []string{"OnCall"} }, true},
		{"a writer in an emergency team", "dana", write, func(c *policy.Config) { c.Commands.Emergency.Teams = []string{"sre"} }, true},
		{"a maintainer when the policy asks for admin", "rob", facts.Permission{Level: policy.PermissionMaintain, Role: "maintain"},
			func(c *policy.Config) { c.Commands.ForcePermission = policy.PermissionAdmin }, false},
		{"a writer when the policy allows write", "ivan", write, func(c *policy.Config) { c.Commands.ForcePermission = policy.PermissionWrite }, true},
		{"a writer whose emergency team cannot be read (fails closed)", "dana", write, func(c *policy.Config) { c.Commands.Emergency.Teams = []string{"broken"} }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := policy.Default()
			if c.policy != nil {
				c.policy(&cfg)
			}
			r, _ := g.repo(1, "acme", "payments", "main")
			cmds, _ := policy.ParseCommands("/rollback v1.4.1 --force")
			run := &commandRun{g: g, r: r, cfg: cfg, cmd: cmds[0], ev: &commentEvent{}}
			run.ev.Comment.User.Login = c.who
			o := run.authorizeForce(ctx, c.perm)
			if (o == nil) != c.allowed {
				t.Fatalf("allowed = %v, want %v (%+v)", o == nil, c.allowed, o)
			}
			if o != nil && strings.Contains(c.name, "cannot be read") {
				if o.err == nil || !strings.Contains(o.headline, "/rollback failed: force permission") {
					t.Errorf("a failed lookup: %+v", o)
				}
				return
			}
			if o != nil {
				body := o.headline + o.body
				for _, want := range []string{"force permission", "@" + c.who, c.perm.Role + " permission", string(cfg.Commands.ForcePermission) + " or more", "commands.emergency"} {
					if !strings.Contains(body, want) {
						t.Errorf("refusal lacks %q:\n%s", want, body)
					}
				}
			}
		})
	}
	for _, req := range rec.reqs {
		if !strings.Contains(req, "/orgs/acme/teams/") {
			t.Errorf("unexpected request %s", req)
		}
	}
}
