package notify

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"

	"github.com/scimd/scimd/internal/locale"
)

// The texts live in templates/<language>.tmpl, one file for each language scimd speaks
// (locale.Languages()), each defining the same templates: "<kind>.subject" and "<kind>.body"
// for every kind, and "org_role.<role>" and "account_role.<role>" for the labels of the roles.
// A template's data is a view.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// Required lists the templates every language file must define.
func Required() []string {
	var names []string
	for _, k := range Kinds {
		names = append(names, k+".subject", k+".body")
	}
	for _, r := range []string{"admin", "admin-readonly", "user"} {
		names = append(names, "org_role."+r)
	}
	for _, r := range []string{"admin", "member"} {
		names = append(names, "account_role."+r)
	}
	return names
}

// productNames are the display names of the products; another product shows as its id.
var productNames = map[string]string{
	"meeting":   "Meeting",
	"webinar":   "Webinar",
	"training":  "Training",
	"openvoice": "OpenVoice",
	"connect":   "Connect",
}

func productName(p string) string {
	if n, ok := productNames[p]; ok {
		return n
	}
	return p
}

// view is what the templates see: every value already in the notification's language.
type view struct {
	// Name is the recipient's name, "" when unknown.
	Name string
	// Org is the organization's name.
	Org string
	// Added and Removed are display names of products.
	Added   []string
	Removed []string
	// OrgRole and AccountRole are nil unless the role changed; they hold labels.
	OrgRole     *RoleChange
	AccountRole *RoleChange
	// Product is the product a welcome is for.
	Product string
}

// Renderer renders notifications from the embedded templates.
type Renderer struct {
	langs map[string]*template.Template
}

// NewRenderer parses the templates of every language and checks each defines every required
// template.
func NewRenderer() (*Renderer, error) {
	r := &Renderer{langs: map[string]*template.Template{}}
	funcs := template.FuncMap{"join": func(s []string) string { return strings.Join(s, ", ") }}
	for _, lang := range locale.Languages() {
		name := "templates/" + lang + ".tmpl"
		src, err := templateFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("notification templates: %w", err)
		}
		t, err := template.New(lang).Funcs(funcs).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("notification templates: %w", err)
		}
		for _, req := range Required() {
			if t.Lookup(req) == nil {
				return nil, fmt.Errorf("notification templates: %s does not define %q", name, req)
			}
		}
		r.langs[lang] = t
	}
	return r, nil
}

// Rendered is a notification's text.
type Rendered struct {
	// Language is the language it is written in.
	Language string
	Subject  string
	Body     string
}

// Render writes n in its language (locale.Default when scimd does not speak it).
func (r *Renderer) Render(n *Notification) (*Rendered, error) {
	if !slices.Contains(Kinds, n.Kind) {
		return nil, fmt.Errorf("unknown notification kind %q", n.Kind)
	}
	lang := strings.ToLower(n.Language)
	t, ok := r.langs[lang]
	if !ok {
		lang, t = locale.Default, r.langs[locale.Default]
	}
	var d Data
	if len(n.Data) > 0 {
		if err := json.Unmarshal(n.Data, &d); err != nil {
			return nil, fmt.Errorf("notification data is not the JSON object of a %s notification: %v", n.Kind, err)
		}
	}
	if n.Kind == KindWelcome && d.Product == "" {
		return nil, fmt.Errorf("a welcome notification's data names no product")
	}
	v := view{Name: clean(n.RecipientName), Org: clean(n.OrgName), Product: productName(d.Product)}
	for _, p := range d.ProductsAdded {
		v.Added = append(v.Added, productName(p))
	}
	for _, p := range d.ProductsRemoved {
		v.Removed = append(v.Removed, productName(p))
	}
	var err error
	if v.OrgRole, err = labelChange(t, "org_role.", d.OrgRole); err != nil {
		return nil, err
	}
	if v.AccountRole, err = labelChange(t, "account_role.", d.AccountRole); err != nil {
		return nil, err
	}
	subject, err := execute(t, n.Kind+".subject", v)
	if err != nil {
		return nil, err
	}
	body, err := execute(t, n.Kind+".body", v)
	if err != nil {
		return nil, err
	}
	return &Rendered{Language: lang, Subject: strings.Join(strings.Fields(subject), " "), Body: normalizeBody(body)}, nil
}

// labelChange returns a role change with the roles' labels; nil for no change.
func labelChange(t *template.Template, prefix string, c *RoleChange) (*RoleChange, error) {
	if c == nil || c.Before == c.After {
		return nil, nil
	}
	label := func(role string) (string, error) {
		if role == "" {
			return "-", nil
		}
		if t.Lookup(prefix+role) == nil {
			return role, nil
		}
		return execute(t, prefix+role, nil)
	}
	before, err := label(c.Before)
	if err != nil {
		return nil, err
	}
	after, err := label(c.After)
	if err != nil {
		return nil, err
	}
	return &RoleChange{Before: before, After: after}, nil
}

func execute(t *template.Template, name string, data any) (string, error) {
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, name, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// clean drops control characters (line breaks included) from a value that goes into a
// template, so that stored data cannot add lines or headers.
func clean(s string) string {
	return strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)), " ")
}

var blankLines = regexp.MustCompile(`\n{3,}`)

// normalizeBody trims trailing spaces of lines and collapses runs of blank lines into one.
func normalizeBody(s string) string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimSpace(blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")) + "\n"
}
