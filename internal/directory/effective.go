package directory

import (
	"time"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// settle recomputes the effective grants of users (grants.Effective: direct grants united with
// what their groups map to, none while suspended), stores those that changed, and applies the
// rules every change of effective grants is subject to (checkChanges).
func (s *Service) settle(tx Tx, a Actor, users []string) ([]GrantChange, error) {
	if len(users) == 0 {
		return nil, nil
	}
	inputs, err := tx.GrantInputs(users)
	if err != nil {
		return nil, err
	}
	var changes []GrantChange
	for _, in := range inputs {
		next := grants.Effective(in.Direct, in.Active, in.Mapped)
		if !next.Equal(in.Effective) {
			changes = append(changes, GrantChange{UserID: in.UserID, Before: in.Effective, After: next})
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	if err := tx.SetEffective(changes); err != nil {
		return nil, err
	}
	return changes, s.checkChanges(tx, a, changes)
}

// checkChanges applies the rules on changes of effective grants, whatever caused them:
//   - self-protection: the actor cannot take away their own orgRole access;
//   - the last admin: the organization keeps an active admin;
//   - a user who loses orgRole access (demoted or suspended) loses the tokens they issued and
//     their console sessions, for good: reactivating or promoting them again does not bring a
//     token or a session back.
func (s *Service) checkChanges(tx Tx, a Actor, changes []GrantChange) error {
	if err := checkSelfDemotion(a, changes); err != nil {
		return err
	}
	var demoted []string
	lostAdmin := false
	for _, c := range changes {
		if grants.Demoted(c.Before, c.After) {
			demoted = append(demoted, c.UserID)
		}
		lostAdmin = lostAdmin || (c.Before.OrgRole == grants.OrgAdmin && c.After.OrgRole != grants.OrgAdmin)
	}
	if lostAdmin {
		if err := keepAnAdmin(tx); err != nil {
			return err
		}
	}
	if len(demoted) > 0 {
		if err := tx.EndSessions(demoted); err != nil {
			return err
		}
		return tx.RevokeTokens(demoted, time.Now())
	}
	return nil
}

// keepAnAdmin refuses a change that leaves the organization without an active admin. The
// organization is locked first, so that two requests demoting the last two admins cannot both
// see the other one still there.
func keepAnAdmin(tx Tx) error {
	if _, err := tx.LockOrg(); err != nil {
		return err
	}
	ok, err := tx.AnyActiveAdmin()
	if err != nil {
		return err
	}
	if !ok {
		return scimerr.New(scimerr.KindConflict, "",
			"the change would leave the organization without an active admin; make another user admin first")
	}
	return nil
}
