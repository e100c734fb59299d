package ghsim

import (
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
)

// RepoSnapshot is a repository frozen in memory, to be copied into other
// simulators: its git files (its objects in one pack, its refs), GitHub's records
// about it, and git's answers about its objects. Building a scenario's
// history once and copying it into every test's simulator costs a few
// file writes instead of a hundred git runs.
//
// It holds what a history built with the people's methods has: commits,
// branches and tags, roles, labels, commit statuses, deployments and
// their statuses, the activity log. A repository with issues, pull
// requests, comments or check runs, or whose records name an app, is
// refused: an app does not exist in another simulator.
type RepoSnapshot struct {
	files  map[string][]byte // relative path in the bare repository → content
	repo   *Repo             // the records, detached (no simulator, no git)
	people []User            // everyone the records name, oldest first
	cache  *gitCache
	now    time.Time // the simulated time it was taken at
}

// ErrNotSnapshottable is returned for a repository Snapshot cannot copy.
var ErrNotSnapshottable = errors.New("ghsim: only a repository's history (git, roles, labels, statuses, deployments, activity) can be copied")

// Snapshot freezes the repository. Its git objects are repacked into one
// pack first (git's own housekeeping: the history is unchanged).
func (r *Repo) Snapshot() (*RepoSnapshot, error) {
	s := r.sim
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.forkOf != nil || len(r.issues) > 0 || len(r.comments) > 0 || len(r.checkRuns) > 0 {
		return nil, ErrNotSnapshottable
	}
	for _, d := range r.deployments {
		if d.App != nil {
			return nil, ErrNotSnapshottable
		}
	}
	g := r.git
	if _, err := g.run(nil, nil, "repack", "-a", "-d", "-q"); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	err := filepath.WalkDir(g.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(g.dir, path)
		if d.IsDir() {
			if rel == "hooks" { // git's samples
				return filepath.SkipDir
			}
			return nil
		}
		b, err := os.ReadFile(path)
		files[rel] = b
		return err
	})
	if err != nil {
		return nil, err
	}
	// The refs as they are now, so the first read in a copy costs nothing.
	if _, err := g.allRefs(); err != nil {
		return nil, err
	}
	snap := &RepoSnapshot{files: files, cache: g.cache.clone(), now: s.clock.Now()}
	byLogin := map[string]*User{}
	for _, u := range r.people() {
		byLogin[u.Login] = u
	}
	for login := range r.roles {
		if u, ok := s.users[login]; ok {
			byLogin[login] = u
		}
	}
	for _, u := range byLogin {
		snap.people = append(snap.people, *u)
	}
	sort.Slice(snap.people, func(i, j int) bool { return snap.people[i].ID < snap.people[j].ID })
	copies := map[*User]*User{}
	for i := range snap.people {
		copies[byLogin[snap.people[i].Login]] = &snap.people[i]
	}
	snap.repo = r.copyRecords(func(u *User) *User { return copies[u] }, func(old int64, to *int64) { *to = old })
	return snap, nil
}

// people are the users r's records name.
func (r *Repo) people() []*User {
	out := []*User{r.Owner}
	for _, d := range r.deployments {
		out = append(out, d.Creator)
		for _, st := range d.Statuses {
			out = append(out, st.Creator)
		}
	}
	for _, st := range r.statuses {
		out = append(out, st.Creator)
	}
	for _, a := range r.activities {
		out = append(out, a.Actor)
	}
	return slices.DeleteFunc(out, func(u *User) bool { return u == nil })
}

// copyRecords deep-copies the records a snapshot holds, mapping people
// with user and giving each record its ID with id (old ID, where to put
// the new one).
func (r *Repo) copyRecords(user func(*User) *User, id func(old int64, to *int64)) *Repo {
	cp := &Repo{
		Owner: user(r.Owner), Name: r.Name, DefaultBranch: r.DefaultBranch,
		Private: r.Private, CreatedAt: r.CreatedAt,
		roles: maps.Clone(r.roles), customRoles: maps.Clone(r.customRoles), comments: map[int64]*Comment{},
		activityLag: r.activityLag, activityOff: r.activityOff, mergeableDelay: r.mergeableDelay,
	}
	id(r.ID, &cp.ID)
	for _, l := range r.labels {
		l := *l
		id(l.ID, &l.ID)
		cp.labels = append(cp.labels, &l)
	}
	for _, st := range r.statuses {
		st := *st
		st.Creator = user(st.Creator)
		id(st.ID, &st.ID)
		cp.statuses = append(cp.statuses, &st)
	}
	for _, d := range r.deployments {
		statuses := d.Statuses
		d := *d
		d.Creator = user(d.Creator)
		d.Payload = slices.Clone(d.Payload)
		d.Statuses = nil
		id(d.ID, &d.ID)
		for _, st := range statuses {
			st := *st
			st.Creator = user(st.Creator)
			id(st.ID, &st.ID)
			d.Statuses = append(d.Statuses, &st)
		}
		cp.deployments = append(cp.deployments, &d)
	}
	for _, a := range r.activities {
		a := *a
		a.Actor = user(a.Actor)
		id(a.ID, &a.ID)
		cp.activities = append(cp.activities, &a)
	}
	return cp
}

// RestoreRepo copies a snapshot into this simulator, under the owner and
// name it was taken with (which must be free). People are matched by
// login (created when missing), every record gets a new ID in the order
// the originals were made, and the clock moves on to the snapshot's time
// if it is behind. No webhook is sent: this is history.
func (s *Sim) RestoreRepo(snap *RepoSnapshot) (*Repo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	src := snap.repo
	key := src.Owner.Login + "/" + src.Name
	if _, ok := s.repos[key]; ok {
		return nil, s.errorf("repository %s exists", key)
	}
	dir := filepath.Join(s.dir, src.Owner.Login, src.Name+".git")
	for rel, b := range snap.files {
		path := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
	}
	// Directories git expects even when empty.
	for _, sub := range []string{"refs/heads", "refs/tags", "objects/info", "objects/pack"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return nil, err
		}
	}
	users := map[*User]*User{}
	for i := range snap.people {
		u := &snap.people[i]
		users[u] = s.userLocked(u.Login, u.Type)
	}
	var slots []idSlot
	r := src.copyRecords(func(u *User) *User { return users[u] }, func(old int64, to *int64) {
		slots = append(slots, idSlot{old, to})
	})
	sort.SliceStable(slots, func(i, j int) bool { return slots[i].old < slots[j].old })
	for _, sl := range slots {
		*sl.to = s.newID()
	}
	r.sim = s
	r.git = &gitRepo{dir: dir, cache: snap.cache.clone()}
	if now := s.clock.Now(); now.Before(snap.now) {
		s.clock.Advance(snap.now.Sub(now))
	}
	s.repos[key] = r
	return r, nil
}

// idSlot is a record's old ID and where its new one goes.
type idSlot struct {
	old int64
	to  *int64
}
