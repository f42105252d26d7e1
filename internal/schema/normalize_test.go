package schema_test

import (
	"cmp"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

const ent = schema.EnterpriseUserURN

func registry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	return reg
}

// decode reads a JSON document as the server does (numbers as json.Number).
func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), s)
	return m
}

func requireInvalidValue(t *testing.T, err error, detail string) {
	t.Helper()
	e := scimerr.As(err)
	require.NotNil(t, e, "want an invalidValue error, got %v", err)
	require.Equal(t, scimerr.KindInvalid, e.Kind)
	require.Equal(t, scimerr.InvalidValue, e.ScimType, e.Detail)
	require.Contains(t, e.Detail, detail)
}

// PostgreSQL cannot store NUL in text: every string of a document, however nested, is checked.
func TestNormalizeRefusesNUL(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	for _, tc := range []struct {
		group     bool
		doc, attr string
	}{
		{doc: `{"userName":"a\u0000b"}`, attr: "userName"},
		{doc: `{"userName":"a","name":{"givenName":"\u0000"}}`, attr: "name.givenName"},
		{doc: `{"userName":"a","name.familyName":"x\u0000"}`, attr: "name.familyName"},
		{doc: `{"userName":"a","emails":[{"value":"a@example.com","display":"\u0000"}]}`, attr: "emails.display"},
		{doc: `{"userName":"a","emails":["\u0000@example.com"]}`, attr: "emails.value"},
		{doc: `{"userName":"a","addresses":[{"locality":"x\u0000y"}]}`, attr: "addresses.locality"},
		{doc: `{"userName":"a","` + ent + `":{"department":"\u0000"}}`, attr: ent + ":department"},
		{doc: `{"userName":"a","` + ent + `:manager":"\u0000"}`, attr: ent + ":manager.value"},
		{doc: `{"userName":"a","password":"secret\u0000"}`, attr: "password"},
		{doc: `{"userName":"a","externalId":"\u0000"}`, attr: "externalId"},
		{group: true, doc: `{"displayName":"Eng\u0000"}`, attr: "displayName"},
		{group: true, doc: `{"displayName":"Eng","externalId":"\u0000"}`, attr: "externalId"},
	} {
		rt := reg.User
		if tc.group {
			rt = reg.Group
		}
		_, err := rt.Normalize(decode(t, tc.doc))
		requireInvalidValue(t, err, `attribute "`+tc.attr+`" contains the NUL character (\u0000), which cannot be stored`)
	}
	// Strings PostgreSQL does store pass: other control characters, non-ASCII.
	doc, err := reg.User.Normalize(decode(t, `{"userName":"a\u0001\tü"}`))
	require.NoError(t, err)
	require.Equal(t, "a\u0001\tü", doc["userName"])
}

// Every attribute that a btree index holds is limited to MaxIndexedBytes in UTF-8, in any
// document shape; random text, since PostgreSQL compresses repetitive index entries and a test
// with "aaa..." would hide a limit that is too high.
func TestNormalizeLimitsIndexedAttributes(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	for _, tc := range []struct {
		group bool
		attr  string
		doc   func(v string) map[string]any
		max   int // default schema.MaxIndexedBytes
	}{
		{attr: "userName", doc: func(v string) map[string]any { return map[string]any{"userName": v} }},
		{attr: "externalId", doc: func(v string) map[string]any { return map[string]any{"userName": "u", "externalId": v} }},
		{attr: "emails.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "emails": []any{map[string]any{"value": v, "type": "work"}}}
		}},
		{attr: "emails.value", doc: func(v string) map[string]any { return map[string]any{"userName": "u", "emails": []any{v}} }},
		{attr: "phoneNumbers.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "phoneNumbers": []any{map[string]any{"value": v}}}
		}},
		{attr: "ims.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "ims": []any{map[string]any{"value": v}}}
		}},
		{attr: "photos.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "photos": []any{map[string]any{"value": v}}}
		}},
		{attr: "roles.value", doc: func(v string) map[string]any { return map[string]any{"userName": "u", "roles": []any{v}} }},
		{attr: "entitlements.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "entitlements": []any{map[string]any{"value": v}}}
		}},
		{attr: "x509Certificates.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", "x509Certificates": []any{map[string]any{"value": v}}}
		}, max: schema.MaxCertificateBytes},
		{attr: ent + ":manager.value", doc: func(v string) map[string]any {
			return map[string]any{"userName": "u", ent: map[string]any{"manager": map[string]any{"value": v}}}
		}},
		{attr: ent + ":manager.value", doc: func(v string) map[string]any { return map[string]any{"userName": "u", ent + ":manager": v} }},
		{group: true, attr: "displayName", doc: func(v string) map[string]any { return map[string]any{"displayName": v} }},
		{group: true, attr: "externalId", doc: func(v string) map[string]any { return map[string]any{"displayName": "g", "externalId": v} }},
	} {
		rt := reg.User
		if tc.group {
			rt = reg.Group
		}
		max := cmp.Or(tc.max, schema.MaxIndexedBytes)
		at := randtext.String(max)
		doc, err := rt.Normalize(tc.doc(at))
		require.NoError(t, err, tc.attr)
		require.Contains(t, jsonString(t, doc), jsonString(t, at), tc.attr)

		_, err = rt.Normalize(tc.doc(randtext.String(max + 1)))
		requireInvalidValue(t, err, fmt.Sprintf(`attribute "%s" is %d bytes long in UTF-8; at most %d bytes are allowed`, tc.attr, max+1, max))
		// A number where a string is expected counts as its text.
		_, err = rt.Normalize(tc.doc(strings.Repeat("9", max+1)))
		requireInvalidValue(t, err, fmt.Sprintf(`at most %d bytes`, max))
	}
	// Attributes without a btree index take long values: the request size limits them.
	long := randtext.String(100 * schema.MaxIndexedBytes)
	doc, err := reg.User.Normalize(map[string]any{"userName": "u", "title": long, "displayName": long,
		"emails": []any{map[string]any{"value": "a@example.com", "display": long}}})
	require.NoError(t, err)
	require.Equal(t, long, doc["title"])
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return strings.Trim(string(b), `"`)
}

