package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

// Test documents spell the long URNs as ENT (enterprise User extension), USER, GROUP and PATCHOP.
var urns = strings.NewReplacer(
	"ENT", schema.EnterpriseUserURN,
	"USER", schema.UserURN,
	"GROUP", schema.GroupURN,
	"PATCHOP", schema.PatchOpURN,
)

func registry(t testing.TB) *schema.Registry {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	return reg
}

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(urns.Replace(s)))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), s)
	return m
}

// body wraps operations in a PatchOp request.
func body(ops ...string) string {
	return `{"schemas":["PATCHOP"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

const (
	userHead = `"schemas":["USER","ENT"],"id":"u-1","meta":{"resourceType":"User","created":"2024-01-01T00:00:00Z"},`
	// baseUser has a work email and a manager.
	baseUser = `{` + userHead + `"userName":"bjensen@example.com","name":{"givenName":"Barbara","familyName":"Jensen"},` +
		`"displayName":"Babs Jensen","active":true,` +
		`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
		`"ENT":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}}`
	// plainUser has no work email, no name and no extension.
	plainUser = `{` + userHead + `"userName":"kim@example.com","active":true,"emails":[{"value":"kim@home.example","type":"home"}]}`

	groupHead = `"schemas":["GROUP"],"id":"g-1","meta":{"resourceType":"Group"},`
	baseGroup = `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u1","type":"User"},{"value":"u2"}]}`
)

type applyCase struct {
	name  string
	group bool   // apply to the Group resource type
	start string // defaults to baseUser or baseGroup
	body  string
	want  string // the exact resulting document
	// For failures: the scimType and a substring of the detail; the document must be unchanged.
	scimType string
	detail   string
}

func runApply(t *testing.T, cases []applyCase) {
	reg := registry(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rt, start := reg.User, tc.start
			if tc.group {
				rt = reg.Group
				if start == "" {
					start = baseGroup
				}
			} else if start == "" {
				start = baseUser
			}
			ops, err := Parse([]byte(urns.Replace(tc.body)))
			require.NoError(t, err)
			doc := decode(t, start)
			err = Apply(rt, doc, ops)
			if tc.scimType != "" {
				require.Error(t, err)
				e := scimerr.As(err)
				require.NotNil(t, e, "%v", err)
				require.Equal(t, scimerr.KindInvalid, e.Kind)
				require.Equal(t, tc.scimType, e.ScimType, e.Detail)
				require.Contains(t, e.Detail, tc.detail)
				require.Equal(t, decode(t, start), doc, "a failed PATCH must leave the document unchanged")
				return
			}
			require.NoError(t, err)
			require.Equal(t, decode(t, tc.want), doc)
		})
	}
}

