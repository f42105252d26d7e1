package console

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/locale"
)

// The catalogues: one per language scimd speaks, each with every message the pages use.

func TestCataloguesAreComplete(t *testing.T) {
	p, err := loadPages()
	require.NoError(t, err, "every language has a catalogue with exactly the English keys")
	require.ElementsMatch(t, locale.Languages(), mapsKeys(p.cats))

	// Every key the templates and the handlers name is in the catalogues.
	used := map[string]bool{}
	// Keys in templates ({{t "key"}}) and handlers (T("key")); "done" flashes named in
	// redirects (?done=created) or chosen into a variable (done := "suspended"); and any other
	// string literal of the handlers that is a key (passed to a function that translates it).
	literal := regexp.MustCompile(`\bt "([a-z-]+(?:\.[a-z-]+)*)"|\bT\("([a-z-]+(?:\.[a-z-]+)*)"|(?:done=|done :?= ")([a-z]+)|"([a-z]+\.[a-z.-]+)"`)
	maybe := map[string]bool{}
	scan := func(text string) {
		for _, m := range literal.FindAllStringSubmatch(text, -1) {
			switch {
			case m[1] != "":
				used[m[1]] = true
			case m[2] != "":
				used[m[2]] = true
			case m[3] != "":
				used["done."+m[3]] = true
			case m[4] != "":
				maybe[m[4]] = true
			}
		}
	}
	require.NoError(t, fs.WalkDir(files, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		raw, err := files.ReadFile(path)
		scan(string(raw))
		return err
	}))
	sources, err := fs.Glob(os.DirFS("."), "*.go")
	require.NoError(t, err)
	for _, name := range sources {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		scan(string(raw))
	}
	// Keys made from values: roles, statuses, audit actions, refusals.
	for _, r := range []string{grants.OrgAdmin, grants.OrgAdminReadOnly, grants.OrgUser} {
		used["role."+r] = true
	}
	for _, r := range []string{grants.AccountAdmin, grants.AccountMember} {
		used["accountrole."+r] = true
	}
	for _, s := range []string{directory.StatusActive, directory.StatusSuspended} {
		used["status."+s] = true
	}
	for _, a := range []string{directory.ActionCreate, directory.ActionUpdate, directory.ActionGrants, directory.ActionSuspend,
		directory.ActionReactivate, directory.ActionDelete} {
		used["action."+a] = true
	}
	for _, d := range []directory.DenyReason{directory.DeniedSignedOut, directory.DeniedExpired, directory.DeniedSuspended,
		directory.DeniedNotAdmin, directory.DeniedDeleted, directory.DeniedLink, directory.DeniedEmailUnverified,
		directory.DeniedDomain, directory.DeniedNoUser, directory.DeniedAmbiguous, directory.DeniedOtherIdentity} {
		used["denied."+string(d)] = true
	}
	en := p.cats[locale.Default]
	for k := range maybe {
		if _, ok := en[k]; ok {
			used[k] = true
		}
	}
	for k := range used {
		require.Contains(t, en, k, "messages/en.json lacks a message the console uses")
	}
	for k := range en {
		require.True(t, used[k], "messages/en.json has %q, which nothing uses", k)
	}

	// A translation takes the arguments its English message takes.
	verbs := regexp.MustCompile(`%(?:\[\d\])?[sd]`)
	for lang, cat := range p.cats {
		for k, msg := range en {
			want, got := verbs.FindAllString(msg, -1), verbs.FindAllString(cat[k], -1)
			slices.Sort(want)
			slices.Sort(got)
			require.Equal(t, want, got, "messages/%s.json %q", lang, k)
			require.NotEmpty(t, strings.TrimSpace(cat[k]), "messages/%s.json %q", lang, k)
		}
	}
}

func mapsKeys(m map[string]catalogue) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// The catalogues are valid JSON objects of strings (the loader would refuse anything else).
func TestCataloguesAreStrings(t *testing.T) {
	for _, lang := range locale.Languages() {
		raw, err := files.ReadFile("messages/" + lang + ".json")
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		for k, v := range m {
			_, ok := v.(string)
			require.True(t, ok, "%s: %s", lang, k)
		}
	}
}
