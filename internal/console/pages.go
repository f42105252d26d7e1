package console

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/scimerr"
)

//go:embed templates/*.html messages/*.json assets/*
var files embed.FS

// catalogue is one language's messages by key. A message may take fmt arguments; translations
// reorder them with explicit indexes (%[2]s).
type catalogue map[string]string

// T is the message key with args.
func (c catalogue) T(key string, args ...any) string {
	msg, ok := c[key]
	if !ok {
		return key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// pages are the console's templates, parsed once for each language with its catalogue, and
// the catalogues.
type pages struct {
	sets map[string]map[string]*template.Template // language → page → template
	cats map[string]catalogue
}

// loadPages parses the templates and the catalogues. Every language scimd speaks
// (locale.Languages) must have a catalogue with exactly the keys of the English one, so that
// no page is ever half translated.
func loadPages() (*pages, error) {
	p := &pages{sets: map[string]map[string]*template.Template{}, cats: map[string]catalogue{}}
	for _, lang := range locale.Languages() {
		raw, err := files.ReadFile("messages/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("console: no message catalogue for %s: %w", lang, err)
		}
		var cat catalogue
		if err := json.Unmarshal(raw, &cat); err != nil {
			return nil, fmt.Errorf("console: messages/%s.json: %w", lang, err)
		}
		p.cats[lang] = cat
	}
	en := p.cats[locale.Default]
	for lang, cat := range p.cats {
		for k := range en {
			if _, ok := cat[k]; !ok {
				return nil, fmt.Errorf("console: messages/%s.json lacks %q", lang, k)
			}
		}
		for k := range cat {
			if _, ok := en[k]; !ok {
				return nil, fmt.Errorf("console: messages/%s.json has %q, which messages/en.json lacks", lang, k)
			}
		}
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for lang, cat := range p.cats {
		funcs := template.FuncMap{"t": cat.T}
		maps.Copy(funcs, helpers)
		layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html")
		if err != nil {
			return nil, err
		}
		p.sets[lang] = map[string]*template.Template{}
		for _, name := range names {
			page := strings.TrimSuffix(path.Base(name), ".html")
			if page == "layout" {
				continue
			}
			set, err := template.Must(layout.Clone()).ParseFS(files, name)
			if err != nil {
				return nil, err
			}
			p.sets[lang][page] = set
		}
	}
	return p, nil
}

// fieldView is a form field as the templates "field" and "select" show it.
type fieldView struct {
	ID, Name, Label, Type, Auto, Value, Err string
	Focus                                   bool
	Options                                 []option
}

// auditView is what the template "auditrows" shows.
type auditView struct {
	Base string
	Rows []auditRow
}

// helpers are the templates' functions besides t.
var helpers = template.FuncMap{
	"field": func(f *form, prefix, name, label, typ, auto string) fieldView {
		return fieldView{ID: prefix + name, Name: name, Label: label, Type: typ, Auto: auto, Value: f.V(name),
			Err: f.Err(name), Focus: f != nil && f.Focus == name}
	},
	"sel": func(f *form, prefix, name, label string, opts []option) fieldView {
		return fieldView{ID: prefix + name, Name: name, Label: label, Value: f.V(name), Err: f.Err(name),
			Focus: f != nil && f.Focus == name, Options: opts}
	},
	"auditview": func(v *view, rows []auditRow) auditView { return auditView{Base: v.Base, Rows: rows} },
	"join":      strings.Join,
	"contains":  slices.Contains[[]string],
	"time": func(t any) string {
		switch v := t.(type) {
		case time.Time:
			return v.UTC().Format("2006-01-02 15:04 UTC")
		case *time.Time:
			if v != nil {
				return v.UTC().Format("2006-01-02 15:04 UTC")
			}
		}
		return ""
	},
}

// view is what every page shows besides its own data.
type view struct {
	Lang  string
	Base  string
	Admin *directory.Admin
	// CSRF is the session's anti-forgery token, in every form.
	CSRF string
	// Tab is the navigation tab of the page.
	Tab string
	// Title is the page's title, translated.
	Title string
	// Flash is a message about what the previous request did, translated.
	Flash string
	Data  any
	cat   catalogue
}

// T translates a message key.
func (v *view) T(key string, args ...any) string { return v.cat.T(key, args...) }

// CanWrite tells whether the admin may change anything (the directory's rule): admin-readonly
// admins see no edit controls.
func (v *view) CanWrite() bool { return v.Admin != nil && v.Admin.CanWrite() == nil }

// view is the view of a request, in the admin's language when someone is signed in, else the
// browser's; Flash is read from the done query parameter a write redirects with.
func (c *console) view(r *http.Request) *view {
	v := &view{Base: c.base(r)}
	if a := adminOf(r); a != nil {
		v.Admin, v.CSRF, v.Lang = a, csrfOf(r), a.Language
	} else {
		v.Lang = locale.For(r.Header.Get("Accept-Language"), "", "")
	}
	v.cat = c.pages.cats[v.Lang]
	if done := r.URL.Query().Get("done"); done != "" {
		if key := "done." + done; v.cat[key] != "" {
			v.Flash = v.cat[key]
		}
	}
	return v
}

// render writes a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, page string, v *view) {
	set := c.pages.sets[v.Lang][page]
	var buf bytes.Buffer
	if err := set.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.Logger.ErrorContext(r.Context(), "console template", "page", page, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message renders a page of one message: its title key and text.
func (c *console) message(w http.ResponseWriter, r *http.Request, status int, titleKey, text string) {
	v := c.view(r)
	v.Title = v.T(titleKey)
	v.Data = text
	c.render(w, r, status, "message", v)
}

// form is a form's values as sent and the errors to show by its fields; the key "" holds an
// error that concerns no one field.
type form struct {
	Values map[string]string
	Errors map[string]string
	// Focus is the field that gets the focus: the one whose error is shown.
	Focus string
}

func newForm() *form { return &form{Values: map[string]string{}, Errors: map[string]string{}} }

// V is a field's value.
func (f *form) V(field string) string {
	if f == nil {
		return ""
	}
	return f.Values[field]
}

// Err is a field's error.
func (f *form) Err(field string) string {
	if f == nil {
		return ""
	}
	return f.Errors[field]
}

// fieldOf maps the attribute a rule's error concerns (scimerr.Error.Attribute) to the form
// field that edits it.
var fieldOf = map[string]string{
	"userName":          "email",
	"emails":            "email",
	"locale":            "locale",
	"preferredLanguage": "locale",
	"orgRole":           "role",
	"products":          "products",
	"q":                 "q",
	"role":              "role",
	"email":             "email",
}

// refuse puts a rule's refusal of the form's change in the form: next to the field, of
// fields, that edits the attribute it concerns, else above the form. It returns the status of
// the page that shows it; ok is false when err is not a rule's refusal of this form's content:
// an unexpected error, or a refusal of the admin's right to change anything at all (an
// admin-readonly admin's forged form), which gets a page of its own.
func (f *form) refuse(err error, fields ...string) (status int, ok bool) {
	e, status, ok := ruleError(err)
	if !ok || (e.Kind == scimerr.KindForbidden && e.Attribute == "") {
		return 0, false
	}
	field := fieldOf[e.Attribute]
	if !slices.Contains(fields, field) {
		field = ""
	}
	f.Errors[field], f.Focus = e.Detail, field
	return status, true
}
