package filter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

const ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

func registry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	return reg
}

// render writes e compactly: (and L R), (or L R), (not X), path[filter], path op value, with
// strings quoted, numbers as n:123 and booleans bare.
func render(e Expr) string {
	switch e := e.(type) {
	case And:
		return "(and " + render(e.Left) + " " + render(e.Right) + ")"
	case Or:
		return "(or " + render(e.Left) + " " + render(e.Right) + ")"
	case Not:
		return "(not " + render(e.X) + ")"
	case ValuePath:
		return e.Path.String() + "[" + render(e.Filter) + "]"
	case Compare:
		s := e.Path.String() + " " + e.Op
		switch v := e.Value.(type) {
		case nil:
		case string:
			s += fmt.Sprintf(" %q", v)
		case json.Number:
			s += " n:" + v.String()
		default:
			s += fmt.Sprintf(" %v", v)
		}
		return s
	}
	return fmt.Sprintf("?%T", e)
}

func TestParse(t *testing.T) {
	reg := registry(t)
	tests := []struct{ in, want string }{
		// every operator
		{`userName eq "bjensen"`, `userName eq "bjensen"`},
		{`userName ne "bjensen"`, `userName ne "bjensen"`},
		{`userName co "jen"`, `userName co "jen"`},
		{`userName sw "bj"`, `userName sw "bj"`},
		{`userName ew "sen"`, `userName ew "sen"`},
		{`userName gt "a"`, `userName gt "a"`},
		{`userName ge "a"`, `userName ge "a"`},
		{`userName lt "z"`, `userName lt "z"`},
		{`userName le "z"`, `userName le "z"`},
		{`title pr`, `title pr`},
		{`active eq true`, `active eq true`},
		{`active ne false`, `active ne false`},
		{`active eq "True"`, `active eq true`},
		{`active pr`, `active pr`},
		// logic and precedence: and binds tighter than or
		{`title pr and userType eq "Employee"`, `(and title pr userType eq "Employee")`},
		{`title pr or userType eq "Intern"`, `(or title pr userType eq "Intern")`},
		{`title pr or userType eq "a" and active eq true`, `(or title pr (and userType eq "a" active eq true))`},
		{`(title pr or userType eq "a") and active eq true`, `(and (or title pr userType eq "a") active eq true)`},
		{`a1 pr`, ``}, // placeholder row replaced below
		{`not (title pr)`, `(not title pr)`},
		{`NOT(title pr)`, `(not title pr)`},
		{`userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")`,
			`(and userType ne "Employee" (not (or emails.value co "example.com" emails.value co "example.org")))`},
		{`  ( ( userName eq "x" ) )  `, `userName eq "x"`},
		{"userName\teq\n\"x\"", `userName eq "x"`},
		// odd case names and operators
		{`DisplayName Eq "x"`, `displayName eq "x"`},
		{`meta.Created GT "2011-05-13T04:42:34Z"`, `meta.created gt "2011-05-13T04:42:34Z"`},
		{`meta.lastModified ge "2011-05-13T04:42:34.123+02:00"`, `meta.lastModified ge "2011-05-13T02:42:34.123Z"`},
		{`meta.created ge "2011-05-13T04:42:34-14:00"`, `meta.created ge "2011-05-13T18:42:34Z"`},
		{`meta.created lt "9999-12-31T23:59:59.999999999Z"`, `meta.created lt "9999-12-31T23:59:59.999999999Z"`},
		{`meta.created gt "0001-01-01T00:00:00Z"`, `meta.created gt "0001-01-01T00:00:00Z"`},
		{`meta.created eq "2024-02-29T12:00:00Z"`, `meta.created eq "2024-02-29T12:00:00Z"`},
		{`userName eq "a" AND title Pr Or active EQ TRUE`, `(or (and userName eq "a" title pr) active eq true)`},
		// common attributes
		{`id eq "2819c223"`, `id eq "2819c223"`},
		{`externalId eq "x"`, `externalId eq "x"`},
		{`meta.resourceType eq "User"`, `meta.resourceType eq "User"`},
		// unquoted values
		{`externalId eq jyoung`, `externalId eq "jyoung"`},
		{`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
			`(and name.familyName eq "Employee" (or emails.value co "example.com" emails.value co "example.org"))`},
		{`userName eq a\b`, `userName eq "a\\b"`},
		{`externalId eq 12345`, `externalId eq "12345"`},
		{`externalId eq -1.5e3`, `externalId eq "-1.5e3"`},
		{`externalId eq 007`, `externalId eq "007"`},
		{`userName eq "and"`, `userName eq "and"`},
		{`userName eq and`, `userName eq "and"`},
		// escapes
		{`userName eq "a\"b"`, `userName eq "a\"b"`},
		{`userName eq "a\\b\/c"`, `userName eq "a\\b/c"`},
		{`userName eq "caf\u00e9 \u00C9"`, `userName eq "café É"`},
		{`userName eq "tab\there\n"`, `userName eq "tab\there\n"`},
		{`userName eq "x]y[z"`, `userName eq "x]y[z"`},
		{`userName eq "émoji 🙂"`, `userName eq "émoji 🙂"`},
		{`userName eq ""`, `userName eq ""`},
		// multi-valued complex without sub-attribute means value
		{`emails eq "a@x"`, `emails.value eq "a@x"`},
		{`emails co "@x"`, `emails.value co "@x"`},
		{`emails pr`, `emails pr`},
		{`name pr`, `name pr`},
		{`members eq "id1"`, ``}, // group, below
		// value paths
		{`emails[type eq "work"]`, `emails[emails.type eq "work"]`},
		{`emails[type eq "work" and value co "@example.com"]`,
			`emails[(and emails.type eq "work" emails.value co "@example.com")]`},
		{`emails[type eq "work" or type eq "home" or primary eq true]`,
			`emails[(or (or emails.type eq "work" emails.type eq "home") emails.primary eq true)]`},
		{`emails[(type eq "work" or type eq "home") and not (value ew ".org")]`,
			`emails[(and (or emails.type eq "work" emails.type eq "home") (not emails.value ew ".org"))]`},
		{`Emails [ Type EQ work ]`, `emails[emails.type eq "work"]`},
		{`userType eq "Employee" and emails[type eq "work" and value co "@example.com"]`,
			`(and userType eq "Employee" emails[(and emails.type eq "work" emails.value co "@example.com")])`},
		{`emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]`,
			`(or emails[(and emails.type eq "work" emails.value co "@example.com")] ims[(and ims.type eq "xmpp" ims.value co "@foo.com")])`},
		{`not (emails[type eq "work"])`, `(not emails[emails.type eq "work"])`},
		{`groups[$ref pr]`, `groups[groups.$ref pr]`},
		{`groups.$ref pr`, `groups.$ref pr`},
		// Entra's value path with sub-attribute comparison
		{`emails[type eq "work"].value eq "x@y"`, `emails[(and emails.type eq "work" emails.value eq "x@y")]`},
		{`emails[type eq "work" and primary eq true].Value Eq x@y and active eq true`,
			`(and emails[(and (and emails.type eq "work" emails.primary eq true) emails.value eq "x@y")] active eq true)`},
		{`emails[type eq "work"].display pr`, `emails[(and emails.type eq "work" emails.display pr)]`},
		// URN-prefixed attributes
		{ent + `:employeeNumber eq "701984"`, ent + `:employeeNumber eq "701984"`},
		{strings.ToLower(ent) + `:EmployeeNumber eq 701984`, ent + `:employeeNumber eq "701984"`},
		{ent + `:manager.value eq "26118915"`, ent + `:manager.value eq "26118915"`},
		{`employeeNumber eq "1"`, ent + `:employeeNumber eq "1"`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName sw "B"`, `name.givenName sw "B"`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]`, `emails[emails.type eq "work"]`},
		// binary and reference
		{`x509Certificates.value eq "TUlJ"`, `x509Certificates.value eq "TUlJ"`},
		{`profileUrl sw "https://"`, `profileUrl sw "https://"`},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		t.Run(tt.in, func(t *testing.T) {
			e, err := Parse(reg.User, tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, render(e))
		})
	}

	g, err := Parse(reg.Group, `members eq "id1" and Members[VALUE eq "id2"]`)
	require.NoError(t, err)
	require.Equal(t, `(and members.value eq "id1" members[members.value eq "id2"])`, render(g))
}

func TestParseValueTypes(t *testing.T) {
	reg := registry(t)
	e, err := Parse(reg.User, `active eq true`)
	require.NoError(t, err)
	require.Equal(t, true, e.(Compare).Value)

	e, err = Parse(reg.User, `externalId eq 42`)
	require.NoError(t, err)
	require.Equal(t, "42", e.(Compare).Value)

	e, err = Parse(reg.User, `meta.created lt "2020-01-01T00:00:00Z"`)
	require.NoError(t, err)
	c := e.(Compare)
	require.Equal(t, "2020-01-01T00:00:00Z", c.Value)
	require.Same(t, schema.MetaAttr, c.Path.Attr)
	require.Equal(t, schema.TypeDateTime, c.Path.Sub.Type)

	e, err = Parse(reg.User, `emails[type eq "work"]`)
	require.NoError(t, err)
	vp := e.(ValuePath)
	require.Nil(t, vp.Path.Sub)
	require.Equal(t, "emails", vp.Path.Attr.Name)
	inner := vp.Filter.(Compare)
	require.Same(t, vp.Path.Attr, inner.Path.Attr)
	require.Equal(t, "type", inner.Path.Sub.Name)

	e, err = Parse(reg.User, ent+`:manager pr`)
	require.NoError(t, err)
	require.Equal(t, ent, e.(Compare).Path.Ext.ID)
	require.Nil(t, e.(Compare).Path.Sub)
}

// requireInvalid asserts err is an invalid *scimerr.Error of scimType whose detail contains want.
func requireInvalid(t *testing.T, err error, scimType, want string) {
	t.Helper()
	require.Error(t, err)
	e, ok := err.(*scimerr.Error)
	require.True(t, ok, "%T is not *scimerr.Error", err)
	require.Equal(t, scimerr.KindInvalid, e.Kind)
	require.Equal(t, scimType, e.ScimType)
	require.Contains(t, e.Detail, want)
}

func TestParseErrors(t *testing.T) {
	reg := registry(t)
	tests := []struct{ in, want string }{
		// syntax
		{``, `the filter is empty`},
		{`   `, `the filter is empty`},
		{`userName`, `missing operator after "userName"`},
		{`userName eq`, `missing value after "eq"`},
		{`userName eq "a" and`, `missing expression after "and"`},
		{`userName xx "a"`, `expected an operator`},
		{`userName eq "a" userName pr`, `expected "and", "or" or ")" after "\"a\""`},
		{`userName eq "a" xor title pr`, `not "xor"`},
		{`(userName eq "a"`, `missing ")"`},
		{`userName eq "a")`, `after "\"a\"", not ")"`},
		{`not userName pr`, `"not" must be followed by "("`},
		{`userName eq "abc`, `unterminated string`},
		{`"a" eq userName`, `expected an attribute name`},
		{`userName eq ()`, `missing value after "eq"`},
		{`emails[type eq "work"`, `missing "]"`},
		{`emails]`, `unexpected "]"`},
		{`emails[type eq "a"] pr`, `not "pr"`},
		{`emails[]`, `empty value filter`},
		{`emails[type[x]]`, `cannot be nested`},
		{`emails[type eq "work"].value`, `missing operator after "value"`},
		{`emails[type eq "work"].value eq`, `missing value after "eq"`},
		{`emails[type eq "work"].value and title pr`, `expected an operator`},
		{`[type eq "x"]`, `expected an attribute name`},
		// escapes
		{`userName eq "a\x"`, `invalid string "a\x"`},
		{`userName eq "\u12"`, `invalid string`},
		{"userName eq \"a\tb\"", `invalid string`},
		// unknown attributes
		{`foo eq "x"`, `unknown attribute "foo"`},
		{`name.foo eq "x"`, `unknown attribute "name.foo"`},
		{`user!name eq "x"`, `unknown attribute "user!name"`},
		{`$vp0 pr`, `unknown attribute "$vp0"`},
		{`emails[type pr] and urn:x:$vp0 pr`, `unknown attribute "urn:x:$vp0"`},
		{`emails[type pr] and $vp0 pr`, `unknown attribute "$vp0"`},
		{`urn:example:Foo:bar eq "x"`, `unknown schema "urn:example:Foo"`},
		{ent + `:foo eq "x"`, `unknown attribute "foo"`},
		{`emails[foo eq "x"]`, `unknown attribute "emails.foo"`},
		{`emails[emails.type eq "x"]`, `name a sub-attribute of emails`},
		{`emails[type eq "work"].foo eq "x"`, `unknown attribute "emails.foo"`},
		{`name[givenName eq "x"]`, `name is not a multi-valued complex attribute`},
		{`userName[value eq "x"]`, `userName is not a multi-valued complex attribute`},
		{`emails.value[value eq "x"]`, `not a multi-valued complex attribute`},
		{`bogus[value eq "x"]`, `unknown attribute "bogus"`},
		// types
		{`name eq "x"`, `name is complex: compare one of its sub-attributes`},
		{`addresses eq "x"`, `addresses has no value sub-attribute`},
		{`active gt true`, `active is boolean: only eq, ne and pr are allowed, not gt`},
		{`active co "t"`, `active is boolean: only eq, ne and pr are allowed, not co`},
		{`active eq "yes"`, `active is boolean: compare it with true or false, not "yes"`},
		{`active eq 1`, `active is boolean: compare it with true or false, not 1`},
		{`emails[primary eq maybe]`, `emails.primary is boolean`},
		{`x509Certificates.value gt "a"`, `x509Certificates.value is binary: gt is not allowed`},
		{`x509Certificates[value le "a"]`, `x509Certificates.value is binary: le is not allowed`},
		{`meta.created co "2020"`, `co needs a string attribute, but meta.created is dateTime`},
		{`meta.created gt "yesterday"`, `meta.created is dateTime: "yesterday" is not an RFC 3339 date-time`},
		{`meta.created gt 2020`, `meta.created is dateTime: 2020 is not an RFC 3339 date-time`},
		{`meta.lastModified eq "2020-01-01"`, `not an RFC 3339 date-time`},
		// dateTimes PostgreSQL would refuse (RFC 7643 §2.3.5: xsd:dateTime)
		{`meta.created gt "0000-01-01T00:00:00Z"`, `"0000-01-01T00:00:00Z" is not an RFC 3339 date-time: the year is outside 0001 to 9999`},
		{`meta.created gt "0001-01-01T00:00:00+00:01"`, `the year is outside 0001 to 9999`},
		{`meta.created gt "2011-05-13T04:42:34+23:59"`, `the offset +23:59 is beyond ±14:00`},
		{`meta.created gt "2011-05-13T04:42:34-14:01"`, `the offset -14:01 is beyond ±14:00`},
		{`meta.created gt "2011-02-29T00:00:00Z"`, `day out of range`},
		{`meta.lastModified lt "2011-05-13T24:00:00Z"`, `hour out of range`},
		{`emails[type eq "work" and value eq "a"] or meta.created gt "2011-05-13T04:42:34+15:00"`, `beyond ±14:00`},
		// NUL cannot be stored nor be a parameter; invalid UTF-8 cannot be a parameter
		{`userName eq "a\u0000b"`, `a value contains the NUL character (\u0000)`},
		{"userName eq a\x00b", `NUL character`},
		{`emails[value eq "\u0000"]`, `NUL character`},
		{`emails[type eq "work"].value eq "x\u0000"`, `NUL character`},
		{`externalId eq "` + randtext.String(900) + `\u0000"`, `NUL character`},
		{"userName eq \"\xff\"", `not valid UTF-8`},
		{"userName eq \xc3", `not valid UTF-8`},
		{`userName eq true`, `userName is string: compare it with a string, not true`},
		{`userName eq null`, `comparing with null is not supported: use "userName pr" or "not (userName pr)"`},
		{`userName ne NULL`, `comparing with null is not supported`},
		// limits
		{strings.Repeat("(", 51) + `title pr` + strings.Repeat(")", 51), `nested deeper than 50 levels`},
		{`userName eq "` + strings.Repeat("a", 4096) + `"`, `longer than 4096 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := Parse(reg.User, tt.in)
			requireInvalid(t, err, scimerr.InvalidFilter, tt.want)
			require.True(t, strings.HasPrefix(scimerr.As(err).Detail, "invalid filter "), scimerr.As(err).Detail)
		})
	}

	// 50 levels is still fine.
	_, err := Parse(reg.User, strings.Repeat("(", 50)+`title pr`+strings.Repeat(")", 50))
	require.NoError(t, err)
}

// Filters of one shape share a cached parse; each must still get its own values.
func TestSameShapeDifferentValues(t *testing.T) {
	t.Parallel()
	rt := registry(t).User
	for _, v := range []string{"a@x.com", "b@y.org", `q"uote`, "$0", "$1"} {
		e, err := Parse(rt, `emails[type eq "work" and value eq `+strconv.Quote(v)+`] or userName eq "`+strings.ReplaceAll(v, `"`, `\"`)+`"`)
		require.NoError(t, err, v)
		or := e.(Or)
		inner := or.Left.(ValuePath).Filter.(And)
		require.Equal(t, "work", inner.Left.(Compare).Value, v)
		require.Equal(t, v, inner.Right.(Compare).Value, v)
		require.Equal(t, v, or.Right.(Compare).Value, v)
	}
}
