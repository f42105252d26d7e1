package postgres

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
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
	{schema.EnterpriseUserURN + ":manager.value", managerColumn},
}

// managerColumn holds the manager's id, a uuid referencing users.
const managerColumn = "manager_id"

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

// users maps the User resource type onto the users table and its children.
type users struct {
	rt    *schema.ResourceType
	table table
	// paths[i] is the resolved path of userColumns[i].
	paths     []schema.Path
	valuePath map[string]schema.Path
	addresses schema.Path
	groups    schema.Path
	// selects and byID hold every form of a user read (see variant).
	selects, byID [8]string
}

func newUsers(rt *schema.ResourceType) (*users, error) {
	s := &users{rt: rt, valuePath: map[string]schema.Path{}}
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
			from:      "user_effective_products c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id",
			perParent: ownRows("user_effective_products", "user_id") + " c WHERE TRUE",
			columns:   map[string]string{"value": "c.product", "type": "'product'"},
		},
		// The rows of the roles view: the user's two grant roles and its stored app roles. A
		// union is never turned into a join: it always runs once per user (child.rows).
		"roles": {
			from: "(SELECT 'orgRole:' || {p}.eff_org_role AS value, 'orgRole' AS type, NULL::text AS display, false AS \"primary\"" +
				" UNION ALL SELECT 'accountRole:' || {p}.eff_account_role, 'accountRole', NULL, false" +
				" UNION ALL SELECT v.value, v.type, v.display, v.\"primary\" FROM " + ownRows("user_values", "user_id") +
				" v WHERE v.attr = 'roles') AS c WHERE TRUE",
			columns: map[string]string{"value": "c.value", "type": "c.type", "display": "c.display", "primary": `c."primary"`},
		},
		grants.ExtURN + ":products": {
			from:      "user_effective_products c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id",
			perParent: ownRows("user_effective_products", "user_id") + " c WHERE TRUE",
			columns:   map[string]string{"value": "c.product"},
		},
	}, unique: map[string]bool{"id": true, "userName": true}} // users_user_name_key
	var cols []string
	for _, c := range userColumns {
		p, err := rt.ParsePath(c.path)
		if err != nil {
			return nil, fmt.Errorf("user column %s: %w", c.column, err)
		}
		s.paths = append(s.paths, p)
		if c.column == managerColumn {
			// A uuid: filters compare it as one, reads print it.
			s.table.columns[p.String()] = uuidPrefix + "u." + c.column
			cols = append(cols, "u."+c.column+"::text")
			continue
		}
		s.table.columns[p.String()] = "u." + c.column
		if p.Attr.Type != schema.TypeBoolean { // active has a column of its own in reads
			cols = append(cols, "u."+c.column)
		}
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
			from:      "user_values c WHERE c.org_id = {p}.org_id AND c.user_id = {p}.id AND c.attr = '" + name + "'",
			perParent: ownRows("user_values", "user_id") + " c WHERE c.attr = '" + name + "'",
			columns:   valueCols,
			ordered:   true,
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
	s.table.children[s.groups.String()] = child{
		from:      "group_members c WHERE c.org_id = {p}.org_id AND c.member_user = {p}.id",
		perParent: ownRows("group_members", "member_user") + " c WHERE TRUE",
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
	// The text columns travel as one array (see scan): pgx plans the scan of each column of
	// each result, and keeps the descriptions of at most 16 without allocating.
	texts := append([]string{"u.sign_in", "u.org_role", "u.account_role", "u.eff_org_role", "u.eff_account_role"}, cols...)
	s.buildSelects("SELECT u.id::text, u.version, u.created_at, u.last_modified, u.account_id, u.active, ARRAY[" +
		strings.Join(texts, ", ") + "], u.eff_products")
	return s, nil
}

// selectFrom returns the SELECT list and FROM clause of a user read: one row, whose
// multi-valued attributes are read only if the projection returns one, and whose groups only if
// it returns groups. A user's direct products are read when write says the read is for a
// change, else only while the user is suspended (they are then its pending grants, shown).
func (s *users) selectFrom(pr schema.Projection, write bool) string {
	return s.selects[s.variant(pr, write)]
}

// selectByID is selectFrom's statement for one user by organization and id ($1, $2).
func (s *users) selectByID(pr schema.Projection, write bool) string {
	return s.byID[s.variant(pr, write)]
}

// variant numbers the forms of a user read: bit 0 for a write, 1 for the multi-valued
// attributes, 2 for groups. Every form is built once, in buildSelects: reads are the hot path,
// and building the statement per request cost more allocation than the row itself.
func (s *users) variant(pr schema.Projection, write bool) int {
	v := 0
	if write {
		v |= 1
	}
	multi := pr.Returns(s.addresses)
	for _, p := range s.valuePath {
		multi = multi || pr.Returns(p)
	}
	if multi {
		v |= 2
	}
	if pr.Returns(s.groups) {
		v |= 4
	}
	return v
}

func (s *users) buildSelects(cols string) {
	for v := range len(s.selects) {
		var b strings.Builder
		b.WriteString(cols)
		if v&1 != 0 {
			b.WriteString(", " + directProductsSQL)
		} else {
			b.WriteString(", CASE WHEN NOT u.active THEN " + directProductsSQL + " END")
		}
		if v&2 != 0 {
			b.WriteString(", u.multi_valued")
		} else {
			b.WriteString(", NULL::jsonb")
		}
		if v&4 != 0 {
			// Each group as its id followed by its name, in one text[]: measured under load,
			// PostgreSQL spent about 19 µs of CPU per read on the json_agg form (an aggregate,
			// a sort and a join to initialise and run) and 13 µs on this one; the order is
			// decodeGroups'.
			b.WriteString(`, ARRAY(SELECT m.group_id::text || (SELECT g.display_name FROM groups g
			WHERE g.org_id = m.org_id AND g.id = m.group_id)
			FROM group_members m WHERE m.org_id = u.org_id AND m.member_user = u.id)`)
		} else {
			b.WriteString(", NULL::text[]")
		}
		b.WriteString(" FROM users u")
		s.selects[v] = b.String()
		s.byID[v] = s.selects[v] + " WHERE u.org_id = $1 AND u.id = $2"
	}
}

const directProductsSQL = "ARRAY(SELECT c.product FROM user_products c WHERE c.org_id = u.org_id AND c.user_id = u.id ORDER BY c.product)"

// scan reads one row of selectFrom into a User.
func (s *users) scan(row pgx.Row) (*directory.User, error) {
	r := userRow{s: s}
	if err := row.Scan(&r); err != nil {
		return nil, err
	}
	return r.u, nil
}

// userRow decodes a row of selectFrom (see wire.go for why not through pgx's scan).
type userRow struct {
	s *users
	u *directory.User
}

// userRowTypes are the types of selectFrom's columns, in order.
var userRowTypes = []uint32{pgtype.TextOID, pgtype.Int8OID, pgtype.TimestamptzOID, pgtype.TimestamptzOID,
	pgtype.Int8OID, pgtype.BoolOID, pgtype.TextArrayOID, pgtype.TextArrayOID, pgtype.TextArrayOID,
	pgtype.JSONBOID, pgtype.TextArrayOID}

// ScanRow implements pgx.RowScanner.
func (r *userRow) ScanRow(rows pgx.Rows) error {
	row, err := newWireRow(rows, userRowTypes)
	if err != nil {
		return fmt.Errorf("user read: %w", err)
	}
	u := &directory.User{Resource: directory.Resource{ID: string(row.vals[0]), Doc: make(map[string]any, 16)}}
	u.Version = row.int8(1)
	u.Created, u.LastModified = row.timestamptz(2), row.timestamptz(3)
	u.AccountID = row.int8(4)
	active := row.bool(5)
	texts := row.texts(6)
	u.Effective.Products, u.Direct.Products = row.strings(7), row.strings(8)
	multi := row.jsonb(9)
	groups := row.strings(10)
	if row.err != nil {
		return fmt.Errorf("user read: column %d: %w", row.col+1, row.err)
	}
	s := r.s
	// texts: sign_in and the four roles, then userColumns' text columns in order (newUsers).
	const lead = 5
	if texts.n != lead+len(s.paths)-1 {
		return fmt.Errorf("a user row with %d texts", texts.n)
	}
	var t [lead]pgtype.Text
	for i := range t {
		if t[i], err = texts.next(); err != nil {
			return err
		}
	}
	u.SignIn = t[0].String
	u.Direct.OrgRole, u.Direct.AccountRole = t[1].String, t[2].String
	u.Effective.OrgRole, u.Effective.AccountRole = t[3].String, t[4].String
	for _, p := range s.paths {
		if p.Attr.Type == schema.TypeBoolean {
			p.Set(u.Doc, active)
			continue
		}
		text, err := texts.next()
		if err != nil {
			return err
		}
		if text.Valid {
			p.Set(u.Doc, text.String)
		}
	}
	if len(u.Effective.Products) == 0 {
		u.Effective.Products = nil
	}
	if len(u.Direct.Products) == 0 {
		u.Direct.Products = nil
	}
	if multi != nil {
		m, err := decodeMultiValued(multi)
		if err != nil {
			return err
		}
		for attr, list := range m {
			u.Doc[attr] = list
		}
	}
	r.u = u
	return s.decodeGroups(u.Doc, groups)
}

// multiValued is the multi_valued column of doc: its multi-valued attributes, each element with
// the sub-attributes stored (those of user_values or user_addresses), primary only when true.
func (s *users) multiValued(doc map[string]any) ([]byte, error) {
	out := map[string][]map[string]any{}
	keep := func(name string, subs []string, list []any) {
		var elems []map[string]any
		for _, e := range list {
			el, _ := e.(map[string]any)
			m := map[string]any{}
			for _, k := range subs {
				if v, ok := el[k].(string); ok {
					m[k] = v
				}
			}
			if el["primary"] == true {
				m["primary"] = true
			}
			elems = append(elems, m)
		}
		if len(elems) > 0 {
			out[name] = elems
		}
	}
	for _, name := range valueAttrs {
		list, _ := s.valuePath[name].Get(doc).([]any)
		if name == "roles" {
			list = grants.OtherRoles(list) // grant roles are stored as grants
		}
		keep(name, []string{"value", "display", "type"}, list)
	}
	list, _ := s.addresses.Get(doc).([]any)
	keep(s.addresses.Attr.Name, addressSubs, list)
	return json.Marshal(out)
}

// addressSubs are the string sub-attributes of addresses.
var addressSubs = func() []string {
	var out []string
	for _, c := range addressColumns {
		if c.sub != "primary" {
			out = append(out, c.sub)
		}
	}
	return out
}()

// decodeGroups fills the read-only groups attribute: the user's direct groups, ordered by
// display name and then id, in byte order (as COLLATE "C", the sort indexes' collation). Each
// element of rows is a group's id (36 characters) followed by its display name; rows is nil
// when the read did not ask for groups.
func (s *users) decodeGroups(doc map[string]any, rows []string) error {
	if rows == nil {
		return nil
	}
	const idLen = len("00000000-0000-0000-0000-000000000000")
	for _, r := range rows {
		if len(r) < idLen {
			return fmt.Errorf("a user's group read as %q", r)
		}
	}
	slices.SortFunc(rows, func(a, b string) int {
		return cmp.Or(strings.Compare(a[idLen:], b[idLen:]), strings.Compare(a[:idLen], b[:idLen]))
	})
	list := make([]any, len(rows))
	for i, r := range rows {
		list[i] = map[string]any{"value": r[:idLen], "display": r[idLen:], "type": "direct"}
	}
	s.groups.Set(doc, list)
	return nil
}

// columnValues returns the users column values of doc: active, and the text of every other
// column of userColumns in order (NULL where doc has none), which the statements take as one
// text[] parameter (see insertUserSQL).
func (s *users) columnValues(doc map[string]any) (active bool, texts pgtype.FlatArray[pgtype.Text], err error) {
	texts = make(pgtype.FlatArray[pgtype.Text], 0, len(s.paths)-1)
	for _, p := range s.paths {
		v := p.Get(doc)
		if p.Attr.Type == schema.TypeBoolean {
			// active defaults to true: a user is active unless a client says otherwise.
			b, ok := v.(bool)
			active = b || !ok
			continue
		}
		str, ok := v.(string)
		if !ok && v != nil {
			return false, nil, fmt.Errorf("user attribute %s holds a %T, not a string", p, v)
		}
		texts = append(texts, pgtype.Text{String: str, Valid: ok})
	}
	return active, texts, nil
}

// queueChildren queues the writes of the multi-valued attributes of doc. With old (the document
// before an update), attributes whose elements did not change are not rewritten.
func (s *users) queueChildren(b *pgx.Batch, org, id string, doc, old map[string]any) {
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
func queueProducts(b *pgx.Batch, org, id string, products, old []string) {
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
