// Package grants defines a user's grants (orgRole, accountRole, products) and their three
// representations in a User document: scimd's extension, and the core roles and entitlements
// attributes, which are live views of the same grants. Writing any of them changes the grants;
// reading always shows all three in agreement.
package grants

import (
	"reflect"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/scimerr"
)

// ExtURN is the URN of scimd's User extension schema (schemas/scimd-user.json).
const ExtURN = "urn:scimd:schemas:extension:2.0:User"

// Role values.
const (
	OrgAdmin         = "admin"
	OrgAdminReadOnly = "admin-readonly"
	OrgUser          = "user"
	AccountAdmin     = "admin"
	AccountMember    = "member"
)

// Types of the elements of the roles and entitlements views.
const (
	orgRoleType     = "orgRole"
	accountRoleType = "accountRole"
	productType     = "product"
)

// Grants are what a user is granted.
type Grants struct {
	OrgRole     string
	AccountRole string
	Products    []string // sorted, distinct
}

// Default is what a new user gets when nothing is said.
func Default() Grants {
	return Grants{OrgRole: OrgUser, AccountRole: AccountMember}
}

// Rank orders orgRoles from least to most access, so that the highest of several wins.
func Rank(orgRole string) int {
	switch orgRole {
	case OrgAdmin:
		return 2
	case OrgAdminReadOnly:
		return 1
	}
	return 0
}

// Mapping is what a group maps its users to: a role of each kind ("" maps
// none) and products.
type Mapping struct {
	OrgRole     string
	AccountRole string
	Products    []string
}

// Effective are the grants a user holds: their direct grants united with what the groups they
// belong to (directly or through nested groups) map to, the highest role winning; a suspended
// user holds none, whatever is granted.
func Effective(direct Grants, active bool, mapped []Mapping) Grants {
	if !active {
		return Default()
	}
	out := Grants{OrgRole: direct.OrgRole, AccountRole: direct.AccountRole}
	products := slices.Clone(direct.Products)
	for _, m := range mapped {
		if Rank(m.OrgRole) > Rank(out.OrgRole) {
			out.OrgRole = m.OrgRole
		}
		if m.AccountRole == AccountAdmin {
			out.AccountRole = AccountAdmin
		}
		products = append(products, m.Products...)
	}
	slices.Sort(products)
	out.Products = slices.Compact(products)
	if len(out.Products) == 0 {
		out.Products = nil
	}
	return out
}

// Equal reports whether two sets of grants are the same.
func (g Grants) Equal(o Grants) bool {
	return g.OrgRole == o.OrgRole && g.AccountRole == o.AccountRole && slices.Equal(g.Products, o.Products)
}

// Demoted reports whether going from before to after takes away orgRole access: admin to
// admin-readonly or user, admin-readonly to user.
func Demoted(before, after Grants) bool {
	return Rank(after.OrgRole) < Rank(before.OrgRole)
}

func ext(doc map[string]any) map[string]any {
	m, _ := doc[ExtURN].(map[string]any)
	return m
}

// FromExtension reads the grants the extension of a stored (consistent) document holds.
func FromExtension(doc map[string]any) Grants {
	g := Default()
	e := ext(doc)
	if v, ok := e["orgRole"].(string); ok {
		g.OrgRole = v
	}
	if v, ok := e["accountRole"].(string); ok {
		g.AccountRole = v
	}
	if list, ok := e["products"].([]any); ok {
		for _, p := range list {
			if s, ok := p.(string); ok {
				g.Products = append(g.Products, s)
			}
		}
	}
	return g
}

// Write stores g in doc: the extension's orgRole, accountRole and products, and the roles and
// entitlements views. Roles of doc that are not grants (an identity provider's own app roles)
// are kept after the two grant roles.
func (g Grants) Write(doc map[string]any) {
	e := ext(doc)
	if e == nil {
		e = map[string]any{}
		doc[ExtURN] = e
	}
	e["orgRole"], e["accountRole"] = g.OrgRole, g.AccountRole
	doc["roles"] = append([]any{
		map[string]any{"value": orgRoleType + ":" + g.OrgRole, "type": orgRoleType},
		map[string]any{"value": accountRoleType + ":" + g.AccountRole, "type": accountRoleType},
	}, OtherRoles(doc["roles"])...)
	if len(g.Products) == 0 {
		delete(e, "products")
		delete(doc, "entitlements")
		return
	}
	products := make([]any, len(g.Products))
	ents := make([]any, len(g.Products))
	for i, p := range g.Products {
		products[i] = p
		ents[i] = map[string]any{"value": p, "type": productType}
	}
	e["products"], doc["entitlements"] = products, ents
}

