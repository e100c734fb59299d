package policy

import (
	"strings"
	"testing"
	"time"
)

const (
	relHead = "a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4a1b2c3d4"
	fixSHA  = "f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1f1"
	v140SHA = "1400000000000000000000000000000000000000"
)

var (
	onV143 = ProductionState{Known: true, SHA: fixSHA, Tag: "v1.4.3", Deployment: 20}
	v143   = ShippedRelease{Tag: "v1.4.3", SHA: fixSHA, PR: 12, Title: "Fix payment timeout",
		Syncs: []OpenSync{{Number: 13, Target: "develop"}, {Number: 14, Target: "release/1.5", Conflict: true}}}
)

func TestShippedReleaseName(t *testing.T) {
	for _, tt := range []struct {
		s    ShippedRelease
		want string
	}{
		{v143, "v1.4.3 (#12, Fix payment timeout)"},
		{ShippedRelease{Tag: "v1.4.0", SHA: v140SHA}, "v1.4.0"},
		{ShippedRelease{Tag: "v1.4.3", SHA: fixSHA, PR: 12}, "v1.4.3 (#12)"},
		{ShippedRelease{SHA: fixSHA, PR: 12}, "hotfix #12 (`f1f1f1f`, untagged)"},
		{ShippedRelease{Tag: "v1.4.3", PR: 12, Title: "A title\nwith " + strings.Repeat("x", 100)}, "v1.4.3 (#12, A title with " + strings.Repeat("x", 66) + "…)"},
	} {
		if got := tt.s.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}

// The line people read names the release, its pull request and what to
// merge where: the sync-back pull request into the branch being released
// when one is open, the tag itself when none is.
func TestMissingLines(t *testing.T) {
	for _, tt := range []struct {
		name   string
		facts  ReleaseFacts
		wants  []string
		absent []string
	}{
		{"the open sync into the target", ReleaseFacts{SHA: relHead, Target: "release/1.5", Missing: []ShippedRelease{v143}},
			[]string{"v1.4.3 (#12, Fix payment timeout) is not in `a1b2c3d`: merge #14 into `release/1.5` first", "it conflicts"}, []string{"#13"}},
		{"no sync into the target", ReleaseFacts{SHA: relHead, Target: "release/1.6", Missing: []ShippedRelease{v143}},
			[]string{"merge `v1.4.3` into `release/1.6` first", "no sync-back pull request into it is open", "`git merge v1.4.3`"}, nil},
		{"an unknown target lists every open sync", ReleaseFacts{SHA: relHead, Missing: []ShippedRelease{v143}},
			[]string{"#13 (into `develop`)", "#14 (into `release/1.5`)"}, nil},
		{"an untagged bot hotfix is merged by its commit", ReleaseFacts{SHA: relHead, Target: "release/1.5", Missing: []ShippedRelease{{SHA: fixSHA, PR: 12}}},
			[]string{"hotfix #12 (`f1f1f1f`, untagged) is not in `a1b2c3d`", "merge `f1f1f1f` into `release/1.5`"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(tt.facts.MissingLines(), "\n")
			for _, w := range tt.wants {
				if !strings.Contains(got, w) {
					t.Errorf("lines lack %q:\n%s", w, got)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(got, a) {
					t.Errorf("lines mention %q:\n%s", a, got)
				}
			}
		})
	}
}

func TestReleaseCheck(t *testing.T) {
	cfg := Default()
	for _, tt := range []struct {
		name       string
		facts      ReleaseFacts
		conclusion string
		wants      []string
	}{
		{"contains everything", ReleaseFacts{SHA: relHead, Target: "release/1.5", Production: onV143}, Success,
			[]string{"Contains every release production shipped", "`release/1.5` (`a1b2c3d`)", "production runs v1.4.3"}},
		{"nothing released yet", ReleaseFacts{SHA: relHead, Target: "release/1.5"}, Success,
			[]string{"nothing the bot knows of yet"}},
		{"lacks a hotfix", ReleaseFacts{SHA: relHead, Target: "release/1.5", Production: onV143, Missing: []ShippedRelease{v143}}, Failure,
			[]string{"Lacks 1 release production shipped: v1.4.3", "merge #14 into `release/1.5` first", "with a merge commit", "rejects deployments of it to `production`"}},
		{"lacks several", ReleaseFacts{SHA: relHead, Production: onV143, Missing: []ShippedRelease{{Tag: "v1.4.0"}, {Tag: "v1.4.1"}, {Tag: "v1.4.2"}, {Tag: "v1.4.3"}, {Tag: "v1.4.4"}, {Tag: "v1.4.5"}}}, Failure,
			[]string{"Lacks 6 releases production shipped: v1.4.0, v1.4.1, v1.4.2, v1.4.3, v1.4.4 and 1 more"}},
		{"cannot tell: fails closed", ReleaseFacts{SHA: relHead, Target: "release/1.5", Unknown: "list tags: GitHub answered 502"}, Failure,
			[]string{"Cannot tell", "GitHub answered 502", "re-run this check"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := cfg.ReleaseCheck(tt.facts)
			if res.Name != CheckRelease || res.Conclusion != tt.conclusion {
				t.Fatalf("%s/%s, want %s\n%s\n%s", res.Name, res.Conclusion, tt.conclusion, res.Title, res.Summary)
			}
			for _, w := range tt.wants {
				if !strings.Contains(res.Title+"\n"+res.Summary, w) {
					t.Errorf("lacks %q:\n%s\n%s", w, res.Title, res.Summary)
				}
			}
		})
	}
}

func TestDecideProtection(t *testing.T) {
	cfg := Default()
	hotfix := &DeploymentPayload{HotfixBot: 1, Kind: "hotfix", PR: 12, RequestedBy: "rob", Chain: []string{"production"}}
	emergency := *hotfix
	emergency.Emergency = true
	rollback := &DeploymentPayload{HotfixBot: 1, Kind: "rollback", PR: 12, RequestedBy: "rob", Chain: []string{"production"}}
	other := LockState{Held: true, Kind: "promote", RequestedBy: "sam", PR: 9, SHA: fixSHA}
	blackFriday := Config{Freeze: []FreezeWindow{{From: "2026-11-27 00:00", To: "2026-11-30 00:00", Zone: "UTC", Reason: "peak traffic"}}}
	fr, frozen := blackFriday.FreezeAt(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	if !frozen {
		t.Fatal("no freeze on 2026-11-28")
	}
	freeze := &fr
	complete := ReleaseFacts{SHA: relHead, Target: "release/1.5", Production: onV143}
	missing := ReleaseFacts{SHA: relHead, Target: "release/1.5", Production: onV143, Missing: []ShippedRelease{v143}}
	base := ProtectionFacts{Environment: "production", SHA: relHead, Ref: "release/1.5", Release: complete}
	with := func(change func(*ProtectionFacts)) ProtectionFacts {
		f := base
		change(&f)
		return f
	}
	tests := []struct {
		name    string
		facts   ProtectionFacts
		approve bool
		reason  string
		wants   []string
	}{
		{"complete: approved", base, true, "complete",
			[]string{"`release/1.5` (`a1b2c3d`) contains every release production shipped", "production runs v1.4.3"}},
		{"lacks a hotfix: rejected with the list", with(func(f *ProtectionFacts) { f.Release = missing }), false, "missing",
			[]string{"rejected this deployment of `release/1.5` (`a1b2c3d`) to production", "lacks 1 release production shipped",
				"v1.4.3 (#12, Fix payment timeout) is not in `a1b2c3d`: merge #14 into `release/1.5` first",
				"re-running this job deploys the same `a1b2c3d`", "administrator can deploy past this"}},
		{"another environment is not guarded", with(func(f *ProtectionFacts) { f.Environment = "staging"; f.Release = missing }), true, "not-production",
			[]string{"guards only `production`", "`staging`"}},
		{"another promotion holds the lock: rejected, naming it", with(func(f *ProtectionFacts) { f.Lock = other }), false, "locked",
			[]string{"held by @sam for a promote of #9", "one deployment at a time", "`/unlock`"}},
		{"a stale lock does not hold", with(func(f *ProtectionFacts) { l := other; l.Stale = true; f.Lock = l }), true, "complete", nil},
		{"the bot's own hotfix holding the lock: approved", with(func(f *ProtectionFacts) { f.Lock = other; f.Bot = hotfix; f.Release = missing }), true, "bot-deployment",
			[]string{"its own deployment of hotfix #12 (promoted by @rob)"}},
		{"the bot's own rollback holding the lock: approved though it goes back", with(func(f *ProtectionFacts) { f.Lock = other; f.Bot = rollback; f.Release = missing }), true, "bot-deployment",
			[]string{"its own rollback (asked by @rob)"}},
		{"a freeze rejects other deployments", with(func(f *ProtectionFacts) { f.Freeze = freeze }), false, "freeze",
			[]string{"production is frozen (peak traffic", "production opens again Mon 2026-11-30 00:00 UTC", "`/promote --emergency REASON`"}},
		{"a freeze rejects the bot's hotfix that is no emergency", with(func(f *ProtectionFacts) { f.Freeze = freeze; f.Bot = hotfix }), false, "freeze",
			[]string{"promotion of #12 is not an emergency"}},
		{"a freeze lets an emergency hotfix through", with(func(f *ProtectionFacts) { f.Freeze = freeze; f.Bot = &emergency }), true, "bot-deployment", nil},
		{"a freeze lets a rollback through", with(func(f *ProtectionFacts) { f.Freeze = freeze; f.Bot = rollback }), true, "bot-deployment", nil},
		{"the lock could not be read: rejected", with(func(f *ProtectionFacts) { f.LockUnknown = "read the production lock: GitHub answered 502" }), false, "unknown",
			[]string{"could not read the production lock", "GitHub answered 502", "re-run this job in a minute"}},
		{"the lock's deployment could not be read: rejected", with(func(f *ProtectionFacts) { f.BotUnknown = "read deployment 7: GitHub answered 502" }), false, "unknown",
			[]string{"the deployment the production lock names", "re-run this job"}},
		{"what production shipped could not be read: rejected", with(func(f *ProtectionFacts) { f.Release.Unknown = "more than 3000 tags" }), false, "unknown",
			[]string{"could not establish what production shipped: more than 3000 tags", "never approves what it could not check"}},
		{"the policy could not be read: rejected, whatever the environment", with(func(f *ProtectionFacts) {
			f.PolicyUnknown = "read .github/hotfix-bot.yml: GitHub answered 502"
			f.Environment = "staging"
		}), false, "unknown", []string{"could not read the policy file", "re-run this job"}},
		{"a broken policy: rejected", with(func(f *ProtectionFacts) { f.BrokenPolicy = "line 3: approval.permission: bad" }), false, "policy",
			[]string{"policy file is invalid: line 3", "fix `.github/hotfix-bot.yml`"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := cfg.DecideProtection(tt.facts)
			if d.Approve != tt.approve || d.Reason != tt.reason {
				t.Fatalf("approve=%v reason=%s, want %v %s\n%s", d.Approve, d.Reason, tt.approve, tt.reason, d.Comment)
			}
			if (d.State() == "approved") != tt.approve {
				t.Errorf("state %s", d.State())
			}
			for _, w := range tt.wants {
				if !strings.Contains(d.Comment, w) {
					t.Errorf("comment lacks %q:\n%s", w, d.Comment)
				}
			}
		})
	}
}

// A rejection lists at most ten releases; the check lists them all.
func TestDecideProtectionListsTen(t *testing.T) {
	var missing []ShippedRelease
	for i := 0; i < 12; i++ {
		missing = append(missing, ShippedRelease{Tag: "v1.4." + string(rune('a'+i))})
	}
	d := Default().DecideProtection(ProtectionFacts{Environment: "production", SHA: relHead, Release: ReleaseFacts{SHA: relHead, Production: onV143, Missing: missing}})
	if got := strings.Count(d.Comment, " is not in "); got != 10 || !strings.Contains(d.Comment, "… and 2 more") {
		t.Errorf("%d lines listed:\n%s", got, d.Comment)
	}
}

// The protection rule asks the policy's freeze windows: a window in
// force at the moment is the freeze it rejects by.
func TestProtectionRuleFreezeIsThePolicys(t *testing.T) {
	cfg := Default()
	cfg.Freeze = []FreezeWindow{{From: "Fri 16:00", To: "Mon 08:00", Zone: "Europe/Berlin", Reason: "the weekend"}}
	saturday := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	fr, frozen := cfg.FreezeAt(saturday)
	if !frozen {
		t.Fatal("not frozen on a Saturday")
	}
	d := cfg.DecideProtection(ProtectionFacts{Environment: "production", SHA: relHead, Freeze: &fr,
		Release: ReleaseFacts{SHA: relHead, Production: onV143}})
	if d.Approve || !strings.Contains(d.Comment, "the weekend") || !strings.Contains(d.Comment, "Mon 2026-11-30 08:00 CET") {
		t.Errorf("frozen: %+v", d)
	}
	if _, frozen := cfg.FreezeAt(saturday.Add(3 * 24 * time.Hour)); frozen {
		t.Error("frozen on a Tuesday")
	}
}

func TestDecideSyncMerge(t *testing.T) {
	on := Default()
	on.Sync.AutoMerge = true
	ok := SyncMergeFacts{Number: 14, Target: "develop", OwnHead: true, MergeableState: "clean",
		Checks: []CheckState{{Name: "ci/test", State: "success", Kind: "check run"}, {Name: "lint", State: "skipped", Kind: "check run"}}}
	with := func(change func(*SyncMergeFacts)) SyncMergeFacts {
		f := ok
		f.Checks = append([]CheckState(nil), ok.Checks...)
		change(&f)
		return f
	}
	for _, tt := range []struct {
		name string
		cfg  Config
		f    SyncMergeFacts
		want SyncMerge
		why  string
	}{
		{"its own, clean, checks passed: merge", on, ok, SyncMergeNow, ""},
		{"auto_merge off (the default)", Default(), ok, SyncMergeNo, "sync.auto_merge is off"},
		{"a conflict needs a person", on, with(func(f *SyncMergeFacts) { f.Conflict = true }), SyncMergeNo, "conflicts"},
		{"a draft needs a person", on, with(func(f *SyncMergeFacts) { f.Draft = true }), SyncMergeNo, "conflicts"},
		{"someone committed to it", on, with(func(f *SyncMergeFacts) { f.OwnHead = false }), SyncMergeNo, "someone committed"},
		{"GitHub still computing", on, with(func(f *SyncMergeFacts) { f.MergeableState = "unknown" }), SyncMergeWait, "not call it mergeable yet"},
		{"required checks pending (blocked)", on, with(func(f *SyncMergeFacts) { f.MergeableState = "blocked" }), SyncMergeWait, "blocked"},
		{"GitHub says dirty", on, with(func(f *SyncMergeFacts) { f.MergeableState = "dirty" }), SyncMergeNo, "dirty"},
		{"a non-required check failing (unstable)", on, with(func(f *SyncMergeFacts) { f.MergeableState = "unstable" }), SyncMergeNo, "unstable"},
		{"a check still running", on, with(func(f *SyncMergeFacts) { f.Checks[0].State = "pending" }), SyncMergeWait, `"ci/test" is still running`},
		{"a check failed", on, with(func(f *SyncMergeFacts) { f.Checks[0].State = "failure" }), SyncMergeNo, `"ci/test" is failure`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, why := tt.cfg.DecideSyncMerge(tt.f)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("= %v %q, want %v %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestReminderDay(t *testing.T) {
	cfg := Default()
	opened := time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name  string
		after Duration
		now   time.Time
		want  string
	}{
		{"younger than remind_after", Duration(24 * time.Hour), opened.Add(23 * time.Hour), ""},
		{"due", Duration(24 * time.Hour), opened.Add(25 * time.Hour), "2026-11-24"},
		{"the next day names the next day", Duration(24 * time.Hour), opened.Add(49 * time.Hour), "2026-11-25"},
		{"off", 0, opened.Add(100 * time.Hour), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			c.Sync.RemindAfter = tt.after
			if got := c.ReminderDay(opened, tt.now); got != tt.want {
				t.Errorf("ReminderDay = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSyncReminder(t *testing.T) {
	cfg := Default()
	rel := cfg.SyncReminder("release/1.5", "v1.4.3", 12, 50*time.Hour, true, []string{"@dana"})
	for _, w := range []string{"open for 2 days", "brings v1.4.3 (hotfix #12) into `release/1.5`", "blocks the release of `release/1.5`",
		"`hotfix-bot/release` fails", "rejects its deployments to `production`", "@dana: resolve the conflict", "One reminder a day"} {
		if !strings.Contains(rel, w) {
			t.Errorf("reminder lacks %q:\n%s", w, rel)
		}
	}
	dev := cfg.SyncReminder("develop", "v1.4.3", 12, 26*time.Hour, false, nil)
	for _, w := range []string{"open for 26 hours", "blocks the next release", "cut from `develop`", "**Next:** review it and merge it with a merge commit"} {
		if !strings.Contains(dev, w) {
			t.Errorf("reminder lacks %q:\n%s", w, dev)
		}
	}
}

func TestRemindAfterValidation(t *testing.T) {
	for _, tt := range []struct {
		text string
		bad  bool
	}{
		{"sync:\n  remind_after: 0s\n", false},
		{"sync:\n  remind_after: 2h\n", false},
		{"sync:\n  remind_after: 30m\n", true},
		{"sync:\n  remind_after: 1000h\n", true},
		{"sync:\n  auto_merge: yes please\n", true},
	} {
		_, err := Parse([]byte(tt.text))
		if (err != nil) != tt.bad {
			t.Errorf("%q: err = %v, want bad=%v", tt.text, err, tt.bad)
		}
		if err != nil && !strings.Contains(err.Error(), "sync.") {
			t.Errorf("%q: error does not name the key: %v", tt.text, err)
		}
	}
}
