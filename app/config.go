package app

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"
)

// Config is the server configuration: `hotfix-bot serve --config FILE`,
// every value overridable by environment (go-githubapp's names where it has
// them). See Defaults for every default and LoadConfig for the order.
// MaxHandlerTimeout is the longest handler_timeout: a handler's work is
// claimed for 5 minutes (facts.ClaimTTL), after which another replica
// takes it over as the work of a process that died; a handler that ran
// longer would still be running then.
const MaxHandlerTimeout = 4*time.Minute + 30*time.Second

type Config struct {
	GitHub GitHubConfig `yaml:"github"`
	Server ServerConfig `yaml:"server"`
	// LogLevel is a zerolog level: trace, debug, info, warn, error.
	LogLevel string      `yaml:"log_level"`
	Queue    QueueConfig `yaml:"queue"`
	// HandlerTimeout bounds one event's handling, GitHub calls included.
	HandlerTimeout Duration         `yaml:"handler_timeout"`
	Cache          CacheConfig      `yaml:"cache"`
	Notify         NotifyConfig     `yaml:"notify"`
	Redelivery     RedeliveryConfig `yaml:"redelivery"`
}

// GitHubConfig says where GitHub is and who the app is.
type GitHubConfig struct {
	// WebURL and V3APIURL point at github.com by default; set both for
	// GitHub Enterprise Server (or only WebURL: the API URL is derived).
	WebURL   string    `yaml:"web_url"`
	V3APIURL string    `yaml:"v3_api_url"`
	App      AppConfig `yaml:"app"`
	// ClientTimeout bounds one HTTP request to GitHub.
	ClientTimeout Duration `yaml:"client_timeout"`
}

// AppConfig identifies the GitHub App. Exactly one of PrivateKey (PEM text)
// and PrivateKeyPath is set.
type AppConfig struct {
	IntegrationID  int64  `yaml:"integration_id"`
	WebhookSecret  string `yaml:"webhook_secret"`
	PrivateKey     string `yaml:"private_key"`
	PrivateKeyPath string `yaml:"private_key_path"`
}

// ServerConfig is the HTTP listener.
type ServerConfig struct {
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
	// MaxBodyBytes caps a webhook body; GitHub caps payloads at 25 MB.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ShutdownTimeout bounds draining the queue on SIGTERM.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// PublicURL is where people reach this server (behind its load
	// balancer): check runs link to its details pages. Empty: they link to
	// the pull request instead.
	PublicURL string `yaml:"public_url"`
	// DetailsKey signs the details pages' links (at least 32 bytes;
	// `register` writes one). Empty: a key derived from the webhook secret,
	// which must then be at least 32 bytes.
	DetailsKey string `yaml:"details_key"`
}

// MinSecretBytes is the least length of a key the details pages' links
// are signed with, or derived from: a link is public wherever the check
// run is, so a short secret could be guessed offline from one.
const MinSecretBytes = 32

// QueueConfig sizes the asynchronous event queue.
type QueueConfig struct {
	Size    int `yaml:"size"`
	Workers int `yaml:"workers"`
	// PerInstallation bounds the workers one installation may hold (at
	// most Workers).
	PerInstallation int `yaml:"per_installation"`
}

// RedeliveryConfig drives the sweep that asks GitHub to redeliver failed
// webhook deliveries (GitHub never does it by itself).
type RedeliveryConfig struct {
	// Interval between sweeps, the first at start-up; 0 turns it off.
	Interval Duration `yaml:"interval"`
	// MaxAge: older deliveries are left alone.
	MaxAge Duration `yaml:"max_age"`
	// Max bounds the redeliveries one sweep asks for.
	Max int `yaml:"max"`
}

// CacheConfig bounds the HTTP cache that turns repeated GitHub reads into
// conditional requests.
type CacheConfig struct {
	MaxBytes int64 `yaml:"max_bytes"`
}

// NotifyConfig configures optional chat notifications.
type NotifyConfig struct {
	SlackWebhookURL string `yaml:"slack_webhook_url"`
}

// Duration is a time.Duration written as Go duration text ("30s", "2m").
type Duration time.Duration

// UnmarshalYAML reads Go duration text.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a duration; write it like 30s or 2m", n.Line, n.Value)}}
	}
	*d = Duration(v)
	return nil
}

