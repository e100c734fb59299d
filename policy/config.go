// Package policy owns hotfix-bot's domain rules: the repository policy file
// (.github/hotfix-bot.yml) with its defaults and validation, gate decisions,
// command parsing and tag versioning.
//
// It is pure: plain structs in, decisions out. It must not import net/http,
// go-github's client, or anything else that performs I/O, so every rule can
// be read and tested without GitHub.
package policy

import (
	"time"
)

// ConfigPath is where the bot reads a repository's policy, on its
// production branch (the base of every hotfix pull request, so a pull
// request cannot weaken its own rules, and a less protected default branch
// cannot either).
const ConfigPath = ".github/hotfix-bot.yml"

// Config is the repository policy: DESIGN.md §3 "Per-repository
// configuration". Every field has a default (see Default), so an empty file
// is a valid policy.
type Config struct {
	Version    int        `yaml:"version"`
	Branches   Branches   `yaml:"branches"`
	Production Production `yaml:"production"`
	Schema     Schema     `yaml:"schema"`
	Approval   Approval   `yaml:"approval"`
	Commands   Commands   `yaml:"commands"`
	Promote    Promote    `yaml:"promote"`
	Rollback   Rollback   `yaml:"rollback"`
	Sync       Sync       `yaml:"sync"`
	// Freeze lists the windows when production is frozen (freeze.go).
	Freeze []FreezeWindow `yaml:"freeze"`
}

// Branches names the git-flow branches. Hotfix and Release are doublestar
// globs; Production and Develop are branch names.
type Branches struct {
	Production string `yaml:"production"`
	Develop    string `yaml:"develop"`
	Hotfix     string `yaml:"hotfix"`
	Release    string `yaml:"release"`
}

// Production describes where production lives and how it is tagged.
type Production struct {
	Environment string `yaml:"environment"`
	// TagPattern is a glob selecting the tags that name production releases.
	TagPattern string `yaml:"tag_pattern"`
	// TagTemplate renders the next tag from {major}, {minor} and {patch}.
	TagTemplate string `yaml:"tag_template"`
	// MovingTag, when set, is a tag moved to every successful deployment.
	MovingTag string `yaml:"moving_tag"`
}

// Schema lists the paths whose change makes a hotfix a schema change.
type Schema struct {
	Paths []string `yaml:"paths"`
}

// Approval says which labels approve a hotfix and who may add them.
// Required false ships without any approval (and the checks say so).
type Approval struct {
	Required     bool       `yaml:"required"`
	Labels       []string   `yaml:"labels"`
	SchemaLabels []string   `yaml:"schema_labels"`
	Permission   Permission `yaml:"permission"`
	AllowAuthor  bool       `yaml:"allow_author"`
	ResetOnPush  bool       `yaml:"reset_on_push"`
}

// Commands says who may drive the bot with comments.
type Commands struct {
	Permission Permission `yaml:"permission"`
	// ForcePermission is the least permission for `/rollback --force`
	// (crossing schema changes); the emergency actors may too.
	ForcePermission Permission `yaml:"force_permission"`
	Emergency       Emergency  `yaml:"emergency"`
	// MaxAge is how old a command that changes something may be when the
	// bot gets to it (counted from its comment's created_at); an older
	// one is answered, never run.
	MaxAge Duration `yaml:"max_age"`
}

// Emergency lists the actors allowed to run `/promote --emergency`.
type Emergency struct {
	Users []string `yaml:"users"`
	Teams []string `yaml:"teams"`
}

// Promote configures `/promote`.
type Promote struct {
	RequiredChecks RequiredChecks `yaml:"required_checks"`
	// ChecksGrace is how long after the head's push "no check has
	// reported yet" refuses a promotion (with required_checks `all`).
	ChecksGrace  Duration `yaml:"checks_grace"`
	MergeMethod  string   `yaml:"merge_method"`
	LockTimeout  Duration `yaml:"lock_timeout"`
	Environments []string `yaml:"environments"`
}

// Rollback configures what happens when a deployment fails.
type Rollback struct {
	OnFailure     bool `yaml:"on_failure"`
	IncidentIssue bool `yaml:"incident_issue"`
}

// Sync configures the sync-back pull requests.
type Sync struct {
	Enabled       bool     `yaml:"enabled"`
	Labels        []string `yaml:"labels"`
	ConflictLabel string   `yaml:"conflict_label"`
	// Targets, when not empty, are the release branches synced into
	// (besides develop), instead of the open ones the bot finds.
	Targets []string `yaml:"targets"`
	// AutoMerge: the bot merges a sync-back pull request itself (with a
	// merge commit) once it is still exactly the bot's own sync commit,
	// conflict-free, and GitHub says its required checks pass.
	AutoMerge bool `yaml:"auto_merge"`
	// RemindAfter is how long a sync-back pull request may stay open
	// before it gets a reminder, one a day; 0 turns reminders off.
	RemindAfter Duration `yaml:"remind_after"`
}

// Labels the bot itself puts on pull requests. They can never be approval
// labels: the bot would be approving its own hotfixes.
const (
	LabelHotfix       = "hotfix"
	LabelSchemaChange = "schema-change"
)

// Default returns the policy used for every key a repository does not set.
// It is the one place defaults are filled in.
func Default() Config {
	return Config{
		Version: 1,
		Branches: Branches{
			Production: "main",
			Develop:    "develop",
			Hotfix:     "hotfix/**",
			Release:    "release/**",
		},
		Production: Production{
			Environment: "production",
			TagPattern:  "v*",
			TagTemplate: "v{major}.{minor}.{patch}",
		},
		Schema: Schema{
			Paths: []string{
				"**/migrations/**", "**/migrate/**", "**/*.sql", "**/schema.rb",
				"**/structure.sql", "**/schema.prisma", "**/*.ddl",
			},
		},
		Approval: Approval{
			Required:     true,
			Labels:       []string{"hotfix-approved"},
			SchemaLabels: []string{"schema-approved"},
			Permission:   PermissionWrite,
			ResetOnPush:  true,
		},
		Commands: Commands{
			Permission:      PermissionWrite,
			ForcePermission: PermissionMaintain,
			Emergency:       Emergency{Users: []string{}, Teams: []string{}},
			MaxAge:          Duration(10 * time.Minute),
		},
		Promote: Promote{
			RequiredChecks: RequiredChecks{All: true},
			MergeMethod:    "merge",
			ChecksGrace:    Duration(2 * time.Minute),
			LockTimeout:    Duration(60 * time.Minute),
			Environments:   []string{"production"},
		},
		Rollback: Rollback{OnFailure: true, IncidentIssue: true},
		Sync: Sync{
			Enabled:       true,
			Labels:        []string{"sync-back"},
			ConflictLabel: "sync-conflict",
			RemindAfter:   Duration(24 * time.Hour),
		},
		Freeze: []FreezeWindow{},
	}
}