// Load gives every attribute of the limits table its MaxBytes, and no other attribute one.
func TestLoadSetsLimits(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	limited := map[string]int{}
	walk := func(rt *schema.ResourceType, ext *schema.Schema, attrs []*schema.Attribute) {
		for _, a := range attrs {
			p := schema.Path{Ext: ext, Attr: a}
			if a.MaxBytes > 0 {
				limited[rt.Name+" "+p.String()] = a.MaxBytes
			}
			for _, s := range a.SubAttributes {
				if s.MaxBytes > 0 {
					limited[rt.Name+" "+schema.Path{Ext: ext, Attr: a, Sub: s}.String()] = s.MaxBytes
				}
			}
		}
	}
	for _, rt := range []*schema.ResourceType{reg.User, reg.Group} {
		walk(rt, nil, rt.Schema.Attributes)
		for _, e := range rt.Extensions {
			walk(rt, e, e.Attributes)
		}
	}
	require.Equal(t, map[string]int{
		"User userName": 1024, "User emails.value": 1024, "User phoneNumbers.value": 1024, "User ims.value": 1024,
		"User photos.value": 1024, "User roles.value": 1024, "User entitlements.value": 1024,
		"User x509Certificates.value": 16384, "User " + ent + ":manager.value": 1024, "Group displayName": 1024,
	}, limited)
	require.Equal(t, 1024, schema.ExternalIDAttr.MaxBytes)
	// The published schema documents do not carry scimd's limits.
	require.NotContains(t, string(reg.Documents[schema.UserURN]), "MaxBytes")
}

func TestParseDateTime(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"2008-01-23T04:56:22Z":                 "2008-01-23T04:56:22Z",
		"2008-01-23T06:56:22.5+02:00":          "2008-01-23T04:56:22.5Z",
		"2008-01-23T04:56:22-14:00":            "2008-01-23T18:56:22Z",
		"2008-01-23T04:56:22+14:00":            "2008-01-22T14:56:22Z",
		"0001-01-01T00:00:00Z":                 "0001-01-01T00:00:00Z",
		"9999-12-31T23:59:59.999999999Z":       "9999-12-31T23:59:59.999999999Z",
		"2024-02-29T00:00:00Z":                 "2024-02-29T00:00:00Z",
		"2011-05-13T04:42:34.1234567891+00:00": "2011-05-13T04:42:34.123456789Z",
	} {
		got, err := schema.ParseDateTime(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got.Format("2006-01-02T15:04:05.999999999Z07:00"), in)
	}
	for in, want := range map[string]string{
		"0000-01-01T00:00:00Z":       "the year is outside 0001 to 9999",
		"0001-01-01T00:00:00+00:01":  "the year is outside 0001 to 9999", // 0000-12-31 in UTC
		"9999-12-31T23:59:59-00:01":  "the year is outside 0001 to 9999", // 10000-01-01 in UTC
		"2011-05-13T04:42:34+23:59":  "the offset +23:59 is beyond ±14:00",
		"2011-05-13T04:42:34-14:01":  "the offset -14:01 is beyond ±14:00",
		"2011-02-29T00:00:00Z":       "day out of range",
		"2011-04-31T00:00:00Z":       "day out of range",
		"2011-13-01T00:00:00Z":       "month out of range",
		"2011-05-13T24:00:00Z":       "hour out of range",
		"2011-05-13T04:60:00Z":       "minute out of range",
		"2011-05-13T04:42:60Z":       "second out of range",
		"2011-05-13T04:42:34":        "not of the form",
		"2011-05-13":                 "not of the form",
		"2011-05-13 04:42:34Z":       "not of the form",
		"10000-01-01T00:00:00Z":      "not of the form",
		"":                           "not of the form",
		"2011-05-13T04:42:34Z\u0000": "",
	} {
		_, err := schema.ParseDateTime(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), want, in)
	}
}

