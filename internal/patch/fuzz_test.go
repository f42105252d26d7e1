package patch

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/schema"
)

// FuzzApply parses arbitrary request bodies and applies them to a sample User and Group: Apply
// must never panic, must leave the document unchanged on error, and must leave a canonical
// document (no nulls, no empty objects or lists) on success.
func FuzzApply(f *testing.F) {
	for _, s := range []string{
		body(`{"op":"Replace","path":"active","value":"False"}`),
		body(`{"op":"replace","value":{"active":false,"name.givenName":"x","ENT:employeeNumber":"1","id":"y"}}`),
		body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"a@b.c"}`),
		body(`{"op":"Replace","path":"emails[type eq \"fax\" and primary eq true].display","value":"F"}`),
		body(`{"op":"add","path":"emails","value":[{"value":"a@b","primary":true}]}`),
		body(`{"op":"replace","path":"ENT:manager","value":{"value":""}}`),
		body(`{"op":"add","path":"ENT","value":{"manager":"m"}}`),
		body(`{"op":"remove","path":"ENT"}`),
		body(`{"op":"Remove","path":"members","value":[{"value":"u1"}]}`),
		body(`{"op":"remove","path":"members[value eq \"u2\"]"}`),
		body(`{"op":"remove","path":"emails[not (type eq \"work\")].value"}`),
		body(`{"op":"add","path":"members","value":[{"$ref":null,"value":"u3"}]}`),
		body(`{"op":"replace","path":"members","value":[]}`),
		body(`{"op":"replace","value":{"id":"g","displayName":"n","members":null}}`),
		body(`{"op":"replace","path":"emails.primary","value":true}`),
	} {
		f.Add([]byte(urns.Replace(s)))
	}
	reg := registry(f)
	user, group := decode(f, baseUser), decode(f, baseGroup)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := Parse(b)
		if err != nil {
			return
		}
		for _, start := range []map[string]any{user, group} {
			rt := reg.User
			if _, ok := start["members"]; ok {
				rt = reg.Group
			}
			doc := schema.Clone(start)
			if err := Apply(rt, doc, ops); err != nil {
				require.Equal(t, start, doc)
				continue
			}
			require.NoError(t, canonical(doc), "%v", doc)
		}
	})
}

// canonical reports the first null or empty object or list inside v.
func canonical(v any) error {
	switch x := v.(type) {
	case nil:
		return fmt.Errorf("null value")
	case map[string]any:
		if len(x) == 0 {
			return fmt.Errorf("empty object")
		}
		for k, e := range x {
			if err := canonical(e); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	case []any:
		if len(x) == 0 {
			return fmt.Errorf("empty list")
		}
		for i, e := range x {
			if err := canonical(e); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
	}
	return nil
}
