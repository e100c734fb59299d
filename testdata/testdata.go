// Package testdata holds fixtures shared by tests, the GitHub simulator and
// `hotfix-bot demo`: real webhook payloads (webhooks/, from
// @octokit/webhooks-examples, see tools/webhook-examples.py) and the subset
// of GitHub's OpenAPI description the bot calls (openapi/, see
// tools/openapi-subset). Embedding them lets a built binary run the demo
// without the source tree.
package testdata

import "embed"

// Webhooks holds webhooks/<event>[.<action>].json.
//
//go:embed webhooks/*.json
var Webhooks embed.FS

// OpenAPI holds openapi/github-subset.json (github.com) and
// openapi/ghes-3.19-subset.json (GitHub Enterprise Server 3.19), and
// openapi/webhooks-subset.json.gz: the payload schemas of the webhook
// events the simulator sends.
//
//go:embed openapi/github-subset.json openapi/ghes-3.19-subset.json openapi/webhooks-subset.json.gz
var OpenAPI embed.FS
