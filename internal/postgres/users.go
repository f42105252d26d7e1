package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/journal"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// userColumns maps every singular User attribute to its column in users. Package tests check
// that every attribute of the User schemas is stored somewhere.
var userColumns = []struct{ path, column string }{
	{"userName", "user_name"},
	{"externalId", "external_id"},
	{"active", "active"},
	{"displayName", "display_name"},
	{"nickName", "nick_name"},
	{"profileUrl", "profile_url"},
	{"title", "title"},
	{"userType", "user_type"},
	{"preferredLanguage", "preferred_language"},
	{"locale", "locale"},
	{"timezone", "timezone"},
	{"name.formatted", "name_formatted"},
	{"name.familyName", "family_name"},
	{"name.givenName", "given_name"},
	{"name.middleName", "middle_name"},
	{"name.honorificPrefix", "honorific_prefix"},
	{"name.honorificSuffix", "honorific_suffix"},
	{schema.EnterpriseUserURN + ":employeeNumber", "employee_number"},
	{schema.EnterpriseUserURN + ":costCenter", "cost_center"},
	{schema.EnterpriseUserURN + ":organization", "organization"},
	{schema.EnterpriseUserURN + ":division", "division"},
	{schema.EnterpriseUserURN + ":department", "department"},
	{schema.EnterpriseUserURN + ":manager.value", "manager_id"},
}

// valueAttrs are the multi-valued attributes stored in user_values, one row per element.
// entitlements are not stored: they are a view of the products granted (package grants); of
// roles, only those that are not grants (an identity provider's app roles) are.
var valueAttrs = []string{"emails", "phoneNumbers", "ims", "photos", "roles", "x509Certificates"}

// addressColumns maps the sub-attributes of addresses to columns of user_addresses.
var addressColumns = []struct{ sub, column string }{
	{"formatted", "formatted"},
	{"streetAddress", "street_address"},
	{"locality", "locality"},
	{"region", "region"},
	{"postalCode", "postal_code"},
	{"country", "country"},
	{"type", "type"},
	{"primary", `"primary"`},
}

// Users stores User resources.
type Users struct {
	pool  *pgxpool.Pool
	rt    *schema.ResourceType
	table table
	// paths[i] is the resolved path of userColumns[i].
	paths     []schema.Path
	valuePath map[string]schema.Path
	addresses schema.Path
	groups    schema.Path
	products  schema.Path
	selectSQL string
}

