package policy

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

var lineageStart = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)

// release names the test releases: their commit and tag.
var release = map[string]string{"140": "v1.4.0", "141": "v1.4.1", "142": "v1.4.2", "143": "v1.4.3", "144": "v1.4.4", "150": "v1.5.0"}

// deployed is a production deployment of a release, by your pipeline,
// with statuses a minute apart (from the deployment's id on: ids are in
// time order).
func deployed(id int64, rel string, states ...string) ProductionDeployment {
	d := ProductionDeployment{ID: id, SHA: relSHA(rel), Tag: release[rel]}
	for i, s := range states {
		d.Statuses = append(d.Statuses, DeploymentStatus{State: s, At: lineageStart.Add(time.Duration(id)*time.Minute + time.Duration(i)*time.Second)})
	}
	return d
}

// sha is a release's commit (seven characters, as Short shows it).
func relSHA(rel string) string { return rel + "0000" }

// promoted is the bot's hotfix deployment of a pull request.
func promoted(d ProductionDeployment, pr int, previous string) ProductionDeployment {
	d.Bot = &DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: pr, RequestedBy: "rob", PreviousRef: relSHA(previous), PreviousTag: release[previous],
		NextTag: d.Tag, Chain: []string{"production"}}
	return d
}

// rolledBack is the bot's rollback deployment.
func rolledBack(d ProductionDeployment) ProductionDeployment {
	d.Bot = &DeploymentPayload{HotfixBot: 1, Kind: "rollback", RequestedBy: "rob", Target: d.Tag, Chain: []string{"production"}}
	return d
}

// newestFirst turns a history written oldest first into GitHub's order.
func newestFirst(history ...ProductionDeployment) []ProductionDeployment {
	out := make([]ProductionDeployment, len(history))
	for i, d := range history {
		out[len(history)-1-i] = d
	}
	return out
}

func TestProductionLineage(t *testing.T) {
	v141, v142 := deployed(1, "141", "success"), deployed(2, "142", "in_progress", "success")
	v143 := promoted(deployed(3, "143", "success"), 7, "142")
	tests := []struct {
		name       string
		history    []ProductionDeployment // oldest first
		incomplete bool
		want       string // the lineage's releases, oldest first
		left       string // departures: release=why (rolled back by N, or failed), sorted
		bottomless bool
	}{
		{"releases in order", []ProductionDeployment{v141, v142, v143}, false, "141 142 143", "", false},
		{"a deployment that failed never ran", []ProductionDeployment{v141, v142, deployed(3, "143", "failure")}, false, "141 142", "", false},
		{"an error never ran", []ProductionDeployment{v141, v142, deployed(3, "143", "error")}, false, "141 142", "", false},
		{"one in flight has not run yet", []ProductionDeployment{v141, v142, deployed(3, "143", "pending", "in_progress")}, false, "141 142", "", false},
		{"a release whose deployment later failed is skipped", []ProductionDeployment{v141, v142, deployed(3, "143", "success", "failure")}, false, "141 142", "143=failed", false},
		{"inactive after a success means it ran", []ProductionDeployment{deployed(1, "141", "success", "inactive"), deployed(2, "142", "success", "inactive"), v143}, false, "141 142 143", "", false},
		{"a retried deployment that succeeded ran", []ProductionDeployment{v141, v142, deployed(3, "143", "failure", "success")}, false, "141 142 143", "", false},
		{"a bot rollback pops back to its release", []ProductionDeployment{v141, v142, v143, rolledBack(deployed(4, "142", "success"))}, false, "141 142", "143=rolled back by 4", false},
		{"a rollback after a rollback", []ProductionDeployment{v141, v142, v143, rolledBack(deployed(4, "142", "success")), rolledBack(deployed(5, "141", "success"))}, false, "141", "142=rolled back by 5 143=rolled back by 4", false},
		{"a new release after a rollback", []ProductionDeployment{v141, v142, v143, rolledBack(deployed(4, "142", "success")), deployed(5, "144", "success")}, false, "141 142 144", "143=rolled back by 4", false},
		{"a rolled-back release deployed again", []ProductionDeployment{v141, v142, v143, rolledBack(deployed(4, "142", "success")), deployed(5, "143", "success")}, false, "141 142 143", "", false},
		{"your pipeline redeploying an older release is a rollback too", []ProductionDeployment{v141, v142, v143, deployed(4, "141", "success")}, false, "141", "142=rolled back by 4 143=rolled back by 4", false},
		{"a redeploy of what runs changes nothing", []ProductionDeployment{v141, v142, deployed(3, "142", "success")}, false, "141 142", "", false},
		{"a failed hotfix rolled back automatically", []ProductionDeployment{v141, v142, deployed(3, "143", "failure"), rolledBack(deployed(4, "142", "success"))}, false, "141 142", "", false},
		{"a failed rollback changes nothing", []ProductionDeployment{v141, v142, v143, rolledBack(deployed(4, "142", "failure"))}, false, "141 142 143", "", false},
		{"a rollback below what was read", []ProductionDeployment{v142, v143, rolledBack(deployed(4, "141", "success"))}, true, "141", "142=rolled back by 4 143=rolled back by 4", true},
		{"a rollback to a release from before the first deployment", []ProductionDeployment{v142, v143, rolledBack(deployed(4, "141", "success"))}, false, "141", "142=rolled back by 4 143=rolled back by 4", true},
		{"an incomplete read may have more below", []ProductionDeployment{v142, v143}, true, "142 143", "", true},
		{"no deployment ran", []ProductionDeployment{deployed(1, "141", "failure")}, false, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ProductionLineage(newestFirst(tt.history...), !tt.incomplete)
			var got []string
			for _, e := range l.Entries {
				got = append(got, strings.TrimSuffix(e.SHA, "0000"))
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("lineage = %v, want %s", got, tt.want)
			}
			var left []string
			for _, d := range l.Left {
				why := "failed"
				if d.RolledBackBy != 0 {
					why = "rolled back by " + strconv.FormatInt(d.RolledBackBy, 10)
				}
				left = append(left, strings.TrimSuffix(d.SHA, "0000")+"="+why)
			}
			sort.Strings(left)
			if strings.Join(left, " ") != tt.left {
				t.Errorf("left = %v, want %s", left, tt.left)
			}
			if l.Bottomless != tt.bottomless {
				t.Errorf("bottomless = %v, want %v", l.Bottomless, tt.bottomless)
			}
		})
	}
	// Since is when production came to stand on the top release.
	l := ProductionLineage(newestFirst(v141, v142, v143, rolledBack(deployed(9, "142", "pending", "success"))), true)
	if top := l.Top(); top.Deployment != 9 || !top.Since.Equal(lineageStart.Add(9*time.Minute+time.Second)) {
		t.Errorf("top = %+v, want deployment 9 since its success", top)
	}
}

