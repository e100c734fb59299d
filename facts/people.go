package facts

import (
	"context"
	"fmt"
	"net/url"

	"github.com/hotfix-bot/hotfix-bot/policy"
)

// Permission is a person's repository permission as GitHub reports it.
type Permission struct {
	Level policy.Permission
	// Role is GitHub's role_name: a base role or a custom role's name.
	Role string
}

// Permission asks GitHub for a user's permission on the repository
// (GET /collaborators/{user}/permission): role_name decides, custom roles
// fall back to the legacy permission field. A user GitHub does not know
// has no permission. Never author_association: it says how someone is
// related to the repository, not what they may do.
func (r *Repo) Permission(ctx context.Context, login string) (Permission, error) {
	return remember(ctx, &r.memo, "permission:"+login, func() (Permission, error) {
		// go-github v60 does not decode the top-level role_name.
		req, err := r.client.NewRequest("GET", fmt.Sprintf("repos/%s/%s/collaborators/%s/permission", r.Owner, r.Name, url.PathEscape(login)), nil)
		if err != nil {
			return Permission{}, err
		}
		var body struct {
			Permission string `json:"permission"`
			RoleName   string `json:"role_name"`
			User       struct {
				RoleName string `json:"role_name"`
			} `json:"user"`
		}
		if _, err := r.client.Do(ctx, req, &body); err != nil {
			if err := wrap("read the permission of @"+login, err); IsNotFound(err) {
				return Permission{Level: policy.PermissionNone, Role: "none"}, nil
			} else {
				return Permission{}, err
			}
		}
		role := body.RoleName
		if role == "" {
			role = body.User.RoleName
		}
		return Permission{Level: policy.PermissionFromGitHub(role, body.Permission), Role: role}, nil
	})
}

// TeamMember reports whether a user is an active member of a team of an
// organisation (GET /orgs/{org}/teams/{team}/memberships/{user}): a 404 is
// "not a member", a pending invitation is not membership.
func (r *Repo) TeamMember(ctx context.Context, org, team, login string) (bool, error) {
	return remember(ctx, &r.memo, "team:"+org+"/"+team+":"+login, func() (bool, error) {
		m, _, err := r.client.Teams.GetTeamMembershipBySlug(ctx, org, team, login)
		if err != nil {
			if err := wrap(fmt.Sprintf("read @%s's membership of %s/%s", login, org, team), err); IsNotFound(err) {
				return false, nil
			} else {
				return false, err
			}
		}
		return m.GetState() == "active", nil
	})
}
