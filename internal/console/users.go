package console

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/patch"
)

// The users tab and a user's page. Every change is a directory call as the signed-in admin:
// CreateUser, PatchUser, SetActive, DeleteUser.

// pageSize is the number of users on a page of the users tab.
const pageSize = 50

// userRow is a user as the users tab lists them.
type userRow struct {
	ID        string
	Name      string
	Email     string
	OrgRole   string
	Products  []string
	Suspended bool
}

func rowOf(r *directory.Resource) userRow {
	e, _ := r.Doc[grants.ExtURN].(map[string]any)
	row := userRow{ID: r.ID, Name: directory.DisplayName(r.Doc), Email: directory.SignInAddress(r.Doc),
		Suspended: e["status"] == directory.StatusSuspended}
	row.OrgRole, _ = e["orgRole"].(string)
	row.Products = asList(e["products"])
	return row
}

func asList(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = l
	}
	return out
}

// option is a choice of a select.
type option struct {
	Value, Label string
}

// usersPage is the users tab.
type usersPage struct {
	Q, Role    string
	Rows       []userRow
	Next, Prev string // URLs of the pages after and before, "" when none
	Filtered   bool
	// Partial tells that very many users match and the page lists the first among part of
	// them (directory.Browsed.Partial).
	Partial bool
	Add     *form
	Locales []option
	Roles   []option
}

// locales are the locales offered when adding or editing a user: those scimd writes in, and
// their common regional variants; a user may have any other (set through SCIM).
var locales = []string{"en-US", "en-GB", "en-CA", "en-AU", "en-IN", "fr-FR", "fr-CA", "fr-BE", "fr-CH",
	"de-DE", "de-AT", "de-CH", "es-ES", "es-MX", "es-AR", "it-IT", "it-CH", "pt-BR", "pt-PT", "nl-NL", "nl-BE"}

// localeOptions lists the locales by their names in their own language, with cur first among
// them when it is not listed.
func localeOptions(cur string) []option {
	list := slices.Clone(locales)
	if cur != "" && !slices.Contains(list, cur) {
		list = append([]string{cur}, list...)
	}
	out := make([]option, len(list))
	for i, l := range list {
		label := l
		if t, err := language.Parse(l); err == nil {
			if n := display.Self.Name(t); n != "" {
				label = n + " (" + l + ")"
			}
		}
		out[i] = option{Value: l, Label: label}
	}
	return out
}

// roleOptions are the orgRoles, labelled in the admin's language.
func roleOptions(v *view) []option {
	return []option{
		{grants.OrgUser, v.T("role.user")},
		{grants.OrgAdminReadOnly, v.T("role.admin-readonly")},
		{grants.OrgAdmin, v.T("role.admin")},
	}
}

// cursor encodes a userName for a URL.
func cursor(userName string) string { return base64.RawURLEncoding.EncodeToString([]byte(userName)) }

func uncursor(c string) string {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return ""
	}
	return string(b)
}

// users is the users tab: GET /console/users?q=&role=&after=&before=.
func (c *console) users(w http.ResponseWriter, r *http.Request) {
	c.usersWith(w, r, http.StatusOK, nil)
}

func (c *console) usersWith(w http.ResponseWriter, r *http.Request, status int, add *form) {
	v := c.view(r)
	v.Tab, v.Title = "users", v.T("users.title")
	q := r.URL.Query()
	p := &usersPage{Q: strings.TrimSpace(q.Get("q")), Role: q.Get("role"), Add: add, Roles: roleOptions(v)}
	if add == nil {
		p.Add = newForm()
	}
	p.Locales = append([]option{{"", v.T("users.localedefault")}}, localeOptions("")...)
	p.Filtered = p.Q != "" || p.Role != ""
	page, err := c.Directory.BrowseUsers(r.Context(), *actor(r), directory.Browse{
		Text: p.Q, Role: p.Role, After: uncursor(q.Get("after")), Before: uncursor(q.Get("before")), Limit: pageSize})
	if err != nil {
		filter := newForm()
		if st, ok := filter.refuse(err, "q", "role"); ok {
			v.Flash = ""
			p.Add.Errors["filter"] = filter.Errors["q"] + filter.Errors["role"] + filter.Errors[""]
			v.Data = p
			c.render(w, r, st, "users", v)
			return
		}
		c.internal(w, r, err)
		return
	}
	for _, u := range page.Users {
		p.Rows = append(p.Rows, rowOf(u))
	}
	p.Partial = page.Partial
	link := func(key, value string) string {
		u := url.Values{}
		if p.Q != "" {
			u.Set("q", p.Q)
		}
		if p.Role != "" {
			u.Set("role", p.Role)
		}
		u.Set(key, cursor(value))
		return v.Base + "/users?" + u.Encode()
	}
	if page.Next != "" {
		p.Next = link("after", page.Next)
	}
	if page.Prev != "" {
		p.Prev = link("before", page.Prev)
	}
	v.Data = p
	c.render(w, r, status, "users", v)
}

