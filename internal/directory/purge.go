package directory

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
)

// DeleteUser is a hard delete: it removes the user and purges the account's
// data in one transaction. What goes:
//   - the user's profile, emails, phones, addresses, account ID, grants, group memberships,
//     first-welcome records and product data, its queued notifications and the tokens it
//     issued;
//   - other users' references to it as manager, each cleared as a change of that user;
//   - its personal data in the audit log: records about or by it keep a random pseudonym in
//     its place, which nothing maps back to the person.
//
// What remains is a tombstone (resource id, time, actor), an audit record of the deletion under
// the pseudonym, and an account.purged webhook event carrying ids only, queued for every
// endpoint of the organization so that product systems purge their copies. An actor cannot
// delete themselves, and the last active admin cannot be deleted.
func (s *Service) DeleteUser(ctx context.Context, a Actor, id string, pre Precondition) error {
	if err := a.CanWrite(); err != nil {
		return err
	}
	id, ok := canonicalID(id)
	if !ok {
		return userNotFound(id)
	}
	if a.UserID == id {
		return errSelfDelete()
	}
	err := s.update(ctx, a, func(tx Tx) error { return s.deleteUser(tx, a, id, pre) })
	return explainUser(err, id, nil)
}

func (s *Service) deleteUser(tx Tx, a Actor, id string, pre Precondition) error {
	u, err := tx.LockUser(id)
	if err != nil {
		return err
	}
	if err := pre.Check(u.Version); err != nil {
		return err
	}
	pseudonym := uuid.NewString()
	managed, err := tx.ClearManager(id)
	if err != nil {
		return err
	}
	for _, m := range managed {
		tx.Audit(a.audit(ActionUpdate, "User", m, map[string]Change{
			schema.EnterpriseUserURN + ":manager": {Before: map[string]any{"value": pseudonym}}}))
	}
	event, err := purgedEvent(a.Org, id, u.AccountID)
	if err != nil {
		return err
	}
	tx.QueueEvent(event)
	if err := tx.PurgeUser(Purge{UserID: id, Pseudonym: pseudonym,
		TokenID: a.TokenID, ActorUserID: a.UserID, RequestID: a.RequestID}); err != nil {
		return err
	}
	tx.Audit(a.audit(ActionDelete, "User", pseudonym, map[string]any{}))
	if u.Active() && u.Effective.OrgRole == grants.OrgAdmin {
		return keepAnAdmin(tx)
	}
	return nil
}

// EventAccountPurged is the webhook event of a hard delete.
const EventAccountPurged = "account.purged"

// purgedEvent is the account.purged event: ids only, so downstream systems can find and purge
// their copies without scimd sending them any personal data.
func purgedEvent(org, id string, accountID int64) (Event, error) {
	eid, err := uuid.NewV7()
	if err != nil {
		return Event{}, err
	}
	raw, err := json.Marshal(map[string]any{
		"id":          eid.String(),
		"type":        EventAccountPurged,
		"created":     time.Now().UTC().Format(time.RFC3339),
		"org_id":      org,
		"resource_id": id,
		"account_id":  strconv.FormatInt(accountID, 10),
	})
	return Event{ID: eid.String(), Type: EventAccountPurged, Payload: raw}, err
}
