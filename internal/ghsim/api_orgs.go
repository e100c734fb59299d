package ghsim

import (
	"net/http"
	"strings"
)

// AddTeamMember makes login an active member of org's team (created on
// first use).
func (s *Sim) AddTeamMember(org, team, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userLocked(login, "User")
	if s.teams == nil {
		s.teams = map[string]map[string]string{}
	}
	key := strings.ToLower(org + "/" + team)
	if s.teams[key] == nil {
		s.teams[key] = map[string]string{}
	}
	s.teams[key][login] = "active"
}

// InviteTeamMember records a pending invitation, which is not membership.
func (s *Sim) InviteTeamMember(org, team, login string) {
	s.AddTeamMember(org, team, login)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.teams[strings.ToLower(org+"/"+team)][login] = "pending"
}

// getTeamMembership is GET /orgs/{org}/teams/{team_slug}/memberships/{username}:
// 404 for non-members, and for installations not on the organisation.
func (s *Sim) getTeamMembership(c *call) (int, any) {
	org := c.param("org")
	if c.inst.Account == nil || !strings.EqualFold(c.inst.Account.Login, org) {
		return notFound()
	}
	state, ok := s.teams[strings.ToLower(org+"/"+c.param("team_slug"))][c.param("username")]
	if !ok {
		return notFound()
	}
	return http.StatusOK, obj{
		"url":   s.api("organizations/1/team/1/memberships/%s", c.param("username")),
		"role":  "member",
		"state": state,
	}
}