// Defaults is the one place server defaults are filled in.
func Defaults() Config {
	return Config{
		GitHub: GitHubConfig{
			WebURL:        "https://github.com",
			V3APIURL:      "https://api.github.com/",
			ClientTimeout: Duration(30 * time.Second),
		},
		Server: ServerConfig{
			Port:            8080,
			MaxBodyBytes:    25 << 20,
			ShutdownTimeout: Duration(30 * time.Second),
		},
		LogLevel:       "info",
		Queue:          QueueConfig{Size: 1000, Workers: 16, PerInstallation: 2},
		HandlerTimeout: Duration(2 * time.Minute),
		Cache:          CacheConfig{MaxBytes: 64 << 20},
		Redelivery:     RedeliveryConfig{Interval: Duration(10 * time.Minute), MaxAge: Duration(6 * time.Hour), Max: 50},
	}
}

// setting ties one configuration value to its environment variable and its
// key in the file, so errors can name where a bad value came from.
type setting struct {
	env string
	key string
	// set parses an environment value into the config.
	set func(c *Config, v string) error
}

var settings = []setting{
	{"GITHUB_WEB_URL", "github.web_url", func(c *Config, v string) error { c.GitHub.WebURL = v; return nil }},
	{"GITHUB_V3_API_URL", "github.v3_api_url", func(c *Config, v string) error { c.GitHub.V3APIURL = v; return nil }},
	{"GITHUB_APP_INTEGRATION_ID", "github.app.integration_id", func(c *Config, v string) error {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number; use the App ID from the app's settings page", v)
		}
		c.GitHub.App.IntegrationID = id
		return nil
	}},
	{"GITHUB_APP_WEBHOOK_SECRET", "github.app.webhook_secret", func(c *Config, v string) error { c.GitHub.App.WebhookSecret = v; return nil }},
	{"GITHUB_APP_PRIVATE_KEY", "github.app.private_key", func(c *Config, v string) error { c.GitHub.App.PrivateKey = v; return nil }},
	{"GITHUB_APP_PRIVATE_KEY_PATH", "github.app.private_key_path", func(c *Config, v string) error { c.GitHub.App.PrivateKeyPath = v; return nil }},
	{"GITHUB_CLIENT_TIMEOUT", "github.client_timeout", durationSetter(func(c *Config) *Duration { return &c.GitHub.ClientTimeout })},
	{"HOST", "server.address", func(c *Config, v string) error { c.Server.Address = v; return nil }},
	{"PORT", "server.port", intSetter(func(c *Config) *int { return &c.Server.Port })},
	{"HOTFIX_BOT_MAX_BODY_BYTES", "server.max_body_bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of bytes", v)
		}
		c.Server.MaxBodyBytes = n
		return nil
	}},
	{"HOTFIX_BOT_PUBLIC_URL", "server.public_url", func(c *Config, v string) error { c.Server.PublicURL = v; return nil }},
	{"HOTFIX_BOT_DETAILS_KEY", "server.details_key", func(c *Config, v string) error { c.Server.DetailsKey = v; return nil }},
	{"HOTFIX_BOT_SHUTDOWN_TIMEOUT", "server.shutdown_timeout", durationSetter(func(c *Config) *Duration { return &c.Server.ShutdownTimeout })},
	{"LOG_LEVEL", "log_level", func(c *Config, v string) error { c.LogLevel = v; return nil }},
	{"HOTFIX_BOT_QUEUE_SIZE", "queue.size", intSetter(func(c *Config) *int { return &c.Queue.Size })},
	{"HOTFIX_BOT_QUEUE_WORKERS", "queue.workers", intSetter(func(c *Config) *int { return &c.Queue.Workers })},
	{"HOTFIX_BOT_QUEUE_PER_INSTALLATION", "queue.per_installation", intSetter(func(c *Config) *int { return &c.Queue.PerInstallation })},
	{"HOTFIX_BOT_REDELIVERY_INTERVAL", "redelivery.interval", durationSetter(func(c *Config) *Duration { return &c.Redelivery.Interval })},
	{"HOTFIX_BOT_REDELIVERY_MAX_AGE", "redelivery.max_age", durationSetter(func(c *Config) *Duration { return &c.Redelivery.MaxAge })},
	{"HOTFIX_BOT_REDELIVERY_MAX", "redelivery.max", intSetter(func(c *Config) *int { return &c.Redelivery.Max })},
	{"HOTFIX_BOT_HANDLER_TIMEOUT", "handler_timeout", durationSetter(func(c *Config) *Duration { return &c.HandlerTimeout })},
	{"HOTFIX_BOT_CACHE_MAX_BYTES", "cache.max_bytes", func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number of bytes", v)
		}
		c.Cache.MaxBytes = n
		return nil
	}},
	{"SLACK_WEBHOOK_URL", "notify.slack_webhook_url", func(c *Config, v string) error { c.Notify.SlackWebhookURL = v; return nil }},
}

