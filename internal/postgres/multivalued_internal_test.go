package postgres

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeMultiValuedMatchesEncodingJSON: whatever the text, decodeMultiValued gives what
// encoding/json gives, and its own scan takes the plain texts multiValued and PostgreSQL's
// jsonb output write.
func TestDecodeMultiValuedMatchesEncodingJSON(t *testing.T) {
	same := func(t *testing.T, text string) {
		t.Helper()
		var want map[string][]any
		wantErr := json.Unmarshal([]byte(text), &want)
		got, err := decodeMultiValued([]byte(text))
		if wantErr != nil {
			require.Error(t, err, "%q", text)
			return
		}
		require.NoError(t, err, "%q", text)
		require.Equal(t, want, got, "%q", text)
	}
	plain := []string{
		`{}`, ` { } `, `{"emails":[]}`,
		`{"emails":[{"primary":true,"type":"work","value":"ada@example.com"}]}`,
		// jsonb_out: a space after each colon and comma, keys by length.
		`{"ims": [{"type": "xmpp", "value": "a@im"}], "emails": [{"type": "work", "value": "ada@example.com", "primary": true}, {"value": "b@example.com"}]}`,
		`{"addresses": [{"country": "FR", "locality": "Paris", "primary": false}], "phoneNumbers": [{"value": "+1 555"}]}`,
		`{"roles": [{"display": "Zoë 日本", "value": "app:reader"}]}`,
	}
	for _, text := range plain {
		_, ok := scanMultiValued(text)
		require.True(t, ok, "scanned, not left to encoding/json: %q", text)
		same(t, text)
	}
	for _, text := range []string{
		`{"emails": [{"value": "a\"b@example.com"}]}`, `{"emails": [{"value": "\u003c@x"}]}`,
		`{"emails": [{"value": 1}]}`, `{"emails": [{"value": null}]}`, `{"emails": ["x"]}`, `{"emails": {}}`,
		`{"emails": [{"value": "x"}]`, `{"emails": [{"value": "x"}]} x`, `{"emails": [{"value": "x",}]}`,
		`{"emails": [{"value": truex}]}`, `null`, ``, `[]`, "{\"e\": [{\"v\": \"\xff\"}]}", "{\"e\": [{\"v\": \"a\tb\"}]}",
		`{"emails": [{"value": "x"}], "emails": [{"value": "y"}]}`,
	} {
		same(t, text)
	}
	// What multiValued writes, for random documents of every attribute and awkward strings.
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", "Zoë", "日本", `"`, `\`, "<&>", "\n", "\u2028", " ", "@example.com", "x"}
	word := func() string {
		var b strings.Builder
		for range rng.IntN(4) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		return b.String()
	}
	for range 2000 {
		doc := map[string][]map[string]any{}
		for _, attr := range append(valueAttrs, "addresses") {
			for range rng.IntN(3) {
				el := map[string]any{"value": word()}
				if rng.IntN(2) == 0 {
					el["type"] = word()
				}
				if rng.IntN(3) == 0 {
					el["primary"] = true
				}
				doc[attr] = append(doc[attr], el)
			}
		}
		b, err := json.Marshal(doc)
		require.NoError(t, err)
		same(t, string(b))
	}
}
