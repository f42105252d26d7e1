package notify

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/locale"
)

// The templates are the languages scimd speaks: no template file is missing from
// locale.Spoken (NewRenderer fails for a spoken language without one), and none is left out.
func TestTemplatesAreTheSpokenLanguages(t *testing.T) {
	files, err := templateFS.ReadDir("templates")
	require.NoError(t, err)
	var langs []string
	for _, f := range files {
		langs = append(langs, strings.TrimSuffix(f.Name(), ".tmpl"))
	}
	require.ElementsMatch(t, locale.Languages(), langs)
}

// Every kind renders in every language, from both full and empty data, without a missing
// template or value, and every language defines exactly the templates English does.
func TestTemplatesEveryKindEveryLanguage(t *testing.T) {
	r, err := NewRenderer()
	require.NoError(t, err)
	names := func(lang string) []string {
		var out []string
		for _, tt := range r.langs[lang].Templates() {
			if tt.Name() != lang {
				out = append(out, tt.Name())
			}
		}
		slices.Sort(out)
		return out
	}
	english := names("en")
	for _, req := range Required() {
		require.Contains(t, english, req)
	}
	full := map[string]string{
		KindGrants: `{"products_added": ["meeting", "whiteboard"], "products_removed": ["webinar"],
			"org_role": {"before": "user", "after": "admin-readonly"}, "account_role": {"before": "member", "after": "admin"}}`,
		KindSuspended:   `{"products_removed": ["meeting"], "org_role": {"before": "admin", "after": "user"}}`,
		KindReactivated: `{"products_added": ["training"]}`,
		KindWelcome:     `{"product": "openvoice"}`,
	}
	empty := map[string]string{KindGrants: `{}`, KindSuspended: `{}`, KindReactivated: `{}`, KindWelcome: `{"product": "meeting"}`}
	for _, lang := range locale.Languages() {
		require.Equal(t, english, names(lang), "%s.tmpl defines the same templates as en.tmpl", lang)
		for _, kind := range Kinds {
			for variant, data := range map[string]string{"full": full[kind], "empty": empty[kind]} {
				for _, name := range []string{"Ada Lovelace", ""} {
					n := &Notification{ID: "n1", OrgName: "Acme Corp", Recipient: "ada@example.com", RecipientName: name,
						Language: lang, Kind: kind, Data: []byte(data)}
					out, err := r.Render(n)
					require.NoError(t, err, "%s %s %s", lang, kind, variant)
					where := lang + " " + kind + " " + variant + ": "
					require.Equal(t, lang, out.Language)
					require.NotEmpty(t, out.Subject, where)
					require.NotContains(t, out.Subject, "\n", where)
					require.NotEmpty(t, strings.TrimSpace(out.Body), where)
					for _, s := range []string{out.Subject, out.Body} {
						require.NotContains(t, s, "<no value>", where+s)
						require.NotContains(t, s, "{{", where+s)
					}
					require.NotContains(t, out.Body, "\n\n\n", where+out.Body)
					require.Contains(t, out.Body, "Acme Corp", where+out.Body)
					if name != "" {
						require.Contains(t, out.Body, name, where+out.Body)
					}
					if kind == KindWelcome {
						require.Contains(t, out.Subject, productName(map[string]string{"full": "openvoice", "empty": "meeting"}[variant]), where)
					}
					if variant == "full" && kind != KindWelcome {
						for _, p := range []string{"Meeting", "Training"} {
							if strings.Contains(full[kind], strings.ToLower(p)) {
								require.Contains(t, out.Body, p, where+out.Body)
							}
						}
					}
				}
			}
		}
	}
}

// The texts are translated: no language other than English shares English's subjects.
func TestTemplatesTranslated(t *testing.T) {
	r, err := NewRenderer()
	require.NoError(t, err)
	subject := func(lang, kind string) string {
		out, err := r.Render(&Notification{OrgName: "Acme", Recipient: "a@example.com", Language: lang, Kind: kind,
			Data: []byte(`{"product": "meeting"}`)})
		require.NoError(t, err)
		return out.Subject
	}
	for _, kind := range Kinds {
		seen := map[string]string{}
		for _, lang := range locale.Languages() {
			s := subject(lang, kind)
			if other, dup := seen[s]; dup {
				t.Errorf("%s and %s share the %s subject %q", other, lang, kind, s)
			}
			seen[s] = lang
		}
	}
}

func TestRenderText(t *testing.T) {
	r, err := NewRenderer()
	require.NoError(t, err)
	grants := []byte(`{"products_added": ["meeting"], "products_removed": ["webinar"],
		"org_role": {"before": "user", "after": "admin"}, "account_role": {"before": "member", "after": "admin"}}`)
	for lang, want := range map[string][]string{
		"en": {"Your products and roles at Acme have changed", "Hello Ada,", "Products added: Meeting",
			"Products removed: Webinar", "Organization role: User → Administrator", "Account role: Member → Account administrator"},
		"fr": {"Vos produits et rôles chez Acme ont changé", "Bonjour Ada,", "Produits ajoutés : Meeting",
			"Produits retirés : Webinar", "Rôle dans l’organisation : Utilisateur → Administrateur", "Rôle du compte : Membre → Administrateur du compte"},
		"de": {"Ihre Produkte und Rollen bei Acme wurden geändert", "Hallo Ada,", "Hinzugefügte Produkte: Meeting",
			"Entfernte Produkte: Webinar", "Rolle in der Organisation: Benutzer → Administrator", "Kontorolle: Mitglied → Kontoadministrator"},
	} {
		out, err := r.Render(&Notification{OrgName: "Acme", RecipientName: "Ada", Recipient: "ada@example.com",
			Language: lang, Kind: KindGrants, Data: grants})
		require.NoError(t, err)
		require.Equal(t, want[0], out.Subject)
		for _, w := range want[1:] {
			require.Contains(t, out.Body, w, "%s:\n%s", lang, out.Body)
		}
	}

	// A language without templates is written in English; a role without a label shows as
	// it is; control characters of stored names cannot add lines.
	out, err := r.Render(&Notification{OrgName: "Acme\r\nBcc: x@example.com", RecipientName: "Ada\nLovelace",
		Language: "ja", Kind: KindGrants, Data: []byte(`{"org_role": {"before": "user", "after": "owner"}}`)})
	require.NoError(t, err)
	require.Equal(t, "en", out.Language)
	require.Equal(t, "Your products and roles at Acme Bcc: x@example.com have changed", out.Subject)
	require.Contains(t, out.Body, "Hello Ada Lovelace,")
	require.Contains(t, out.Body, "Organization role: User → owner")

	_, err = r.Render(&Notification{Language: "en", Kind: KindWelcome, Data: []byte(`{}`)})
	require.ErrorContains(t, err, "names no product")
	_, err = r.Render(&Notification{Language: "en", Kind: KindGrants, Data: []byte(`[1]`)})
	require.ErrorContains(t, err, "not the JSON object")
	_, err = r.Render(&Notification{Language: "en", Kind: "digest"})
	require.ErrorContains(t, err, "unknown notification kind")
}