func TestChooseRollbackTarget(t *testing.T) {
	c := Default()
	prodOn := func(rel string) ProductionState {
		return ProductionState{Known: true, SHA: relSHA(rel), Tag: release[rel]}
	}
	v141, v142 := deployed(1, "141", "success"), deployed(2, "142", "success")
	v143 := promoted(deployed(3, "143", "success"), 7, "142")
	pr7 := &PromotedHotfix{Deployment: 3, SHA: relSHA("143"), Payload: *v143.Bot}
	released := newestFirst(v141, v142, v143)
	back := newestFirst(v141, v142, v143, rolledBack(deployed(4, "142", "success")))
	failed := newestFirst(v141, v142, promoted(deployed(3, "143", "failure"), 7, "142"), rolledBack(deployed(4, "142", "success")))
	inFlight := newestFirst(v141, v142, promoted(deployed(3, "143", "pending"), 7, "142"))
	movedOn := newestFirst(v141, v142, v143, deployed(4, "150", "success"))
	backThenOn := newestFirst(v141, v142, v143, rolledBack(deployed(4, "142", "success")), deployed(5, "150", "success"))
	laterFailed := newestFirst(v141, v142, deployed(3, "143", "success", "failure"))
	tests := []struct {
		name   string
		f      RollbackFacts
		sha    string // the target's release
		refuse string // or the rule that refuses
		says   string // fragments of the why (and what to do), "|"-separated
	}{
		{"the release before", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true}, "142", "", "the release production ran before v1.4.3 (deployment 2)"},
		{"on the pull request production runs", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, Promoted: pr7}, "142", "", "what production ran before #7 was promoted"},
		{"after a rollback: the release before the one production went back to", RollbackFacts{Production: prodOn("142"), Deployments: back, DeploymentsComplete: true}, "141", "",
			"the release production ran before v1.4.2|skipped: v1.4.3, which was rolled back: deployment 4 took production back to v1.4.2"},
		{"on the rolled-back pull request", RollbackFacts{Production: prodOn("142"), Deployments: back, DeploymentsComplete: true, Promoted: pr7}, "", "promotion still in production",
			"production already runs what ran before #7 (v1.4.2): #7's v1.4.3 was rolled back|nothing of #7 is left to roll back|`/rollback v1.4.1`"},
		{"on the pull request whose deployment failed", RollbackFacts{Production: prodOn("142"), Deployments: failed, DeploymentsComplete: true, Promoted: pr7}, "", "promotion still in production",
			"production already runs what ran before #7 (v1.4.2): #7's v1.4.3 never ran: deployment 3 reported failure"},
		{"on the pull request whose deployment is in flight", RollbackFacts{Production: prodOn("142"), Deployments: inFlight, DeploymentsComplete: true, Promoted: pr7}, "", "promotion still in production",
			"has not finished|wait for deployment 3 to report"},
		{"on a pull request production moved on from", RollbackFacts{Production: prodOn("150"), Deployments: movedOn, DeploymentsComplete: true, Promoted: pr7}, "", "promotion still in production",
			"production moved on since #7: it still stands on #7's v1.4.3, but runs v1.5.0 now|`/rollback v1.4.2`"},
		{"on a rolled-back pull request, production moved on since", RollbackFacts{Production: prodOn("150"), Deployments: backThenOn, DeploymentsComplete: true, Promoted: pr7}, "", "promotion still in production",
			"#7's v1.4.3 was rolled back|production moved on since: it runs v1.5.0 now|to roll back v1.5.0, comment `/rollback` on an issue"},
		{"a promotion that was production's first deployment", RollbackFacts{Production: prodOn("143"), Deployments: newestFirst(v143), DeploymentsComplete: true, Promoted: pr7}, "142", "", "what production ran before #7 was promoted"},
		{"a named tag production stands on", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, RequestedTag: "v1.4.1", RequestedSHA: relSHA("141")}, "141", "", "`v1.4.1`, as asked"},
		{"a named tag that was rolled back", RollbackFacts{Production: prodOn("142"), Deployments: back, DeploymentsComplete: true, RequestedTag: "v1.4.3", RequestedSHA: relSHA("143")}, "", "in production's lineage",
			"ran in production (deployment 3), and it was rolled back: deployment 4 took production back to v1.4.2|`/rollback v1.4.3 --force`"},
		{"a rolled-back tag with --force", RollbackFacts{Production: prodOn("142"), Deployments: back, DeploymentsComplete: true, RequestedTag: "v1.4.3", RequestedSHA: relSHA("143"), Force: true}, "143", "",
			"as asked with `--force`, although it was rolled back"},
		{"a named tag whose deployment failed after success", RollbackFacts{Production: prodOn("142"), Deployments: laterFailed, DeploymentsComplete: true, RequestedTag: "v1.4.3", RequestedSHA: relSHA("143")}, "", "in production's lineage",
			"failed: deployment 3 reported a failure after it had succeeded"},
		{"a tag that never ran", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, RequestedTag: "v1.4.0", RequestedSHA: relSHA("140")}, "", "ran in production before",
			"never ran in production|such as `v1.4.2`, `v1.4.1`|`/promote` its pull request"},
		{"--force does not ship what never ran", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, RequestedTag: "v1.4.0", RequestedSHA: relSHA("140"), Force: true}, "", "ran in production before", "never ran"},
		{"a tag older than what was read", RollbackFacts{Production: prodOn("143"), Deployments: released, RequestedTag: "v1.4.0", RequestedSHA: relSHA("140")}, "", "ran in production before", "not among the newest 3 production deployments"},
		{"no such tag", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, RequestedTag: "v9"}, "", "tag exists", "no tag `v9`"},
		{"production already", RollbackFacts{Production: prodOn("143"), Deployments: released, DeploymentsComplete: true, RequestedTag: "v1.4.3", RequestedSHA: relSHA("143")}, "", "not production already", ""},
		{"nothing earlier", RollbackFacts{Production: prodOn("142"), Deployments: newestFirst(v142), DeploymentsComplete: true}, "", "an earlier release", ""},
		{"nothing earlier read", RollbackFacts{Production: prodOn("142"), Deployments: newestFirst(v142)}, "", "production lineage known", "do not say what production ran before v1.4.2"},
		{"the lineage disagrees with production", RollbackFacts{Production: prodOn("150"), Deployments: released, DeploymentsComplete: true}, "", "production lineage known", "stands on v1.4.3"},
		{"production moved after the command was written", RollbackFacts{Production: prodOn("150"), Deployments: movedOn, DeploymentsComplete: true, WrittenAt: lineageStart.Add(3 * time.Minute)},
			"", "production unchanged since the command", "it now runs v1.5.0, since deployment 4 succeeded|from v1.5.0"},
		{"production moved before the command was written", RollbackFacts{Production: prodOn("150"), Deployments: movedOn, DeploymentsComplete: true, WrittenAt: lineageStart.Add(5 * time.Minute)}, "143", "", ""},
		{"production unknown", RollbackFacts{Production: ProductionState{Unknown: "502"}}, "", "production known", "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, refusal := c.ChooseRollbackTarget(tt.f)
			text := got.Why
			switch {
			case tt.refuse != "" && (refusal == nil || refusal.Rule != tt.refuse):
				t.Fatalf("%+v %+v, want refused by %q", got, refusal, tt.refuse)
			case tt.refuse == "" && refusal != nil:
				t.Fatalf("refused: %+v", refusal)
			case tt.refuse == "" && got.SHA != relSHA(tt.sha):
				t.Fatalf("target %+v, want %s", got, tt.sha)
			case refusal != nil:
				text = refusal.Why + " / " + refusal.Next
			}
			for _, f := range strings.Split(tt.says, "|") {
				if !strings.Contains(text, f) {
					t.Errorf("lacks %q: %s", f, text)
				}
			}
		})
	}
}

func TestRollbackSchemaFiles(t *testing.T) {
	c := Default()
	schema, unknown := c.RollbackSchemaFiles([]string{"a.go", "db/migrations/1.sql", "db/migrations/1.sql"}, true)
	if len(schema) != 1 || unknown {
		t.Errorf("RollbackSchemaFiles = %v %v", schema, unknown)
	}
	if _, unknown := c.RollbackSchemaFiles(nil, false); !unknown {
		t.Error("an incomplete file list counted as no schema change")
	}
}