func intSetter(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		*field(c) = n
		return nil
	}
}

func durationSetter(field func(*Config) *Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration; write it like 30s or 2m", v)
		}
		*field(c) = Duration(d)
		return nil
	}
}

// ConfigError is one bad or missing configuration value, said in one line
// that names the key.
type ConfigError struct {
	Key string // environment variable, or FILE: yaml.key
	Msg string
}

func (e *ConfigError) Error() string { return e.Key + ": " + e.Msg }

// LoadConfig builds the server configuration: Defaults, then the YAML file
// (optional: path may be empty), then the environment (lookup, normally
// os.LookupEnv). It validates the result and returns the first problem as
// a *ConfigError.
func LoadConfig(path string, lookup func(string) (string, bool)) (Config, error) {
	c := Defaults()
	fromFile := map[string]bool{}
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, &ConfigError{Key: "--config", Msg: fmt.Sprintf("cannot read %s: %v", path, unwrapPathError(err))}
		}
		if err := decodeConfigFile(b, &c, fromFile); err != nil {
			return c, &ConfigError{Key: path, Msg: err.Error()}
		}
	}
	fromEnv := map[string]bool{}
	for _, s := range settings {
		v, ok := lookup(s.env)
		if !ok {
			continue
		}
		if err := s.set(&c, v); err != nil {
			return c, &ConfigError{Key: s.env, Msg: err.Error()}
		}
		fromEnv[s.key] = true
	}

	// A private key set in the environment replaces one set in the file,
	// whichever form either uses.
	app := &c.GitHub.App
	switch {
	case fromEnv["github.app.private_key"] && fromEnv["github.app.private_key_path"]:
		return c, &ConfigError{Key: "GITHUB_APP_PRIVATE_KEY", Msg: "set only one of GITHUB_APP_PRIVATE_KEY and GITHUB_APP_PRIVATE_KEY_PATH"}
	case fromEnv["github.app.private_key"]:
		app.PrivateKeyPath = ""
	case fromEnv["github.app.private_key_path"]:
		app.PrivateKey = ""
	case app.PrivateKey != "" && app.PrivateKeyPath != "":
		return c, &ConfigError{Key: path + ": github.app.private_key", Msg: "set only one of private_key and private_key_path"}
	}
	// Only a web URL for GitHub Enterprise Server: derive its API URL.
	if (fromEnv["github.web_url"] || fromFile["github.web_url"]) && !fromEnv["github.v3_api_url"] && !fromFile["github.v3_api_url"] {
		if u, err := url.Parse(c.GitHub.WebURL); err == nil && u.Host != "github.com" && u.Host != "" {
			c.GitHub.V3APIURL = strings.TrimSuffix(c.GitHub.WebURL, "/") + "/api/v3/"
		}
	}

	keyName := func(key string) string {
		for _, s := range settings {
			if s.key == key {
				if fromEnv[key] || !fromFile[key] {
					return s.env
				}
			}
		}
		return path + ": " + key
	}
	if err := c.validate(); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			ce.Key = keyName(ce.Key)
		}
		return c, err
	}
	return c, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

var fileKeyLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// decodeConfigFile decodes a YAML config strictly (unknown keys are errors)
// and records which keys it set.
func decodeConfigFile(b []byte, c *Config, set map[string]bool) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if strings.Contains(err.Error(), "EOF") && len(bytes.TrimSpace(b)) == 0 {
			return nil
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		msg = fileKeyLine.ReplaceAllString(strings.TrimSpace(msg), `line $1: unknown key "$2"`)
		return errors.New(msg)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil {
		collectKeys(&root, "", set)
	}
	return nil
}

func collectKeys(n *yaml.Node, prefix string, set map[string]bool) {
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			collectKeys(c, prefix, set)
		}
		return
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if prefix != "" {
			key = prefix + "." + key
		}
		set[key] = true
		collectKeys(n.Content[i+1], key, set)
	}
}

