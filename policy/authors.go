package policy

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Identity is a git identity (a commit's author or committer, or a
// Co-authored-by trailer) and the GitHub account it maps to.
type Identity struct {
	Name, Email string
	// Login is the account GitHub maps the identity to, "" when GitHub
	// maps it to none (an email no account has verified).
	Login string
}

func (id Identity) String() string { return fmt.Sprintf("%s <%s>", id.Name, id.Email) }

// ChangeCommit is one commit between production and the head: who wrote
// and committed it (with the accounts GitHub's compare maps them to), and
// its message (for Co-authored-by trailers).
type ChangeCommit struct {
	SHA               string
	Author, Committer Identity
	Message           string
}

var (
	coAuthorRe = regexp.MustCompile(`(?im)^[ \t]*co-authored-by:[ \t]*(.*?)[ \t]*<([^>\n]*)>[ \t]*$`)
	noreplyRe  = regexp.MustCompile(`(?i)^(?:\d+\+)?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)@users\.noreply\.github\.com$`)
)

// CoAuthors reads a commit message's Co-authored-by trailers.
func CoAuthors(message string) []Identity {
	var out []Identity
	for _, m := range coAuthorRe.FindAllStringSubmatch(message, -1) {
		out = append(out, Identity{Name: strings.TrimSpace(m[1]), Email: strings.TrimSpace(m[2])})
	}
	return out
}

// NoreplyLogin is the login of a GitHub noreply address
// (`ID+login@users.noreply.github.com` or `login@users.noreply.github.com`),
// "" for any other address.
func NoreplyLogin(email string) string {
	if m := noreplyRe.FindStringSubmatch(strings.TrimSpace(email)); m != nil {
		return m[1]
	}
	return ""
}

// authorRoles is how one person's code came into the change.
type authorRoles struct {
	login                                   string
	opened, created                         bool
	pushed, authored, committed, coauthored []string
}

func (r *authorRoles) describe() string {
	var parts []string
	list := func(what string, shas []string) {
		if len(shas) > 0 {
			parts = append(parts, what+" "+shaList(shas))
		}
	}
	if r.opened {
		parts = append(parts, "opened the pull request")
	}
	if r.created {
		parts = append(parts, "created the branch")
	}
	list("pushed", r.pushed)
	if len(r.authored) > 0 && shaList(r.authored) == shaList(r.committed) {
		list("authored and committed", r.authored)
	} else {
		list("authored", r.authored)
		list("committed", r.committed)
	}
	list("co-authored", r.coauthored)
	if len(parts) == 0 {
		return "moved the branch"
	}
	return strings.Join(parts, ", ")
}

// shaList names up to three commits and counts the rest.
func shaList(shas []string) string {
	seen := map[string]bool{}
	var uniq []string
	for _, s := range shas {
		if !seen[s] {
			seen[s] = true
			uniq = append(uniq, "`"+Short(s)+"`")
		}
	}
	if len(uniq) > 3 {
		return strings.Join(uniq[:3], ", ") + fmt.Sprintf(" and %d more", len(uniq)-3)
	}
	return strings.Join(uniq, ", ")
}

// AuthorSet is everyone whose code is in a change: the pull request's
// opener (unless a bot opened it), everyone who pushed to the branch in
// its current life, and the authors, committers and co-authors of the
// commits between production and the head. None of them may approve it.
type AuthorSet struct {
	roles map[string]*authorRoles
	// Unmapped are identities in the change that GitHub maps to no
	// account: any approver could be one of them.
	Unmapped []string
	// Unknown says why the set could not be established; then no
	// approval can be shown to come from someone else.
	Unknown string
}

// Authors builds the author set of a pull request's change.
func (f ApprovalFacts) Authors() AuthorSet {
	a := AuthorSet{roles: map[string]*authorRoles{}}
	role := func(login string) *authorRoles {
		key := strings.ToLower(login)
		r, ok := a.roles[key]
		if !ok {
			r = &authorRoles{login: login}
			a.roles[key] = r
		}
		return r
	}
	if f.Opener != "" && !f.OpenerBot {
		role(f.Opener).opened = true
	}
	var problems []string
	pushers, why := f.History.Pushers(f.Head)
	if why != "" {
		problems = append(problems, why)
	}
	for _, p := range pushers {
		r := role(p.Login)
		r.pushed = append(r.pushed, p.Pushed...)
		r.created = r.created || p.Created
	}
	if f.CommitsUnknown != "" {
		problems = append(problems, "cannot list the commits between production and the head: "+f.CommitsUnknown)
	}
	// Emails GitHub mapped to accounts anywhere in the change identify
	// co-authors who are not given by a noreply address.
	mapped := map[string]string{}
	for _, c := range f.Commits {
		for _, id := range []Identity{c.Author, c.Committer} {
			if id.Login != "" && id.Email != "" {
				mapped[strings.ToLower(id.Email)] = id.Login
			}
		}
	}
	unmapped := map[string]bool{}
	note := func(id Identity, what, sha string) {
		desc := fmt.Sprintf("`%s` (%s `%s`)", id.String(), what, Short(sha))
		if !unmapped[desc] {
			unmapped[desc] = true
			a.Unmapped = append(a.Unmapped, desc)
		}
	}
	for _, c := range f.Commits {
		if c.Author.Login != "" {
			r := role(c.Author.Login)
			r.authored = append(r.authored, c.SHA)
		} else {
			note(c.Author, "author of", c.SHA)
		}
		if c.Committer.Login != "" {
			r := role(c.Committer.Login)
			r.committed = append(r.committed, c.SHA)
		} else {
			note(c.Committer, "committer of", c.SHA)
		}
		for _, co := range CoAuthors(c.Message) {
			login := NoreplyLogin(co.Email)
			if login == "" {
				login = mapped[strings.ToLower(co.Email)]
			}
			if login == "" {
				note(co, "co-author of", c.SHA)
				continue
			}
			r := role(login)
			r.coauthored = append(r.coauthored, c.SHA)
		}
	}
	a.Unknown = strings.Join(problems, "; ")
	return a
}

// Is reports whether login is an author, and how.
func (a AuthorSet) Is(login string) (bool, string) {
	r, ok := a.roles[strings.ToLower(login)]
	if !ok {
		return false, ""
	}
	return true, r.describe()
}

// Describe lists the authors, each with what makes them one.
func (a AuthorSet) Describe() string {
	keys := make([]string, 0, len(a.roles))
	for k := range a.roles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		r := a.roles[k]
		parts = append(parts, fmt.Sprintf("@%s (%s)", r.login, r.describe()))
	}
	return strings.Join(parts, "; ")
}

// UnmappedList names the unmapped identities (at most five).
func (a AuthorSet) UnmappedList() string {
	if len(a.Unmapped) > 5 {
		return strings.Join(a.Unmapped[:5], ", ") + fmt.Sprintf(" and %d more", len(a.Unmapped)-5)
	}
	return strings.Join(a.Unmapped, ", ")
}
