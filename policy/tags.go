package policy

import (
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// IsHotfixBranch reports whether a branch name (without refs/heads/) is a
// hotfix branch.
func (c Config) IsHotfixBranch(branch string) bool {
	return matchGlob(c.Branches.Hotfix, branch)
}

// IsReleaseBranch reports whether a branch name is a release branch.
func (c Config) IsReleaseBranch(branch string) bool {
	return matchGlob(c.Branches.Release, branch)
}

// IsSchemaPath reports whether a changed file makes a hotfix a schema change.
func (c Config) IsSchemaPath(path string) bool {
	for _, p := range c.Schema.Paths {
		if matchGlob(p, path) {
			return true
		}
	}
	return false
}

// IsReleaseTag reports whether a tag name matches production.tag_pattern.
func (c Config) IsReleaseTag(tag string) bool {
	return tag != c.Production.MovingTag && matchGlob(c.Production.TagPattern, tag)
}

// GlobPrefix is the literal start of a glob, before its first wildcard. It
// lets a caller ask GitHub only for refs that can match (matching-refs).
func GlobPrefix(glob string) string {
	if i := strings.IndexAny(glob, "*?[{\\"); i >= 0 {
		return glob[:i]
	}
	return glob
}

func renderTag(template string, major, minor, patch uint64) string {
	r := strings.NewReplacer(
		"{major}", strconv.FormatUint(major, 10),
		"{minor}", strconv.FormatUint(minor, 10),
		"{patch}", strconv.FormatUint(patch, 10),
	)
	return r.Replace(template)
}

// TagVersion reads the semantic version a release tag names. Tags rendered
// by tag_template are read through the template; other tags matching
// tag_pattern are read as semver after the template's literal prefix
// ("v1.5.0-rc.1"). ok is false for tags that carry no version.
func (c Config) TagVersion(tag string) (v *semver.Version, ok bool) {
	if !c.IsReleaseTag(tag) {
		return nil, false
	}
	re := templateRegexp(c.Production.TagTemplate)
	if m := re.FindStringSubmatch(tag); m != nil && re.SubexpIndex("major") > 0 && re.SubexpIndex("minor") > 0 && re.SubexpIndex("patch") > 0 {
		v, err := semver.NewVersion(m[re.SubexpIndex("major")] + "." + m[re.SubexpIndex("minor")] + "." + m[re.SubexpIndex("patch")])
		if err == nil {
			return v, true
		}
	}
	prefix, _, _ := strings.Cut(c.Production.TagTemplate, "{")
	v, err := semver.NewVersion(strings.TrimPrefix(tag, prefix))
	if err != nil {
		return nil, false
	}
	return v, true
}

// NextTag is the tag a successful hotfix deployment gets: a patch bump of
// the production tag, rendered with tag_template. A pre-release is never
// bumped (v1.5.0-rc.1 is not released as v1.5.1).
func (c Config) NextTag(productionTag string) (string, bool) {
	v, ok := c.TagVersion(productionTag)
	if !ok || v.Prerelease() != "" {
		return "", false
	}
	return renderTag(c.Production.TagTemplate, v.Major(), v.Minor(), v.Patch()+1), true
}

// NewestTag returns the release tag with the highest version among names,
// or "" if none is a release tag. Pre-releases (v1.5.0-rc.1) never count:
// they never define production or the next tag. Equal versions keep the
// first name.
func (c Config) NewestTag(names []string) string {
	if tags := c.ReleaseTagsNewestFirst(names); len(tags) > 0 {
		return tags[0]
	}
	return ""
}

// ReleaseTagsNewestFirst lists the release tags among names, highest
// version first, pre-releases left out.
func (c Config) ReleaseTagsNewestFirst(names []string) []string {
	type tv struct {
		name string
		v    *semver.Version
	}
	var tags []tv
	for _, n := range names {
		if v, ok := c.TagVersion(n); ok && v.Prerelease() == "" {
			tags = append(tags, tv{n, v})
		}
	}
	sort.SliceStable(tags, func(i, j int) bool { return tags[i].v.GreaterThan(tags[j].v) })
	out := make([]string, len(tags))
	for i, t := range tags {
		out[i] = t.name
	}
	return out
}

// templateRegexp turns a validated tag template into a regexp with the
// named groups major, minor and patch.
func templateRegexp(template string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	rest := template
	for {
		i := strings.Index(rest, "{")
		j := strings.Index(rest, "}")
		if i < 0 || j < i {
			b.WriteString(regexp.QuoteMeta(rest))
			break
		}
		b.WriteString(regexp.QuoteMeta(rest[:i]))
		b.WriteString(`(?P<` + rest[i+1:j] + `>\d+)`)
		rest = rest[j+1:]
	}
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return regexp.MustCompile(`^\b$`) // matches nothing; the template is invalid
	}
	return re
}
