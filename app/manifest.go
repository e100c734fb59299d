package app

// Permissions and Events are what the app asks GitHub for: app.yml says the
// same (TestAppManifest keeps them equal), and the end-to-end tests register
// the simulated app with exactly these, so a feature needing more fails there.
var (
	Permissions = map[string]string{
		"checks":        "write",
		"contents":      "write",
		"deployments":   "write",
		"issues":        "write",
		"pull_requests": "write",
		"metadata":      "read",
		"members":       "read",
		"statuses":      "read",
		"actions":       "read",
	}
	Events = []string{"push", "pull_request", "issue_comment", "deployment_status", "check_run", "check_suite", "deployment_protection_rule"}
)
