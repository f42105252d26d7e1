// Package locale reads the language attributes of users and knows the languages scimd speaks.
//
// RFC 7643 §4.1.1 defines a user's locale as a language tag (RFC 5646: fr-FR) and
// preferredLanguage with the syntax of an HTTP Accept-Language value (RFC 9110 §12.5.4:
// "da, en-gb;q=0.8, en;q=0.7"). scimd accepts any well-formed value whose languages are known,
// whether or not it speaks them, and stores it canonical; For chooses, among the languages
// scimd speaks, the one to write to a user in.
package locale

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/text/language"

	"github.com/scimd/scimd/internal/scimerr"
)

// Spoken lists the languages scimd speaks, as the regional tags its texts are written for,
// English first. A language's texts are named by its language subtag ("fr" for fr-FR, see
// Languages): internal/notify has a template file templates/<language>.tmpl for each, and
// refuses to start without one, so this list is where a language is added.
var Spoken = []string{"en-US", "fr-FR", "de-DE", "es-ES", "it-IT", "pt-BR", "nl-NL"}

// Default is the language of texts for a user none of whose languages scimd speaks, in an
// organization whose default locale it does not speak either.
const Default = "en"

var (
	spokenTags = func() []language.Tag {
		tags := make([]language.Tag, len(Spoken))
		for i, s := range Spoken {
			tags[i] = language.MustParse(s)
		}
		return tags
	}()
	matcher = language.NewMatcher(spokenTags)
)

// Languages returns the language subtags of Spoken, in order: en, fr, de, es, it, pt, nl. They
// name scimd's texts and are what For returns.
func Languages() []string {
	out := make([]string, len(spokenTags))
	for i, t := range spokenTags {
		b, _ := t.Base()
		out[i] = b.String()
	}
	return out
}

// Canonical checks the value v of the language attribute attr and returns its canonical form.
// preferredLanguage is an Accept-Language value, stored as described at acceptLanguage; any
// other attribute (locale, an organization's default locale) is one language tag. Tags are
// canonicalised by golang.org/x/text/language, in any case and with "_" or "-" (fr_FR, FR-fr and
// fr-fr are fr-FR; deprecated codes become current ones: iw is he). A malformed value, or one
// naming a language that is not known (xx, und), is an invalidValue error that names the
// attribute and the value and lists the languages scimd speaks.
func Canonical(attr, v string) (string, error) {
	if attr == "preferredLanguage" {
		ranges, reason := acceptLanguage(v)
		if reason != "" {
			return "", invalid(attr, v, `an Accept-Language value of known languages (such as "fr-CA, fr;q=0.9, en;q=0.5")`, reason)
		}
		return format(ranges), nil
	}
	t, reason := tag(strings.TrimSpace(v))
	if reason != "" {
		return "", invalid(attr, v, "a language tag of a known language (RFC 5646, such as fr-FR)", reason)
	}
	return t.String(), nil
}

func invalid(attr, v, want, reason string) error {
	return scimerr.Invalid(scimerr.InvalidValue, "%s %q is not %s: %s. scimd speaks %s and accepts any known language",
		attr, v, want, reason, strings.Join(Spoken, ", ")).On(attr)
}

// tag parses one language tag; reason says why it is refused ("" when it is not).
func tag(s string) (language.Tag, string) {
	t, err := language.Parse(s)
	var ve language.ValueError
	switch {
	case errors.As(err, &ve):
		return t, fmt.Sprintf("%q has the unknown subtag %q", s, ve.Subtag())
	case err != nil || s == "":
		return t, fmt.Sprintf("%q is not well-formed", s)
	}
	if _, c := t.Base(); c != language.Exact {
		return t, fmt.Sprintf("%q names no language", s)
	}
	return t, ""
}

// weighted is one element of an Accept-Language value: a tag, or any language for "*", and
// its weight (1 when not given).
type weighted struct {
	tag      language.Tag
	wildcard bool
	q        float64
	qText    string // the weight as stored, "" for 1
}

