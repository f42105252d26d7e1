package postgres

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// table describes how one resource type's attributes map onto SQL: the whitelist that filters
// and sorts are translated through. An attribute that is not in it cannot be filtered on.
type table struct {
	rt    *schema.ResourceType
	name  string // the SQL table
	alias string
	// columns maps the canonical path of a singular attribute (schema.Path.String()) to a SQL
	// expression over alias.
	columns map[string]string
	// children maps the canonical path of a multi-valued attribute to the child table holding
	// its elements.
	children map[string]child
	// unique holds the canonical paths of the attributes no two resources of an organization
	// share, case-insensitively (a unique index on lower(column), or the primary key): eq on
	// one selects at most one resource.
	unique map[string]bool
}

// selectsOne reports whether filter f selects at most one resource: eq on a unique attribute.
func (t *table) selectsOne(f filter.Expr) bool {
	c, ok := f.(filter.Compare)
	return ok && c.Op == "eq" && c.Path.Sub == nil && t.unique[c.Path.String()]
}

// child is a table of elements of a multi-valued attribute.
type child struct {
	// from is the FROM clause and join condition, with c as the element alias and the parent's
	// alias substituted, e.g. "user_values c WHERE c.org_id = u.org_id AND c.user_id = u.id AND
	// c.attr = 'emails'".
	from string
	// perParent, when set, is from for a subquery that PostgreSQL runs once per parent row (see
	// rows): the parent's own rows, read by the parent key (ownRows), then tested.
	perParent string
	// columns maps sub-attribute names to columns of c.
	columns map[string]string
	// ordered tells that c has the client's element order (pos) and primary flag, by which a
	// sort picks an element's value; without, a sort uses the least value.
	ordered bool
}

// rows is ch's FROM clause for the parent aliased p. A subquery that PostgreSQL can turn into a
// join (an EXISTS in the filter's top-level AND chain) takes from, so that a selective condition
// may start from the elements: "emails.value eq x" is one probe of user_values' value index. A
// subquery that it runs once per parent row (perParent: under OR or NOT, in a sort key, in the
// roles view) takes ch.perParent instead. There, an index led by (org_id, attr) or (org_id,
// product) matches the subquery's conditions as well as the parent key does, and the planner,
// whose statistics are global and refreshed only now and then, may take it for a few rows: then
// every parent row reads every such element of the organization. Seen with roles added since
// the last ANALYZE: "roles.value le x" on 36,000 users ran 4 minutes instead of a fifth of a
// second. The price: PostgreSQL no longer has the choice of hashing the matching elements of
// every organization once, which made a selective "emails.value co x or ..." over a million
// users take half a second instead of 3-5 s; the cost now follows the organization's users
// whatever the statistics say.
func (ch child) rows(p string, perParent bool) string {
	from := ch.from
	if perParent && ch.perParent != "" {
		from = ch.perParent
	}
	return strings.ReplaceAll(from, "{p}", p)
}

// ownRows is the rows of table whose parentCol is the parent's id, as a subquery that reads them
// by that key alone: PostgreSQL neither merges a subquery with OFFSET into its caller nor
// pushes the caller's conditions into it, so no index on other columns can serve it.
func ownRows(table, parentCol string) string {
	return "(SELECT * FROM " + table + " e WHERE e.org_id = {p}.org_id AND e." + parentCol + " = {p}.id OFFSET 0)"
}

// query accumulates SQL parameters.
type query struct {
	args []any
	// children tells that the condition reads a child table (a multi-valued attribute), whose
	// changes the organization's change counts do not see (listing.count).
	children bool
}

func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where translates a filter into a SQL condition over t. Every value becomes a parameter; only
// column names from the whitelist are written into the SQL.
func (t *table) where(q *query, e filter.Expr) (string, error) {
	return t.cond(q, e, false)
}

// cond translates e; perParent tells that e is under an OR or a NOT, where PostgreSQL cannot
// turn an EXISTS into a join and runs it once per row (child.rows).
func (t *table) cond(q *query, e filter.Expr, perParent bool) (string, error) {
	switch x := e.(type) {
	case filter.And:
		return t.logical(q, x.Left, x.Right, "AND", perParent)
	case filter.Or:
		return t.logical(q, x.Left, x.Right, "OR", true)
	case filter.Not:
		return t.not(q, x.X)
	case filter.Compare:
		return t.compare(q, x, perParent)
	case filter.ValuePath:
		return t.valuePath(q, x, perParent)
	}
	return "", fmt.Errorf("filter node %T not handled", e)
}

