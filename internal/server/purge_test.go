package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// purgeExempt are the only columns that may still hold a deleted user's identifiers, and why:
// the tombstone records which resource was deleted (its random id, no personal data), and the
// queued account.purged events tell product systems which account to purge. Any other column
// holding them fails the purge test, including columns of tables added later.
var purgeExempt = map[string]bool{
	"tombstones.resource_id":     true,
	"webhook_deliveries.payload": true,
}

// traces counts, per table.column, the rows of every table in the test's schema that hold one of
// the needles (substring match, case-insensitive) or, in a column about accounts, the account
// ID. Tables come from information_schema, so a table added later is walked too.
func (e *env) traces(needles []string, accountID string) map[string]int {
	e.t.Helper()
	ctx := context.Background()
	rows, err := e.pool.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`)
	require.NoError(e.t, err)
	type col struct{ table, column string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.table, &c.column)
	})
	require.NoError(e.t, err)
	require.Greater(e.t, len(cols), 50, "the walk must see the whole schema")
	out := map[string]int{}
	for _, c := range cols {
		var n int
		sql := fmt.Sprintf(`SELECT count(*) FROM %s WHERE %s::text ILIKE ANY ($1) OR ($2 AND %s::text = $3)`,
			pgx.Identifier{c.table}.Sanitize(), pgx.Identifier{c.column}.Sanitize(), pgx.Identifier{c.column}.Sanitize())
		// Account IDs are small numbers, so they are looked for where an account ID can be: in
		// account columns, and as accountId/account_id values in documents.
		patterns := []string{`%"accountId": "` + accountID + `"%`, `%"account_id": "` + accountID + `"%`}
		for _, s := range needles {
			patterns = append(patterns, "%"+s+"%")
		}
		isAccount := strings.Contains(strings.ToLower(c.column), "account")
		require.NoError(e.t, e.pool.QueryRow(ctx, sql, patterns, isAccount, accountID).Scan(&n), "%s.%s", c.table, c.column)
		if n > 0 {
			out[c.table+"."+c.column] = n
		}
	}
	return out
}

// richUser creates a user with every kind of data scimd holds for an account and returns its
// id, its account ID and the strings that identify the person.
func (e *env) richUser() (id, accountID string, personal []string) {
	e.t.Helper()
	ctx := context.Background()
	e.license("meeting", "webinar")
	e.createUser(adminBody("keeper")) // so that the rich user, an admin, may go
	u := e.createUser(map[string]any{
		"userName": "zebulon.quillfeather@example.com",
		"name": map[string]any{"givenName": "Zebulon", "familyName": "Quillfeather", "formatted": "Zebulon Q. Quillfeather",
			"middleName": "Quincy", "honorificPrefix": "Dr."},
		"displayName": "Zeb Quillfeather", "nickName": "Zebby", "title": "Archivist", "locale": "nl-NL",
		"password": "unforgettable-phrase",
		"emails": []any{map[string]any{"value": "zebulon.quillfeather@example.com", "type": "work", "primary": true},
			map[string]any{"value": "zeb.private@example.com", "type": "home"}},
		"phoneNumbers":     []any{map[string]any{"value": "+31 20 555 0199", "type": "mobile"}},
		"ims":              []any{map[string]any{"value": "zebquill", "type": "xmpp"}},
		"photos":           []any{map[string]any{"value": "https://photos.example.com/zebquill.jpg", "type": "photo"}},
		"x509Certificates": []any{map[string]any{"value": "MIIZebQuillCert"}},
		"addresses":        []any{map[string]any{"streetAddress": "Quillstraat 7", "locality": "Zebdam", "type": "home"}},
		"externalId":       "ext-zebquill",
		entURN:             map[string]any{"employeeNumber": "ZQ-0007", "department": "Quill Archives"},
		extURN:             map[string]any{"orgRole": "admin", "products": []any{"meeting"}},
	})
	id, accountID = u["id"].(string), get(u, extURN, "accountId").(string)
	// A colleague's manager, a member of a mapped group, an issuer of a token that acted.
	e.createUser(map[string]any{"userName": "colleague@example.com", entURN: map[string]any{"manager": map[string]any{"value": id}}})
	gid := e.group("Quill team", id)
	_, err := e.pool.Exec(ctx, `INSERT INTO group_mappings (org_id, group_id, account_role) VALUES ($1, $2, 'admin')`, e.org, gid)
	require.NoError(e.t, err)
	_, err = e.pool.Exec(ctx, `INSERT INTO group_mapping_products (org_id, group_id, product) VALUES ($1, $2, 'webinar')`, e.org, gid)
	require.NoError(e.t, err)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("remove", "members", nil)), nil)
	e.must(http.StatusNoContent, http.MethodPatch, "/Groups/"+gid, patchBody(op("add", "members", memberList(id))), nil)
	mine, _ := e.tokenFor(id, nil)
	mine.must(http.StatusOK, http.MethodPatch, "/Users/"+id, patchBody(op("replace", "nickName", "Zebster")), nil)
	other := e.user("acted-on", nil)
	mine.must(http.StatusOK, http.MethodPatch, "/Users/"+other, patchBody(op("replace", "title", "Clerk")), nil)
	// Product data, as product systems write it.
	for _, sql := range []string{
		`INSERT INTO meeting_history (org_id, user_id, id, topic, started_at, details) VALUES ($1, $2, gen_random_uuid(), 'Zebulon weekly', now(), '{"host": "Zebulon"}')`,
		`INSERT INTO scheduled_meetings (org_id, user_id, id, topic, starts_at) VALUES ($1, $2, gen_random_uuid(), 'Quillfeather sync', now() + interval '1 day')`,
		`INSERT INTO product_records (org_id, user_id, id, product, kind, payload) VALUES ($1, $2, gen_random_uuid(), 'webinar', 'registration', '{"attendee": "Zebulon Quillfeather"}')`,
		`INSERT INTO webhook_endpoints (org_id, id, url, secret) VALUES ($1, gen_random_uuid(), 'http://127.0.0.1:1/hook', 's3cret')`,
	} {
		args := []any{e.org, id}
		if strings.HasPrefix(sql, "INSERT INTO webhook_endpoints") {
			args = args[:1]
		}
		_, err := e.pool.Exec(ctx, sql, args...)
		require.NoError(e.t, err)
	}
	personal = []string{id, "zebulon", "quillfeather", "zeb.private", "+31 20 555 0199", "zebquill", "Quillstraat",
		"ZQ-0007", "ext-zebquill", "Zebby", "Zebster"}
	return id, accountID, personal
}

func TestDeletePurgesEveryTrace(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, accountID, personal := e.richUser()
	before := e.traces(personal, accountID)
	for _, table := range []string{"users", "user_values", "user_addresses", "user_products", "user_effective_products",
		"group_members", "tokens", "audit_log", "notifications", "user_welcomes", "meeting_history", "scheduled_meetings", "product_records"} {
		found := false
		for k := range before {
			found = found || strings.HasPrefix(k, table+".")
		}
		require.True(t, found, "the rich user must have data in %s before the delete: %v", table, before)
	}

	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil, nil)

	after := e.traces(personal, accountID)
	for k := range purgeExempt {
		delete(after, k)
	}
	require.Empty(t, after, "no row may hold the deleted user's id, account ID, userName, emails or names")
	requireError(t, e.do(http.MethodGet, "/Users/"+id, nil, nil), http.StatusNotFound, "")
	requireError(t, e.do(http.MethodDelete, "/Users/"+id, nil, nil), http.StatusNotFound, "")
	r := e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`userName eq "zebulon.quillfeather@example.com"`), nil, nil)
	require.EqualValues(t, 0, r.Body["totalResults"])
	// What remains: a tombstone, an audit record of the deletion under a pseudonym, and one
	// account.purged event per webhook endpoint.
	var pseudonym string
	require.NoError(t, e.pool.QueryRow(context.Background(),
		"SELECT pseudonym::text FROM tombstones WHERE org_id = $1 AND resource_id = $2", e.org, id).Scan(&pseudonym))
	require.Equal(t, []string{"delete"}, lastActions(e, pseudonym, 1))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND event_type = 'account.purged'
		AND payload->>'resource_id' = $2 AND payload->>'account_id' = $3`, e.org, id, accountID))
	// The userName is free at once, with a new id and account ID.
	u := e.createUser(map[string]any{"userName": "Zebulon.Quillfeather@example.com"})
	require.NotEqual(t, id, u["id"])
	require.NotEqual(t, accountID, get(u, extURN, "accountId"))
}

