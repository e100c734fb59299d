package policy

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Permission is a repository role, ordered from read to admin.
type Permission string

// The repository roles GitHub grants, weakest first.
const (
	PermissionNone     Permission = "none"
	PermissionRead     Permission = "read"
	PermissionTriage   Permission = "triage"
	PermissionWrite    Permission = "write"
	PermissionMaintain Permission = "maintain"
	PermissionAdmin    Permission = "admin"
)

var permissionRank = map[Permission]int{
	PermissionNone:     0,
	PermissionRead:     1,
	PermissionTriage:   2,
	PermissionWrite:    3,
	PermissionMaintain: 4,
	PermissionAdmin:    5,
}

// Valid reports whether p is a role a policy may require.
func (p Permission) Valid() bool {
	_, ok := permissionRank[p]
	return ok && p != PermissionNone
}

// AtLeast reports whether p grants everything min grants.
func (p Permission) AtLeast(min Permission) bool {
	return permissionRank[p] >= permissionRank[min] && permissionRank[p] > 0
}

// PermissionFromGitHub maps the answer of
// GET /repos/{owner}/{repo}/collaborators/{username}/permission to a role.
// role_name is authoritative; a custom role (a name GitHub's base roles do
// not have) falls back to the legacy permission field, which only knows
// admin, write, read and none.
func PermissionFromGitHub(roleName, permission string) Permission {
	if p := Permission(roleName); p.Valid() {
		return p
	}
	if p := Permission(permission); p.Valid() || p == PermissionNone {
		return p
	}
	return PermissionNone
}

// Duration is a time.Duration written as Go duration text ("60m", "1h30m").
type Duration time.Duration

// UnmarshalYAML reads duration text and reports bad text with its line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return typeError(n, "must be a duration such as 60m or 1h30m")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return typeError(n, fmt.Sprintf("%q is not a duration; write it like 60m or 1h30m", s))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as Go duration text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// String renders the duration as Go duration text.
func (d Duration) String() string { return time.Duration(d).String() }

// RequiredChecks is `all` or a list of check names that must pass before
// `/promote` deploys. The bot's own checks always count.
type RequiredChecks struct {
	All   bool
	Names []string
}

// UnmarshalYAML accepts the word `all` or a sequence of names.
func (r *RequiredChecks) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value != "all" {
			return typeError(n, fmt.Sprintf("must be `all` or a list of check names, not %q", n.Value))
		}
		*r = RequiredChecks{All: true}
		return nil
	case yaml.SequenceNode:
		var names []string
		if err := n.Decode(&names); err != nil {
			return typeError(n, "must be `all` or a list of check names")
		}
		*r = RequiredChecks{Names: names}
		return nil
	}
	return typeError(n, "must be `all` or a list of check names")
}

// MarshalYAML writes `all` or the list of names.
func (r RequiredChecks) MarshalYAML() (any, error) {
	if r.All {
		return "all", nil
	}
	return r.Names, nil
}

// String renders the setting as it would be written in the file.
func (r RequiredChecks) String() string {
	if r.All {
		return "all"
	}
	return "[" + strings.Join(r.Names, ", ") + "]"
}

// typeError reports a bad value the way yaml.v3 collects type errors, so it
// surfaces with its line instead of aborting the decode.
func typeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}