func (t *table) logical(q *query, l, r filter.Expr, op string, perParent bool) (string, error) {
	ls, err := t.cond(q, l, perParent)
	if err != nil {
		return "", err
	}
	rs, err := t.cond(q, r, perParent)
	if err != nil {
		return "", err
	}
	return "(" + ls + " " + op + " " + rs + ")", nil
}

func (t *table) not(q *query, e filter.Expr) (string, error) {
	s, err := t.cond(q, e, true)
	if err != nil {
		return "", err
	}
	// A comparison on a missing (NULL) attribute is NULL, and NOT NULL would still exclude the
	// resource; "not (title eq x)" must match users without a title.
	return "(NOT coalesce(" + s + ", FALSE))", nil
}

func notFilterable(p schema.Path) error {
	return scimerr.Invalid(scimerr.InvalidFilter, "attribute %q cannot be used in a filter", p.String())
}

func (t *table) compare(q *query, c filter.Compare, perParent bool) (string, error) {
	if ch, ok := t.children[schema.Path{Ext: c.Path.Ext, Attr: c.Path.Attr}.String()]; ok {
		// "emails.value eq x" or "emails pr": some element matches.
		// Compare the sub-attribute; a multi-valued simple attribute (the extension's
		// products) compares its values; "emails pr" needs just an element.
		cond, col, leaf := "TRUE", "", c.Path.Sub
		switch {
		case c.Path.Sub != nil:
			col = ch.columns[c.Path.Sub.Name]
		case c.Path.Attr.Type != schema.TypeComplex:
			col, leaf = ch.columns["value"], c.Path.Attr
		case c.Op != "pr":
			return "", notFilterable(c.Path)
		}
		if leaf != nil {
			if col == "" {
				return "", notFilterable(c.Path)
			}
			var err error
			if cond, err = cmpSQL(q, col, leaf, c.Op, c.Value); err != nil {
				return "", err
			}
		}
		return t.exists(q, ch, cond, perParent), nil
	}
	col, ok := t.columns[c.Path.String()]
	if !ok {
		return "", notFilterable(c.Path)
	}
	return cmpSQL(q, col, c.Path.Leaf(), c.Op, c.Value)
}

// uuidPrefix marks a column expression as a uuid column in the whitelists: ids compare as
// uuids so that eq uses the indexes, and as text for the string operators.
const uuidPrefix = "uuid:"

// cmpUUID compares a uuid column. A value that is not a uuid can equal no id.
func cmpUUID(q *query, col string, c filter.Compare) (string, error) {
	switch c.Op {
	case "eq", "ne":
		s, _ := c.Value.(string)
		id, err := uuid.Parse(s)
		if err != nil {
			if c.Op == "eq" {
				return "FALSE", nil
			}
			return "TRUE", nil
		}
		op := "="
		if c.Op == "ne" {
			op = "<>"
		}
		return col + " " + op + " " + q.arg(id.String()) + "::uuid", nil
	case "pr":
		return col + " IS NOT NULL", nil
	}
	return cmpSQL(q, col+"::text", &schema.Attribute{Name: c.Path.Leaf().Name, Type: schema.TypeString, CaseExact: true}, c.Op, c.Value)
}

func (t *table) valuePath(q *query, v filter.ValuePath, perParent bool) (string, error) {
	ch, ok := t.children[v.Path.String()]
	if !ok {
		return "", notFilterable(v.Path)
	}
	cond, err := ch.where(q, v.Filter)
	if err != nil {
		return "", err
	}
	return t.exists(q, ch, cond, perParent), nil
}

// exists is the condition that some element of ch matches cond.
func (t *table) exists(q *query, ch child, cond string, perParent bool) string {
	q.children = true
	return "EXISTS (SELECT 1 FROM " + ch.rows(t.alias, perParent) + " AND " + cond + ")"
}

// where translates the filter inside a value path into a condition on one element row.
func (ch child) where(q *query, e filter.Expr) (string, error) {
	both := func(l, r filter.Expr, op string) (string, error) {
		ls, err := ch.where(q, l)
		if err != nil {
			return "", err
		}
		rs, err := ch.where(q, r)
		if err != nil {
			return "", err
		}
		return "(" + ls + " " + op + " " + rs + ")", nil
	}
	switch x := e.(type) {
	case filter.And:
		return both(x.Left, x.Right, "AND")
	case filter.Or:
		return both(x.Left, x.Right, "OR")
	case filter.Not:
		s, err := ch.where(q, x.X)
		return "(NOT coalesce(" + s + ", FALSE))", err
	case filter.Compare:
		return ch.compare(q, x)
	}
	return "", scimerr.Invalid(scimerr.InvalidFilter, "value filters cannot be nested")
}

