// Package locale knows the locales and languages scimd supports and their canonical spelling.
package locale

import (
	"strings"

	"github.com/scimd/scimd/internal/scimerr"
)

// Supported lists every supported value in canonical form: the regional locales and their
// languages.
var Supported = []string{
	"en-US", "en-GB", "fr-FR", "de-DE", "es-ES", "it-IT", "pt-BR", "nl-NL",
	"en", "fr", "de", "es", "it", "pt", "nl",
}

var canonical = func() map[string]string {
	m := make(map[string]string, len(Supported))
	for _, s := range Supported {
		m[strings.ToLower(s)] = s
	}
	return m
}()

// Canonical returns the canonical spelling of a supported locale or language, accepting any
// case and "_" for "-" (fr-FR, fr_FR, FR-fr and fr_fr are all fr-FR). attr names the attribute
// in the error for an unsupported value.
func Canonical(attr, v string) (string, error) {
	key := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(v), "_", "-"))
	if c, ok := canonical[key]; ok {
		return c, nil
	}
	return "", scimerr.Invalid(scimerr.InvalidValue, "%s %q is not supported; supported values are %s",
		attr, v, strings.Join(Supported, ", "))
}
