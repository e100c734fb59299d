package handlers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// refusalRules finds, in the source of the handlers and the policy, every
// rule name a reply can refuse or fail with: Refusal{Rule: "…"}, the
// promotion table's add("…", …) and the commands' failed("…", …).
func refusalRules(t *testing.T) map[string]string {
	t.Helper()
	rules := map[string]string{}
	fset := token.NewFileSet()
	for _, dir := range []string{".", filepath.Join("..", "policy")} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, name := range files {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, name, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.KeyValueExpr:
					if id, ok := n.Key.(*ast.Ident); ok && id.Name == "Rule" {
						if s, ok := literal(n.Value); ok {
							rules[s] = fset.Position(n.Pos()).String()
						}
					}
				case *ast.CallExpr:
					fn := ""
					switch f := n.Fun.(type) {
					case *ast.Ident:
						fn = f.Name
					case *ast.SelectorExpr:
						fn = f.Sel.Name
					}
					if (fn == "add" || fn == "failed") && len(n.Args) > 0 {
						if s, ok := literal(n.Args[0]); ok {
							rules[s] = fset.Position(n.Pos()).String()
						}
					}
				}
				return true
			})
		}
	}
	return rules
}

// literal is a string literal, or the literal start of "text " + x.
func literal(e ast.Expr) (string, bool) {
	if b, ok := e.(*ast.BinaryExpr); ok && b.Op == token.ADD {
		return literal(b.X)
	}
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return strings.TrimSpace(s), err == nil
}

// TestTroubleshootingCoversEveryRefusal keeps docs/troubleshooting.md in
// step with the code: every rule a command can be refused or fail with is
// explained there.
func TestTroubleshootingCoversEveryRefusal(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "troubleshooting.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	rules := refusalRules(t)
	if len(rules) < 25 {
		t.Fatalf("found only %d rules in the source: the scan is broken", len(rules))
	}
	for rule, where := range rules {
		if !strings.Contains(doc, "`"+rule) {
			t.Errorf("docs/troubleshooting.md does not explain %q (%s)", rule, where)
		}
	}
}
