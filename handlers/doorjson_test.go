package handlers

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"

	doorjson "github.com/segmentio/encoding/json"
)

// doorShapes are what the doors read of a payload.
func doorShapes() []func() any {
	return []func() any{
		func() any { return new(pushAtDoor) }, func() any { return new(prAtDoor) },
		func() any { return new(checkRunEvent) }, func() any { return new(commentEvent) },
		func() any { return new(deploymentStatusEvent) }, func() any { return new(checkSuiteEvent) },
	}
}

// sameAsEncodingJSON reports where the door's decoder and encoding/json
// disagree about a payload: whether it decodes, and what it decodes to.
func sameAsEncodingJSON(t *testing.T, payload []byte) {
	t.Helper()
	for _, shape := range doorShapes() {
		std, fast := shape(), shape()
		errStd := json.Unmarshal(payload, std)
		errFast := doorjson.Unmarshal(payload, fast)
		if (errStd == nil) != (errFast == nil) {
			t.Fatalf("%T of %.80q: encoding/json says %v, the door's decoder %v", std, payload, errStd, errFast)
		}
		if errStd == nil && !reflect.DeepEqual(std, fast) {
			t.Fatalf("%T of %.80q: encoding/json reads %+v, the door's decoder %+v", std, payload, std, fast)
		}
	}
}

// The door decodes with github.com/segmentio/encoding/json for speed; it
// must read every payload as encoding/json does: each of GitHub's
// recorded examples and the fuzz corpus, into each door's shape.
func TestDoorDecodesAsEncodingJSON(t *testing.T) {
	for _, p := range doorCorpus(t) {
		sameAsEncodingJSON(t, p)
	}
}

// FuzzDoorDecode holds the door's decoder to encoding/json on arbitrary
// bodies (seeded with the examples and the webhook fuzz corpus).
func FuzzDoorDecode(f *testing.F) {
	for _, p := range doorCorpus(f) {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) { sameAsEncodingJSON(t, payload) })
}

// doorCorpus is every recorded example, the webhook fuzz corpus, and
// bodies that differ from valid JSON by a little.
func doorCorpus(t testing.TB) [][]byte {
	var out [][]byte
	for _, ev := range recordedExamples(t) {
		for _, ex := range ev.Examples {
			out = append(out, ex)
		}
	}
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzWebhook", "*"))
	for _, name := range seeds {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// go test fuzz v1: a header line, then string(...) and []byte(...) lines.
		var body string
		for _, line := range splitLines(string(raw)) {
			if len(line) > 8 && line[:7] == "[]byte(" {
				if body, err = strconv.Unquote(line[7 : len(line)-1]); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
			}
		}
		out = append(out, []byte(body))
	}
	for _, s := range []string{
		`{"installation":{"id":"7"}}`, `{"installation":{"id":7.5}}`, `{"installation":[]}`, `{"action":"opened","action":"closed"}`,
		`{"sender":{"login":"a\u0000b","type":"User"}}`, `{"repository":{"name":"` + "\xff" + `"}}`, `{"ref":null,"after":null}`,
		`{"commits":[{"added":["a"],"modified":null}]}`, `{"pull_request":{"head":{"ref":1}}}`, `{"deployment":{"payload":"x"}}`,
		`{"deployment":{"payload":{"a":[1,{"b":null}]}}}`, `{"check_run":{"pull_requests":[{"head":{"ref":"sync/x"}}]}}`,
		`{"Action":"opened"}`, `{"ACTION":"opened"}`, `{"action":"opened"} `, `{"a":1}x`, `{"a":[1,2,}`, `{"a":1e400}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != '\n' {
			i++
		}
		lines = append(lines, s[:i])
		s = s[min(i+1, len(s)):]
	}
	return lines
}