// Reconcile works out the grants a write asks for and writes them back into doc, so that the
// extension and both views agree. prev is the document before the write (nil on create). A
// client may express grants through the extension or through roles/entitlements: whichever it
// changed wins, and changing both to different values is an error. With replace (POST, PUT),
// an attribute the body leaves out keeps its current value, because identity providers that do
// not know scimd's grants must not revoke them by omission; with PATCH, removing an attribute
// resets it to the default.
func Reconcile(doc, prev map[string]any, replace bool) (Grants, error) {
	cur := Default()
	var prevDoc map[string]any
	if prev != nil {
		cur = FromExtension(prev)
		prevDoc = prev
	} else {
		prevDoc = map[string]any{}
		cur.Write(prevDoc)
	}
	g := cur
	e, pe := ext(doc), ext(prevDoc)

	// Roles: from the roles view if it changed, else from the extension.
	rolesGiven, rolesChanged := changed(doc["roles"], prevDoc["roles"], replace)
	if !rolesGiven {
		// Roles left out of a PUT keep their stored value, app roles included.
		doc["roles"] = prevDoc["roles"]
	}
	var viewOrg, viewAccount string
	if rolesGiven && rolesChanged {
		var err error
		if viewOrg, viewAccount, err = parseRoles(doc["roles"], prevDoc["roles"]); err != nil {
			return Grants{}, err
		}
	}
	for _, r := range []struct {
		attr, view, def string
		dst             *string
		valid           []string
	}{
		{"orgRole", viewOrg, OrgUser, &g.OrgRole, []string{OrgAdmin, OrgAdminReadOnly, OrgUser}},
		{"accountRole", viewAccount, AccountMember, &g.AccountRole, []string{AccountAdmin, AccountMember}},
	} {
		extGiven, extChanged := changed(e[r.attr], pe[r.attr], replace)
		var fromExt string
		if extGiven && extChanged {
			s, _ := e[r.attr].(string)
			fromExt = strings.ToLower(strings.TrimSpace(s))
			if fromExt == "" {
				fromExt = r.def
			}
			if !slices.Contains(r.valid, fromExt) {
				return Grants{}, scimerr.Invalid(scimerr.InvalidValue, "%s %q is not one of %s", r.attr, s, strings.Join(r.valid, ", "))
			}
		}
		fromView := ""
		if rolesGiven && rolesChanged {
			fromView = r.view
			if fromView == "" {
				fromView = r.def
			}
		}
		switch {
		case fromView != "" && fromExt != "" && fromView != fromExt:
			return Grants{}, scimerr.Invalid(scimerr.InvalidValue,
				"roles says %s %q but %s says %q; send one of them", r.attr, fromView, r.attr, fromExt)
		case fromView != "":
			*r.dst = fromView
		case fromExt != "":
			*r.dst = fromExt
		}
	}

	// Products: from entitlements if they changed, else from the extension.
	entsGiven, entsChanged := changed(doc["entitlements"], prevDoc["entitlements"], replace)
	prodGiven, prodChanged := changed(e["products"], pe["products"], replace)
	var fromEnts, fromExt []string
	if entsGiven && entsChanged {
		fromEnts = values(doc["entitlements"], true)
	}
	if prodGiven && prodChanged {
		fromExt = values(e["products"], false)
	}
	switch {
	case entsGiven && entsChanged && prodGiven && prodChanged && !slices.Equal(fromEnts, fromExt):
		return Grants{}, scimerr.Invalid(scimerr.InvalidValue,
			"entitlements and products ask for different products; send one of them")
	case entsGiven && entsChanged:
		g.Products = fromEnts
	case prodGiven && prodChanged:
		g.Products = fromExt
	}
	g.Write(doc)
	return g, nil
}

