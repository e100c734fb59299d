package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	keyOnce sync.Once
	keyPEM  string
)

// testKey is a PEM RSA key generated once per test binary.
func testKey(t testing.TB) string {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	})
	return keyPEM
}

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func minimalEnv(t testing.TB) map[string]string {
	return map[string]string{
		"GITHUB_APP_INTEGRATION_ID": "42",
		"GITHUB_APP_PRIVATE_KEY":    testKey(t),
		"GITHUB_APP_WEBHOOK_SECRET": "s3cret-s3cret-s3cret-s3cret-s3cret", // 34 bytes: long enough to derive the details key from
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	c, err := LoadConfig("", env(minimalEnv(t)))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"web url", c.GitHub.WebURL, "https://github.com"},
		{"api url", c.GitHub.V3APIURL, "https://api.github.com/"},
		{"client timeout", time.Duration(c.GitHub.ClientTimeout), 30 * time.Second},
		{"port", c.Server.Port, 8080},
		{"address", c.Server.Address, ""},
		{"max body", c.Server.MaxBodyBytes, int64(25 << 20)},
		{"shutdown", time.Duration(c.Server.ShutdownTimeout), 30 * time.Second},
		{"log level", c.LogLevel, "info"},
		{"queue size", c.Queue.Size, 1000},
		{"workers", c.Queue.Workers, 16},
		{"handler timeout", time.Duration(c.HandlerTimeout), 2 * time.Minute},
		{"cache", c.Cache.MaxBytes, int64(64 << 20)},
		{"slack", c.Notify.SlackWebhookURL, ""},
		{"v4", c.GitHubAppConfig().V4APIURL, "https://api.github.com/graphql"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestConfigEnvOverrides(t *testing.T) {
	keyFile := writeFile(t, "key.pem", testKey(t))
	tests := []struct {
		env   string
		value string
		check func(Config) bool
	}{
		{"GITHUB_WEB_URL", "https://ghe.example.com", func(c Config) bool {
			return c.GitHub.WebURL == "https://ghe.example.com" && c.GitHub.V3APIURL == "https://ghe.example.com/api/v3/"
		}},
		{"GITHUB_V3_API_URL", "https://ghe.example.com/api/v3", func(c Config) bool {
			return c.GitHub.V3APIURL == "https://ghe.example.com/api/v3/" && c.GitHubAppConfig().V4APIURL == "https://ghe.example.com/api/graphql"
		}},
		{"GITHUB_APP_INTEGRATION_ID", "7", func(c Config) bool { return c.GitHub.App.IntegrationID == 7 }},
		{"GITHUB_APP_WEBHOOK_SECRET", "other", func(c Config) bool { return c.GitHub.App.WebhookSecret == "other" }},
		{"GITHUB_APP_PRIVATE_KEY", strings.ReplaceAll(testKey(t), "\n", `\n`), func(c Config) bool { return c.GitHub.App.PrivateKey == testKey(t) }},
		{"GITHUB_CLIENT_TIMEOUT", "10s", func(c Config) bool { return time.Duration(c.GitHub.ClientTimeout) == 10*time.Second }},
		{"HOST", "127.0.0.1", func(c Config) bool { return c.Server.Address == "127.0.0.1" }},
		{"PORT", "9090", func(c Config) bool { return c.Server.Port == 9090 }},
		{"HOTFIX_BOT_MAX_BODY_BYTES", "1048576", func(c Config) bool { return c.Server.MaxBodyBytes == 1<<20 }},
		{"HOTFIX_BOT_PUBLIC_URL", "https://hotfix-bot.example.com/", func(c Config) bool { return c.Server.PublicURL == "https://hotfix-bot.example.com" }},
		{"HOTFIX_BOT_DETAILS_KEY", strings.Repeat("k", 32), func(c Config) bool { return c.Server.DetailsKey == strings.Repeat("k", 32) }},
		{"HOTFIX_BOT_SHUTDOWN_TIMEOUT", "5s", func(c Config) bool { return time.Duration(c.Server.ShutdownTimeout) == 5*time.Second }},
		{"LOG_LEVEL", "debug", func(c Config) bool { return c.LogLevel == "debug" }},
		{"HOTFIX_BOT_QUEUE_SIZE", "7", func(c Config) bool { return c.Queue.Size == 7 }},
		{"HOTFIX_BOT_QUEUE_WORKERS", "2", func(c Config) bool { return c.Queue.Workers == 2 }},
		{"HOTFIX_BOT_HANDLER_TIMEOUT", "45s", func(c Config) bool { return time.Duration(c.HandlerTimeout) == 45*time.Second }},
		{"HOTFIX_BOT_CACHE_MAX_BYTES", "0", func(c Config) bool { return c.Cache.MaxBytes == 0 }},
		{"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/x", func(c Config) bool { return c.Notify.SlackWebhookURL == "https://hooks.slack.com/services/x" }},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			e := minimalEnv(t)
			e[tt.env] = tt.value
			c, err := LoadConfig("", env(e))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !tt.check(c) {
				t.Errorf("%s=%q not applied: %+v", tt.env, tt.value, c)
			}
		})
	}

	t.Run("GITHUB_APP_PRIVATE_KEY_PATH", func(t *testing.T) {
		e := minimalEnv(t)
		delete(e, "GITHUB_APP_PRIVATE_KEY")
		e["GITHUB_APP_PRIVATE_KEY_PATH"] = keyFile
		c, err := LoadConfig("", env(e))
		if err != nil {
			t.Fatalf("LoadConfig: %v", err)
		}
		if c.GitHubAppConfig().App.PrivateKey != testKey(t) {
			t.Error("key file not read into the app config")
		}
	})
}

