package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// docTable reads the rows of the first Markdown table in a file whose
// header starts with `first`: each row's cells, trimmed.
func docTable(t *testing.T, path, first string) [][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case !in && strings.HasPrefix(line, "| "+first+" |"):
			in = true
		case in && strings.HasPrefix(line, "|---"):
		case in && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), " | ")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows = append(rows, cells)
		case in:
			return rows
		}
	}
	if len(rows) == 0 {
		t.Fatalf("%s: no table starting with %q", path, first)
	}
	return rows
}

var firstCode = regexp.MustCompile("`([^`]*)`")

// leafKeys lists the dotted keys of a policy's YAML form.
func leafKeys(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok {
		*out = append(*out, prefix)
		return
	}
	for k, x := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leafKeys(p, x, out)
	}
}

// TestPolicyDocs keeps docs/policy.md's table of keys true: every key of
// the policy is documented, every documented key is real, and setting a
// key to its documented default yields exactly the default policy.
func TestPolicyDocs(t *testing.T) {
	rows := docTable(t, filepath.Join("..", "docs", "policy.md"), "key")
	raw, err := yaml.Marshal(Default())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var real []string
	leafKeys("", m, &real)
	sort.Strings(real)
	documented := map[string]bool{}
	for _, row := range rows {
		key := strings.Trim(row[0], "`")
		documented[key] = true
		def := firstCode.FindStringSubmatch(row[1])
		if def == nil {
			t.Errorf("%s: no default in backticks: %q", key, row[1])
			continue
		}
		// The key alone, set to the documented default.
		parts := strings.Split(key, ".")
		var b strings.Builder
		for i, p := range parts[:len(parts)-1] {
			b.WriteString(strings.Repeat("  ", i) + p + ":\n")
		}
		b.WriteString(strings.Repeat("  ", len(parts)-1) + parts[len(parts)-1] + ": " + def[1] + "\n")
		cfg, err := Parse([]byte(b.String()))
		if err != nil {
			t.Errorf("%s: the documented default %s does not parse: %v", key, def[1], err)
			continue
		}
		if !reflect.DeepEqual(cfg, Default()) {
			t.Errorf("%s: the documented default %s is not the real default", key, def[1])
		}
	}
	for _, key := range real {
		if !documented[key] {
			t.Errorf("policy key %s is not in docs/policy.md", key)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("docs/policy.md documents %s, which is not a policy key", key)
	}
}

// TestCommandReferenceParses keeps the README's command table true: every
// command it shows, with its placeholders filled in, is a command the
// bot runs (no usage error), and every command the bot knows is shown.
func TestCommandReferenceParses(t *testing.T) {
	rows := docTable(t, filepath.Join("..", "README.md"), "command")
	fill := strings.NewReplacer("TAG", "v1.4.2", "NAME", "payment-timeout", "REASON", "payments are down")
	shown := map[string]bool{}
	for _, row := range rows {
		syntax := strings.Trim(row[0], "`")
		// Each optional part in or out, one at a time.
		variants := []string{regexp.MustCompile(`\s*\[[^\]]*\]`).ReplaceAllString(syntax, "")}
		for _, opt := range regexp.MustCompile(`\[([^\]]*)\]`).FindAllStringSubmatch(syntax, -1) {
			variants = append(variants, variants[0]+" "+opt[1])
		}
		for _, v := range variants {
			line := fill.Replace(v)
			cmds, _ := ParseCommands(line)
			if len(cmds) != 1 || cmds[0].Usage != "" {
				t.Errorf("README command %q (%q) does not parse as one runnable command: %+v", syntax, line, cmds)
				continue
			}
			shown[cmds[0].Name] = true
		}
	}
	for name := range Usage {
		if !shown[name] {
			t.Errorf("the README's command table does not show /%s", name)
		}
	}
}