// NewUsers returns the user store over pool for the User resource type rt.
func NewUsers(pool *pgxpool.Pool, rt *schema.ResourceType) (*Users, error) {
	s := &Users{pool: pool, rt: rt, valuePath: map[string]schema.Path{}}
	s.table = table{rt: rt, name: "users", alias: "u", columns: map[string]string{
		"id":                           uuidPrefix + "u.id",
		"meta.created":                 "u.created_at",
		"meta.lastModified":            "u.last_modified",
		grants.ExtURN + ":accountId":   "u.account_id::text",
		grants.ExtURN + ":status":      "(CASE WHEN u.active THEN 'active' ELSE 'suspended' END)",
		grants.ExtURN + ":orgRole":     "u.eff_org_role",
		grants.ExtURN + ":accountRole": "u.eff_account_role",
	}, children: map[string]child{
		// Filters see effective grants, as reads do.
		"entitlements": {
			from:    "user_effective_products c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id",
			columns: map[string]string{"value": "c.product", "type": "'product'"},
		},
		// The rows of the roles view: the user's two grant roles and its stored app roles.
		"roles": {
			from: "(SELECT 'orgRole:' || {p}.eff_org_role AS value, 'orgRole' AS type, NULL::text AS display, false AS \"primary\"" +
				" UNION ALL SELECT 'accountRole:' || {p}.eff_account_role, 'accountRole', NULL, false" +
				" UNION ALL SELECT v.value, v.type, v.display, v.\"primary\" FROM user_values v" +
				" WHERE v.org_id = {p}.org_id AND v.user_id = {p}.id AND v.attr = 'roles') AS c WHERE TRUE",
			columns: map[string]string{"value": "c.value", "type": "c.type", "display": "c.display", "primary": `c."primary"`},
		},
		grants.ExtURN + ":products": {
			from:    "user_effective_products c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id",
			columns: map[string]string{"value": "c.product"},
		},
	}}
	var cols []string
	for _, c := range userColumns {
		p, err := rt.ParsePath(c.path)
		if err != nil {
			return nil, fmt.Errorf("user column %s: %w", c.column, err)
		}
		s.paths = append(s.paths, p)
		s.table.columns[p.String()] = "u." + c.column
		cols = append(cols, "u."+c.column)
	}
	valueCols := map[string]string{"value": "c.value", "display": "c.display", "type": "c.type", "primary": `c."primary"`}
	for _, name := range valueAttrs {
		p, err := rt.ParsePath(name)
		if err != nil {
			return nil, err
		}
		s.valuePath[name] = p
		if _, ok := s.table.children[p.String()]; ok {
			continue // roles: a view with grant rows of its own, above
		}
		s.table.children[p.String()] = child{
			from:    "user_values c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id AND c.attr = '" + name + "'",
			columns: valueCols,
			ordered: true,
		}
	}
	p, err := rt.ParsePath("addresses")
	if err != nil {
		return nil, err
	}
	s.addresses = p
	if s.groups, err = rt.ParsePath("groups"); err != nil {
		return nil, err
	}
	if s.products, err = rt.ParsePath(grants.ExtURN + ":products"); err != nil {
		return nil, err
	}
	s.table.children[s.groups.String()] = child{
		from: "group_members c WHERE c.org_id = {p}.org_id AND c.member_id = {p}.id",
		columns: map[string]string{
			"value":   uuidPrefix + "c.group_id",
			"display": "(SELECT cg.display_name FROM groups cg WHERE cg.org_id = c.org_id AND cg.id = c.group_id)",
			"type":    "'direct'",
		},
	}
	addrCols := map[string]string{}
	for _, c := range addressColumns {
		addrCols[c.sub] = "c." + c.column
	}
	s.table.children[p.String()] = child{
		from:    "user_addresses c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id",
		columns: addrCols,
		ordered: true,
	}
	s.selectSQL = "SELECT u.id::text, u.version, u.created_at, u.last_modified, u.account_id, " + strings.Join(cols, ", ") +
		", u.org_role, u.account_role, (SELECT array_agg(c.product ORDER BY c.product) FROM user_products c" +
		" WHERE c.org_id = u.org_id AND c.user_id = u.id)" +
		", u.eff_org_role, u.eff_account_role, (SELECT array_agg(c.product ORDER BY c.product) FROM user_effective_products c" +
		" WHERE c.org_id = u.org_id AND c.user_id = u.id)"
	return s, nil
}

// selectList returns the SELECT list and FROM clause of a user read, reading the child tables
// only if the projection returns what they hold.
func (s *Users) selectFrom(pr schema.Projection) string {
	var b strings.Builder
	b.WriteString(s.selectSQL)
	values := false
	for _, p := range s.valuePath {
		values = values || pr.Returns(p)
	}
	if values {
		b.WriteString(`, (SELECT json_agg(json_build_array(c.attr, c.value, c.display, c.type, c."primary") ORDER BY c.attr, c.pos)
			FROM user_values c WHERE c.org_id = u.org_id AND c.user_id = u.id)`)
	} else {
		b.WriteString(", NULL::json")
	}
	if pr.Returns(s.addresses) {
		b.WriteString(`, (SELECT json_agg(json_build_array(`)
		for i, c := range addressColumns {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("c." + c.column)
		}
		b.WriteString(`) ORDER BY c.pos) FROM user_addresses c WHERE c.org_id = u.org_id AND c.user_id = u.id)`)
	} else {
		b.WriteString(", NULL::json")
	}
	if pr.Returns(s.groups) {
		b.WriteString(`, (SELECT json_agg(json_build_array(g.id::text, g.display_name) ORDER BY g.display_name, g.id)
			FROM group_members m JOIN groups g ON g.org_id = m.org_id AND g.id = m.group_id
			WHERE m.org_id = u.org_id AND m.member_id = u.id)`)
	} else {
		b.WriteString(", NULL::json")
	}
	b.WriteString(" FROM users u")
	return b.String()
}

