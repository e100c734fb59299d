package facts

import (
	"context"
	"fmt"

	"github.com/google/go-github/v60/github"
)

// AppClients are the GitHub clients of the app itself and of its
// installations (the server's client creator).
type AppClients interface {
	NewAppClient() (*github.Client, error)
	NewInstallationClient(installationID int64) (*github.Client, error)
}

// OpenRepository opens a repository by name, for a request that is not a
// webhook (a webhook names its installation): it finds the app's
// installation on the repository and reads the repository through it
// (its default branch and address). An error of kind NotFound means the
// app is not installed there, or the repository does not exist.
func OpenRepository(ctx context.Context, clients AppClients, owner, name string, appID int64) (*Repo, error) {
	appClient, err := clients.NewAppClient()
	if err != nil {
		return nil, fmt.Errorf("the app's client: %w", err)
	}
	inst, _, err := appClient.Apps.FindRepositoryInstallation(ctx, owner, name)
	if err != nil {
		return nil, wrap(fmt.Sprintf("find the app's installation on %s/%s", owner, name), err) // 404: not installed
	}
	client, err := clients.NewInstallationClient(inst.GetID())
	if err != nil {
		return nil, fmt.Errorf("installation %d client: %w", inst.GetID(), err)
	}
	gh, _, err := client.Repositories.Get(ctx, owner, name)
	if err != nil {
		return nil, wrap(fmt.Sprintf("read %s/%s", owner, name), err)
	}
	r := NewRepo(client, owner, name, gh.GetDefaultBranch(), appID)
	r.HTMLURL = gh.GetHTMLURL()
	return r, nil
}
