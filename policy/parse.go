package policy

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Error is one problem in a policy file. Line is 1-based; 0 means the
// problem is not tied to a line (for example, a missing required value).
type Error struct {
	Line int
	// Path is the key the problem is about, like "approval.permission".
	Path string
	Msg  string
}

func (e Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one policy file, in line order.
type Errors []Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// AsErrors returns the policy problems inside err, or nil if err is not a
// policy error.
func AsErrors(err error) Errors {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e Error
	if errors.As(err, &e) {
		return Errors{e}
	}
	return nil
}

// Parse reads a policy file. Keys the file omits keep their defaults; an
// empty file is the default policy. Unknown keys, values of the wrong type
// and values that fail validation are all reported, each with its line, as
// Errors. Parse never panics on any input.
func Parse(data []byte) (Config, error) {
	cfg := Default()

	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return cfg, nil
		}
		return cfg, Errors{yamlError(err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return cfg, Errors{{Line: extra.Line, Msg: "the file holds more than one YAML document; keep only one"}}
	} else if !errors.Is(err, io.EOF) {
		return cfg, Errors{yamlError(err)}
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return cfg, nil
		}
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return cfg, nil // a file holding only comments
	}

	// Check the tree's shape first; keys that fail are pruned so the rest
	// can still be decoded and validated, and every problem is reported at
	// once.
	w := walker{lines: map[string]int{}}
	w.walk(root, reflect.TypeOf(cfg), "")
	if err := root.Decode(&cfg); err != nil {
		// The walk prunes every shape Decode can reject; this is a backstop.
		return cfg, Errors{yamlError(err)}
	}
	if len(cfg.Sync.Targets) == 0 {
		cfg.Sync.Targets = nil // `targets: []` is the default: find the open release branches
	}
	errs := append(w.errs, validate(cfg, w.lines)...)
	if len(errs) > 0 {
		return cfg, sortErrors(dedupe(errs))
	}
	return cfg, nil
}

// dedupe drops validation errors about a key whose shape already failed
// (a pruned key falls back to its default, which validation may dislike in
// combination with other keys).
func dedupe(errs Errors) Errors {
	seen := map[Error]bool{}
	out := errs[:0]
	for _, e := range errs {
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out
}

var (
	yamlLine = regexp.MustCompile(`line (\d+): (.*)`)
	// yaml.v3 reports its parser-stage errors (as opposed to scanner
	// errors) with a 0-based line; these are their messages.
	yamlParserError = regexp.MustCompile(`^did not find expected (key|'-' indicator|',' or|node content|<)`)
)

// yamlError turns a yaml.v3 error into an Error with its line.
func yamlError(err error) Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	msg = strings.TrimSpace(msg)
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if yamlParserError.MatchString(m[2]) {
			line++
		}
		return Error{Line: line, Msg: m[2]}
	}
	return Error{Msg: msg}
}

func sortErrors(errs Errors) Errors {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	return errs
}

var (
	durationType       = reflect.TypeOf(Duration(0))
	requiredChecksType = reflect.TypeOf(RequiredChecks{})
)

// walker checks a YAML tree against the shape of Config before decoding, so
// that every unknown key, missing value and wrong type is reported with its
// key path and line, and records the line of every value for validation.
type walker struct {
	lines map[string]int
	errs  Errors
	// open holds the nodes being walked, to stop an alias that refers to
	// an enclosing node (`a: &x {b: *x}`) from recursing forever.
	open map[*yaml.Node]bool
}

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs = append(w.errs, Error{Line: n.Line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// walk reports whether n has the shape of t; it prunes failing keys from
// mappings below n.
func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil || w.open[n.Alias] {
			w.fail(n, path, "the alias *%s refers to a value that contains it", n.Value)
			return false
		}
		n = n.Alias
	}
	if w.open == nil {
		w.open = map[*yaml.Node]bool{}
	}
	w.open[n] = true
	defer delete(w.open, n)
	w.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		w.fail(n, path, "has no value; remove the key to use the default, or give it a value")
		return false
	}
	before := len(w.errs)

	switch {
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "must be a duration such as 60m or 1h30m")
			break
		}
		var d Duration
		if err := d.UnmarshalYAML(n); err != nil {
			w.fail(n, path, "%q is not a duration; write it like 60m or 1h30m", n.Value)
		}
	case t == requiredChecksType:
		switch {
		case n.Kind == yaml.ScalarNode && n.Value == "all":
		case n.Kind == yaml.SequenceNode:
			w.walk(n, reflect.TypeOf([]string(nil)), path)
		default:
			w.fail(n, path, "must be `all` or a list of check names")
		}
	case t.Kind() == reflect.Struct:
		w.walkStruct(n, t, path)
		return true // bad keys inside were pruned; the mapping itself is fine
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "must be a list, like [a, b]")
			break
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case t.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "must be a single value, not a list or a mapping")
		}
	case t.Kind() == reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			w.fail(n, path, "must be true or false")
		}
	case t.Kind() == reflect.Int:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			w.fail(n, path, "must be a whole number")
		}
	}
	return len(w.errs) == before
}

func (w *walker) walkStruct(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			w.fail(n, path, "the policy file must be a mapping of keys such as `branches:` and `approval:`")
		} else {
			w.fail(n, path, "must be a mapping of keys (%s)", strings.Join(yamlKeys(t), ", "))
		}
		n.Kind, n.Tag, n.Content = yaml.MappingNode, "!!map", nil // prune
		return
	}
	seen := map[string]bool{}
	kept := n.Content[:0:0]
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, value := n.Content[i], n.Content[i+1]
		child := key.Value
		if path != "" {
			child = path + "." + key.Value
		}
		field, ok := fieldByTag(t, key.Value)
		if !ok {
			where := "at the top level"
			if path != "" {
				where = "in " + path
			}
			w.fail(key, "", "unknown key %q %s; known keys: %s", key.Value, where, strings.Join(yamlKeys(t), ", "))
			continue
		}
		if seen[key.Value] {
			w.fail(key, child, "is set twice")
			continue
		}
		seen[key.Value] = true
		if w.walk(value, field.Type, child) {
			kept = append(kept, key, value)
		}
	}
	n.Content = kept
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tagName(f) == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func yamlKeys(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		keys = append(keys, tagName(t.Field(i)))
	}
	return keys
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}
