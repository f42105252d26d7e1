package locale

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/scimerr"
)

func TestCanonical(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"fr-FR": "fr-FR", "fr_FR": "fr-FR", "FR-fr": "fr-FR", "fr": "fr", "FR": "fr",
		"en-us": "en-US", "EN_GB": "en-GB", "pt-br": "pt-BR", " nl-NL ": "nl-NL", "de": "de",
	} {
		got, err := Canonical("locale", in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"fr-CA", "xx", "", "en-US-x", "english"} {
		_, err := Canonical("preferredLanguage", in)
		e := scimerr.As(err)
		require.NotNil(t, e, in)
		require.Equal(t, scimerr.InvalidValue, e.ScimType)
		require.Contains(t, e.Detail, "preferredLanguage")
		require.Contains(t, e.Detail, "en-US, en-GB, fr-FR")
	}
}
