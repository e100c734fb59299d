// Command openapi-subset writes the part of GitHub's OpenAPI description
// that hotfix-bot calls, so contract tests run from a fresh clone without
// ../shared. Source: @octokit/openapi (MIT), generated/api.github.com.json.
//
//	go run ./tools/openapi-subset -in ../shared/github/api.github.com.json \
//	    -out testdata/openapi/github-subset.json
//
// It keeps each listed operation's parameters and request body with every
// component they reference, transitively; responses are replaced by a
// stub (the simulator validates requests, not responses), which keeps the
// file small.
package main

import (
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
	"checks/list-annotations",
	"issues/get",
	"issues/create",
	"issues/update",
	"issues/list-labels-for-repo",
	"issues/get-label",
	"issues/create-label",
	"issues/list-labels-on-issue",
	"issues/add-labels",
	"issues/remove-label",
	"issues/list-events",
	"issues/list-comments",
	"issues/create-comment",
	"issues/update-comment",
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

func main() {
	in := flag.String("in", "../shared/github/api.github.com.json", "GitHub's OpenAPI description")
	out := flag.String("out", "testdata/openapi/github-subset.json", "where to write the subset")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "openapi-subset:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var spec map[string]any
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("%s: %w", in, err)
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

	components := spec["components"].(map[string]any)
	outComponents := map[string]any{}
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
			section, _ := outComponents[kind].(map[string]any)
			if section == nil {
				section = map[string]any{}
				outComponents[kind] = section
			}
			if _, done := section[name]; done {
				continue
			}
			v := components[kind].(map[string]any)[name]
			if v == nil {
				return fmt.Errorf("dangling reference %s", r)
			}
			section[name] = v
			collectRefs(v, refs)
		}
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