func (c *Config) validate() error {
	bad := func(key, format string, args ...any) error {
		return &ConfigError{Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	app := &c.GitHub.App
	if app.IntegrationID == 0 {
		return bad("github.app.integration_id", "required: the App ID shown on the GitHub App's settings page")
	}
	if app.IntegrationID < 0 {
		return bad("github.app.integration_id", "must be a positive number, got %d", app.IntegrationID)
	}
	if app.WebhookSecret == "" {
		return bad("github.app.webhook_secret", "required: the webhook secret set on the GitHub App (deliveries are verified with it)")
	}
	switch {
	case app.PrivateKeyPath != "":
		b, err := os.ReadFile(app.PrivateKeyPath)
		if err != nil {
			return bad("github.app.private_key_path", "cannot read %s: %v", app.PrivateKeyPath, unwrapPathError(err))
		}
		if err := checkRSAKey(b); err != nil {
			return bad("github.app.private_key_path", "%s is %v", app.PrivateKeyPath, err)
		}
		app.PrivateKey = string(b)
	case app.PrivateKey != "":
		// Keys passed through env files often arrive with literal \n.
		if !strings.Contains(app.PrivateKey, "\n") {
			app.PrivateKey = strings.ReplaceAll(app.PrivateKey, `\n`, "\n")
		}
		if err := checkRSAKey([]byte(app.PrivateKey)); err != nil {
			return bad("github.app.private_key", "%v", err)
		}
	default:
		return bad("github.app.private_key", "required: the app's private key as PEM text (or set GITHUB_APP_PRIVATE_KEY_PATH to its file)")
	}
	if pu := c.Server.PublicURL; pu != "" {
		parsed, err := url.Parse(pu)
		if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" || parsed.RawQuery != "" {
			return bad("server.public_url", "%q is not an http(s) URL like https://hotfix-bot.example.com", pu)
		}
		c.Server.PublicURL = strings.TrimSuffix(pu, "/")
	}
	if k := c.Server.DetailsKey; k != "" && len(k) < MinSecretBytes {
		return bad("server.details_key", "is %d bytes; use at least %d random bytes, e.g. the output of `openssl rand -hex 32`", len(k), MinSecretBytes)
	}
	if s := app.WebhookSecret; c.Server.PublicURL != "" && c.Server.DetailsKey == "" && len(s) < MinSecretBytes {
		return bad("github.app.webhook_secret", "is %d bytes, too short to derive the details pages' key from (server.public_url is set; at least %d bytes are needed). "+
			"Either set HOTFIX_BOT_DETAILS_KEY (server.details_key) to the output of `openssl rand -hex 32`, "+
			"or rotate the webhook secret: generate one with `openssl rand -hex 32`, then enter it on the GitHub App's settings page (Webhook secret) and here at the same time "+
			"(deliveries signed in between get 400, and the redelivery sweep brings them back)", len(s), MinSecretBytes)
	}
	for _, u := range []struct{ key, val string }{
		{"github.web_url", c.GitHub.WebURL},
		{"github.v3_api_url", c.GitHub.V3APIURL},
	} {
		parsed, err := url.Parse(u.val)
		if err != nil || (parsed.Scheme != "https" && parsed.Scheme != "http") || parsed.Host == "" {
			return bad(u.key, "%q is not an http(s) URL", u.val)
		}
	}
	if !strings.HasSuffix(c.GitHub.V3APIURL, "/") {
		c.GitHub.V3APIURL += "/"
	}
	if d := time.Duration(c.GitHub.ClientTimeout); d < time.Second || d > 10*time.Minute {
		return bad("github.client_timeout", "%s is out of range; use between 1s and 10m", d)
	}
	if c.Server.Port < 1 || c.Server.Port > 65535 {
		return bad("server.port", "%d is not a TCP port (1-65535)", c.Server.Port)
	}
	if c.Server.MaxBodyBytes < 1<<10 {
		return bad("server.max_body_bytes", "%d is too small; GitHub sends payloads up to 25 MB (26214400)", c.Server.MaxBodyBytes)
	}
	if d := time.Duration(c.Server.ShutdownTimeout); d < time.Second || d > time.Hour {
		return bad("server.shutdown_timeout", "%s is out of range; use between 1s and 1h", d)
	}
	if _, err := zerolog.ParseLevel(strings.ToLower(c.LogLevel)); err != nil || c.LogLevel == "" {
		return bad("log_level", "%q is not a log level; use trace, debug, info, warn or error", c.LogLevel)
	}
	if c.Queue.Size < 1 || c.Queue.Size > 100000 {
		return bad("queue.size", "%d is out of range; use between 1 and 100000", c.Queue.Size)
	}
	if c.Queue.Workers < 1 || c.Queue.Workers > 1000 {
		return bad("queue.workers", "%d is out of range; use between 1 and 1000", c.Queue.Workers)
	}
	if c.Queue.PerInstallation < 1 || c.Queue.PerInstallation > 1000 {
		return bad("queue.per_installation", "%d is out of range; use between 1 and 1000 (more than queue.workers counts as queue.workers)", c.Queue.PerInstallation)
	}
	if d := time.Duration(c.Redelivery.Interval); d != 0 && (d < time.Minute || d > 24*time.Hour) {
		return bad("redelivery.interval", "%s is out of range; use 0 (off) or between 1m and 24h", d)
	}
	if d := time.Duration(c.Redelivery.MaxAge); d < time.Minute || d > 72*time.Hour {
		return bad("redelivery.max_age", "%s is out of range; use between 1m and 72h (GitHub keeps deliveries three days)", d)
	}
	if c.Redelivery.Max < 1 || c.Redelivery.Max > 1000 {
		return bad("redelivery.max", "%d is out of range; use between 1 and 1000", c.Redelivery.Max)
	}
	if d := time.Duration(c.HandlerTimeout); d < time.Second || d > MaxHandlerTimeout {
		return bad("handler_timeout", "%s is out of range; use between 1s and %s (a handler must end well within the 5-minute claim it holds on its work, or another replica would take the work over while it still runs)", d, MaxHandlerTimeout)
	}
	if c.Cache.MaxBytes < 0 {
		return bad("cache.max_bytes", "must not be negative (0 turns the cache off)")
	}
	if s := c.Notify.SlackWebhookURL; s != "" {
		if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
			return bad("notify.slack_webhook_url", "is not an https URL")
		}
	}
	return nil
}

