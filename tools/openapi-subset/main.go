// Command openapi-subset writes the part of GitHub's OpenAPI description
// that hotfix-bot calls, so contract tests run from a fresh clone without
// ../shared. Source: @octokit/openapi (MIT), generated/api.github.com.json.
//
//	go run ./tools/openapi-subset -in ../shared/github/api.github.com.json \
//	    -out internal/fixtures/openapi/github-subset.json
//
// It keeps each listed operation's parameters and request body with every
// component they reference, transitively; responses are replaced by a
// stub (the simulator validates requests, not responses), which keeps the
// file small.
//
// With -webhooks it writes instead the payload schemas of the webhook
// events the simulator sends, from GitHub's OpenAPI description of its
// webhooks (@octokit/openapi-webhooks, MIT, generated/api.github.com.json),
// so the simulator can check every delivery it makes against them:
//
//	go run ./tools/openapi-subset -webhooks -in ../shared/github/webhooks.api.github.com.json \
//	    -out internal/fixtures/openapi/webhooks-subset.json.gz
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Operations are the operation ids hotfix-bot and its simulator scenarios
// use. Add one here, re-run, and commit the regenerated subset.
var Operations = []string{
	"apps/get-authenticated",
	"apps/create-installation-access-token",
	"repos/get",
	"repos/get-content",
	"repos/list-branches",
	"repos/get-branch",
	"repos/list-tags",
	"repos/get-commit",
	"repos/list-commits",
	"repos/compare-commits-with-basehead",
	"repos/merge",
	"repos/list-activities",
	"repos/get-collaborator-permission-level",
	"repos/create-commit-status",
	"repos/list-commit-statuses-for-ref",
	"repos/get-combined-status-for-ref",
	"repos/list-deployments",
	"repos/get-deployment",
	"repos/create-deployment",
	"repos/list-deployment-statuses",
	"repos/create-deployment-status",
	"actions/review-custom-gates-for-run",
	"git/get-ref",
	"git/list-matching-refs",
	"git/create-ref",
	"git/update-ref",
	"git/delete-ref",
	"git/create-tag",
	"git/get-tag",
	"pulls/list",
	"pulls/get",
	"pulls/create",
	"pulls/update",
	"pulls/list-files",
	"pulls/merge",
	"checks/create",
	"checks/update",
	"checks/get",
	"checks/list-for-ref",
	"checks/list-suites-for-ref",
	"checks/list-annotations",
	"issues/get",
	"issues/create",
	"issues/update",
	"issues/list-labels-for-repo",
	"issues/get-label",
	"issues/create-label",
	"issues/update-label",
	"issues/list-labels-on-issue",
	"issues/add-labels",
	"issues/remove-label",
	"issues/list-events",
	"issues/list-comments",
	"issues/get-comment",
	"issues/create-comment",
	"issues/update-comment",
	"issues/delete-comment",
	"issues/add-assignees",
	"reactions/create-for-issue-comment",
	"teams/get-membership-for-user-in-org",
	"git/create-commit",
	"git/get-commit",
	"issues/list-for-repo",
	"pulls/request-reviewers",
	"pulls/list-commits",
	"apps/list-webhook-deliveries",
	"apps/get-webhook-delivery",
	"apps/redeliver-webhook-delivery",
	"apps/create-from-manifest",
	"apps/get-repo-installation",
}

// WebhookEvents are the events the simulator sends (every action of each
// is kept).
var WebhookEvents = []string{"push", "pull_request", "issue_comment", "issues", "deployment", "deployment_status", "check_run", "check_suite", "deployment_protection_rule"}