func TestApplyUserIdPShapes(t *testing.T) {
	runApply(t, []applyCase{{
		name: "Entra disable with string boolean",
		body: body(`{"op":"Replace","path":"active","value":"False"}`),
		want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
	}, {
		name: "Entra current sample: Operations before schemas",
		body: `{"Operations":[{"op":"Replace","path":"active","value":false}],"schemas":["PATCHOP"]}`,
		want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
	}, {
		name:  "Entra string boolean True",
		start: strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
		body:  body(`{"op":"Replace","path":"active","value":"True"}`),
		want:  baseUser,
	}, {
		name: "Entra single-valued Add",
		body: body(`{"op":"Add","path":"nickName","value":"Babs"}`),
		want: strings.Replace(baseUser, `"active":true`, `"active":true,"nickName":"Babs"`, 1),
	}, {
		name: "Okta path-less deactivate",
		body: body(`{"op":"replace","value":{"active":false}}`),
		want: strings.Replace(baseUser, `"active":true`, `"active":false`, 1),
	}, {
		name: "Entra multi-attribute replace without flag, work email exists",
		body: body(
			`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"barbara@example.com"}`,
			`{"op":"Replace","path":"name.givenName","value":"Barb"}`,
			`{"op":"Replace","path":"name.familyName","value":"Jensen-Smith"}`,
			`{"op":"Replace","path":"externalId","value":"ext-9"}`,
			`{"op":"Replace","path":"ENT:employeeNumber","value":"42"}`),
		want: `{` + userHead + `"userName":"bjensen@example.com","name":{"givenName":"Barb","familyName":"Jensen-Smith"},` +
			`"displayName":"Babs Jensen","active":true,"externalId":"ext-9",` +
			`"emails":[{"value":"barbara@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
			`"ENT":{"employeeNumber":"42","manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}}`,
	}, {
		name:  "Entra multi-attribute update without flag, no work email yet: add through the filter creates it",
		start: plainUser,
		body: body(
			`{"op":"Add","path":"emails[type eq \"work\"].value","value":"kim@example.com"}`,
			`{"op":"Replace","path":"name.givenName","value":"Kim"}`,
			`{"op":"Replace","path":"name.familyName","value":"Lee"}`,
			`{"op":"Replace","path":"externalId","value":"ext-2"}`,
			`{"op":"Replace","path":"ENT:employeeNumber","value":1234}`),
		want: `{` + userHead + `"userName":"kim@example.com","active":true,"externalId":"ext-2",` +
			`"name":{"givenName":"Kim","familyName":"Lee"},` +
			`"emails":[{"value":"kim@home.example","type":"home"},{"value":"kim@example.com","type":"work"}],` +
			`"ENT":{"employeeNumber":"1234"}}`,
	}, {
		name: "Entra multi-attribute replace with aadOptscim062020: path-less dotted and URN keys",
		body: body(
			`{"op":"replace","path":"emails[type eq \"work\"].value","value":"bjfe@example.com"}`,
			`{"op":"replace","value":{"displayName":"Bjfe","name.givenName":"Kkom","name.familyName":"Unua",`+
				`"ENT:employeeNumber":"Aklq"}}`),
		want: `{` + userHead + `"userName":"bjensen@example.com","name":{"givenName":"Kkom","familyName":"Unua"},` +
			`"displayName":"Bjfe","active":true,` +
			`"emails":[{"value":"bjfe@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
			`"ENT":{"employeeNumber":"Aklq","manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}}`,
	}, {
		name: "path-less keys match case-insensitively; extension object; unknown and readOnly keys ignored",
		body: body(`{"op":"Replace","value":{"DISPLAYNAME":"B","Name.GivenName":"Bee","id":"other","schemas":["USER"],` +
			`"meta":{"resourceType":"Group"},"groups":[{"value":"g9"}],"favouriteColour":"blue",` +
			`"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user":{"Department":"R&D","costcenter":"CC1","nope":1}}}`),
		want: `{` + userHead + `"userName":"bjensen@example.com","name":{"givenName":"Bee","familyName":"Jensen"},` +
			`"displayName":"B","active":true,` +
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
			`"ENT":{"employeeNumber":"701984","department":"R&D","costCenter":"CC1",` +
			`"manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}}`,
	}, {
		name: "path-less key with a value filter",
		body: body(`{"op":"replace","value":{"emails[type eq \"home\"].display":"Home"}}`),
		want: strings.Replace(baseUser, `{"value":"babs@home.example","type":"home"}`,
			`{"value":"babs@home.example","type":"home","display":"Home"}`, 1),
	}, {
		name: "path-less replace: null removes, complex value merges",
		body: body(`{"op":"replace","value":{"displayName":null,"name":{"familyName":"J"}}}`),
		want: `{` + userHead + `"userName":"bjensen@example.com","name":{"givenName":"Barbara","familyName":"J"},` +
			`"active":true,` +
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
			`"ENT":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}}`,
	}, {
		name: "manager replace with another id drops the stale $ref and displayName",
		body: body(`{"op":"replace","path":"ENT:manager","value":{"value":"m-2"}}`),
		want: strings.Replace(baseUser, `"manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}`,
			`"manager":{"value":"m-2"}`, 1),
	}, {
		name:  "manager set when unset",
		start: plainUser,
		body:  body(`{"op":"replace","path":"ENT:manager","value":{"value":"m-3"}}`),
		want:  strings.Replace(plainUser, `"active":true`, `"active":true,"ENT":{"manager":{"value":"m-3"}}`, 1),
	}, {
		name:  "manager add with a bare id string",
		start: plainUser,
		body:  body(`{"op":"Add","path":"ENT:manager","value":"m-4"}`),
		want:  strings.Replace(plainUser, `"active":true`, `"active":true,"ENT":{"manager":{"value":"m-4"}}`, 1),
	}, {
		name: "manager clear with value empty string",
		body: body(`{"op":"replace","path":"ENT:manager","value":{"value":""}}`),
		want: strings.Replace(baseUser, `,"manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}`, ``, 1),
	}, {
		name:  "manager clear on the only extension attribute drops the extension object",
		start: strings.Replace(plainUser, `"active":true`, `"active":true,"ENT":{"manager":{"value":"m-3"}}`, 1),
		body:  body(`{"op":"Replace","path":"ENT:manager","value":{"value":""}}`),
		want:  plainUser,
	}, {
		name: "manager value with only readOnly sub-attributes changes nothing",
		body: body(`{"op":"replace","path":"ENT:manager","value":{"displayName":"Other"}}`),
		want: baseUser,
	}, {
		name: "replace filtered element with value empty string removes it",
		body: body(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":""}}`),
		want: strings.Replace(baseUser, `,{"value":"babs@home.example","type":"home"}`, ``, 1),
	}, {
		name: "remove manager and a sub-attribute",
		body: body(`{"op":"Remove","path":"ENT:manager"}`, `{"op":"remove","path":"name.givenName"}`),
		want: `{` + userHead + `"userName":"bjensen@example.com","name":{"familyName":"Jensen"},` +
			`"displayName":"Babs Jensen","active":true,` +
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}],` +
			`"ENT":{"employeeNumber":"701984"}}`,
	}, {
		name: "remove filtered element and a sub-attribute of filtered elements",
		body: body(`{"op":"remove","path":"emails[type eq \"home\"]"}`, `{"op":"remove","path":"emails[type eq \"work\"].primary"}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"bjensen@example.com","type":"work"}]`, 1),
	}, {
		name: "add emails: duplicates skipped, a new primary clears the old one",
		body: body(`{"op":"add","path":"emails","value":[{"value":"BJENSEN@example.com","type":"Work"},` +
			`{"value":"b@other.example","type":"other","primary":"True"}]}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@home.example","type":"home"},`+
				`{"value":"b@other.example","type":"other","primary":true}]`, 1),
	}, {
		name: "add an existing element as primary marks it and clears the others",
		body: body(`{"op":"add","path":"emails","value":{"value":"babs@home.example","type":"HOME","primary":true}}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@home.example","type":"home","primary":true}]`, 1),
	}, {
		name: "replace primary through a filter clears the others",
		body: body(`{"op":"replace","path":"emails[type eq \"home\"].primary","value":true}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"bjensen@example.com","type":"work"},{"value":"babs@home.example","type":"home","primary":true}]`, 1),
	}, {
		name: "replace filtered element with an object merges into it",
		body: body(`{"op":"replace","path":"emails[value eq \"babs@home.example\"]","value":{"display":"Home","type":"personal"}}`),
		want: strings.Replace(baseUser, `{"value":"babs@home.example","type":"home"}`,
			`{"value":"babs@home.example","type":"personal","display":"Home"}`, 1),
	}, {
		name: "replace multi-valued attribute without filter replaces the list",
		body: body(`{"op":"replace","path":"emails","value":[{"value":"x@example.com","type":"work"}]}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"x@example.com","type":"work"}]`, 1),
	}, {
		name: "remove whole extension keeps nothing of it",
		body: body(`{"op":"remove","path":"ENT"}`),
		want: strings.Replace(baseUser,
			`,"ENT":{"employeeNumber":"701984","manager":{"value":"m-1","$ref":"../Users/m-1","displayName":"Boss"}}`, ``, 1),
	}, {
		name: "remove with a filter matching nothing is a no-op",
		body: body(`{"op":"remove","path":"emails[type eq \"fax\"]"}`),
		want: baseUser,
	}, {
		name: "add and replace in one request apply in order",
		body: body(`{"op":"add","path":"title","value":"Eng"}`, `{"op":"replace","path":"title","value":"Lead"}`),
		want: strings.Replace(baseUser, `"active":true`, `"active":true,"title":"Lead"`, 1),
	}})
}

