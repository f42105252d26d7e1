package postgres

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
)

// The journal of a change (directory.JournalTx): audit records (migration 0004), notifications
// in the outbox that notify workers deliver, and webhook deliveries (migration 0005), all
// written in the change's transaction.

// uuidsIn returns the UUID-shaped substrings of b (8-4-4-4-12 hex digits), lowercased, left
// to right without overlaps: the ids audit changes name. A hand-written scan, since a regular
// expression took a twentieth of a create's CPU.
func uuidsIn(b []byte) []string {
	var out []string
	for i := 0; i+36 <= len(b); {
		if uuidAt(b[i : i+36]) {
			out = append(out, strings.ToLower(string(b[i:i+36])))
			i += 36
			continue
		}
		i++
	}
	return out
}

func uuidAt(b []byte) bool {
	for i, c := range b {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}

// Audit implements directory.Tx. Ids of other resources that the changes name are indexed in
// mentions, so that purging a user finds the records that name it without reading the log.
func (t *tx) Audit(entries ...directory.AuditEntry) {
	for _, e := range entries {
		id, _ := uuid.NewV7()
		b, _ := json.Marshal(e.Changes)
		mentions := []string{}
		for _, m := range uuidsIn(b) {
			if m != e.ResourceID && !slices.Contains(mentions, m) {
				mentions = append(mentions, m)
			}
		}
		t.queue(`INSERT INTO audit_log (org_id, id, request_id, token_id, actor_user_id, action, resource_type, resource_id,
				changes, mentions)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			t.org, id.String(), e.RequestID, nullIfEmpty(e.TokenID), nullIfEmpty(e.ActorUserID), e.Action, e.ResourceType,
			e.ResourceID, b, mentions)
	}
}

// Recipients implements directory.Tx.
func (t *tx) Recipients(users []string) ([]directory.Recipient, error) {
	var out []directory.Recipient
	err := t.send(func(b *pgx.Batch) {
		b.Queue(`SELECT u.id::text, coalesce(u.sign_in, ''),
				coalesce(u.display_name, concat_ws(' ', u.given_name, u.family_name), ''),
				coalesce(u.preferred_language, ''), coalesce(u.locale, '')
			FROM users u WHERE u.org_id = $1 AND u.id = ANY($2::uuid[])`, t.org, users).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Recipient, error) {
				var rc directory.Recipient
				return rc, r.Scan(&rc.UserID, &rc.SignIn, &rc.Name, &rc.PreferredLanguage, &rc.Locale)
			})
			return err
		})
	})
	return out, err
}

// FirstWelcomes implements directory.Tx.
func (t *tx) FirstWelcomes(welcomes []directory.Welcome, known bool) ([]directory.Welcome, error) {
	users := make([]string, len(welcomes))
	products := make([]string, len(welcomes))
	for i, w := range welcomes {
		users[i], products[i] = w.UserID, w.Product
	}
	const insert = `INSERT INTO user_welcomes (org_id, user_id, product)
		SELECT $1, u, p FROM unnest($2::uuid[], $3::text[]) AS x (u, p) ON CONFLICT DO NOTHING`
	if known {
		t.queue(insert, t.org, users, products)
		return welcomes, nil
	}
	var out []directory.Welcome
	err := t.send(func(b *pgx.Batch) {
		b.Queue(insert+" RETURNING user_id::text, product", t.org, users, products).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (directory.Welcome, error) {
				var w directory.Welcome
				return w, r.Scan(&w.UserID, &w.Product)
			})
			return err
		})
	})
	return out, err
}

// Notify implements directory.Tx.
func (t *tx) Notify(notices ...directory.Notice) {
	n := len(notices)
	ids, users, recipients, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	langs, kinds, data := make([]string, n), make([]string, n), make([]string, n)
	for i, x := range notices {
		id, _ := uuid.NewV7()
		b, _ := json.Marshal(x.Data)
		ids[i], users[i], recipients[i], names[i] = id.String(), x.UserID, x.Recipient, x.RecipientName
		langs[i], kinds[i], data[i] = x.Language, x.Kind, string(b)
	}
	t.queue(`INSERT INTO notifications (org_id, id, user_id, recipient, recipient_name, language, kind, data)
		SELECT $1, x.id, x.user_id, x.recipient, x.name, x.lang, x.kind, x.data::jsonb
		FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
			AS x (id, user_id, recipient, name, lang, kind, data)`,
		t.org, ids, users, recipients, names, langs, kinds, data)
}

// queueEventSQL queues an event ($2 id, $3 type, $4 payload) for every endpoint of organization
// $1: one delivery each, carrying the endpoint's URL and secret.
const queueEventSQL = `INSERT INTO webhook_deliveries (org_id, id, endpoint_id, event_id, event_type, payload, url, secret)
	SELECT $1, gen_random_uuid(), e.id, $2, $3, $4, e.url, e.secret FROM webhook_endpoints e WHERE e.org_id = $1`

// QueueEvent implements directory.Tx: one delivery per endpoint.
func (t *tx) QueueEvent(e directory.Event) {
	t.queue(queueEventSQL, t.org, e.ID, e.Type, e.Payload)
}