// checkRSAKey accepts what ghinstallation accepts: a PEM RSA private key in
// PKCS#1 or PKCS#8 form.
func checkRSAKey(b []byte) error {
	block, _ := pem.Decode(b)
	if block == nil {
		return errors.New("not a PEM RSA key")
	}
	if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return errors.New("not a PEM RSA key")
	}
	if _, ok := k.(*rsa.PrivateKey); !ok {
		return errors.New("not a PEM RSA key (GitHub App keys are RSA)")
	}
	return nil
}

// GitHubAppConfig is the configuration in go-githubapp's form.
func (c Config) GitHubAppConfig() githubapp.Config {
	var g githubapp.Config
	g.WebURL = c.GitHub.WebURL
	g.V3APIURL = c.GitHub.V3APIURL
	g.V4APIURL = v4URL(c.GitHub.V3APIURL)
	g.App.IntegrationID = c.GitHub.App.IntegrationID
	g.App.WebhookSecret = c.GitHub.App.WebhookSecret
	g.App.PrivateKey = c.GitHub.App.PrivateKey
	return g
}

// v4URL derives the GraphQL endpoint: api.github.com/graphql, or
// HOST/api/graphql for GitHub Enterprise Server's HOST/api/v3.
func v4URL(v3 string) string {
	v3 = strings.TrimSuffix(v3, "/")
	if strings.HasSuffix(v3, "/api/v3") {
		return strings.TrimSuffix(v3, "/v3") + "/graphql"
	}
	return v3 + "/graphql"
}

// Summary describes the configuration for the start-up log line, without
// secrets.
func (c Config) Summary() map[string]any {
	return map[string]any{
		"github_api":      c.GitHub.V3APIURL,
		"github_web":      c.GitHub.WebURL,
		"integration_id":  c.GitHub.App.IntegrationID,
		"address":         fmt.Sprintf("%s:%d", c.Server.Address, c.Server.Port),
		"public_url":      c.Server.PublicURL,
		"details_key":     c.Server.DetailsKey != "",
		"queue_size":      c.Queue.Size,
		"queue_workers":   c.Queue.Workers,
		"redelivery":      time.Duration(c.Redelivery.Interval).String(),
		"handler_timeout": time.Duration(c.HandlerTimeout).String(),
		"slack":           c.Notify.SlackWebhookURL != "",
	}
}
