package console

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/orgs"
)

// The organization's pages: domains, provisioning tokens, group mappings and the audit log.
// Domains and the audit log are internal/orgs, which knows no actor: the console asks the
// directory's rule (Actor.CanWrite) before an organization-level change, so that an
// admin-readonly admin changes nothing there either.

// refuseAll puts any rule's refusal by one field.
func (f *form) refuseAll(err error, field string) (int, bool) {
	status, ok := f.refuse(err, field)
	if ok && f.Errors[""] != "" {
		f.Errors[field], f.Focus = f.Errors[""], field
		delete(f.Errors, "")
	}
	return status, ok
}

// domainsPage is the domains tab.
type domainsPage struct {
	Domains []orgs.Domain
	Add     *form
	// Errors are the refusals of a domain's verification, by domain.
	Errors map[string]string
	// Added is the domain just added, whose TXT record to publish is highlighted.
	Added string
}

func (c *console) domains(w http.ResponseWriter, r *http.Request) {
	c.domainsWith(w, r, http.StatusOK, &domainsPage{Added: r.URL.Query().Get("added")})
}

func (c *console) domainsWith(w http.ResponseWriter, r *http.Request, status int, p *domainsPage) {
	v := c.view(r)
	v.Tab, v.Title = "domains", v.T("domains.title")
	ds, err := c.Orgs.ListDomains(r.Context(), actor(r).Org)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	p.Domains = ds
	if p.Add == nil {
		p.Add = newForm()
	}
	if p.Errors == nil {
		p.Errors = map[string]string{}
	}
	v.Data = p
	c.render(w, r, status, "domains", v)
}