// A dateTime attribute (none is writable in scimd's schemas today, so this one is made up)
// takes only what ParseDateTime accepts and stores it in UTC.
func TestNormalizeDateTime(t *testing.T) {
	t.Parallel()
	p := schema.Path{Attr: &schema.Attribute{Name: "hired", Type: schema.TypeDateTime, Mutability: schema.ReadWrite}}
	v, err := schema.NormalizeValue(p, "2008-01-23T06:56:22+02:00")
	require.NoError(t, err)
	require.Equal(t, "2008-01-23T04:56:22Z", v)
	_, err = schema.NormalizeValue(p, "0000-01-01T00:00:00Z")
	requireInvalidValue(t, err, `attribute "hired" must be a dateTime such as 2008-01-23T04:56:22Z, got "0000-01-01T00:00:00Z": the year is outside 0001 to 9999`)
	_, err = schema.NormalizeValue(p, "2011-05-13T04:42:34+23:59")
	requireInvalidValue(t, err, `the offset +23:59 is beyond ±14:00`)
	_, err = schema.NormalizeValue(p, json.Number("20080123"))
	requireInvalidValue(t, err, `attribute "hired" must be a dateTime, got 20080123`)
}

// RFC 7643 §2.4: the same (type, value) pair is stored once, whichever shape brought it.
func TestNormalizeMergesDuplicates(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	doc, err := reg.User.Normalize(decode(t, `{"userName":"u","emails":[
		{"value":"ada@example.com","type":"work"},
		{"value":"ada@home.example","type":"home"},
		{"value":"ADA@Example.com","type":"Work","primary":true,"display":"Ada"},
		{"value":"ada@example.com","type":"other"},
		{"value":"ada@example.com"},
		{"value":"Ada@example.com"},
		{"type":"work","display":"no value"},
		{"type":"work","display":"no value"}],
		"phoneNumbers":["+1 555 0100","+1 555 0100"],
		"addresses":[{"locality":"Oslo","type":"work"},{"locality":"Oslo","type":"work"}]}`))
	require.NoError(t, err)
	require.Equal(t, []any{
		map[string]any{"value": "ada@example.com", "type": "work", "primary": true, "display": "Ada"},
		map[string]any{"value": "ada@home.example", "type": "home"},
		map[string]any{"value": "ada@example.com", "type": "other"},
		map[string]any{"value": "ada@example.com"},
		map[string]any{"type": "work", "display": "no value"},
		map[string]any{"type": "work", "display": "no value"},
	}, doc["emails"])
	require.Equal(t, []any{map[string]any{"value": "+1 555 0100"}}, doc["phoneNumbers"])
	require.Len(t, doc["addresses"], 2, "addresses have no value: they are not (type, value) pairs")

	// Two primaries that are one element are one primary.
	doc, err = reg.User.Normalize(decode(t, `{"userName":"u","emails":[{"value":"a@x.example","primary":true},{"value":"A@X.example","primary":"True"}]}`))
	require.NoError(t, err)
	require.Equal(t, []any{map[string]any{"value": "a@x.example", "primary": true}}, doc["emails"])
	_, err = reg.User.Normalize(decode(t, `{"userName":"u","emails":[{"value":"a@x.example","primary":true},{"value":"b@x.example","primary":true}]}`))
	requireInvalidValue(t, err, `at most one value of "emails" may be primary`)

	// Members' value is caseExact: ids that differ in case are different members.
	doc, err = reg.Group.Normalize(decode(t, `{"displayName":"g","members":[{"value":"u1","type":"User"},{"value":"U1","type":"User"},{"value":"u1","type":"user"}]}`))
	require.NoError(t, err)
	require.Equal(t, []any{
		map[string]any{"value": "u1", "type": "User"},
		map[string]any{"value": "U1", "type": "User"},
	}, doc["members"])
}

func TestMergeDuplicatesOfDocument(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	doc := decode(t, `{"userName":"u","emails":[{"value":"a@x.example","type":"work"},{"value":"A@x.example","type":"work","primary":true}],
		"roles":[{"value":"r","type":"t"}],"title":"t"}`)
	reg.User.MergeDuplicates(doc)
	require.Equal(t, decode(t, `{"userName":"u","emails":[{"value":"a@x.example","type":"work","primary":true}],
		"roles":[{"value":"r","type":"t"}],"title":"t"}`), doc)
}