// Apply carries a change of what a user sees over to their direct grants. shown are the
// effective grants the client saw and want those it asked for; a role the client changed
// becomes the direct role, and products it added or removed are added to or removed from the
// direct products. Grants that come from groups stay effective whatever the client writes.
func Apply(direct, shown, want Grants) Grants {
	out := direct
	if want.OrgRole != shown.OrgRole {
		out.OrgRole = want.OrgRole
	}
	if want.AccountRole != shown.AccountRole {
		out.AccountRole = want.AccountRole
	}
	var products []string
	for _, p := range direct.Products {
		if slices.Contains(want.Products, p) || !slices.Contains(shown.Products, p) {
			products = append(products, p)
		}
	}
	for _, p := range want.Products {
		if !slices.Contains(shown.Products, p) && !slices.Contains(products, p) {
			products = append(products, p)
		}
	}
	slices.Sort(products)
	out.Products = products
	return out
}

// IsGrantRole reports whether an element of roles names an orgRole or an accountRole (by its
// type, or by a value such as "orgRole:admin"), as opposed to a role scimd only stores.
func IsGrantRole(e any) bool {
	m, _ := e.(map[string]any)
	typ, _ := m["type"].(string)
	val, _ := m["value"].(string)
	kind, _, found := strings.Cut(val, ":")
	if !found {
		kind = typ
	}
	return strings.EqualFold(kind, orgRoleType) || strings.EqualFold(kind, accountRoleType)
}

// OtherRoles returns the elements of roles that are not grant roles.
func OtherRoles(roles any) []any {
	list, _ := roles.([]any)
	var out []any
	for _, e := range list {
		if !IsGrantRole(e) {
			out = append(out, e)
		}
	}
	return out
}

// changed reports whether the write mentions an attribute (given) and whether its value
// differs from before. With replace, an attribute the body leaves out is not given; with
// PATCH, an attribute that disappeared was removed and so is given, as nothing.
func changed(v, prev any, replace bool) (given, diff bool) {
	if v == nil && replace {
		return false, false
	}
	return true, !reflect.DeepEqual(v, prev)
}

// parseRoles reads the grant roles of the roles view. Each names a role as "orgRole:admin" or
// "accountRole:member" in its value, or as a value with a type of orgRole or accountRole; other
// elements are an identity provider's own roles, which scimd stores but which grant nothing.
// Elements that were not in the previous view win over those that were, so that a PATCH that
// adds "orgRole:admin" to a view still holding "orgRole:user" means admin.
func parseRoles(v, prev any) (orgRole, accountRole string, err error) {
	list, _ := v.([]any)
	old, _ := prev.([]any)
	kinds := map[string]*struct{ added, kept string }{orgRoleType: {}, accountRoleType: {}}
	for _, e := range list {
		m, _ := e.(map[string]any)
		val, _ := m["value"].(string)
		typ, _ := m["type"].(string)
		if !IsGrantRole(e) {
			continue // an identity provider's own role, stored as given
		}
		kind, role, found := strings.Cut(val, ":")
		if !found {
			kind, role = typ, val
		}
		role = strings.ToLower(strings.TrimSpace(role))
		var k string
		switch {
		case strings.EqualFold(kind, orgRoleType) && slices.Contains([]string{OrgAdmin, OrgAdminReadOnly, OrgUser}, role):
			k = orgRoleType
		case strings.EqualFold(kind, accountRoleType) && slices.Contains([]string{AccountAdmin, AccountMember}, role):
			k = accountRoleType
		default:
			return "", "", scimerr.Invalid(scimerr.InvalidValue,
				"role %q is not one of orgRole:admin, orgRole:admin-readonly, orgRole:user, accountRole:admin, accountRole:member", val)
		}
		slot := &kinds[k].added
		if slices.ContainsFunc(old, func(o any) bool { return reflect.DeepEqual(o, e) }) {
			slot = &kinds[k].kept
		}
		if *slot != "" && *slot != role {
			return "", "", scimerr.Invalid(scimerr.InvalidValue, "roles names two %ss, %q and %q", k, *slot, role)
		}
		*slot = role
	}
	pick := func(k string) string {
		if kinds[k].added != "" {
			return kinds[k].added
		}
		return kinds[k].kept
	}
	return pick(orgRoleType), pick(accountRoleType), nil
}

// values reads product names from entitlements (elements with a value) or from the
// extension's products (strings), lower-cased, sorted and distinct.
func values(v any, complex bool) []string {
	list, _ := v.([]any)
	var out []string
	for _, e := range list {
		var s string
		if complex {
			m, _ := e.(map[string]any)
			s, _ = m["value"].(string)
		} else {
			s, _ = e.(string)
		}
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