// scan reads one row of selectFrom into a Resource.
func (s *Users) scan(row pgx.Row) (*directory.Resource, error) {
	r := &directory.Resource{Doc: map[string]any{}}
	texts := make([]*string, len(s.paths))
	var active bool
	var values, addresses, groups []byte
	var accountID int64
	var eff grants.Grants
	dest := []any{&r.ID, &r.Version, &r.Created, &r.LastModified, &accountID}
	for i, p := range s.paths {
		if p.Attr.Type == schema.TypeBoolean {
			dest = append(dest, &active)
		} else {
			dest = append(dest, &texts[i])
		}
	}
	dest = append(dest, &r.Direct.OrgRole, &r.Direct.AccountRole, &r.Direct.Products,
		&eff.OrgRole, &eff.AccountRole, &eff.Products, &values, &addresses, &groups)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	for i, p := range s.paths {
		if p.Attr.Type == schema.TypeBoolean {
			p.Set(r.Doc, active)
		} else if texts[i] != nil {
			p.Set(r.Doc, *texts[i])
		}
	}
	// The stored app roles are read first: the grant roles are written before them.
	if err := s.decodeValues(r.Doc, values); err != nil {
		return nil, err
	}
	eff.Write(r.Doc)
	setComputed(r.Doc, strconv.FormatInt(accountID, 10))
	if err := s.decodeGroups(r.Doc, groups); err != nil {
		return nil, err
	}
	return r, s.decodeAddresses(r.Doc, addresses)
}

func (s *Users) decodeValues(doc map[string]any, raw []byte) error {
	if raw == nil {
		return nil
	}
	var rows [][5]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		return err
	}
	lists := map[string][]any{}
	for _, row := range rows {
		attr, _ := row[0].(string)
		el := map[string]any{}
		for i, k := range []string{"value", "display", "type"} {
			if v, ok := row[i+1].(string); ok {
				el[k] = v
			}
		}
		if row[4] == true {
			el["primary"] = true
		}
		lists[attr] = append(lists[attr], el)
	}
	for attr, list := range lists {
		if p, ok := s.valuePath[attr]; ok {
			p.Set(doc, list)
		}
	}
	return nil
}

func (s *Users) decodeAddresses(doc map[string]any, raw []byte) error {
	if raw == nil {
		return nil
	}
	var rows [][]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		return err
	}
	var list []any
	for _, row := range rows {
		el := map[string]any{}
		for i, c := range addressColumns {
			switch v := row[i].(type) {
			case string:
				el[c.sub] = v
			case bool:
				if v {
					el[c.sub] = true
				}
			}
		}
		list = append(list, el)
	}
	s.addresses.Set(doc, list)
	return nil
}

// setComputed sets the read-only extension attributes the server computes: the account ID and
// the status that follows from active.
func setComputed(doc map[string]any, accountID string) {
	e, _ := doc[grants.ExtURN].(map[string]any)
	if e == nil {
		e = map[string]any{}
		doc[grants.ExtURN] = e
	}
	e["accountId"] = accountID
	e["status"] = "active"
	if doc["active"] == false {
		e["status"] = "suspended"
	}
}

// decodeGroups fills the read-only groups attribute: the user's direct groups.
func (s *Users) decodeGroups(doc map[string]any, raw []byte) error {
	if raw == nil {
		return nil
	}
	var rows [][2]string
	if err := json.Unmarshal(raw, &rows); err != nil {
		return err
	}
	list := make([]any, len(rows))
	for i, row := range rows {
		list[i] = map[string]any{"value": row[0], "display": row[1], "type": "direct"}
	}
	s.groups.Set(doc, list)
	return nil
}

