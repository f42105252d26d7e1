package filter

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/scimerr"
)

func TestParsePatchPath(t *testing.T) {
	reg := registry(t)
	tests := []struct {
		in, target, filter string // filter "" means none
	}{
		{`userName`, `userName`, ``},
		{`name.givenName`, `name.givenName`, ``},
		{`Name.FamilyName`, `name.familyName`, ``},
		{`emails`, `emails`, ``},
		{`emails.value`, `emails.value`, ``},
		{`externalId`, `externalId`, ``},
		{` active `, `active`, ``},
		{ent, ent, ``},
		{ent + `:employeeNumber`, ent + `:employeeNumber`, ``},
		{ent + `:manager`, ent + `:manager`, ``},
		{ent + `:manager.value`, ent + `:manager.value`, ``},
		{`urn:ietf:params:scim:schemas:core:2.0:User:name.givenName`, `name.givenName`, ``},
		{`emails[type eq "work"]`, `emails`, `emails.type eq "work"`},
		{`emails[type eq "work"].value`, `emails.value`, `emails.type eq "work"`},
		{`emails[Type Eq work].Value`, `emails.value`, `emails.type eq "work"`},
		{`emails[type eq "work" and primary eq true].display`, `emails.display`,
			`(and emails.type eq "work" emails.primary eq true)`},
		{`addresses[type eq "work" or (type eq "home" and primary eq true)].streetAddress`, `addresses.streetAddress`,
			`(or addresses.type eq "work" (and addresses.type eq "home" addresses.primary eq true))`},
		{`emails[value eq "a\"b]"]`, `emails`, `emails.value eq "a\"b]"`},
		{`urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value`, `emails.value`, `emails.type eq "work"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			pp, err := ParsePatchPath(reg.User, tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.target, pp.Target.String())
			if tt.filter == "" {
				require.Nil(t, pp.Filter)
			} else {
				require.Equal(t, tt.filter, render(pp.Filter))
			}
		})
	}

	pp, err := ParsePatchPath(reg.Group, `members[value eq "7f4b-11"]`)
	require.NoError(t, err)
	require.Equal(t, "members", pp.Target.String())
	require.Equal(t, `members.value eq "7f4b-11"`, render(pp.Filter))
	require.True(t, Match(pp.Filter, map[string]any{"value": "7f4b-11"}))

	pp, err = ParsePatchPath(reg.User, ent)
	require.NoError(t, err)
	require.Nil(t, pp.Target.Attr)
	require.Equal(t, ent, pp.Target.Ext.ID)
}

func TestParsePatchPathErrors(t *testing.T) {
	reg := registry(t)
	tests := []struct{ in, want string }{
		{``, `the path is empty`},
		{`foo`, `unknown attribute "foo"`},
		{`name.foo`, `unknown attribute "name.foo"`},
		{`urn:example:Foo:bar`, `unknown attribute "urn:example:Foo:bar"`},
		{`emails[type eq "work"].foo`, `unknown attribute "emails.foo"`},
		{`emails[foo eq "work"]`, `unknown attribute "emails.foo"`},
		{`name[givenName eq "x"]`, `name is not a multi-valued complex attribute`},
		{`name[givenName eq "x"].givenName`, `name is not a multi-valued complex attribute`},
		{ent + `:manager[value eq "x"]`, `not a multi-valued complex attribute`},
		{`emails[type eq "work"`, `missing "]"`},
		{`emails[type eq "work"] x`, `unexpected "x" after "]"`},
		{`emails[type eq "work"][value pr]`, `unexpected "[value pr]" after "]"`},
		{`emails[type eq]`, `missing value after "eq"`},
		{`emails[]`, `empty value filter`},
		{`emails[type eq "a\q"]`, `invalid string`},
		{`emails[primary gt true]`, `emails.primary is boolean`},
		{`emails[type[x]]`, `cannot be nested`},
		{`emails[` + strings.Repeat("a", 4096) + `]`, `longer than 4096 bytes`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParsePatchPath(reg.User, tt.in)
			requireInvalid(t, err, scimerr.InvalidPath, tt.want)
		})
	}
}