func TestApplyUserErrors(t *testing.T) {
	runApply(t, []applyCase{{
		name:     "explicit path to id",
		body:     body(`{"op":"replace","path":"id","value":"x"}`),
		scimType: scimerr.Mutability, detail: `operation 1 (replace id): attribute "id" is readOnly`,
	}, {
		name:     "explicit path to meta sub-attribute",
		body:     body(`{"op":"replace","path":"meta.created","value":"2020-01-01T00:00:00Z"}`),
		scimType: scimerr.Mutability, detail: `"meta.created" is readOnly`,
	}, {
		name:     "explicit path to groups",
		body:     body(`{"op":"add","path":"groups","value":[{"value":"g1"}]}`),
		scimType: scimerr.Mutability, detail: `"groups" is readOnly`,
	}, {
		name:     "remove userName",
		body:     body(`{"op":"add","path":"title","value":"x"}`, `{"op":"remove","path":"userName"}`),
		scimType: scimerr.InvalidValue, detail: `operation 2 (remove userName): userName is required and cannot be removed`,
	}, {
		name:     "clear userName with an empty string in a path-less value",
		body:     body(`{"op":"replace","value":{"userName":""}}`),
		scimType: scimerr.InvalidValue, detail: `operation 1 (replace): userName is required and cannot be removed`,
	}, {
		name:     "add without value",
		body:     body(`{"op":"Add","path":"title"}`),
		scimType: scimerr.InvalidValue, detail: `operation 1 (add title): add requires a value`,
	}, {
		name:     "remove without path",
		body:     body(`{"op":"remove"}`),
		scimType: scimerr.NoTarget, detail: `operation 1 (remove): remove requires a path`,
	}, {
		name:     "path-less value that is not an object",
		body:     body(`{"op":"replace","value":"x"}`),
		scimType: scimerr.InvalidValue, detail: `requires an object`,
	}, {
		name:     "wrong type",
		body:     body(`{"op":"replace","path":"active","value":"maybe"}`),
		scimType: scimerr.InvalidValue, detail: `operation 1 (replace active): attribute "active" must be a boolean`,
	}, {
		name:     "wrong type in a path-less value",
		body:     body(`{"op":"replace","value":{"name":"x"}}`),
		scimType: scimerr.InvalidValue, detail: `"name" must be an object`,
	}, {
		name:     "unknown attribute in a path",
		body:     body(`{"op":"replace","path":"favouriteColour","value":"blue"}`),
		scimType: scimerr.InvalidPath, detail: `operation 1 (replace favouriteColour): unknown attribute`,
	}, {
		name: "filter that matches nothing and is not an eq conjunction",
		body: body(`{"op":"replace","path":"title","value":"t"}`,
			`{"op":"replace","path":"emails[type co \"wor\" and value sw \"nobody\"].value","value":"x@example.com"}`),
		scimType: scimerr.NoTarget,
		detail:   `operation 2 (replace emails[type co "wor" and value sw "nobody"].value): no value of "emails" matches the filter`,
	}, {
		name:     "replace through a filter that matches nothing is noTarget (RFC 7644 §3.5.2.3)",
		start:    plainUser,
		body:     body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"kim@example.com"}`),
		scimType: scimerr.NoTarget,
		detail: `operation 1 (replace emails[type eq "work"].value): no value of "emails" matches the filter, ` +
			`and replace only changes existing values (RFC 7644 §3.5.2.3); use add to create one`,
	}, {
		name:     "replace of a whole element through a filter that matches nothing is noTarget",
		body:     body(`{"op":"replace","path":"emails[type eq \"other\"]","value":{"value":"o@example.com"}}`),
		scimType: scimerr.NoTarget, detail: `no value of "emails" matches the filter`,
	}, {
		name:     "path-less replace with a filtered key that matches nothing is noTarget",
		body:     body(`{"op":"replace","value":{"emails[type eq \"other\"].value":"o@example.com"}}`),
		scimType: scimerr.NoTarget, detail: `no value of "emails" matches the filter`,
	}, {
		name:     "add through a filter that cannot describe the element is noTarget",
		body:     body(`{"op":"add","path":"emails[type co \"oth\"].value","value":"o@example.com"}`),
		scimType: scimerr.NoTarget, detail: `no value of "emails" matches the filter`,
	}, {
		name:     "two matches cannot both become primary",
		start:    strings.Replace(baseUser, `"type":"home"`, `"type":"work"`, 1),
		body:     body(`{"op":"replace","path":"emails[type eq \"work\"].primary","value":true}`),
		scimType: scimerr.InvalidValue, detail: `at most one may be primary`,
	}, {
		name:     "value filter on a singular attribute",
		body:     body(`{"op":"replace","path":"name[givenName eq \"Barbara\"].familyName","value":"x"}`),
		scimType: scimerr.InvalidPath,
	}})
}

func TestApplyGroupShapes(t *testing.T) {
	runApply(t, []applyCase{{
		name:  "Entra add members with $ref null, existing member skipped",
		group: true,
		body:  body(`{"op":"Add","path":"members","value":[{"$ref":null,"value":"u3"},{"$ref":null,"value":"u1"}]}`),
		want:  `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u1","type":"User"},{"value":"u2"},{"value":"u3"}]}`,
	}, {
		name:  "remove member by filter",
		group: true,
		body:  body(`{"op":"remove","path":"members[value eq \"u2\"]"}`),
		want:  `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u1","type":"User"}]}`,
	}, {
		name:  "remove non-member by filter is not an error",
		group: true,
		body:  body(`{"op":"Remove","path":"members[value eq \"u9\"]"}`),
		want:  baseGroup,
	}, {
		name:  "Entra remove members by value list",
		group: true,
		body:  body(`{"op":"Remove","path":"members","value":[{"value":"u1"},{"value":"u9"}]}`),
		want:  `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u2"}]}`,
	}, {
		name:  "remove by value list respects caseExact of value",
		group: true,
		body:  body(`{"op":"Remove","path":"members","value":[{"value":"U1"}]}`),
		want:  baseGroup,
	}, {
		name:  "remove members without value removes all",
		group: true,
		body:  body(`{"op":"remove","path":"members"}`),
		want:  `{` + groupHead + `"displayName":"Engineering"}`,
	}, {
		name:  "replace members",
		group: true,
		body:  body(`{"op":"replace","path":"members","value":[{"value":"u7","display":"seven"},{"value":"u8"},{"value":"u7"}]}`),
		want:  `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u7"},{"value":"u8"}]}`,
	}, {
		name:  "MSV replace members with empty list clears them",
		group: true,
		body:  body(`{"op":"replace","path":"members","value":[]}`),
		want:  `{` + groupHead + `"displayName":"Engineering"}`,
	}, {
		name:  "Okta rename with id in value",
		group: true,
		body:  body(`{"op":"replace","value":{"id":"g-1","displayName":"Test SCIMv2"}}`),
		want:  `{` + groupHead + `"displayName":"Test SCIMv2","members":[{"value":"u1","type":"User"},{"value":"u2"}]}`,
	}, {
		name:  "MSV path-less externalId",
		group: true,
		body:  body(`{"op":"Replace","value":{"externalId":"e-1"}}`),
		want:  `{` + groupHead + `"displayName":"Engineering","externalId":"e-1","members":[{"value":"u1","type":"User"},{"value":"u2"}]}`,
	}, {
		name:  "Okta membership delta: remove non-member, add with display",
		group: true,
		body: body(`{"op":"remove","path":"members[value eq \"89bb\"]"}`,
			`{"op":"add","path":"members","value":[{"value":"23a3","display":"test.user@okta.local"}]}`),
		want: `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u1","type":"User"},{"value":"u2"},{"value":"23a3"}]}`,
	}, {
		name:  "add then remove the same member in one request",
		group: true,
		body: body(`{"op":"Add","path":"members","value":[{"value":"u3"}]}`,
			`{"op":"Remove","path":"members[value eq \"u3\"]"}`),
		want: baseGroup,
	}, {
		name:  "remove then add the same member in one request",
		group: true,
		body: body(`{"op":"Remove","path":"members[value eq \"u2\"]"}`,
			`{"op":"Add","path":"members","value":[{"value":"u2"}]}`),
		want: `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u1","type":"User"},{"value":"u2"}]}`,
	}, {
		name:  "add a single member object (not a list)",
		group: true,
		start: `{` + groupHead + `"displayName":"Engineering"}`,
		body:  body(`{"op":"add","path":"members","value":{"value":"u5"}}`),
		want:  `{` + groupHead + `"displayName":"Engineering","members":[{"value":"u5"}]}`,
	}, {
		name:     "changing a member's immutable value",
		group:    true,
		body:     body(`{"op":"replace","path":"members[value eq \"u1\"].value","value":"u5"}`),
		scimType: scimerr.Mutability, detail: `operation 1 (replace members[value eq "u1"].value): attribute "members.value" is immutable`,
	}, {
		name:  "replace a member with only its readOnly display changes nothing",
		group: true,
		body:  body(`{"op":"replace","path":"members[value eq \"u1\"]","value":{"display":"One"}}`),
		want:  baseGroup,
	}, {
		name:     "remove displayName",
		group:    true,
		body:     body(`{"op":"remove","path":"displayName"}`),
		scimType: scimerr.InvalidValue, detail: `displayName is required and cannot be removed`,
	}, {
		name:  "failed second op leaves the group unchanged",
		group: true,
		body: body(`{"op":"add","path":"members","value":[{"value":"u3"}]}`,
			`{"op":"replace","path":"displayName","value":""}`),
		scimType: scimerr.InvalidValue, detail: `operation 2 (replace displayName): displayName is required`,
	}})
}

