package locale

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/scimerr"
)

func TestCanonicalLocale(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"fr-FR": "fr-FR", "fr_FR": "fr-FR", "FR-fr": "fr-FR", "fr_fr": "fr-FR", "fr": "fr", "FR": "fr",
		"en-us": "en-US", "EN_GB": "en-GB", "pt-br": "pt-BR", " nl-NL ": "nl-NL", "de": "de",
		// Languages scimd does not speak are still the user's: Microsoft's SCIM Validator sends
		// hi, its reference collection xh.
		"hi": "hi", "xh": "xh", "pt-PT": "pt-PT", "hi-IN": "hi-IN", "fr-CA": "fr-CA", "es-419": "es-419",
		"zh-hant-tw": "zh-Hant-TW", "sr_latn_rs": "sr-Latn-RS", "de-CH-1996": "de-CH-1996",
		"en-US-u-ca-gregory": "en-US-u-ca-gregory", "en-US-x-acme": "en-US-x-acme",
		// Deprecated and grandfathered codes become current ones.
		"iw": "he", "in-ID": "id-ID", "i-klingon": "tlh",
	} {
		got, err := Canonical("locale", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for in, reason := range map[string]string{
		"":            `"" is not well-formed`,
		"english":     `"english" is not well-formed`,
		"klingon":     `"klingon" is not well-formed`,
		"xx":          `"xx" has the unknown subtag "xx"`,
		"xx-YY":       `"xx-YY" has the unknown subtag "xx"`,
		"en-US-x":     `"en-US-x" is not well-formed`,
		"en-abcdefgh": `unknown subtag "abcdefgh"`,
		"und":         `"und" names no language`,
		"und-FR":      `"und-FR" names no language`,
		"*":           `"*" is not well-formed`,
		"fr, de":      `"fr, de" is not well-formed`,
		"fr-FR\x00":   `is not well-formed`,
		"e":           `"e" is not well-formed`,
	} {
		_, err := Canonical("locale", in)
		e := scimerr.As(err)
		require.NotNil(t, e, in)
		require.Equal(t, scimerr.KindInvalid, e.Kind, in)
		require.Equal(t, scimerr.InvalidValue, e.ScimType, in)
		require.Contains(t, e.Detail, "locale "+strconv.Quote(in)+" is not a language tag of a known language (RFC 5646, such as fr-FR): ", in)
		require.Contains(t, e.Detail, reason, in)
		require.Contains(t, e.Detail, "scimd speaks en-US, fr-FR, de-DE, es-ES, it-IT, pt-BR, nl-NL and accepts any known language", in)
	}
	// An organization's default locale is a tag too.
	got, err := Canonical("default_locale", "de_at")
	require.NoError(t, err)
	require.Equal(t, "de-AT", got)
}

// preferredLanguage is an Accept-Language value, stored in the client's order with canonical
// tags and weights.
func TestCanonicalPreferredLanguage(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"da, en-gb;q=0.8, en;q=0.7":          "da, en-GB;q=0.8, en;q=0.7", // RFC 7643 §4.1.1's example
		"fr_FR":                              "fr-FR",
		"hi":                                 "hi",
		"da , EN_gb;Q=0.80 ,en; q=0.700":     "da, en-GB;q=0.8, en;q=0.7",
		"en;q=0.5, fr":                       "en;q=0.5, fr", // the client's order, not by weight
		"de;q=1, fr;q=1.000, it;q=0.":        "de, fr, it;q=0",
		"*":                                  "*",
		"fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5": "fr-CH, fr;q=0.9, en;q=0.8, *;q=0.5",
		",fr,,de,":                           "fr, de",
		"en;q=0.001":                         "en;q=0.001",
		"iw, en":                             "he, en",
	} {
		got, err := Canonical("preferredLanguage", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := Canonical("preferredLanguage", got)
		require.NoError(t, err, in)
		require.Equal(t, got, again, "the canonical form is canonical")
	}
	for in, reason := range map[string]string{
		"":               "it names no language",
		" , ":            "it names no language",
		"xx, en":         `"xx" has the unknown subtag "xx"`,
		"en, klingon":    `"klingon" is not well-formed`,
		"en, qq":         `"qq" has the unknown subtag "qq"`,
		"en;q=1.5":       `"en;q=1.5" has a weight that is not`,
		"en;q=0.1234":    `"en;q=0.1234" has a weight`,
		"en;q=abc":       `has a weight`,
		"en;q=-0.5":      `has a weight`,
		"en;q=1.001":     `has a weight`,
		"en;q=":          `has a weight`,
		"en;level=1":     `has a weight`,
		"en;q=0.5;q=0.4": `has a weight`,
		"en;":            `has a weight`,
		"en-US-x":        `"en-US-x" is not well-formed`,
		"en fr":          `"en fr" is not well-formed`,
		"und":            `"und" names no language`,
		";q=0.5":         `"" is not well-formed`,
		"*-FR":           `"*-FR" is not well-formed`,
	} {
		_, err := Canonical("preferredLanguage", in)
		e := scimerr.As(err)
		require.NotNil(t, e, in)
		require.Equal(t, scimerr.InvalidValue, e.ScimType, in)
		require.Contains(t, e.Detail, `preferredLanguage "`+in+`" is not an Accept-Language value of known languages`, in)
		require.Contains(t, e.Detail, reason, in)
		require.Contains(t, e.Detail, "scimd speaks en-US, fr-FR, de-DE, es-ES, it-IT, pt-BR, nl-NL", in)
	}
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"en", "fr", "de", "es", "it", "pt", "nl"}, Languages())
	require.Equal(t, Default, Languages()[0])
}