// columnValues returns the users column values of doc, in userColumns order.
func (s *Users) columnValues(doc map[string]any) []any {
	out := make([]any, len(s.paths))
	for i, p := range s.paths {
		v := p.Get(doc)
		if p.Attr.Type == schema.TypeBoolean {
			// active defaults to true: a user is active unless a client says otherwise.
			b, ok := v.(bool)
			out[i] = b || !ok
			continue
		}
		out[i] = v
	}
	return out
}

// CreateUser implements directory.Store. The user, its values and its addresses are written in
// one batch, which PostgreSQL runs as one implicit transaction: one round trip.
func (s *Users) CreateUser(ctx context.Context, org string, u *directory.Resource) error {
	b := &pgx.Batch{}
	var accountID string
	if err := s.queueInsert(ctx, b, org, u, &accountID); err != nil {
		return err
	}
	eff := grants.Default()
	if reflect.DeepEqual(u.Direct, eff) {
		// A new user with default grants and no groups has nothing to refresh or announce:
		// the whole creation is one batch, run by PostgreSQL as one implicit transaction.
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return s.mapErr(err, u.Doc)
		}
	} else {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := s.mapErr(tx.SendBatch(ctx, b).Close(), u.Doc); err != nil {
				return err
			}
			changes, err := refreshFor(ctx, tx, org, []string{u.ID}, u.ID, "")
			if len(changes) == 1 {
				eff = changes[0].After
			}
			u.Changes = changes
			return err
		})
		if err != nil {
			return err
		}
	}
	eff.Write(u.Doc)
	setComputed(u.Doc, accountID)
	return nil
}

// queueInsert queues the writes that create user u, for CreateUser and CreateUsers alike: its
// users row, children, direct products and audit record. accountID receives the new account
// ID when the batch runs.
func (s *Users) queueInsert(ctx context.Context, b *pgx.Batch, org string, u *directory.Resource, accountID *string) error {
	id, err := uuid.NewV7()
	if err != nil {
		return err
	}
	u.ID = id.String()
	cols := make([]string, len(userColumns))
	ph := make([]string, len(userColumns))
	for i, c := range userColumns {
		cols[i] = c.column
		ph[i] = fmt.Sprintf("$%d", i+6)
	}
	params := append([]any{org, u.ID, nullIfEmpty(u.PasswordHash), u.Direct.OrgRole, u.Direct.AccountRole},
		s.columnValues(u.Doc)...)
	b.Queue(`INSERT INTO users (org_id, id, password_hash, org_role, account_role, `+strings.Join(cols, ", ")+`)
		VALUES ($1, $2, $3, $4, $5, `+strings.Join(ph, ", ")+`)
		RETURNING version, created_at, last_modified, account_id::text`, params...).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&u.Version, &u.Created, &u.LastModified, accountID)
		})
	s.queueChildren(b, org, u.ID, u.Doc, nil)
	s.queueProducts(b, org, u.ID, u.Direct.Products, nil)
	sql, args := auditSQL(ctx, org, actionCreate, "User", u.ID, journal.Diff(nil, u.Doc))
	b.Queue(sql, args...)
	return nil
}

