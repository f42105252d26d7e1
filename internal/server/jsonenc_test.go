package server

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// reference is what encoding/json's Encoder writes without HTML escaping.
func reference(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return bytes.TrimRight(buf.Bytes(), "\n")
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	strs := []string{"", "plain", `quote " back \ slash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "<html>&amp;",
		"ünïcödé €𝄞", "\u2028\u2029", "bad \xff\xfe utf8", string([]byte{0xe2, 0x82}), "emoji 🐉"}
	docs := []any{
		nil, true, false, json.Number("12.50"), 7, int64(-3), []string{"a", "b"}, []string(nil), []any{}, map[string]any{},
		map[string]any{"b": 1, "a": []any{map[string]any{"value": "x", "primary": true}}, "z": nil},
		struct {
			A string `json:"a"`
		}{"s"},
	}
	for _, s := range strs {
		docs = append(docs, s, map[string]any{s: s}, []any{s})
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var random func(depth int) any
	random = func(depth int) any {
		switch n := rng.IntN(7); {
		case depth > 3 || n == 0:
			return strs[rng.IntN(len(strs))] + strings.Repeat("x", rng.IntN(3))
		case n == 1:
			return rng.IntN(2) == 0
		case n == 2:
			return json.Number("42")
		case n < 5:
			m := map[string]any{}
			for range rng.IntN(5) {
				m[strs[rng.IntN(len(strs))]] = random(depth + 1)
			}
			return m
		default:
			var l []any
			for range rng.IntN(4) {
				l = append(l, random(depth+1))
			}
			return l
		}
	}
	for range 500 {
		docs = append(docs, random(0))
	}
	for _, d := range docs {
		got, err := appendJSON(nil, d)
		require.NoError(t, err)
		require.Equal(t, string(reference(t, d)), string(got), "%#v", d)
	}
}