func TestFor(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, preferred, locale, org, want string }{
		{"a spoken language", "fr", "", "en-US", "fr"},
		{"a spoken regional tag", "de-DE", "", "en-US", "de"},
		{"another region of a spoken language", "fr-CA", "", "en-US", "fr"},
		{"Portugal reads the Brazilian texts", "pt-PT", "", "en-US", "pt"},
		{"British English", "en-GB", "fr-FR", "de-DE", "en"},
		{"Latin American Spanish", "es-419", "", "en-US", "es"},
		{"Swiss German reads German", "gsw", "", "en-US", "de"},
		{"Accept-Language list: the first spoken one", "da, en-gb;q=0.8, en;q=0.7", "", "fr-FR", "en"},
		{"weights rank, not order", "en;q=0.2, nl;q=0.9", "", "fr-FR", "nl"},
		{"equal weights keep the client's order", "it, es", "", "fr-FR", "it"},
		{"weight 0 means not this one", "fr;q=0, de;q=0.1", "", "en-US", "de"},
		{"only weight 0: the locale decides", "fr;q=0", "nl-NL", "en-US", "nl"},
		{"wildcard alone: the locale decides", "*", "it-IT", "en-US", "it"},
		{"an unspoken preference falls to the locale", "hi", "fr-FR", "de-DE", "fr"},
		{"an unspoken preference and locale fall to the organization", "hi", "hi-IN", "de-DE", "de"},
		{"unspoken and unrelated: the organization's regional default", "hi", "", "pt-BR", "pt"},
		{"CLDR: Xhosa speakers read English", "xh", "", "pt-BR", "en"},
		{"CLDR: Breton speakers read French", "br", "", "en-US", "fr"},
		{"nothing spoken anywhere: English", "hi", "ja-JP", "zh-CN", "en"},
		{"nothing at all: the organization", "", "", "es-ES", "es"},
		{"nothing at all and no organization default: English", "", "", "", "en"},
		{"stored values that do not parse are passed over", "klingon", "xx", "it", "it"},
		{"locale alone", "", "nl-BE", "en-US", "nl"},
		{"canonical stored form", "da, en-GB;q=0.8, en;q=0.7", "da-DK", "de-DE", "en"},
		{"any case and underscores", "FR_ca", "", "en-US", "fr"},
	} {
		require.Equal(t, tc.want, For(tc.preferred, tc.locale, tc.org), tc.name)
	}
}