// addUser adds a user from the users tab's form: name, email (userName and the primary work
// email), locale and orgRole. A refusal is shown by its field, with the form as sent.
func (c *console) addUser(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "given", "family", "email", "locale", "role")
	body := map[string]any{"userName": f.V("email")}
	name := map[string]any{}
	if f.V("given") != "" {
		name["givenName"] = f.V("given")
	}
	if f.V("family") != "" {
		name["familyName"] = f.V("family")
	}
	if len(name) > 0 {
		body["name"] = name
	}
	if f.V("email") != "" {
		body["emails"] = []any{map[string]any{"value": f.V("email"), "type": "work", "primary": true}}
	}
	if f.V("locale") != "" {
		body["locale"] = f.V("locale")
	}
	if f.V("role") != "" {
		body[grants.ExtURN] = map[string]any{"orgRole": f.V("role")}
	}
	a := actor(r)
	a.Notify = notifyOf(r)
	u, err := c.Directory.CreateUser(r.Context(), *a, body)
	if err != nil {
		if status, ok := f.refuse(err, "given", "family", "email", "locale", "role"); ok {
			c.usersWith(w, r, status, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/users/"+u.ID+"?done=created", http.StatusSeeOther)
}

// formOf reads a form's fields, trimmed.
func formOf(r *http.Request, fields ...string) *form {
	f := newForm()
	for _, name := range fields {
		f.Values[name] = strings.TrimSpace(r.PostFormValue(name))
	}
	return f
}

// notifyOf is the notification override of a form: its "Do not notify" box.
func notifyOf(r *http.Request) *bool {
	if r.PostFormValue("nonotify") == "" {
		return nil
	}
	no := false
	return &no
}

// product is a product's checkbox.
type product struct {
	Name    string
	Checked bool
}

// groupRow is a group a user is in, with what it grants.
type groupRow struct {
	ID, Name string
	Grants   string
}

// userPage is a user's page.
type userPage struct {
	ID, AccountID, Name, Email, UserName string
	Suspended                            bool
	Self                                 bool
	Profile, Grants, Status              *form
	Locales                              []option
	Roles                                []option
	AccountRoles                         []option
	Products                             []product
	Groups                               []groupRow
	SignIn                               *directory.SignIn
	Audit                                []auditRow
}

// user is a user's page: GET /console/users/{id}.
func (c *console) user(w http.ResponseWriter, r *http.Request) {
	c.userWith(w, r, http.StatusOK, nil)
}

// userWith renders a user's page; failed, when not nil, is the form whose change was refused,
// shown as sent, keyed by its name (profile, grants or status).
func (c *console) userWith(w http.ResponseWriter, r *http.Request, status int, failed map[string]*form) {
	a := actor(r)
	id := chi.URLParam(r, "id")
	u, err := c.Directory.GetUser(r.Context(), *a, id, c.Schemas.User.ParseProjection("", "groups"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.view(r)
	v.Tab = "users"
	e, _ := u.Doc[grants.ExtURN].(map[string]any)
	p := &userPage{ID: u.ID, Name: directory.DisplayName(u.Doc), Email: directory.SignInAddress(u.Doc),
		Suspended: e["status"] == directory.StatusSuspended, Self: u.ID == a.UserID, Roles: roleOptions(v),
		AccountRoles: []option{{grants.AccountMember, v.T("accountrole.member")}, {grants.AccountAdmin, v.T("accountrole.admin")}}}
	p.AccountID, _ = e["accountId"].(string)
	p.UserName, _ = u.Doc["userName"].(string)
	v.Title = p.Name

	p.Profile = newForm()
	name, _ := u.Doc["name"].(map[string]any)
	p.Profile.Values["given"], _ = name["givenName"].(string)
	p.Profile.Values["family"], _ = name["familyName"].(string)
	p.Profile.Values["email"] = p.Email
	p.Profile.Values["locale"], _ = u.Doc["locale"].(string)
	p.Locales = localeOptions(p.Profile.Values["locale"])

	// While the user is suspended, the grants form edits the pending grants: what the user
	// gets back when reactivated (the directory's rule for grant changes of a suspended user).
	p.Grants = newForm()
	orgRole, accountRole, products := e["orgRole"], e["accountRole"], asList(e["products"])
	if p.Suspended {
		orgRole, accountRole, products = e["pendingOrgRole"], e["pendingAccountRole"], asList(e["pendingProducts"])
	}
	p.Grants.Values["role"], _ = orgRole.(string)
	p.Grants.Values["accountrole"], _ = accountRole.(string)
	org, err := c.Orgs.ListProducts(r.Context(), a.Org)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, name := range org {
		p.Products = append(p.Products, product{Name: name, Checked: slices.Contains(products, name)})
	}
	p.Status = newForm()
	for name, f := range failed {
		switch name {
		case "profile":
			p.Profile = f
		case "grants":
			p.Grants = f
			for i := range p.Products {
				p.Products[i].Checked = slices.Contains(f.list("products"), p.Products[i].Name)
			}
		case "status":
			p.Status = f
		}
	}

	if p.SignIn, err = c.Directory.SignIn(r.Context(), *a, u.ID); err != nil {
		c.fail(w, r, err)
		return
	}
	ms, err := c.Directory.UserGroups(r.Context(), *a, u.ID)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, m := range ms {
		p.Groups = append(p.Groups, groupRow{ID: m.GroupID, Name: m.GroupName, Grants: mappingText(v, m.Mapping)})
	}
	audit, err := c.Orgs.Audit(r.Context(), a.Org, orgs.AuditInput{User: u.ID, Limit: "10"})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Audit = auditRows(audit.Entries)
	v.Data = p
	c.render(w, r, status, "user", v)
}

// mappingText says what a group's mapping grants.
func mappingText(v *view, m *grants.Mapping) string {
	if m == nil {
		return v.T("groups.grantsnothing")
	}
	var parts []string
	if m.OrgRole != "" {
		parts = append(parts, v.T("role."+m.OrgRole))
	}
	if m.AccountRole != "" {
		parts = append(parts, v.T("accountrole."+m.AccountRole))
	}
	if len(m.Products) > 0 {
		parts = append(parts, strings.Join(m.Products, ", "))
	}
	if len(parts) == 0 {
		return v.T("groups.grantsnothing")
	}
	return strings.Join(parts, " · ")
}

// list is a form field's values, for checkboxes (kept comma-separated in Values).
func (f *form) list(field string) []string {
	if f.V(field) == "" {
		return nil
	}
	return strings.Split(f.V(field), ",")
}

// editProfile changes a user's name, email and locale: POST /console/users/{id}. The email is
// the user's sign-in address: the change goes where that address comes from (userName when it
// is the address, and the email element that holds it).
func (c *console) editProfile(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	id := chi.URLParam(r, "id")
	f := formOf(r, "given", "family", "email", "locale")
	cur, err := c.Directory.GetUser(r.Context(), *a, id, c.Schemas.User.ParseProjection("", "groups"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	var ops []patch.Operation
	set := func(path, value string) {
		if value == "" {
			ops = append(ops, patch.Operation{Op: "remove", Path: path})
		} else {
			ops = append(ops, patch.Operation{Op: "replace", Path: path, Value: value})
		}
	}
	set("name.givenName", f.V("given"))
	set("name.familyName", f.V("family"))
	if f.V("locale") != "" {
		set("locale", f.V("locale"))
	}
	old := directory.SignInAddress(cur.Doc)
	if email := f.V("email"); email != old {
		ops = append(ops, emailOps(cur.Doc, old, email)...)
	}
	if _, err := c.Directory.PatchUser(r.Context(), *a, id, ops, directory.Precondition{}); err != nil {
		if status, ok := f.refuse(err, "given", "family", "email", "locale"); ok {
			c.userWith(w, r, status, map[string]*form{"profile": f})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/users/"+id+"?done=updated", http.StatusSeeOther)
}

// emailOps are the PATCH operations that change a user's sign-in address from old to email:
// userName when it is the address, the email element that holds it, or a new primary work
// email for a user who had none.
func emailOps(doc map[string]any, old, email string) []patch.Operation {
	if email == "" {
		return []patch.Operation{{Op: "replace", Path: "userName", Value: email}}
	}
	var ops []patch.Operation
	userName, _ := doc["userName"].(string)
	if old != "" && strings.EqualFold(userName, old) {
		ops = append(ops, patch.Operation{Op: "replace", Path: "userName", Value: email})
	}
	found := false
	for _, e := range asMaps(doc["emails"]) {
		if v, _ := e["value"].(string); old != "" && strings.EqualFold(strings.TrimSpace(v), old) {
			found = true
		}
	}
	switch {
	case found:
		ops = append(ops, patch.Operation{Op: "replace", Path: fmt.Sprintf("emails[value eq %s].value", strconv.Quote(old)), Value: email})
	case len(ops) == 0:
		ops = append(ops, patch.Operation{Op: "add", Path: "emails",
			Value: []any{map[string]any{"value": email, "type": "work", "primary": true}}})
	}
	return ops
}

func asMaps(v any) []map[string]any {
	l, _ := v.([]any)
	var out []map[string]any
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// editGrants changes a user's orgRole, accountRole and products: POST
// /console/users/{id}/grants, with "Do not notify" honoured. The directory changes the direct
// grants by what changed relative to what the page showed, so that group-mapped grants stay
// the group's.
func (c *console) editGrants(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	a.Notify = notifyOf(r)
	id := chi.URLParam(r, "id")
	f := formOf(r, "role", "accountrole", "nonotify")
	_ = r.ParseForm()
	products := r.PostForm["products"]
	f.Values["products"] = strings.Join(products, ",")
	value := map[string]any{"products": anyList(products)}
	if f.V("role") != "" {
		value["orgRole"] = f.V("role")
	}
	if f.V("accountrole") != "" {
		value["accountRole"] = f.V("accountrole")
	}
	ops := []patch.Operation{{Op: "replace", Path: grants.ExtURN, Value: value}}
	if _, err := c.Directory.PatchUser(r.Context(), *a, id, ops, directory.Precondition{}); err != nil {
		if status, ok := f.refuse(err, "role", "products"); ok {
			c.userWith(w, r, status, map[string]*form{"grants": f})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/users/"+id+"?done=grants", http.StatusSeeOther)
}

func anyList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// setActive suspends or reactivates a user: POST /console/users/{id}/suspend|reactivate, with
// "Do not notify" honoured.
func (c *console) setActive(active bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := actor(r)
		a.Notify = notifyOf(r)
		id := chi.URLParam(r, "id")
		if _, err := c.Directory.SetActive(r.Context(), *a, id, active); err != nil {
			f := formOf(r, "nonotify")
			if status, ok := f.refuse(err); ok {
				c.userWith(w, r, status, map[string]*form{"status": f})
				return
			}
			c.fail(w, r, err)
			return
		}
		done := "suspended"
		if active {
			done = "reactivated"
		}
		http.Redirect(w, r, c.base(r)+"/users/"+id+"?done="+done, http.StatusSeeOther)
	}
}

// deletePage asks to confirm a deletion: GET /console/users/{id}/delete.
func (c *console) deletePage(w http.ResponseWriter, r *http.Request) {
	c.deleteWith(w, r, http.StatusOK, nil)
}

func (c *console) deleteWith(w http.ResponseWriter, r *http.Request, status int, f *form) {
	a := actor(r)
	u, err := c.Directory.GetUser(r.Context(), *a, chi.URLParam(r, "id"), c.Schemas.User.ParseProjection("", "groups"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.view(r)
	v.Tab = "users"
	e, _ := u.Doc[grants.ExtURN].(map[string]any)
	row := rowOf(u)
	v.Title = v.T("delete.title", row.Name)
	if f == nil {
		f = newForm()
	}
	accountID, _ := e["accountId"].(string)
	v.Data = struct {
		userRow
		AccountID string
		Form      *form
	}{row, accountID, f}
	c.render(w, r, status, "delete", v)
}

// deleteUser deletes a user and purges the account's data: POST /console/users/{id}/delete.
func (c *console) deleteUser(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	a.Notify = notifyOf(r)
	id := chi.URLParam(r, "id")
	if err := c.Directory.DeleteUser(r.Context(), *a, id, directory.Precondition{}); err != nil {
		f := newForm()
		if status, ok := f.refuse(err); ok {
			c.deleteWith(w, r, status, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/users?done=deleted", http.StatusSeeOther)
}