func TestConfigFileAndPrecedence(t *testing.T) {
	keyFile := writeFile(t, "key.pem", testKey(t))
	file := writeFile(t, "hotfix-bot.yml", `
github:
  app:
    integration_id: 11
    webhook_secret: from-file
    private_key_path: `+keyFile+`
server:
  port: 9000
queue:
  size: 5
  workers: 1
handler_timeout: 90s
log_level: warn
`)
	c, err := LoadConfig(file, env(map[string]string{"PORT": "9100"}))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if c.GitHub.App.IntegrationID != 11 || c.GitHub.App.WebhookSecret != "from-file" || c.Queue.Size != 5 ||
		c.Queue.Workers != 1 || time.Duration(c.HandlerTimeout) != 90*time.Second || c.LogLevel != "warn" {
		t.Errorf("file values not applied: %+v", c)
	}
	if c.Server.Port != 9100 {
		t.Errorf("environment must override the file: port = %d, want 9100", c.Server.Port)
	}

	// A key in the environment replaces the file's key path.
	c, err = LoadConfig(file, env(map[string]string{"GITHUB_APP_PRIVATE_KEY": testKey(t)}))
	if err != nil {
		t.Fatalf("LoadConfig with env key: %v", err)
	}
	if c.GitHub.App.PrivateKeyPath != "" || c.GitHub.App.PrivateKey != testKey(t) {
		t.Error("env private key did not replace the file's key path")
	}

	// An empty file is fine; everything comes from the environment.
	empty := writeFile(t, "empty.yml", "")
	if _, err := LoadConfig(empty, env(minimalEnv(t))); err != nil {
		t.Errorf("empty config file: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	missingKeyFile := filepath.Join(t.TempDir(), "nope.pem")
	notAKeyFile := writeFile(t, "bad.pem", "hello")

	tests := []struct {
		name string
		env  map[string]string // merged over minimalEnv; "" deletes
		file string            // config file content, if any
		want string            // the whole error line, or its prefix with a trailing "…"
	}{
		{"missing id", map[string]string{"GITHUB_APP_INTEGRATION_ID": ""}, "", "GITHUB_APP_INTEGRATION_ID: required: the App ID shown on the GitHub App's settings page"},
		{"id not a number", map[string]string{"GITHUB_APP_INTEGRATION_ID": "abc"}, "", `GITHUB_APP_INTEGRATION_ID: "abc" is not a number; use the App ID from the app's settings page`},
		{"id negative", map[string]string{"GITHUB_APP_INTEGRATION_ID": "-3"}, "", "GITHUB_APP_INTEGRATION_ID: must be a positive number, got -3"},
		{"missing secret", map[string]string{"GITHUB_APP_WEBHOOK_SECRET": ""}, "", "GITHUB_APP_WEBHOOK_SECRET: required…"},
		{"missing key", map[string]string{"GITHUB_APP_PRIVATE_KEY": ""}, "", "GITHUB_APP_PRIVATE_KEY: required…"},
		{"key not PEM", map[string]string{"GITHUB_APP_PRIVATE_KEY": "hunter2"}, "", "GITHUB_APP_PRIVATE_KEY: not a PEM RSA key"},
		{"key not RSA", map[string]string{"GITHUB_APP_PRIVATE_KEY": ecPEM}, "", "GITHUB_APP_PRIVATE_KEY: not a PEM RSA key (GitHub App keys are RSA)"},
		{"both keys in env", map[string]string{"GITHUB_APP_PRIVATE_KEY_PATH": "/x"}, "", "GITHUB_APP_PRIVATE_KEY: set only one of GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH"},
		{"key file missing", map[string]string{"GITHUB_APP_PRIVATE_KEY": "", "GITHUB_APP_PRIVATE_KEY_PATH": missingKeyFile}, "", "GITHUB_APP_PRIVATE_KEY_PATH: cannot read " + missingKeyFile + ": no such file or directory"},
		{"key file not a key", map[string]string{"GITHUB_APP_PRIVATE_KEY": "", "GITHUB_APP_PRIVATE_KEY_PATH": notAKeyFile}, "", "GITHUB_APP_PRIVATE_KEY_PATH: " + notAKeyFile + " is not a PEM RSA key"},
		{"api url", map[string]string{"GITHUB_V3_API_URL": "ftp://x"}, "", `GITHUB_V3_API_URL: "ftp://x" is not an http(s) URL`},
		{"web url", map[string]string{"GITHUB_WEB_URL": "not a url"}, "", `GITHUB_WEB_URL: "not a url" is not an http(s) URL`},
		{"public url scheme", map[string]string{"HOTFIX_BOT_PUBLIC_URL": "hotfix-bot.example.com"}, "", `HOTFIX_BOT_PUBLIC_URL: "hotfix-bot.example.com" is not an http(s) URL like https://hotfix-bot.example.com`},
		{"public url query", map[string]string{"HOTFIX_BOT_PUBLIC_URL": "https://bot.example.com/?x=1"}, "", `HOTFIX_BOT_PUBLIC_URL: "https://bot.example.com/?x=1" is not an http(s) URL…`},
		{"a short webhook secret to derive the details key from", map[string]string{"HOTFIX_BOT_PUBLIC_URL": "https://bot.example.com", "GITHUB_APP_WEBHOOK_SECRET": "hunter2"}, "",
			"GITHUB_APP_WEBHOOK_SECRET: is 7 bytes, too short to derive the details pages' key from (server.public_url is set; at least 32 bytes are needed). " +
				"Either set HOTFIX_BOT_DETAILS_KEY (server.details_key) to the output of `openssl rand -hex 32`, or rotate the webhook secret: generate one with `openssl rand -hex 32`, " +
				"then enter it on the GitHub App's settings page (Webhook secret) and here at the same time (deliveries signed in between get 400, and the redelivery sweep brings them back)"},
		{"a short webhook secret in the file", map[string]string{"GITHUB_APP_WEBHOOK_SECRET": ""}, "github:\n  app:\n    webhook_secret: hunter2\nserver:\n  public_url: https://bot.example.com\n",
			"FILE: github.app.webhook_secret: is 7 bytes, too short…"},
		{"a short details key", map[string]string{"HOTFIX_BOT_DETAILS_KEY": "short"}, "", "HOTFIX_BOT_DETAILS_KEY: is 5 bytes; use at least 32 random bytes, e.g. the output of `openssl rand -hex 32`"},
		{"client timeout", map[string]string{"GITHUB_CLIENT_TIMEOUT": "forever"}, "", `GITHUB_CLIENT_TIMEOUT: "forever" is not a duration; write it like 30s or 2m`},
		{"port text", map[string]string{"PORT": "http"}, "", `PORT: "http" is not a whole number`},
		{"port range", map[string]string{"PORT": "70000"}, "", "PORT: 70000 is not a TCP port (1-65535)"},
		{"body cap", map[string]string{"HOTFIX_BOT_MAX_BODY_BYTES": "10"}, "", "HOTFIX_BOT_MAX_BODY_BYTES: 10 is too small…"},
		{"shutdown", map[string]string{"HOTFIX_BOT_SHUTDOWN_TIMEOUT": "0s"}, "", "HOTFIX_BOT_SHUTDOWN_TIMEOUT: 0s is out of range; use between 1s and 1h"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "", `LOG_LEVEL: "loud" is not a log level; use trace, debug, info, warn or error`},
		{"queue size", map[string]string{"HOTFIX_BOT_QUEUE_SIZE": "0"}, "", "HOTFIX_BOT_QUEUE_SIZE: 0 is out of range; use between 1 and 100000"},
		{"workers", map[string]string{"HOTFIX_BOT_QUEUE_WORKERS": "-1"}, "", "HOTFIX_BOT_QUEUE_WORKERS: -1 is out of range; use between 1 and 1000"},
		{"handler timeout", map[string]string{"HOTFIX_BOT_HANDLER_TIMEOUT": "2h"}, "", "HOTFIX_BOT_HANDLER_TIMEOUT: 2h0m0s is out of range; use between 1s and 4m30s (a handler must end well within the 5-minute claim it holds on its work, or another replica would take the work over while it still runs)"},
		{"handler timeout past the claim", map[string]string{"HOTFIX_BOT_HANDLER_TIMEOUT": "5m"}, "", "HOTFIX_BOT_HANDLER_TIMEOUT: 5m0s is out of range; use between 1s and 4m30s (a handler must end well within the 5-minute claim it holds on its work, or another replica would take the work over while it still runs)"},
		{"cache", map[string]string{"HOTFIX_BOT_CACHE_MAX_BYTES": "-1"}, "", "HOTFIX_BOT_CACHE_MAX_BYTES: must not be negative (0 turns the cache off)"},
		{"slack", map[string]string{"SLACK_WEBHOOK_URL": "http://insecure"}, "", "SLACK_WEBHOOK_URL: is not an https URL"},
		{"file unknown key", nil, "github:\n  app:\n    integration_idd: 3\n", `FILE: line 3: unknown key "integration_idd"`},
		{"file bad value names the file key", map[string]string{"LOG_LEVEL": ""}, "log_level: chatty\n", `FILE: log_level: "chatty" is not a log level…`},
		{"file bad duration", nil, "handler_timeout: soon\n", `FILE: line 1: "soon" is not a duration; write it like 30s or 2m`},
		{"file syntax", nil, "queue: [\n", "FILE: …"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := minimalEnv(t)
			for k, v := range tt.env {
				if v == "" {
					delete(e, k)
				} else {
					e[k] = v
				}
			}
			path := ""
			if tt.file != "" {
				path = writeFile(t, "server.yml", tt.file)
			}
			_, err := LoadConfig(path, env(e))
			if err == nil {
				t.Fatalf("LoadConfig succeeded, want %q", tt.want)
			}
			got := err.Error()
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if strings.HasSuffix(want, "…") {
				if !strings.HasPrefix(got, strings.TrimSuffix(want, "…")) {
					t.Errorf("error = %q, want prefix %q", got, strings.TrimSuffix(want, "…"))
				}
			} else if got != want {
				t.Errorf("error = %q, want %q", got, want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error spans lines: %q", got)
			}
			if strings.Contains(got, "BEGIN RSA") || strings.Contains(got, "s3cret") {
				t.Errorf("error leaks a secret: %q", got)
			}
		})
	}
}

func TestConfigMissingFile(t *testing.T) {
	_, err := LoadConfig(filepath.Join(t.TempDir(), "absent.yml"), env(minimalEnv(t)))
	if err == nil || !strings.Contains(err.Error(), "--config: cannot read") || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing config file: %v", err)
	}
}

// A short webhook secret is refused only when the details pages' key
// would be derived from it: without server.public_url there are no
// links, and with server.details_key the secret does not sign them.
func TestShortWebhookSecretAccepted(t *testing.T) {
	for name, extra := range map[string]map[string]string{
		"no details pages":    {},
		"its own details key": {"HOTFIX_BOT_PUBLIC_URL": "https://bot.example.com", "HOTFIX_BOT_DETAILS_KEY": strings.Repeat("k", 32)},
	} {
		e := minimalEnv(t)
		e["GITHUB_APP_WEBHOOK_SECRET"] = "hunter2"
		for k, v := range extra {
			e[k] = v
		}
		if _, err := LoadConfig("", env(e)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