// acceptLanguage parses an Accept-Language value (RFC 9110 §12.5.4): a comma-separated list of
// language tags or "*", each optionally followed by ";q=" and a weight from 0 to 1 with at most
// three decimals. Whitespace around elements and semicolons, and empty elements, are allowed
// as in any HTTP list. reason says why the value is refused ("" when it is not).
//
// The canonical form (format) that scimd stores keeps what the client said and nothing else:
// the elements in the client's order, each a canonical tag (or "*"), followed by ";q=" and its
// weight without trailing zeros (0.800 is 0.8) unless the weight is 1, joined by ", ".
// "da, EN_gb;q=0.80 ,en;Q=0.7" is stored as "da, en-GB;q=0.8, en;q=0.7", and a single language
// as its tag, like a locale ("fr_FR" is "fr-FR"). Order and weights are kept because they are
// the user's ranking; For reads them.
func acceptLanguage(v string) ([]weighted, string) {
	var out []weighted
	for _, el := range strings.Split(v, ",") {
		el = strings.TrimSpace(el)
		if el == "" {
			continue
		}
		rng, param, hasParam := strings.Cut(el, ";")
		w := weighted{q: 1}
		if hasParam {
			var ok bool
			if w.q, w.qText, ok = weight(param); !ok {
				return nil, fmt.Sprintf("%q has a weight that is not \"q=\" and a number from 0 to 1 with at most three decimals", el)
			}
		}
		if rng = strings.TrimSpace(rng); rng == "*" {
			w.wildcard = true
		} else {
			var reason string
			if w.tag, reason = tag(rng); reason != "" {
				return nil, reason
			}
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return nil, "it names no language"
	}
	return out, ""
}

// qvalue is the weight of an Accept-Language element (RFC 9110 §12.4.2).
var qvalue = regexp.MustCompile(`^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$`)

// weight parses the parameter after ";" in an Accept-Language element, "q=" and a qvalue, "q"
// in any case. It returns the weight and its canonical text ("" for 1).
func weight(param string) (float64, string, bool) {
	name, val, ok := strings.Cut(strings.TrimSpace(param), "=")
	if !ok || !strings.EqualFold(name, "q") || !qvalue.MatchString(val) {
		return 0, "", false
	}
	q, err := strconv.ParseFloat(strings.TrimSuffix(val, "."), 64)
	if err != nil {
		return 0, "", false
	}
	if q == 1 {
		return 1, "", true
	}
	return q, strconv.FormatFloat(q, 'f', -1, 64), true
}

func format(ranges []weighted) string {
	parts := make([]string, len(ranges))
	for i, w := range ranges {
		s := "*"
		if !w.wildcard {
			s = w.tag.String()
		}
		if w.qText != "" {
			s += ";q=" + w.qText
		}
		parts[i] = s
	}
	return strings.Join(parts, ", ")
}

// For chooses the language to write to a user in (their emails, the console): the best match,
// as golang.org/x/text/language's Matcher judges it, of the user's preferredLanguage tags (by
// weight, highest first, leaving out weight 0 and "*") and then their locale against the
// languages scimd speaks; failing that, the match of the organization's default locale; failing
// that, Default. A match must be close enough to read (en-GB for en-US, pt-PT for pt-BR, fr-CA
// for fr-FR; the matcher also counts, say, Swiss German as German): a user who prefers
// Hindi gets the organization's default, not English because English is listed first. Values
// that do not parse are passed over. The result is one of Languages().
func For(preferredLanguage, userLocale, orgDefault string) string {
	var want []language.Tag
	if ranges, reason := acceptLanguage(preferredLanguage); reason == "" {
		slices.SortStableFunc(ranges, func(a, b weighted) int { return cmp.Compare(b.q, a.q) })
		for _, w := range ranges {
			if !w.wildcard && w.q > 0 {
				want = append(want, w.tag)
			}
		}
	}
	if t, reason := tag(strings.TrimSpace(userLocale)); reason == "" {
		want = append(want, t)
	}
	if lang, ok := match(want); ok {
		return lang
	}
	if t, reason := tag(strings.TrimSpace(orgDefault)); reason == "" {
		if lang, ok := match([]language.Tag{t}); ok {
			return lang
		}
	}
	return Default
}

func match(want []language.Tag) (string, bool) {
	if len(want) == 0 {
		return "", false
	}
	_, i, c := matcher.Match(want...)
	if c < language.High {
		return "", false
	}
	b, _ := spokenTags[i].Base()
	return b.String(), true
}
