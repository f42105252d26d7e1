package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/journal"
	"github.com/scimd/scimd/internal/schema"
)

// DeleteUser implements directory.Store. It is a hard delete that purges the account's data
// in one transaction:
//   - the user's row, and with it (ON DELETE CASCADE) its multi-valued attributes, grants,
//     first-welcome records and product data (meeting history, scheduled meetings, records);
//   - its group memberships, the notifications queued for it, and the tokens it issued;
//   - other users' references to it as manager, which are cleared;
//   - its personal data in the audit log: records about it lose their changes, and every
//     mention of its id is replaced by a random pseudonym that nothing maps back to the person.
//
// What remains is a tombstone (resource id, time, actor) and an account.purged event queued for
// each of the organization's webhook endpoints, carrying ids only. Package tests walk every
// table afterwards to prove nothing else holds the user's data.
func (s *Users) DeleteUser(ctx context.Context, org, id string, check func(int64) error) error {
	if !validID(id) {
		return userNotFound(id)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var version, accountID int64
		var role string
		var active bool
		err := tx.QueryRow(ctx, `SELECT version, eff_org_role, active, account_id FROM users
			WHERE org_id = $1 AND id = $2 FOR UPDATE`, org, id).Scan(&version, &role, &active, &accountID)
		if errors.Is(err, pgx.ErrNoRows) {
			return userNotFound(id)
		}
		if err != nil {
			return err
		}
		if check != nil {
			if err := check(version); err != nil {
				return err
			}
		}
		pseudonym := uuid.NewString()
		r := journal.From(ctx)
		cleared, _ := json.Marshal(map[string]any{schema.EnterpriseUserURN + ":manager": journal.Change{Before: pseudonym}})
		event, err := purgeEvent(org, id, accountID)
		if err != nil {
			return err
		}
		b := &pgx.Batch{}
		// Users whose manager this was lose the reference, as a change of their own.
		b.Queue(`WITH cleared AS (
				UPDATE users SET manager_id = NULL, version = version + 1, last_modified = clock_timestamp()
				WHERE org_id = $1 AND manager_id = $2 RETURNING id)
			INSERT INTO audit_log (org_id, id, request_id, token_id, actor_user_id, action, resource_type, resource_id, changes)
			SELECT $1, gen_random_uuid(), $3, $4, $5, 'update', 'User', c.id, $6 FROM cleared c`,
			org, id, r.RequestID, nullIfEmpty(r.TokenID), nullIfEmpty(r.UserID), cleared)
		b.Queue("DELETE FROM group_members WHERE org_id = $1 AND member_id = $2", org, id)
		b.Queue("DELETE FROM notifications WHERE org_id = $1 AND user_id = $2", org, id)
		b.Queue("DELETE FROM tokens WHERE org_id = $1 AND issuer_user_id = $2", org, id)
		b.Queue("UPDATE audit_log SET resource_id = $3, changes = '{}' WHERE org_id = $1 AND resource_id = $2", org, id, pseudonym)
		b.Queue("UPDATE audit_log SET actor_user_id = $3 WHERE org_id = $1 AND actor_user_id = $2", org, id, pseudonym)
		// Other records may name the user's id (a group's members, a manager change); mentions
		// indexes them.
		b.Queue(`UPDATE audit_log SET changes = replace(changes::text, $2::uuid::text, $3::uuid::text)::jsonb,
				mentions = array_replace(mentions, $2::uuid, $3::uuid)
			WHERE org_id = $1 AND mentions @> ARRAY[$2::uuid]`, org, id, pseudonym)
		b.Queue("DELETE FROM users WHERE org_id = $1 AND id = $2", org, id)
		b.Queue(`INSERT INTO tombstones (org_id, resource_type, resource_id, pseudonym, token_id, actor_user_id, request_id)
			VALUES ($1, 'User', $2, $3, $4, $5, $6)`, org, id, pseudonym, nullIfEmpty(r.TokenID), nullIfEmpty(r.UserID), r.RequestID)
		sql, args := auditSQL(ctx, org, actionDelete, "User", pseudonym, map[string]any{})
		b.Queue(sql, args...)
		b.Queue(`INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload)
			SELECT $1, gen_random_uuid(), e.id, $2, 'account.purged', $3 FROM webhook_endpoints e WHERE e.org_id = $1`,
			org, event.ID, event.raw)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if role == grants.OrgAdmin && active {
			return ensureAnAdmin(ctx, tx, org)
		}
		return nil
	})
}

type purged struct {
	ID  string
	raw []byte
}

// purgeEvent is the account.purged event: ids only, so downstream systems can find and purge
// their copies without scimd sending them any personal data.
func purgeEvent(org, id string, accountID int64) (purged, error) {
	eid, err := uuid.NewV7()
	if err != nil {
		return purged{}, err
	}
	raw, err := json.Marshal(map[string]any{
		"id":          eid.String(),
		"type":        "account.purged",
		"created":     time.Now().UTC().Format(time.RFC3339),
		"org_id":      org,
		"resource_id": id,
		"account_id":  strconv.FormatInt(accountID, 10),
	})
	return purged{ID: eid.String(), raw: raw}, err
}
