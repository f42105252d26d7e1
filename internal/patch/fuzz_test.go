package patch

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// FuzzApply parses arbitrary request bodies and applies them to a sample User and Group: Parse and
// Apply must never panic, every error must be an invalid *scimerr.Error, Apply must leave the
// document unchanged on error, and on success it must leave a canonical document (no nulls, no
// empty objects or lists) that normalises without error and has no duplicate elements.
//
// Run it with -fuzzminimizetime=3s: the long seeds make the default minimisation of new inputs
// (up to 60 s each) stall the fuzzer, e.g.
//
//	go test -run=^$ -fuzz=FuzzApply -fuzztime=60s -fuzzminimizetime=3s ./internal/patch/
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
		// What PostgreSQL cannot store: NUL, long random text, dateTimes outside xsd:dateTime.
		body(`{"op":"replace","path":"title","value":"a\u0000b"}`),
		body(`{"op":"replace","value":{"ENT":{"department":"\u0000"},"displayName":"x\u0000"}}`),
		body(`{"op":"add","path":"emails","value":[{"value":"x@example.com","display":"\u0000"}]}`),
		body(`{"op":"replace","path":"emails[value eq \"\\u0000\"].display","value":"x"}`),
		body(`{"op":"replace","path":"userName","value":"` + randtext.String(1025) + `"}`),
		body(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"` + randtext.String(3000) + `"}`),
		body(`{"op":"add","path":"emails[type eq \"work\" and value eq \"` + randtext.String(1100) + `\"].primary","value":true}`),
		body(`{"op":"add","path":"ENT:manager","value":"` + randtext.String(2000) + `"}`),
		body(`{"op":"replace","value":{"externalId":"` + randtext.String(1500) + `","displayName":"` + randtext.String(1500) + `"}}`),
		body(`{"op":"replace","path":"meta.created","value":"0000-01-01T00:00:00Z"}`),
		body(`{"op":"replace","path":"meta.lastModified","value":"2011-05-13T04:42:34+23:59"}`),
		body(`{"op":"remove","path":"emails[display gt \"2011-02-30T00:00:00Z\"]"}`),
		// Duplicates by type and value, and replace through a filter that matches nothing.
		body(`{"op":"add","path":"emails","value":[{"value":"A@X","type":"work"},{"value":"a@x","type":"WORK","primary":true}]}`),
		body(`{"op":"replace","path":"emails[type eq \"home\"].type","value":"work"}`),
		body(`{"op":"replace","path":"emails[type eq \"other\"].value","value":"o@x"}`),
		body(`{"op":"add","path":"emails[type eq \"other\"].value","value":"o@x"}`),
	} {
		f.Add([]byte(urns.Replace(s)))
	}
	reg := registry(f)
	user, group := decode(f, baseUser), decode(f, baseGroup)
	f.Fuzz(func(t *testing.T, b []byte) {
		ops, err := Parse(b)
		if err != nil {
			requireInvalid(t, err)
			return
		}
		for _, start := range []map[string]any{user, group} {
			rt := reg.User
			if _, ok := start["members"]; ok {
				rt = reg.Group
			}
			doc := schema.Clone(start)
			if err := Apply(rt, doc, ops); err != nil {
				requireInvalid(t, err)
				require.Equal(t, start, doc)
				continue
			}
			require.NoError(t, canonical(doc), "%v", doc)
			// What Apply leaves is what a client could have sent: every value passes
			// normalisation (types, NUL, length limits, dateTimes) ...
			_, err := rt.Normalize(doc)
			require.NoError(t, err, "%v", doc)
			// ... and no two elements share a type and value.
			merged := schema.Clone(doc)
			rt.MergeDuplicates(merged)
			require.Equal(t, doc, merged)
		}
	})
}

// requireInvalid requires err to be an invalid *scimerr.Error with a detail: a 400, never a 500.
func requireInvalid(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*scimerr.Error)
	require.True(t, ok && e.Kind == scimerr.KindInvalid && e.Detail != "", "unexpected error %T %v", err, err)
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
