package directory_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Deletion is a hard delete that purges the account.

func TestDeleteUserPurgesTheAccount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "admin")
	ada := f.user("ada", "admin", "meeting")
	managerOf := func(id string) string {
		return `{"userName":"` + id + `@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"` + ada + `"}}}`
	}
	vic := f.create(managerOf("vic")).ID
	walt := f.create(managerOf("walt")).ID
	sales := f.group("Sales", ada, vic)
	tok, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: ada}, time.Now())
	require.NoError(t, err)
	_, err = f.patch(f.as(ada, "admin"), vic, `{"op":"add","path":"title","value":"Engineer"}`)
	require.NoError(t, err)
	require.NotEmpty(t, f.noticesTo(ada))
	accountID := f.stored(ada).AccountID
	vicVersion := f.stored(vic).Version

	who := directory.Actor{Org: f.org, UserID: boss, TokenID: "0190aaaa-0000-7000-8000-000000000001", Role: "admin", RequestID: "req-7"}
	require.NoError(t, f.dir.DeleteUser(f.ctx, who, strings.ToUpper(ada), directory.Precondition{}))

	// The account is gone, and everything of it.
	f.gone(ada)
	_, err = f.dir.GetUser(f.ctx, f.op, ada, everything)
	requireErr(t, err, scimerr.KindNotFound, `no User with id "`+ada+`"`)
	require.Equal(t, []string{vic}, f.members(sales))
	_, err = f.store.Token(f.ctx, f.org, tok.ID)
	require.ErrorIs(t, err, directory.ErrNotFound)
	require.Empty(t, f.noticesTo(ada))
	for _, w := range f.store.Welcomes(f.org) {
		require.NotEqual(t, ada, w.UserID)
	}

	// A tombstone without personal data remains, under a pseudonym the audit log uses.
	stones := f.store.Tombstones(f.org)
	require.Len(t, stones, 1)
	pseudonym := stones[0].Pseudonym
	require.NotEmpty(t, pseudonym)
	require.NotEqual(t, ada, pseudonym)
	require.Equal(t, "User", stones[0].ResourceType)
	require.Equal(t, ada, stones[0].ResourceID)
	require.Equal(t, [3]string{who.TokenID, boss, "req-7"}, [3]string{stones[0].TokenID, stones[0].ActorUserID, stones[0].RequestID})
	raw, err := json.Marshal(f.store.Audit(f.org))
	require.NoError(t, err)
	require.NotContains(t, string(raw), ada, "the audit log keeps only the pseudonym")
	require.NotContains(t, string(raw), "ada@example.com")
	var about, by int
	for _, e := range f.store.Audit(f.org) {
		if e.ResourceID == pseudonym && e.Action != directory.ActionDelete {
			about++
			require.Equal(t, map[string]any{}, e.Changes, "records about the user keep no data of it")
		}
		if e.ActorUserID == pseudonym {
			by++
		}
	}
	require.Equal(t, 1, about, "its creation")
	require.Equal(t, 1, by, "its change of vic")
	last := f.store.Audit(f.org)
	require.Equal(t, directory.AuditEntry{Action: directory.ActionDelete, ResourceType: "User", ResourceID: pseudonym,
		Changes: map[string]any{}, TokenID: who.TokenID, ActorUserID: boss, RequestID: "req-7"}, last[len(last)-1])

	// Managers it was are cleared, each a change of the user managed.
	for _, id := range []string{vic, walt} {
		require.NotContains(t, f.stored(id).Doc, schema.EnterpriseUserURN)
		audit := f.auditOf(id)
		require.Equal(t, directory.ActionUpdate, audit[len(audit)-1].Action)
		require.Equal(t, map[string]any{schema.EnterpriseUserURN + ":manager": map[string]any{"before": map[string]any{"value": pseudonym}}},
			audit[len(audit)-1].Changes)
	}
	require.Equal(t, vicVersion+1, f.stored(vic).Version)

	// Downstream systems are told, with ids only.
	events := f.store.Events(f.org)
	require.Len(t, events, 1)
	require.Equal(t, directory.EventAccountPurged, events[0].Type)
	var payload map[string]any
	require.NoError(t, json.Unmarshal(events[0].Payload, &payload))
	created, _ := payload["created"].(string)
	_, err = time.Parse(time.RFC3339, created)
	require.NoError(t, err)
	delete(payload, "created")
	require.Equal(t, map[string]any{"id": events[0].ID, "type": "account.purged", "org_id": f.org, "resource_id": ada,
		"account_id": strconv.FormatInt(accountID, 10)}, payload)

	// The userName is free at once, with a new account ID; the user stays gone.
	again := f.create(`{"userName":"ada@example.com"}`)
	require.Greater(t, f.stored(again.ID).AccountID, accountID)
	f.refused(scimerr.KindNotFound, "", func() error { return f.dir.DeleteUser(f.ctx, f.op, ada, directory.Precondition{}) },
		`no User with id "`+ada+`"`)
}

func TestTheLastAdminCannotBeDeleted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "admin")
	f.create(`{"userName":"vic@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"` + boss + `"}}}`)
	f.refused(scimerr.KindConflict, "", func() error { return f.dir.DeleteUser(f.ctx, f.op, boss, directory.Precondition{}) },
		"without an active admin")
	require.Empty(t, f.store.Events(f.org))
	require.Empty(t, f.store.Tombstones(f.org))

	// A suspended admin is no admin: deleting one is no loss.
	old := f.user("old", "admin")
	f.mustPatch(old, `{"op":"replace","value":{"active":false}}`)
	require.NoError(t, f.dir.DeleteUser(f.ctx, f.op, old, directory.Precondition{}))
}
