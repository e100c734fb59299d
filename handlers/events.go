package handlers

// What the events the bot decodes by hand share (issue_comment,
// deployment_status and check_run: go-github's types lack fields the bot
// needs, or cannot read some of GitHub's recorded payloads). push and
// pull_request decode into go-github's own types.

// envelope is what every event carries around its subject: the action,
// the repository, the installation it came through and who caused it.
// Embedded, its fields read as the event's own (ev.Repository.Name).
type envelope struct {
	Action       string       `json:"action"`
	Repository   eventRepo    `json:"repository"`
	Installation installation `json:"installation"`
	Sender       ghUser       `json:"sender"`
}

// eventRepo is the repository as events carry it.
type eventRepo struct {
	Name          string `json:"name"`
	FullName      string `json:"full_name"`
	DefaultBranch string `json:"default_branch"`
	Owner         ghUser `json:"owner"`
}

// installation is the app installation an event came through.
type installation struct {
	ID int64 `json:"id"`
}

// ghUser is a user as the events carry it.
type ghUser struct {
	ID    int64  `json:"id"`
	Login string `json:"login"`
	Type  string `json:"type"`
}

// appRef is an app as the events name it (performed_via_github_app, a
// check run's app).
type appRef struct {
	ID int64 `json:"id"`
}