func (ch child) compare(q *query, c filter.Compare) (string, error) {
	if c.Path.Sub == nil {
		return "", notFilterable(c.Path)
	}
	col, ok := ch.columns[c.Path.Sub.Name]
	if !ok {
		return "", notFilterable(c.Path)
	}
	return cmpSQL(q, col, c.Path.Sub, c.Op, c.Value)
}

// cmpSQL writes one comparison of column col, holding attribute a, with a parameter. Strings
// compare through lower() unless the attribute is caseExact, matching the lower() indexes.
func cmpSQL(q *query, col string, a *schema.Attribute, op string, v any) (string, error) {
	if uc, ok := strings.CutPrefix(col, uuidPrefix); ok {
		return cmpUUID(q, uc, filter.Compare{Path: schema.Path{Attr: a}, Op: op, Value: v})
	}
	if op == "pr" {
		if a.Type == schema.TypeBoolean || a.Type == schema.TypeDateTime {
			return col + " IS NOT NULL", nil
		}
		return "(" + col + " IS NOT NULL AND " + col + " <> '')", nil
	}
	switch a.Type {
	case schema.TypeBoolean:
		b, ok := v.(bool)
		if !ok || (op != "eq" && op != "ne") {
			return "", scimerr.Invalid(scimerr.InvalidFilter, "boolean attribute %q takes eq or ne with true or false", a.Name)
		}
		if op == "eq" {
			return col + " = " + q.arg(b), nil
		}
		return col + " IS DISTINCT FROM " + q.arg(b), nil
	case schema.TypeDateTime:
		s, _ := v.(string)
		cmp, ok := ordered[op]
		if !ok {
			return "", scimerr.Invalid(scimerr.InvalidFilter, "dateTime attribute %q takes eq, ne, gt, ge, lt, le or pr", a.Name)
		}
		if op == "ne" {
			return "(" + col + " IS NULL OR " + col + " <> " + q.arg(s) + "::timestamptz)", nil
		}
		return col + " " + cmp + " " + q.arg(s) + "::timestamptz", nil
	case schema.TypeInteger, schema.TypeDecimal:
		n, ok := v.(json.Number)
		cmp, okOp := ordered[op]
		if !ok || !okOp {
			return "", scimerr.Invalid(scimerr.InvalidFilter, "numeric attribute %q takes a number with eq, ne, gt, ge, lt or le", a.Name)
		}
		return col + " " + cmp + " " + q.arg(n.String()) + "::numeric", nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = x.String()
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", scimerr.Invalid(scimerr.InvalidFilter, "attribute %q needs a string value for %s", a.Name, op)
	}
	lhs := col
	if !a.CaseExact {
		lhs = "lower(" + col + ")"
		s = strings.ToLower(s)
	}
	switch op {
	case "co":
		return lhs + " LIKE " + q.arg("%"+likeEscape(s)+"%"), nil
	case "sw":
		return lhs + " LIKE " + q.arg(likeEscape(s)+"%"), nil
	case "ew":
		return lhs + " LIKE " + q.arg("%"+likeEscape(s)), nil
	case "ne":
		return "(" + col + " IS NULL OR " + lhs + " <> " + q.arg(s) + ")", nil
	}
	cmp, ok := ordered[op]
	if !ok {
		return "", scimerr.Invalid(scimerr.InvalidFilter, "unknown operator %q", op)
	}
	if op != "eq" {
		// Order strings by code point, not by the database's locale, so results do not depend
		// on how the server was installed.
		return lhs + ` COLLATE "C" ` + cmp + " " + q.arg(s), nil
	}
	return lhs + " = " + q.arg(s), nil
}

var ordered = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

// likeEscape escapes LIKE's wildcards; PostgreSQL's default escape character is backslash.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// keyPart is one expression of a list's order key. The key is compared part by part, then by
// the resource's id, which breaks ties, so that every order is total and pages never overlap.
// No part is ever NULL, so that a row comparison (keyset pagination) and its exact reverse
// (descending, or a page read from the end) are plain comparisons an index can serve.
type keyPart struct {
	sql  string
	kind string // one of the kinds below: how the part's value is scanned and cast back
}

// Kinds of key part, named for their SQL type.
const (
	kindBool = "boolean"
	kindText = "text"
	kindTime = "timestamptz"
)

