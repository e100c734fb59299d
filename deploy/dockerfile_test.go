package deploy

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, LABEL…
	args string
}

// parseDockerfile reads instructions per stage (stage 0 first): comments
// dropped, backslash continuations joined. Plain on purpose: the file is
// ours and simple.
func parseDockerfile(t *testing.T, path string) [][]instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]instruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		cmd, args, _ := strings.Cut(line, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("%s before the first FROM", in.cmd)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], in)
	}
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t, "Dockerfile")
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[1]

	// The build: a static binary with the version stamped in.
	runs := strings.Join(find(build, "RUN"), "\n")
	if !strings.Contains(runs, "CGO_ENABLED=0") || !strings.Contains(runs, "-trimpath") {
		t.Errorf("the binary is not built static and reproducible:\n%s", runs)
	}
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	module := strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(mod), "\n", 2)[0], "module"))
	if !strings.Contains(runs, "-X "+module+"/app.Version=${VERSION}") {
		t.Errorf("the version is not stamped into %s/app.Version:\n%s", module, runs)
	}
	if src, err := os.ReadFile("../app/server.go"); err != nil || !strings.Contains(string(src), "var Version = ") {
		t.Error("app.Version, which the build stamps, does not exist")
	}
	if !contains(find(build, "ARG"), "VERSION=dev") {
		t.Error("the build stage has no VERSION argument")
	}

	// The runtime: distroless, static, non-root, nothing else.
	from := find(final, "FROM")[0]
	if !regexp.MustCompile(`^gcr\.io/distroless/static[^ ]*:nonroot$`).MatchString(from) {
		t.Errorf("runtime image %q, want distroless static, nonroot", from)
	}
	if len(find(final, "RUN")) != 0 {
		t.Error("the runtime stage runs commands: it has no shell, and needs none")
	}
	if copies := find(final, "COPY"); len(copies) != 1 || !strings.HasPrefix(copies[0], "--from=build ") {
		t.Errorf("the runtime stage copies %v, want only the binary from the build", copies)
	}
	if users := find(final, "USER"); len(users) != 1 || !strings.HasPrefix(users[0], "nonroot") {
		t.Errorf("USER %v, want nonroot", users)
	}
	if sig := find(final, "STOPSIGNAL"); len(sig) != 1 || sig[0] != "SIGTERM" {
		t.Errorf("STOPSIGNAL %v, want SIGTERM (serve drains its queue on it)", sig)
	}
	if ports := find(final, "EXPOSE"); len(ports) != 1 || ports[0] != "8080" {
		t.Errorf("EXPOSE %v, want 8080, the server's default port", ports)
	}
	var entry []string
	if eps := find(final, "ENTRYPOINT"); len(eps) != 1 || json.Unmarshal([]byte(eps[0]), &entry) != nil {
		t.Errorf("ENTRYPOINT %v, want the exec form (so SIGTERM reaches the server, not a shell)", eps)
	} else if strings.Join(entry, " ") != "/hotfix-bot serve" {
		t.Errorf("ENTRYPOINT %v, want /hotfix-bot serve", entry)
	}

	// OCI labels, the version among them.
	labels := map[string]string{}
	for _, l := range find(final, "LABEL") {
		for _, m := range regexp.MustCompile(`([a-z0-9.]+)="([^"]*)"`).FindAllStringSubmatch(l, -1) {
			labels[m[1]] = m[2]
		}
	}
	for _, key := range []string{"title", "description", "source", "version", "revision", "created"} {
		if labels["org.opencontainers.image."+key] == "" {
			t.Errorf("no org.opencontainers.image.%s label", key)
		}
	}
	if labels["org.opencontainers.image.version"] != "${VERSION}" || !contains(find(final, "ARG"), "VERSION=dev") {
		t.Error("the version label is not the build's VERSION")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