func TestParse(t *testing.T) {
	ops, err := Parse([]byte(urns.Replace(`{"operations":[{"OP":"Add","Path":" nickName ","VALUE":"Babs"},` +
		`{"op":"REMOVE","path":"title"},{"op":"replace","value":{"active":false}}],"Schemas":["PATCHOP"]}`)))
	require.NoError(t, err)
	require.Equal(t, []Operation{
		{Op: "add", Path: "nickName", Value: "Babs"},
		{Op: "remove", Path: "title"},
		{Op: "replace", Value: map[string]any{"active": false}},
	}, ops)

	ops, err = Parse([]byte(urns.Replace(body(`{"op":"add","path":"ENT:employeeNumber","value":12}`))))
	require.NoError(t, err)
	require.Equal(t, json.Number("12"), ops[0].Value)

	for _, tc := range []struct{ name, body, detail string }{
		{"empty", ``, "not valid JSON"},
		{"not JSON", `{"schemas":`, "not valid JSON"},
		{"trailing data", body(`{"op":"add","path":"a","value":1}`) + `{}`, "data after"},
		{"not an object", `[]`, "must be a PatchOp JSON object"},
		{"no schemas", `{"Operations":[{"op":"add","path":"a","value":1}]}`, `"schemas" is required`},
		{"wrong schema", `{"schemas":["USER"],"Operations":[{"op":"add","path":"a","value":1}]}`, `must be a list containing`},
		{"no Operations", `{"schemas":["PATCHOP"]}`, `"Operations" is required`},
		{"empty Operations", body(), `non-empty list`},
		{"Operations not a list", `{"schemas":["PATCHOP"],"Operations":{}}`, `non-empty list`},
		{"duplicate key", `{"schemas":["PATCHOP"],"Operations":[],"operations":[]}`, `are the same member`},
		{"operation not an object", body(`"add"`), `operation 1: must be a JSON object`},
		{"no op", body(`{"op":"add","path":"a","value":1}`, `{"path":"a"}`), `operation 2: "op" is required`},
		{"unknown op", body(`{"op":"move","path":"a"}`), `operation 1: "op" must be one of "add", "replace", "remove", got "move"`},
		{"op not a string", body(`{"op":1}`), `operation 1: "op" must be one of`},
		{"path not a string", body(`{"op":"remove","path":3}`), `operation 1: "path" must be a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(urns.Replace(tc.body)))
			e := scimerr.As(err)
			require.NotNil(t, e, "%v", err)
			require.Equal(t, scimerr.InvalidSyntax, e.ScimType)
			require.Contains(t, e.Detail, tc.detail)
		})
	}
}

func TestApplyUnknownOpAndNilDoc(t *testing.T) {
	reg := registry(t)
	doc := decode(t, baseUser)
	err := Apply(reg.User, doc, []Operation{{Op: "move", Path: "title", Value: "x"}})
	require.Equal(t, scimerr.InvalidSyntax, scimerr.As(err).ScimType)
	require.Error(t, Apply(reg.User, nil, []Operation{{Op: "add", Path: "title", Value: "x"}}))
	// Callers building operations themselves may spell op in any case.
	require.NoError(t, Apply(reg.User, doc, []Operation{{Op: "Replace", Path: "title", Value: "x"}}))
	require.Equal(t, "x", doc["title"])
}

func TestApplyDoesNotAliasValues(t *testing.T) {
	reg := registry(t)
	doc := decode(t, baseUser)
	v := map[string]any{"value": "m-9"}
	require.NoError(t, Apply(reg.User, doc, []Operation{{Op: "replace", Path: schema.EnterpriseUserURN + ":manager", Value: v}}))
	v["value"] = "changed"
	var buf bytes.Buffer
	require.NoError(t, json.NewEncoder(&buf).Encode(doc))
	require.Contains(t, buf.String(), `"m-9"`)
}

// Duplicate detection is by key, not pairwise: a full push of a large group stays linear.
func TestApplyLargeGroupIsLinear(t *testing.T) {
	reg := registry(t)
	const n = 100000
	members := make([]any, n)
	for i := range members {
		members[i] = map[string]any{"value": fmt.Sprintf("u%d", i)}
	}
	doc := map[string]any{"displayName": "Big", "members": members}
	start := time.Now()
	require.NoError(t, Apply(reg.Group, doc, []Operation{
		{Op: "replace", Path: "members", Value: members},
		{Op: "add", Path: "members", Value: []any{map[string]any{"value": "u1"}, map[string]any{"value": "new"}}},
		{Op: "remove", Path: "members", Value: []any{map[string]any{"value": "u2"}}},
	}))
	require.Len(t, doc["members"], n)
	require.Less(t, time.Since(start), 10*time.Second)
}

// RFC 7643 §2.4: no two elements with the same type and value, whichever operation made them.
func TestApplyMergesDuplicates(t *testing.T) {
	runApply(t, []applyCase{{
		name: "add of a known email in other case and with a display merges into the existing one",
		body: body(`{"op":"add","path":"emails","value":[{"value":"BJensen@Example.com","type":"WORK","display":"Work"}]}`),
		want: strings.Replace(baseUser, `{"value":"bjensen@example.com","type":"work","primary":true}`,
			`{"value":"bjensen@example.com","type":"work","primary":true,"display":"Work"}`, 1),
	}, {
		name: "replace of the list with duplicates keeps the first place and primary of either",
		body: body(`{"op":"replace","path":"emails","value":[{"value":"a@example.com","type":"work"},` +
			`{"value":"b@example.com","type":"home"},{"value":"A@EXAMPLE.COM","type":"Work","primary":true}]}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"a@example.com","type":"work","primary":true},{"value":"b@example.com","type":"home"}]`, 1),
	}, {
		name: "a filtered replace that makes two elements equal merges them",
		body: body(`{"op":"replace","path":"emails[type eq \"home\"]","value":{"value":"BJENSEN@example.com","type":"work"}}`),
		want: strings.Replace(baseUser,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true},{"value":"babs@home.example","type":"home"}]`,
			`"emails":[{"value":"bjensen@example.com","type":"work","primary":true}]`, 1),
	}, {
		name: "same value with another type is another element",
		body: body(`{"op":"add","path":"emails","value":{"value":"bjensen@example.com","type":"other"}}`),
		want: strings.Replace(baseUser, `{"value":"babs@home.example","type":"home"}`,
			`{"value":"babs@home.example","type":"home"},{"value":"bjensen@example.com","type":"other"}`, 1),
	}, {
		name: "a filtered add of an element that exists in other case adds nothing",
		body: body(`{"op":"add","path":"emails[type eq \"Home\"].value","value":"x@example.com"}`),
		want: strings.Replace(baseUser, `{"value":"babs@home.example","type":"home"}`,
			`{"value":"x@example.com","type":"home"}`, 1),
	}, {
		name:  "a filtered add that creates an element equal to one without the filter's match merges",
		start: plainUser,
		body: body(`{"op":"add","path":"emails","value":{"value":"kim@work.example","type":"work"}}`,
			`{"op":"add","path":"emails[type eq \"WORK\" and value eq \"KIM@work.example\"].primary","value":true}`),
		want: strings.Replace(plainUser, `{"value":"kim@home.example","type":"home"}`,
			`{"value":"kim@home.example","type":"home"},{"value":"kim@work.example","type":"work","primary":true}`, 1),
	}})
}

