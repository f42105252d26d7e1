package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/orgs"
)

// ListAudit implements orgs.Store. Every condition leads with the organization, so the
// indexes audit_log_at, audit_log_resource (user) and audit_log_actor (actor) serve it; the
// cursor continues strictly after the last record of the previous page in (at, id) order.
func (o *Orgs) ListAudit(ctx context.Context, org string, q orgs.AuditQuery) ([]orgs.AuditEntry, error) {
	where := []string{"org_id = $1"}
	args := []any{org}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	if q.User != "" {
		add("resource_id = $?", q.User)
	}
	if q.Actor != "" {
		add("actor_user_id = $?", q.Actor)
	}
	if q.Action != "" {
		add("action = $?", q.Action)
	}
	if q.Since != nil {
		add("at >= $?", *q.Since)
	}
	if q.Until != nil {
		add("at < $?", *q.Until)
	}
	if q.BeforeAt != nil {
		add("at <= $?", *q.BeforeAt)
		args = append(args, q.BeforeID)
		where = append(where, "(at, id) < ($"+strconv.Itoa(len(args)-1)+", $"+strconv.Itoa(len(args))+"::uuid)")
	}
	args = append(args, q.Limit)
	sql := `SELECT id::text, at, request_id, token_id::text, actor_user_id::text, action, resource_type,
			resource_id::text, changes
		FROM audit_log WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY at DESC, id DESC LIMIT $` + strconv.Itoa(len(args))
	var out []orgs.AuditEntry
	err := pgx.BeginTxFunc(ctx, o.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := orgMissing(ctx, tx, org, nil); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.AuditEntry, error) {
			var e orgs.AuditEntry
			var changes []byte
			err := r.Scan(&e.ID, &e.At, &e.RequestID, &e.TokenID, &e.ActorUserID, &e.Action, &e.ResourceType,
				&e.ResourceID, &changes)
			e.At = e.At.UTC()
			e.Changes = changes
			return e, err
		})
		return err
	})
	return out, err
}
