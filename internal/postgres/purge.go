package postgres

import (
	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// ClearManager implements directory.Tx.
func (t *tx) ClearManager(id string) ([]string, error) {
	var out []string
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`UPDATE users SET manager_id = NULL, version = version + 1, last_modified = clock_timestamp()
			WHERE org_id = $1 AND manager_id = $2 RETURNING id::text`, t.org, id).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	})
	return out, err
}

// PurgeUser implements directory.Tx. The users row takes with it (foreign keys ON DELETE
// CASCADE) its multi-valued attributes, grants, first-welcome records, product data (meeting
// history, scheduled meetings, records), group memberships and the tokens it issued; its
// queued notifications and its audit trail are handled here. Package tests walk every table
// afterwards to prove nothing else holds the user's data.
func (t *tx) PurgeUser(p directory.Purge) error {
	t.notifyIssuers([]string{p.UserID})
	t.queue("DELETE FROM notifications WHERE org_id = $1 AND user_id = $2", t.org, p.UserID)
	t.queue("UPDATE audit_log SET resource_id = $3, changes = '{}' WHERE org_id = $1 AND resource_id = $2", t.org, p.UserID, p.Pseudonym)
	t.queue("UPDATE audit_log SET actor_user_id = $3 WHERE org_id = $1 AND actor_user_id = $2", t.org, p.UserID, p.Pseudonym)
	// Other records may name the user's id (a group's members, a manager change); mentions
	// indexes them.
	t.queue(`UPDATE audit_log SET changes = replace(changes::text, $2::uuid::text, $3::uuid::text)::jsonb,
			mentions = array_replace(mentions, $2::uuid, $3::uuid)
		WHERE org_id = $1 AND mentions @> ARRAY[$2::uuid]`, t.org, p.UserID, p.Pseudonym)
	t.queue("DELETE FROM users WHERE org_id = $1 AND id = $2", t.org, p.UserID)
	t.queue(`INSERT INTO tombstones (org_id, resource_type, resource_id, pseudonym, token_id, actor_user_id, request_id)
		VALUES ($1, 'User', $2, $3, $4, $5, $6)`, t.org, p.UserID, p.Pseudonym, nullIfEmpty(p.TokenID), nullIfEmpty(p.ActorUserID), p.RequestID)
	return nil
}