func lastActions(e *env, resource string, n int) []string {
	var out []string
	for _, a := range e.auditOf(resource) {
		out = append(out, a.Action)
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}

// A failure midway through a purge leaves everything as it was: here the tombstone, written
// late in the transaction, cannot be inserted.
func TestDeleteIsAtomic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, accountID, personal := e.richUser()
	before := e.traces(personal, accountID)
	ctx := context.Background()
	_, err := e.pool.Exec(ctx, `CREATE FUNCTION fail_purge() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'injected failure'; END $$;
		CREATE TRIGGER fail_purge BEFORE INSERT ON tombstones FOR EACH ROW EXECUTE FUNCTION fail_purge()`)
	require.NoError(t, err)
	r := e.do(http.MethodDelete, "/Users/"+id, nil, nil)
	requireError(t, r, http.StatusInternalServerError, "")
	require.NotContains(t, string(r.Raw), "injected", "internal errors are not echoed")
	require.Equal(t, before, e.traces(personal, accountID), "a failed purge changes nothing")
	e.must(http.StatusOK, http.MethodGet, "/Users/"+id, nil, nil)
	_, err = e.pool.Exec(ctx, "DROP TRIGGER fail_purge ON tombstones")
	require.NoError(t, err)
	e.must(http.StatusNoContent, http.MethodDelete, "/Users/"+id, nil, nil)
}

func TestDeleteRefusalsLeaveEverythingIntact(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	id, accountID, personal := e.richUser()
	// The keeper is the other admin; with it demoted the rich user is the last admin.
	keeper := ids(e.must(http.StatusOK, http.MethodGet, "/Users?filter="+urlq(`userName eq "keeper@example.com"`), nil, nil))[0]
	e.must(http.StatusOK, http.MethodPatch, "/Users/"+keeper, patchBody(op("replace", extURN+":orgRole", "user")), nil)
	mine, _ := e.tokenFor(id, nil)
	before := e.traces(personal, accountID)
	requireError(t, mine.do(http.MethodDelete, "/Users/"+id, nil, nil), http.StatusForbidden, "")
	requireError(t, e.do(http.MethodDelete, "/Users/"+id, nil, nil), http.StatusConflict, "")
	require.Equal(t, before, e.traces(personal, accountID))
}
