// Package facts is the one place that talks to GitHub for the handlers:
// typed reads (the repository policy, the production commit and tag,
// comparisons, changed files, permissions, who added a label) and
// idempotent writes (check run upsert, labels), with pagination and error
// classification. Handlers ask facts for what is true and policy for what
// it means; facts never decides a rule.
package facts
