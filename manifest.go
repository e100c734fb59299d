// Package hotfixbot carries files of the repository's root into the
// binary: the GitHub App manifest (app.yml), which `hotfix-bot register`
// posts to GitHub.
package hotfixbot

import _ "embed"

// AppManifest is app.yml: the app's name, description, permissions and
// events (app.Permissions and app.Events say the same; a test keeps them
// equal).
//
//go:embed app.yml
var AppManifest []byte
