package postgres

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/journal"
)

// Audit actions.
const (
	actionCreate     = "create"
	actionUpdate     = "update"
	actionSuspend    = "suspend"
	actionReactivate = "reactivate"
	actionDelete     = "delete"
	actionGrants     = "grants"
)

// welcomed are the products whose first grant to a user sends a welcome mail, even when
// notifications are suppressed.
var welcomed = []string{"meeting", "webinar", "training", "openvoice"}

// uuidText finds ids in audit changes.
var uuidText = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// auditSQL returns the statement that writes one audit record for the request in ctx. Ids of
// other resources that the changes name are indexed in mentions.
func auditSQL(ctx context.Context, org, action, resourceType, resourceID string, changes any) (string, []any) {
	r := journal.From(ctx)
	id, _ := uuid.NewV7()
	b, _ := json.Marshal(changes)
	mentions := []string{}
	for _, m := range uuidText.FindAllString(string(b), -1) {
		if m = strings.ToLower(m); m != resourceID && !slices.Contains(mentions, m) {
			mentions = append(mentions, m)
		}
	}
	return `INSERT INTO audit_log (org_id, id, request_id, token_id, actor_user_id, action, resource_type, resource_id,
			changes, mentions)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		[]any{org, id.String(), r.RequestID, nullIfEmpty(r.TokenID), nullIfEmpty(r.UserID), action, resourceType, resourceID, b, mentions}
}

func audit(ctx context.Context, tx pgx.Tx, org, action, resourceType, resourceID string, changes any) error {
	sql, args := auditSQL(ctx, org, action, resourceType, resourceID, changes)
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// notice is a notification to queue for a user.
type notice struct {
	user string
	kind string
	data map[string]any
}

// journalGrants records changes of effective grants: an audit record for each user whose own
// write did not already record them (self did), and the notifications they call for. activity
// ("suspended", "reactivated" or "") is what happened to self, announced instead of a grants
// change.
func journalGrants(ctx context.Context, tx pgx.Tx, org string, changes []directory.GrantChange, self, activity string) error {
	var notices []notice
	var welcomeUsers, welcomeProducts []string
	if activity != "" {
		notices = append(notices, notice{user: self, kind: activity, data: map[string]any{}})
	}
	var auditUsers, auditChanges []string
	for _, c := range changes {
		added, removed := diffProducts(c.Before.Products, c.After.Products)
		for _, p := range added {
			if slices.Contains(welcomed, p) {
				welcomeUsers, welcomeProducts = append(welcomeUsers, c.UserID), append(welcomeProducts, p)
			}
		}
		data := map[string]any{}
		if len(added) > 0 {
			data["products_added"] = added
		}
		if len(removed) > 0 {
			data["products_removed"] = removed
		}
		if c.Before.OrgRole != c.After.OrgRole {
			data["org_role"] = journal.Change{Before: c.Before.OrgRole, After: c.After.OrgRole}
		}
		if c.Before.AccountRole != c.After.AccountRole {
			data["account_role"] = journal.Change{Before: c.Before.AccountRole, After: c.After.AccountRole}
		}
		if c.UserID == self {
			if activity == "" {
				notices = append(notices, notice{user: c.UserID, kind: "grants", data: data})
			}
			continue
		}
		notices = append(notices, notice{user: c.UserID, kind: "grants", data: data})
		b, _ := json.Marshal(data)
		auditUsers, auditChanges = append(auditUsers, c.UserID), append(auditChanges, string(b))
	}
	if len(auditUsers) > 0 {
		r := journal.From(ctx)
		// One statement for any number of users: a mapping change may affect many.
		if _, err := tx.Exec(ctx, `INSERT INTO audit_log (org_id, id, request_id, token_id, actor_user_id, action,
				resource_type, resource_id, changes)
			SELECT $1, gen_random_uuid(), $2, $3, $4, 'grants', 'User', u, c::jsonb
			FROM unnest($5::uuid[], $6::text[]) AS x (u, c)`,
			org, r.RequestID, nullIfEmpty(r.TokenID), nullIfEmpty(r.UserID), auditUsers, auditChanges); err != nil {
			return err
		}
	}
	if len(welcomeUsers) > 0 {
		// A welcome goes out the first time a user is ever granted the product.
		rows, err := tx.Query(ctx, `INSERT INTO user_welcomes (org_id, user_id, product)
			SELECT $1, u, p FROM unnest($2::uuid[], $3::text[]) AS x (u, p)
			ON CONFLICT DO NOTHING RETURNING user_id::text, product`, org, welcomeUsers, welcomeProducts)
		if err != nil {
			return err
		}
		for rows.Next() {
			var u, p string
			if err := rows.Scan(&u, &p); err != nil {
				rows.Close()
				return err
			}
			notices = append(notices, notice{user: u, kind: "welcome", data: map[string]any{"product": p}})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return queueNotices(ctx, tx, org, notices)
}

func diffProducts(before, after []string) (added, removed []string) {
	for _, p := range after {
		if !slices.Contains(before, p) {
			added = append(added, p)
		}
	}
	for _, p := range before {
		if !slices.Contains(after, p) {
			removed = append(removed, p)
		}
	}
	return added, removed
}

// queueNotices inserts notifications, addressed to each user's primary (else first work,
// else first) email or an email-shaped userName, in the user's language. Unless the request or
// the organization says otherwise, all are sent; when notifications are suppressed, only
// welcomes are.
func queueNotices(ctx context.Context, tx pgx.Tx, org string, notices []notice) error {
	if len(notices) == 0 {
		return nil
	}
	notify := journal.From(ctx).Notify
	if notify == nil {
		var orgNotify bool
		if err := tx.QueryRow(ctx, "SELECT notify FROM organizations WHERE id = $1", org).Scan(&orgNotify); err != nil {
			return err
		}
		notify = &orgNotify
	}
	var ids, users, kinds, data []string
	for _, n := range notices {
		if !*notify && n.kind != "welcome" {
			continue
		}
		id, _ := uuid.NewV7()
		b, _ := json.Marshal(n.data)
		ids, users, kinds, data = append(ids, id.String()), append(users, n.user), append(kinds, n.kind), append(data, string(b))
	}
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `INSERT INTO notifications (org_id, id, user_id, recipient, recipient_name, language, kind, data)
		SELECT $1, x.id, u.id, r.email, coalesce(u.display_name, concat_ws(' ', u.given_name, u.family_name), ''),
			CASE WHEN l.lang = ANY ('{en,fr,de,es,it,pt,nl}') THEN l.lang ELSE 'en' END,
			x.kind, x.data::jsonb
		FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[]) AS x (id, user_id, kind, data)
		JOIN users u ON u.org_id = $1 AND u.id = x.user_id
		JOIN organizations o ON o.id = $1
		CROSS JOIN LATERAL (SELECT lower(split_part(coalesce(u.preferred_language, u.locale, o.default_locale), '-', 1)) AS lang) l
		CROSS JOIN LATERAL (SELECT coalesce(
			(SELECT v.value FROM user_values v WHERE v.org_id = $1 AND v.user_id = u.id AND v.attr = 'emails'
				AND v.value LIKE '%@%' ORDER BY v."primary" DESC, (v.type = 'work') DESC NULLS LAST, v.pos LIMIT 1),
			CASE WHEN u.user_name LIKE '%@%' THEN u.user_name END) AS email) r
		WHERE r.email IS NOT NULL`, org, ids, users, kinds, data)
	return err
}