// A PATCH never hands the store a value PostgreSQL would refuse: NUL, strings longer than the
// attribute's limit (random text, which does not compress), dateTimes outside xsd:dateTime.
func TestApplyRefusesWhatCannotBeStored(t *testing.T) {
	long := randtext.String(schema.MaxIndexedBytes + 1)
	runApply(t, []applyCase{{
		name:     "NUL in a singular attribute",
		body:     body(`{"op":"replace","path":"title","value":"a\u0000b"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "title" contains the NUL character (\u0000)`,
	}, {
		name:     "NUL in a path-less extension value",
		body:     body(`{"op":"replace","value":{"ENT":{"department":"\u0000"}}}`),
		scimType: scimerr.InvalidValue, detail: `attribute "` + schema.EnterpriseUserURN + `:department" contains the NUL character`,
	}, {
		name:     "NUL in an element added to a list",
		body:     body(`{"op":"add","path":"emails","value":[{"value":"x@example.com","display":"\u0000"}]}`),
		scimType: scimerr.InvalidValue, detail: `attribute "emails.display" contains the NUL character`,
	}, {
		name:     "NUL in a value filter",
		body:     body(`{"op":"replace","path":"emails[value eq \"\\u0000\"].display","value":"x"}`),
		scimType: scimerr.InvalidPath, detail: `NUL character`,
	}, {
		name:     "NUL in a group displayName",
		group:    true,
		body:     body(`{"op":"replace","value":{"displayName":"Eng\u0000"}}`),
		scimType: scimerr.InvalidValue, detail: `attribute "displayName" contains the NUL character`,
	}, {
		name:     "userName over the limit",
		body:     body(`{"op":"replace","path":"userName","value":"` + long + `"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "userName" is 1025 bytes long in UTF-8; at most 1024 bytes are allowed`,
	}, {
		name:     "email value over the limit through a filter",
		body:     body(`{"op":"replace","path":"emails[type eq \"work\"].value","value":"` + long + `"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "emails.value" is 1025 bytes long`,
	}, {
		name:     "email value over the limit in the filter of an add that creates the element",
		start:    plainUser,
		body:     body(`{"op":"add","path":"emails[type eq \"work\" and value eq \"` + long + `\"].primary","value":true}`),
		scimType: scimerr.InvalidValue, detail: `attribute "emails.value" is 1025 bytes long`,
	}, {
		name:     "manager over the limit as a bare id",
		body:     body(`{"op":"add","path":"ENT:manager","value":"` + long + `"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "` + schema.EnterpriseUserURN + `:manager.value" is 1025 bytes long`,
	}, {
		name:     "externalId over the limit",
		body:     body(`{"op":"add","path":"externalId","value":"` + long + `"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "externalId" is 1025 bytes long`,
	}, {
		name:     "group displayName over the limit",
		group:    true,
		body:     body(`{"op":"replace","path":"displayName","value":"` + long + `"}`),
		scimType: scimerr.InvalidValue, detail: `attribute "displayName" is 1025 bytes long`,
	}})
	reg := registry(t)
	doc := decode(t, baseUser)
	limit := randtext.String(schema.MaxIndexedBytes)
	unindexed := randtext.String(10 * schema.MaxIndexedBytes)
	require.NoError(t, Apply(reg.User, doc, []Operation{
		{Op: "replace", Path: "userName", Value: limit},
		{Op: "replace", Path: "title", Value: unindexed},
	}))
	require.Equal(t, limit, doc["userName"])
	require.Equal(t, unindexed, doc["title"])
}
