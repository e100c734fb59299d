package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input may panic the parser, and whatever it accepts must
// pass validation (Parse never returns an invalid policy without an error).
// The seed corpus is testdata/policy/*.yml plus testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "policy", "*.yml"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("Parse accepted a policy that fails validation: %v\n%s", verr, data)
			}
			return
		}
		if len(AsErrors(err)) == 0 {
			t.Fatalf("Parse returned %T, not policy.Errors: %v", err, err)
		}
	})
}