func (c *console) addDomain(w http.ResponseWriter, r *http.Request) {
	if err := actor(r).CanWrite(); err != nil {
		c.fail(w, r, err)
		return
	}
	f := formOf(r, "domain")
	d, _, err := c.Orgs.AddDomain(r.Context(), actor(r).Org, f.V("domain"), false)
	if err != nil {
		if status, ok := f.refuseAll(err, "domain"); ok {
			c.domainsWith(w, r, status, &domainsPage{Add: f})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/domains?done=domainadded&added="+url.QueryEscape(d.Domain), http.StatusSeeOther)
}

func (c *console) verifyDomain(w http.ResponseWriter, r *http.Request) {
	if err := actor(r).CanWrite(); err != nil {
		c.fail(w, r, err)
		return
	}
	domain := chi.URLParam(r, "domain")
	if _, err := c.Orgs.VerifyDomain(r.Context(), actor(r).Org, domain); err != nil {
		if e, status, ok := ruleError(err); ok {
			c.domainsWith(w, r, status, &domainsPage{Errors: map[string]string{domain: e.Detail}})
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/domains?done=verified", http.StatusSeeOther)
}

func (c *console) removeDomain(w http.ResponseWriter, r *http.Request) {
	if err := actor(r).CanWrite(); err != nil {
		c.fail(w, r, err)
		return
	}
	if err := c.Orgs.RemoveDomain(r.Context(), actor(r).Org, chi.URLParam(r, "domain")); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/domains?done=domainremoved", http.StatusSeeOther)
}

// tokenRow is a token as the tokens tab lists it.
type tokenRow struct {
	directory.Token
	Expired bool
}

// tokensPage is the provisioning tokens tab.
type tokensPage struct {
	Tokens []tokenRow
	Add    *form
	// Issued is the token just created, shown this once.
	Issued *directory.IssuedToken
	Roles  []option
	Expiry []option
}

func (c *console) tokens(w http.ResponseWriter, r *http.Request) {
	c.tokensWith(w, r, http.StatusOK, &tokensPage{})
}

func (c *console) tokensWith(w http.ResponseWriter, r *http.Request, status int, p *tokensPage) {
	v := c.view(r)
	v.Tab, v.Title = "tokens", v.T("tokens.title")
	ts, err := c.Directory.ListTokens(r.Context(), *actor(r))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	// Newest first: the one just created on top.
	now := c.Now()
	for i := len(ts) - 1; i >= 0; i-- {
		p.Tokens = append(p.Tokens, tokenRow{Token: ts[i], Expired: ts[i].ExpiresAt != nil && !now.Before(*ts[i].ExpiresAt)})
	}
	if p.Add == nil {
		p.Add = newForm()
	}
	p.Roles = []option{{grants.OrgAdmin, v.T("role.admin")}, {grants.OrgAdminReadOnly, v.T("role.admin-readonly")}}
	p.Expiry = []option{{"", v.T("tokens.never")}, {"30", v.T("tokens.days", 30)}, {"90", v.T("tokens.days", 90)},
		{"365", v.T("tokens.days", 365)}}
	v.Data = p
	c.render(w, r, status, "tokens", v)
}

// createToken creates a service token: a label, a role, an expiry in days (none when empty).
func (c *console) createToken(w http.ResponseWriter, r *http.Request) {
	f := formOf(r, "label", "role", "expires")
	in := directory.TokenInput{Role: f.V("role"), Label: f.V("label")}
	if days, err := strconv.Atoi(f.V("expires")); err == nil && days > 0 {
		in.ExpiresIn = time.Duration(days) * 24 * time.Hour
	}
	t, err := c.Directory.CreateToken(r.Context(), *actor(r), in, c.Now())
	if err != nil {
		if status, ok := f.refuse(err); ok {
			c.tokensWith(w, r, status, &tokensPage{Add: f})
			return
		}
		c.fail(w, r, err)
		return
	}
	c.tokensWith(w, r, http.StatusCreated, &tokensPage{Issued: t})
}

func (c *console) revokeToken(w http.ResponseWriter, r *http.Request) {
	if _, err := c.Directory.RevokeToken(r.Context(), *actor(r), chi.URLParam(r, "id"), c.Now()); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/tokens?done=revoked", http.StatusSeeOther)
}

// groupsPage is the group mappings tab: the organization's groups, 50 a page, with what each
// maps to.
type groupsPage struct {
	Rows       []groupRow
	Next, Prev string
}

const groupsPageSize = 50

func (c *console) groups(w http.ResponseWriter, r *http.Request) {
	v := c.view(r)
	v.Tab, v.Title = "groups", v.T("groups.title")
	a := actor(r)
	start, _ := strconv.Atoi(r.URL.Query().Get("start"))
	start = max(start, 1)
	page, err := c.Directory.ListGroups(r.Context(), *a, directory.Query{StartIndex: start, Count: groupsPageSize,
		Projection: c.Schemas.Group.ParseProjection("", "members")})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ms, err := c.Directory.ListGroupMappings(r.Context(), *a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	mapped := map[string]*grants.Mapping{}
	for _, m := range ms {
		g := m.Grants()
		mapped[m.GroupID] = &g
	}
	p := &groupsPage{}
	for _, g := range page.Resources {
		name, _ := g.Doc["displayName"].(string)
		p.Rows = append(p.Rows, groupRow{ID: g.ID, Name: name, Grants: mappingText(v, mapped[g.ID])})
	}
	if start+groupsPageSize <= page.Total {
		p.Next = v.Base + "/groups?start=" + strconv.Itoa(start+groupsPageSize)
	}
	if start > 1 {
		p.Prev = v.Base + "/groups?start=" + strconv.Itoa(max(start-groupsPageSize, 1))
	}
	v.Data = p
	c.render(w, r, http.StatusOK, "groups", v)
}

// groupPage edits what one group maps to.
type groupPage struct {
	ID, Name     string
	Mapped       bool
	Form         *form
	Roles        []option
	AccountRoles []option
	Products     []product
}

func (c *console) group(w http.ResponseWriter, r *http.Request) {
	c.groupWith(w, r, http.StatusOK, nil)
}

func (c *console) groupWith(w http.ResponseWriter, r *http.Request, status int, failed *form) {
	a := actor(r)
	g, err := c.Directory.GetGroup(r.Context(), *a, chi.URLParam(r, "id"))
	if err != nil {
		c.fail(w, r, err)
		return
	}
	ms, err := c.Directory.ListGroupMappings(r.Context(), *a)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	licensed, err := c.Orgs.ListProducts(r.Context(), a.Org)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	v := c.view(r)
	v.Tab = "groups"
	p := &groupPage{ID: g.ID, Form: newForm(),
		Roles: []option{{"", v.T("groups.norole")}, {grants.OrgUser, v.T("role.user")},
			{grants.OrgAdminReadOnly, v.T("role.admin-readonly")}, {grants.OrgAdmin, v.T("role.admin")}},
		AccountRoles: []option{{"", v.T("groups.norole")}, {grants.AccountMember, v.T("accountrole.member")},
			{grants.AccountAdmin, v.T("accountrole.admin")}}}
	p.Name, _ = g.Doc["displayName"].(string)
	v.Title = v.T("group.title", p.Name)
	var products []string
	for _, m := range ms {
		if m.GroupID == g.ID {
			p.Mapped = true
			if m.OrgRole != nil {
				p.Form.Values["role"] = *m.OrgRole
			}
			if m.AccountRole != nil {
				p.Form.Values["accountrole"] = *m.AccountRole
			}
			products = m.Products
		}
	}
	if failed != nil {
		p.Form, products = failed, failed.list("products")
	}
	for _, name := range licensed {
		p.Products = append(p.Products, product{Name: name, Checked: slices.Contains(products, name)})
	}
	v.Data = p
	c.render(w, r, status, "group", v)
}

// mapGroup sets what a group maps to: POST /console/groups/{id}, with "Do not notify".
func (c *console) mapGroup(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	a.Notify = notifyOf(r)
	f := formOf(r, "role", "accountrole", "nonotify")
	_ = r.ParseForm()
	f.Values["products"] = strings.Join(r.PostForm["products"], ",")
	id := chi.URLParam(r, "id")
	_, err := c.Directory.SetGroupMapping(r.Context(), *a, id, directory.MappingInput{OrgRole: f.V("role"),
		AccountRole: f.V("accountrole"), Products: r.PostForm["products"]})
	if err != nil {
		if status, ok := f.refuse(err, "role", "products"); ok {
			c.groupWith(w, r, status, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/groups/"+id+"?done=mapped", http.StatusSeeOther)
}

func (c *console) unmapGroup(w http.ResponseWriter, r *http.Request) {
	a := actor(r)
	a.Notify = notifyOf(r)
	id := chi.URLParam(r, "id")
	if _, err := c.Directory.RemoveGroupMapping(r.Context(), *a, id); err != nil {
		f := newForm()
		if status, ok := f.refuse(err); ok {
			c.groupWith(w, r, status, f)
			return
		}
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, c.base(r)+"/groups/"+id+"?done=unmapped", http.StatusSeeOther)
}

// auditPage is the audit log tab, newest first, filtered by user (the records about them),
// actor and action.
type auditPage struct {
	Filter  *form
	Rows    []auditRow
	Next    string
	Actions []string
}

func (c *console) audit(w http.ResponseWriter, r *http.Request) {
	v := c.view(r)
	v.Tab, v.Title = "audit", v.T("audit.title")
	a := actor(r)
	q := r.URL.Query()
	f := newForm()
	for _, k := range []string{"user", "actor", "action"} {
		f.Values[k] = strings.TrimSpace(q.Get(k))
	}
	p := &auditPage{Filter: f, Actions: []string{directory.ActionCreate, directory.ActionUpdate, directory.ActionGrants,
		directory.ActionSuspend, directory.ActionReactivate, directory.ActionDelete}}
	v.Data = p
	in := orgs.AuditInput{Action: f.V("action"), Cursor: q.Get("cursor"), Limit: "50"}
	for field, dst := range map[string]*string{"user": &in.User, "actor": &in.Actor} {
		id, found, err := c.userID(r, f.V(field))
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if !found {
			f.Errors[field], f.Focus = v.T("audit.nouser", f.V(field)), field
		}
		*dst = id
	}
	if f.Focus != "" {
		c.render(w, r, http.StatusNotFound, "audit", v)
		return
	}
	page, err := c.Orgs.Audit(r.Context(), a.Org, in)
	if err != nil {
		if status, ok := f.refuse(err); ok {
			c.render(w, r, status, "audit", v)
			return
		}
		c.fail(w, r, err)
		return
	}
	p.Rows = auditRows(page.Entries)
	if page.NextCursor != nil {
		u := url.Values{"cursor": {*page.NextCursor}}
		for _, k := range []string{"user", "actor", "action"} {
			if f.V(k) != "" {
				u.Set(k, f.V(k))
			}
		}
		p.Next = v.Base + "/audit?" + u.Encode()
	}
	c.render(w, r, http.StatusOK, "audit", v)
}

// userID reads a filter naming a user by id or by sign-in address; found is false for an
// address that is no user's.
func (c *console) userID(r *http.Request, v string) (id string, found bool, err error) {
	if !strings.Contains(v, "@") {
		return v, true, nil
	}
	page, err := c.Directory.BrowseUsers(r.Context(), *actor(r), directory.Browse{Text: v, Limit: 20})
	if err != nil {
		return "", false, err
	}
	for _, u := range page.Users {
		if strings.EqualFold(directory.SignInAddress(u.Doc), v) {
			return u.ID, true, nil
		}
	}
	return "", false, nil
}