// queueChildren queues the writes of the multi-valued attributes of doc. With old (the document
// before an update), attributes whose elements did not change are not rewritten.
func (s *Users) queueChildren(b *pgx.Batch, org, id string, doc, old map[string]any) {
	var attrs, values, displays, types []*string
	var pos []int32
	var primaries []bool
	changed := old == nil
	for _, name := range valueAttrs {
		p := s.valuePath[name]
		if old != nil && !reflect.DeepEqual(p.Get(doc), p.Get(old)) {
			changed = true
		}
		list, _ := p.Get(doc).([]any)
		if name == "roles" {
			list = grants.OtherRoles(list) // grant roles are stored as grants
		}
		for i, e := range list {
			el, _ := e.(map[string]any)
			n := name
			attrs = append(attrs, &n)
			pos = append(pos, int32(i))
			values = append(values, strPtr(el["value"]))
			displays = append(displays, strPtr(el["display"]))
			types = append(types, strPtr(el["type"]))
			primaries = append(primaries, el["primary"] == true)
		}
	}
	if changed {
		if old != nil {
			b.Queue("DELETE FROM user_values WHERE org_id = $1 AND user_id = $2", org, id)
		}
		if len(attrs) > 0 {
			b.Queue(`INSERT INTO user_values (org_id, user_id, attr, pos, value, display, type, "primary")
				SELECT $1, $2, * FROM unnest($3::text[], $4::int[], $5::text[], $6::text[], $7::text[], $8::bool[])`,
				org, id, attrs, pos, values, displays, types, primaries)
		}
	}
	if old != nil && reflect.DeepEqual(s.addresses.Get(doc), s.addresses.Get(old)) {
		return
	}
	if old != nil {
		b.Queue("DELETE FROM user_addresses WHERE org_id = $1 AND user_id = $2", org, id)
	}
	list, _ := s.addresses.Get(doc).([]any)
	if len(list) == 0 {
		return
	}
	cols := make([][]*string, len(addressColumns)-1)
	apos := make([]int32, len(list))
	aprimary := make([]bool, len(list))
	for i, e := range list {
		el, _ := e.(map[string]any)
		apos[i] = int32(i)
		aprimary[i] = el["primary"] == true
		for j, c := range addressColumns[:len(addressColumns)-1] {
			cols[j] = append(cols[j], strPtr(el[c.sub]))
		}
	}
	args := []any{org, id, apos}
	names := []string{"org_id", "user_id", "pos"}
	casts := []string{"$3::int[]"}
	for j, c := range addressColumns[:len(addressColumns)-1] {
		args = append(args, cols[j])
		names = append(names, c.column)
		casts = append(casts, fmt.Sprintf("$%d::text[]", len(args)))
	}
	args = append(args, aprimary)
	names = append(names, `"primary"`)
	casts = append(casts, fmt.Sprintf("$%d::bool[]", len(args)))
	b.Queue("INSERT INTO user_addresses ("+strings.Join(names, ", ")+") SELECT $1, $2, * FROM unnest("+
		strings.Join(casts, ", ")+")", args...)
}

// queueProducts writes the direct product grants when they changed from old (nil on create).
func (s *Users) queueProducts(b *pgx.Batch, org, id string, products, old []string) {
	if old != nil || len(products) == 0 {
		if slices.Equal(products, old) {
			return
		}
		b.Queue("DELETE FROM user_products WHERE org_id = $1 AND user_id = $2", org, id)
	}
	if len(products) > 0 {
		b.Queue("INSERT INTO user_products (org_id, user_id, product) SELECT $1, $2, unnest($3::text[])", org, id, products)
	}
}

func strPtr(v any) *string {
	if s, ok := v.(string); ok {
		return &s
	}
	return nil
}

func nullIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// GetUser implements directory.Store.
func (s *Users) GetUser(ctx context.Context, org, id string, pr schema.Projection) (*directory.Resource, error) {
	if !validID(id) {
		return nil, userNotFound(id)
	}
	r, err := s.scan(s.pool.QueryRow(ctx, s.selectFrom(pr)+" WHERE u.org_id = $1 AND u.id = $2", org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, userNotFound(id)
	}
	return r, err
}

// UpdateUser implements directory.Store.
func (s *Users) UpdateUser(ctx context.Context, org, id string, fn func(*directory.Resource) error) (*directory.Resource, error) {
	if !validID(id) {
		return nil, userNotFound(id)
	}
	var out *directory.Resource
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock first, then read in a second statement: under READ COMMITTED a locking read
		// re-checks only the locked row after waiting, while its subqueries (the user's
		// multi-valued attributes) would keep the older snapshot and lose concurrent updates.
		tag, err := tx.Exec(ctx, "SELECT 1 FROM users WHERE org_id = $1 AND id = $2 FOR UPDATE", org, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return userNotFound(id)
		}
		r, err := s.scan(tx.QueryRow(ctx, s.selectFrom(schema.Projection{})+" WHERE u.org_id = $1 AND u.id = $2", org, id))
		if err != nil {
			return err
		}
		// Computed read-only attributes are not the client's to change: fn sees the document
		// without them, and the response gets them back.
		groups := s.groups.Get(r.Doc)
		s.groups.Set(r.Doc, nil)
		ext := r.Doc[grants.ExtURN].(map[string]any)
		accountID := ext["accountId"].(string)
		delete(ext, "accountId")
		delete(ext, "status")
		old := schema.Clone(r.Doc)
		oldDirect := r.Direct
		out = r
		err = fn(r)
		s.groups.Set(r.Doc, groups)
		setComputed(r.Doc, accountID)
		if err != nil {
			return err
		}
		sets := make([]string, len(userColumns))
		params := []any{org, id, nullIfEmpty(r.PasswordHash), r.Direct.OrgRole, r.Direct.AccountRole}
		for i, c := range userColumns {
			sets[i] = fmt.Sprintf("%s = $%d", c.column, i+6)
		}
		params = append(params, s.columnValues(r.Doc)...)
		b := &pgx.Batch{}
		b.Queue(`UPDATE users SET `+strings.Join(sets, ", ")+`,
			password_hash = coalesce($3, password_hash), org_role = $4, account_role = $5,
			version = version + 1, last_modified = clock_timestamp()
			WHERE org_id = $1 AND id = $2 RETURNING version, last_modified`, params...).
			QueryRow(func(row pgx.Row) error { return row.Scan(&r.Version, &r.LastModified) })
		s.queueChildren(b, org, id, r.Doc, old)
		s.queueProducts(b, org, id, r.Direct.Products, oldDirect.Products)
		if err := s.mapErr(tx.SendBatch(ctx, b).Close(), r.Doc); err != nil {
			return err
		}
		action, activity := actionUpdate, ""
		switch {
		case old["active"] != false && r.Doc["active"] == false:
			action, activity = actionSuspend, "suspended"
		case old["active"] == false && r.Doc["active"] != false:
			action, activity = actionReactivate, "reactivated"
		}
		// The document shows effective grants: what the write left of them after groups.
		// They can change only when the direct grants or active did; a user write never
		// changes memberships.
		eff := grants.FromExtension(old)
		var changes []directory.GrantChange
		if activity != "" || !reflect.DeepEqual(r.Direct, oldDirect) {
			if changes, err = refreshFor(ctx, tx, org, []string{id}, id, activity); err != nil {
				return err
			}
		}
		if len(changes) == 1 {
			eff = changes[0].After
		}
		eff.Write(r.Doc)
		r.Changes = changes
		diff := journal.Diff(old, r.Doc)
		if r.PasswordHash != "" {
			diff["password"] = journal.Change{After: journal.Secret}
		}
		setComputed(r.Doc, accountID)
		return audit(ctx, tx, org, action, "User", id, diff)
	})
	if errors.Is(err, directory.ErrUnchanged) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	out.PasswordHash = ""
	return out, nil
}

// ListUsers implements directory.Store: the page and the total are read in one round trip.
func (s *Users) ListUsers(ctx context.Context, org string, q directory.Query) (*directory.Page, error) {
	return list(ctx, s.pool, &s.table, s.selectFrom(q.Projection), org, q, s.scan)
}

// mapErr turns constraint violations into the SCIM errors they mean.
func (s *Users) mapErr(err error, doc map[string]any) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "users_user_name_key" {
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "userName %q is already taken in this organization", doc["userName"])
	}
	if errors.As(err, &pgErr) && pgErr.Code == "23503" && pgErr.TableName == "user_products" {
		// The product was withdrawn from the organization's licence while this request ran.
		return scimerr.Invalid(scimerr.InvalidValue, "a granted product is not licensed by this organization")
	}
	return err
}

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil && len(id) == 36
}

func userNotFound(id string) error {
	return scimerr.NotFound("no User with id %q", id)
}
