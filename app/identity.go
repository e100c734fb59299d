package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-github/v60/github"
	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"
)

// Identity is who this app is on GitHub, discovered at start-up with
// GET /app, so handlers can ignore the app's own events. Until discovery
// succeeds the server reports not-ready and handlers wait for it before
// judging a bot sender.
type Identity struct {
	appID int64

	mu     sync.RWMutex
	slug   string
	reason string        // why discovery has not succeeded yet
	ready  chan struct{} // closed once the slug is known
}

// NewIdentity returns an identity that is not yet discovered.
func NewIdentity(appID int64) *Identity {
	return &Identity{appID: appID, reason: "checking the app's credentials with GitHub (GET /app)", ready: make(chan struct{})}
}

// KnownIdentity returns an already-discovered identity (tests).
func KnownIdentity(appID int64, slug string) *Identity {
	ready := make(chan struct{})
	close(ready)
	return &Identity{appID: appID, slug: slug, ready: ready}
}

// AppID is the GitHub App's ID.
func (i *Identity) AppID() int64 { return i.appID }

// Slug is the app's slug, or "" before discovery.
func (i *Identity) Slug() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.slug
}

// BotLogin is the login GitHub shows for the app's own actions.
func (i *Identity) BotLogin() string {
	if s := i.Slug(); s != "" {
		return s + "[bot]"
	}
	return ""
}

// IsSelf reports whether an event was caused by this app. viaApp is the
// app the payload says acted (performed_via_github_app, a check run's
// app), 0 when the payload does not say: then a bot sender is compared
// with the app's bot login, waiting for discovery (up to ctx's deadline)
// if the login is not known yet. Another bot's event is never dropped as
// our own, and our own is never acted on.
func (i *Identity) IsSelf(ctx context.Context, sender *github.User, viaApp int64) (bool, error) {
	if viaApp != 0 {
		return viaApp == i.appID, nil
	}
	if sender == nil || sender.GetType() != "Bot" {
		return false, nil
	}
	select {
	case <-i.ready:
	case <-ctx.Done():
		return false, fmt.Errorf("cannot tell whether the bot %s is this app: its identity is not known yet (%s): %w", sender.GetLogin(), i.reasonNow(), ctx.Err())
	}
	return sender.GetLogin() == i.BotLogin(), nil
}

// KnownSelf is IsSelf without waiting, for the door: known is false when
// telling would need the app's identity, which is not known yet.
func (i *Identity) KnownSelf(senderLogin, senderType string, viaApp int64) (self, known bool) {
	if viaApp != 0 {
		return viaApp == i.appID, true
	}
	if senderType != "Bot" {
		return false, true
	}
	login := i.BotLogin()
	if login == "" {
		return false, false
	}
	return senderLogin == login, true
}

func (i *Identity) reasonNow() string {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.reason
}

// status reports whether discovery succeeded, and why not.
func (i *Identity) status() (bool, string) {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.slug != "", i.reason
}

func (i *Identity) set(slug, reason string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if slug != "" && i.slug == "" {
		i.slug = slug
		close(i.ready)
	}
	i.reason = reason
}

// discover asks GitHub who the app is until it answers, backing off from
// one second to a minute. A wrong key or ID is not fatal: the operator sees
// it on /readyz and in the log, fixes the secret, and the loop picks it up
// on the next restart.
func (i *Identity) discover(ctx context.Context, cc githubapp.ClientCreator, clock Clock, apiURL string) {
	logger := zerolog.Ctx(ctx)
	wait := time.Second
	for {
		slug, err := fetchSlug(ctx, cc)
		if ctx.Err() != nil {
			return // shutting down
		}
		if err == nil {
			i.set(slug, "")
			logger.Info().Str("app_slug", slug).Msg("GitHub app identity discovered; ready")
			return
		}
		reason := describeDiscoveryError(err, apiURL)
		i.set("", reason)
		logger.Warn().Err(err).Dur("retry_in", wait).Msg("Not ready: " + reason)
		if clock.Sleep(ctx, wait) != nil {
			return
		}
		wait = min(wait*2, time.Minute)
	}
}

func fetchSlug(ctx context.Context, cc githubapp.ClientCreator) (string, error) {
	client, err := cc.NewAppClient()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	a, _, err := client.Apps.Get(ctx, "")
	if err != nil {
		return "", err
	}
	if a.GetSlug() == "" {
		return "", errors.New("GET /app returned no slug")
	}
	return a.GetSlug(), nil
}

func describeDiscoveryError(err error, apiURL string) string {
	var ge *github.ErrorResponse
	if errors.As(err, &ge) && ge.Response != nil {
		switch ge.Response.StatusCode {
		case http.StatusUnauthorized:
			return "GitHub rejected the app's credentials (401): check GITHUB_APP_INTEGRATION_ID and the private key belong to the same app"
		case http.StatusNotFound:
			return "GitHub does not know this app (404): check GITHUB_APP_INTEGRATION_ID"
		}
		return fmt.Sprintf("GitHub answered GET /app with %d", ge.Response.StatusCode)
	}
	return fmt.Sprintf("cannot reach GitHub at %s (%v); retrying", apiURL, err)
}