// notNull are the sortable column expressions that are never NULL; any other gets an IS NULL
// part (see textKey). It only has to be right for the sorts migrations/0009_paging.sql indexes
// without that part: a column missing here still sorts correctly, just not by that index.
var notNull = map[string]bool{
	"u.user_name": true, "u.active": true, "u.created_at": true, "u.last_modified": true,
	"g.display_name": true, "g.created_at": true, "g.last_modified": true,
}

// sortPrefix is how many characters of a string attribute of unlimited length a sort compares.
const sortPrefix = 256

// sortKey returns the order key of sorting by p, and what the FROM clause of a page read needs
// joined for it (a multi-valued attribute's value); without p, resources come in creation
// order.
//
// Strings compare lowercased unless caseExact, by code point (COLLATE "C"): the "Unicode
// alphabetic sort order with no specific locale implied" of RFC 7644 §3.4.2.3, whatever the
// database's locale, and the order in which filters compare (cmpSQL). A resource without a
// value sorts after every value: the IS NULL part is false for values and true for none, so
// descending, the exact reverse, puts them first, as §3.4.2.3 asks. Every sort
// migrations/0009_paging.sql gives an index has exactly that index's expressions.
func (t *table) sortKey(p *schema.Path) (parts []keyPart, join string, err error) {
	if p == nil {
		return []keyPart{{t.alias + ".created_at", kindTime}}, "", nil
	}
	if col, ok := t.columns[p.String()]; ok {
		a := p.Leaf()
		if uc, ok := strings.CutPrefix(col, uuidPrefix); ok {
			if uc == t.alias+".id" {
				return nil, "", nil // the id alone
			}
			return textKey(uc+"::text", false, 0, !notNull[uc]), "", nil
		}
		switch a.Type {
		case schema.TypeBoolean:
			return scalarKey(col, kindBool, "false"), "", nil
		case schema.TypeDateTime:
			return scalarKey(col, kindTime, "'-infinity'"), "", nil
		}
		prefix := 0
		if a.MaxBytes == 0 {
			// An index entry cannot hold a value of any length: values whose length is not
			// limited (schema.MaxIndexedBytes) compare on their first sortPrefix characters.
			prefix = sortPrefix
		}
		return textKey(col, a.Type == schema.TypeString && !a.CaseExact, prefix, !notNull[col]), "", nil
	}
	top := schema.Path{Ext: p.Ext, Attr: p.Attr}
	if ch, ok := t.children[top.String()]; ok {
		// RFC 7644 §3.4.2.3: a multi-valued attribute sorts by its primary (else first) value.
		sub := "value"
		if p.Sub != nil {
			sub = p.Sub.Name
		}
		col, ok := ch.columns[sub]
		if !ok {
			return nil, "", scimerr.Invalid(scimerr.InvalidValue, "cannot sort by %q", p.String())
		}
		col = "lower(" + strings.TrimPrefix(col, uuidPrefix) + "::text)"
		expr := "(SELECT min(" + col + ") FROM " + ch.rows(t.alias, true) + ")"
		if ch.ordered {
			expr = "(SELECT " + col + " FROM " + ch.rows(t.alias, true) +
				` ORDER BY c."primary" DESC, c.pos LIMIT 1)`
		}
		// The key's two parts (missing values last, then the value) would each run the
		// subquery: it runs once per row in a lateral subquery, which OFFSET keeps PostgreSQL
		// from merging back into its references. A page sorted by emails over a million users
		// took 5.7-6.7 s with the subquery twice, 3.9-4.7 s with it once.
		return textKey("sk.v", false, 0, true), " CROSS JOIN LATERAL (SELECT " + expr + " AS v OFFSET 0) sk", nil
	}
	return nil, "", scimerr.Invalid(scimerr.InvalidValue, "cannot sort by %q", p.String())
}

// textKey is the key of string expression e: its first prefix characters (all when 0),
// lowercased first if lower.
func textKey(e string, lower bool, prefix int, nullable bool) []keyPart {
	v := e
	if prefix > 0 {
		v = "left(" + v + ", " + strconv.Itoa(prefix) + ")"
	}
	if lower {
		v = "lower(" + v + ")"
	}
	if !nullable {
		return []keyPart{{v + ` COLLATE "C"`, kindText}}
	}
	return []keyPart{{"(" + e + " IS NULL)", kindBool}, {"coalesce(" + v + `, '') COLLATE "C"`, kindText}}
}

// scalarKey is the key of a boolean or timestamp column, with zero standing in for NULL.
func scalarKey(col, kind, zero string) []keyPart {
	if notNull[col] {
		return []keyPart{{col, kind}}
	}
	return []keyPart{{"(" + col + " IS NULL)", kindBool}, {"coalesce(" + col + ", " + zero + ")", kind}}
}