func main() {
	in := flag.String("in", "", "GitHub's OpenAPI description (default ../shared/github/api.github.com.json, or webhooks.api.github.com.json with -webhooks)")
	out := flag.String("out", "", "where to write the subset (default internal/fixtures/openapi/github-subset.json, or webhooks-subset.json.gz with -webhooks)")
	webhooks := flag.Bool("webhooks", false, "write the webhook payload schemas instead of the REST operations")
	flag.Parse()
	run := run
	if *webhooks {
		run = runWebhooks
		if *in == "" {
			*in = "../shared/github/webhooks.api.github.com.json"
		}
		if *out == "" {
			*out = "internal/fixtures/openapi/webhooks-subset.json.gz"
		}
	}
	if *in == "" {
		*in = "../shared/github/api.github.com.json"
	}
	if *out == "" {
		*out = "internal/fixtures/openapi/github-subset.json"
	}
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi-subset:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	spec, err := readSpec(in)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, op := range Operations {
		want[op] = true
	}

	paths := map[string]any{}
	refs := map[string]bool{}
	found := map[string]bool{}
	for p, item := range spec["paths"].(map[string]any) {
		kept := map[string]any{}
		for method, v := range item.(map[string]any) {
			op, ok := v.(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			if !want[id] {
				continue
			}
			found[id] = true
			trimmed := map[string]any{
				"operationId": id,
				"summary":     op["summary"],
				"responses":   map[string]any{"default": map[string]any{"description": "omitted from the subset"}},
			}
			for _, k := range []string{"parameters", "requestBody"} {
				if op[k] != nil {
					trimmed[k] = op[k]
					collectRefs(op[k], refs)
				}
			}
			kept[method] = trimmed
		}
		if len(kept) > 0 {
			if params, ok := item.(map[string]any)["parameters"]; ok {
				kept["parameters"] = params
				collectRefs(params, refs)
			}
			paths[p] = kept
		}
	}
	var missing []string
	for _, op := range Operations {
		if !found[op] {
			missing = append(missing, op)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("operations not in %s: %s", in, strings.Join(missing, ", "))
	}

	outComponents, err := referenced(spec["components"].(map[string]any), refs)
	if err != nil {
		return err
	}

	subset := map[string]any{
		"openapi": spec["openapi"],
		"info": map[string]any{
			"title":       "GitHub REST API (subset used by hotfix-bot)",
			"version":     spec["info"].(map[string]any)["version"],
			"description": "Generated by tools/openapi-subset from @octokit/openapi generated/api.github.com.json (MIT). Do not edit by hand.",
		},
		"servers":    spec["servers"],
		"paths":      paths,
		"components": outComponents,
	}
	data, err := json.MarshalIndent(subset, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(data, '\n'), 0o644)
}

// runWebhooks writes {"webhooks": {"<event>.<action>": schema},
// "components": {...}}: each payload schema of WebhookEvents with every
// component it references, descriptions and examples dropped (they do not
// validate anything).
func runWebhooks(in, out string) error {
	spec, err := readSpec(in)
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, e := range WebhookEvents {
		want[strings.ReplaceAll(e, "_", "-")] = true
	}
	hooks, _ := spec["webhooks"].(map[string]any)
	kept := map[string]any{}
	refs := map[string]bool{}
	found := map[string]bool{}
	for _, v := range hooks {
		post, _ := v.(map[string]any)["post"].(map[string]any)
		id, _ := post["operationId"].(string) // "pull-request/opened", "push"
		event, action, _ := strings.Cut(id, "/")
		if !want[event] {
			continue
		}
		found[event] = true
		schema := dig(post, "requestBody", "content", "application/json", "schema")
		if schema == nil {
			return fmt.Errorf("webhook %s has no payload schema", id)
		}
		key := strings.ReplaceAll(event, "-", "_")
		if action != "" {
			key += "." + strings.ReplaceAll(action, "-", "_")
		}
		kept[key] = schema
		collectRefs(schema, refs)
	}
	for e := range want {
		if !found[e] {
			return fmt.Errorf("event %s not in %s", e, in)
		}
	}
	outComponents, err := referenced(spec["components"].(map[string]any), refs)
	if err != nil {
		return err
	}

	subset := map[string]any{
		"description": "Generated by tools/openapi-subset -webhooks from @octokit/openapi-webhooks generated/api.github.com.json (MIT), OpenAPI " +
			fmt.Sprint(spec["openapi"]) + ": the payload schemas (JSON Schema 2020-12) of the webhook events the simulator sends. Do not edit by hand.",
		"webhooks":   kept,
		"components": outComponents,
	}
	strip(subset)
	data, err := json.Marshal(subset)
	if err != nil {
		return err
	}
	// Gzipped: 850 kB of schemas are 30 kB so.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(data); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return os.WriteFile(out, gz.Bytes(), 0o644)
}

// readSpec reads one of GitHub's descriptions.
func readSpec(in string) (map[string]any, error) {
	b, err := os.ReadFile(in)
	if err != nil {
		return nil, err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", in, err)
	}
	return spec, nil
}

// dig follows keys through nested objects.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// strip drops the prose of schemas: string-valued "description" and
// "title", and "examples" lists (a property of those names is an object
// and stays).
func strip(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch x.(type) {
			case string:
				if k == "description" || k == "title" {
					delete(t, k)
					continue
				}
			case []any:
				if k == "examples" {
					delete(t, k)
					continue
				}
			}
			strip(x)
		}
	case []any:
		for _, x := range t {
			strip(x)
		}
	}
}

// referenced returns the components that refs name, and those they name
// in turn, by kind ("schemas", "parameters"…) and name.
func referenced(components map[string]any, refs map[string]bool) (map[string]any, error) {
	out := map[string]any{}
	for len(refs) > 0 {
		var next []string
		for r := range refs {
			next = append(next, r)
		}
		sort.Strings(next)
		refs = map[string]bool{}
		for _, r := range next {
			// #/components/<kind>/<name>
			parts := strings.SplitN(strings.TrimPrefix(r, "#/components/"), "/", 2)
			kind, name := parts[0], parts[1]
			section, _ := out[kind].(map[string]any)
			if section == nil {
				section = map[string]any{}
				out[kind] = section
			}
			if _, done := section[name]; done {
				continue
			}
			v := components[kind].(map[string]any)[name]
			if v == nil {
				return nil, fmt.Errorf("dangling reference %s", r)
			}
			section[name] = v
			collectRefs(v, refs)
		}
	}
	return out, nil
}

func collectRefs(v any, refs map[string]bool) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && k == "$ref" {
				refs[s] = true
				continue
			}
			collectRefs(x, refs)
		}
	case []any:
		for _, x := range t {
			collectRefs(x, refs)
		}
	}
}
