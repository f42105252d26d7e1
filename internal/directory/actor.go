package directory

import (
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Actor is who makes a request, and how.
type Actor struct {
	Org string
	// UserID is the person acting: the user who issued the request's token, or the admin
	// signed in to the console. Empty for a service token and for the operator's admin API
	// and command line, which have no person of the organization behind them.
	UserID string
	// TokenID is the token the request came with, if any.
	TokenID string
	// Role is the orgRole the actor acts with: grants.OrgAdmin or grants.OrgAdminReadOnly.
	Role      string
	RequestID string
	// Notify overrides the organization's notification setting for this request when set.
	Notify *bool
}

// Operator is the actor of the operator's own tools (admin API, command line): an admin of the
// organization with no person of it behind them.
func Operator(org string) Actor {
	return Actor{Org: org, Role: grants.OrgAdmin}
}

// CanWrite reports whether the actor may change anything: admin-readonly may only read.
func (a Actor) CanWrite() error {
	if a.Role == grants.OrgAdmin {
		return nil
	}
	return scimerr.New(scimerr.KindForbidden, "",
		"this token or session acts as an admin-readonly user: it may read but not change anything")
}

func (a Actor) audit(action, resourceType, id string, changes any) AuditEntry {
	return AuditEntry{Action: action, ResourceType: resourceType, ResourceID: id, Changes: changes,
		TokenID: a.TokenID, ActorUserID: a.UserID, RequestID: a.RequestID}
}

func forbidden(format string, args ...any) error {
	return scimerr.New(scimerr.KindForbidden, "", format, args...)
}

// Self-protection: an admin can change their own name and email, but not their
// own roles, and cannot suspend or delete themselves, by any path.

func errSelfDelete() error {
	return forbidden("you cannot delete yourself: the token or session you use acts as this user")
}

func errSelfSuspend() error {
	return scimerr.New(scimerr.KindForbidden, "", "you cannot suspend yourself: the token or session you use acts as this user").On("active")
}

func errSelfRoles() error {
	return scimerr.New(scimerr.KindForbidden, "", "you cannot change your own orgRole or accountRole: the token or session you use acts as this user").On("orgRole")
}

// checkSelfDemotion refuses changes that take away the actor's own orgRole access, whatever
// caused them: a change of their own roles, leaving a group that made them admin, a group or
// mapping changed or deleted.
func checkSelfDemotion(a Actor, changes []GrantChange) error {
	if a.UserID == "" {
		return nil
	}
	for _, c := range changes {
		if c.UserID == a.UserID && grants.Demoted(c.Before, c.After) {
			return scimerr.New(scimerr.KindForbidden, "", "this change would take your own orgRole from %s to %s (through your roles or your groups): "+
				"the token or session you use acts as this user; ask another admin", c.Before.OrgRole, c.After.OrgRole).On("orgRole")
		}
	}
	return nil
}
