package grants

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/scimerr"
)

func stored(g Grants) map[string]any {
	doc := map[string]any{"userName": "u"}
	g.Write(doc)
	return doc
}

func TestWriteShowsTheSameGrantsThreeWays(t *testing.T) {
	t.Parallel()
	doc := stored(Grants{OrgRole: OrgAdminReadOnly, AccountRole: AccountAdmin, Products: []string{"meeting", "webinar"}})
	require.Equal(t, map[string]any{
		"orgRole": "admin-readonly", "accountRole": "admin", "products": []any{"meeting", "webinar"},
	}, doc[ExtURN])
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:admin-readonly", "type": "orgRole"},
		map[string]any{"value": "accountRole:admin", "type": "accountRole"},
	}, doc["roles"])
	require.Equal(t, []any{
		map[string]any{"value": "meeting", "type": "product"},
		map[string]any{"value": "webinar", "type": "product"},
	}, doc["entitlements"])
	require.Equal(t, Grants{OrgRole: OrgAdminReadOnly, AccountRole: AccountAdmin, Products: []string{"meeting", "webinar"}}, FromExtension(doc))
}

func TestReconcile(t *testing.T) {
	t.Parallel()
	admin := Grants{OrgRole: OrgAdmin, AccountRole: AccountAdmin, Products: []string{"meeting"}}
	for _, tc := range []struct {
		name    string
		prev    map[string]any
		doc     func() map[string]any
		replace bool
		want    Grants
		err     string
	}{
		{name: "create without grants gets defaults", doc: func() map[string]any { return map[string]any{} },
			replace: true, want: Default()},
		{name: "create through roles view", replace: true,
			doc: func() map[string]any {
				return map[string]any{"roles": []any{map[string]any{"value": "orgRole:admin"}, map[string]any{"value": "member", "type": "accountRole"}}}
			},
			want: Grants{OrgRole: OrgAdmin, AccountRole: AccountMember}},
		{name: "create through extension", replace: true,
			doc: func() map[string]any {
				return map[string]any{ExtURN: map[string]any{"orgRole": "Admin-ReadOnly", "products": []any{"webinar", "meeting"}}}
			},
			want: Grants{OrgRole: OrgAdminReadOnly, AccountRole: AccountMember, Products: []string{"meeting", "webinar"}}},
		{name: "create through entitlements", replace: true,
			doc: func() map[string]any {
				return map[string]any{"entitlements": []any{map[string]any{"value": "Training"}}}
			},
			want: Grants{OrgRole: OrgUser, AccountRole: AccountMember, Products: []string{"training"}}},
		{name: "PUT leaving grants out keeps them", prev: stored(admin), replace: true,
			doc:  func() map[string]any { return map[string]any{"userName": "u"} },
			want: admin},
		{name: "PATCH adding a role to the view wins over the old one", prev: stored(Default()),
			doc: func() map[string]any {
				d := stored(Default())
				d["roles"] = append(d["roles"].([]any), map[string]any{"value": "orgRole:admin"})
				return d
			},
			want: Grants{OrgRole: OrgAdmin, AccountRole: AccountMember}},
		{name: "PATCH changing the extension updates the views", prev: stored(admin),
			doc: func() map[string]any {
				d := stored(admin)
				d[ExtURN].(map[string]any)["orgRole"] = "user"
				return d
			},
			want: Grants{OrgRole: OrgUser, AccountRole: AccountAdmin, Products: []string{"meeting"}}},
		{name: "PATCH removing entitlements removes products", prev: stored(admin),
			doc: func() map[string]any {
				d := stored(admin)
				delete(d, "entitlements")
				return d
			},
			want: Grants{OrgRole: OrgAdmin, AccountRole: AccountAdmin}},
		{name: "unknown grant role", replace: true, err: `role "orgRole:superuser" is not one of`,
			doc: func() map[string]any {
				return map[string]any{"roles": []any{map[string]any{"value": "orgRole:superuser"}}}
			}},
		{name: "unknown role by type", replace: true, err: `role "root" is not one of`,
			doc: func() map[string]any {
				return map[string]any{"roles": []any{map[string]any{"value": "root", "type": "accountRole"}}}
			}},
		{name: "unknown orgRole in extension", replace: true, err: `orgRole "root" is not one of`,
			doc: func() map[string]any { return map[string]any{ExtURN: map[string]any{"orgRole": "root"}} }},
		{name: "views that disagree", replace: true, err: "send one of them",
			doc: func() map[string]any {
				return map[string]any{
					"roles": []any{map[string]any{"value": "orgRole:admin"}},
					ExtURN:  map[string]any{"orgRole": "admin-readonly"},
				}
			}},
		{name: "two new orgRoles", replace: true, err: "roles names two orgRoles",
			doc: func() map[string]any {
				return map[string]any{"roles": []any{map[string]any{"value": "orgRole:admin"}, map[string]any{"value": "orgRole:user"}}}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.doc()
			g, err := Reconcile(doc, tc.prev, tc.replace)
			if tc.err != "" {
				e := scimerr.As(err)
				require.NotNil(t, e, "want error %q", tc.err)
				require.Equal(t, scimerr.InvalidValue, e.ScimType)
				require.Contains(t, e.Detail, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, g)
			// Whatever the client wrote, the document now shows the grants three ways.
			require.Equal(t, stored(tc.want)[ExtURN], doc[ExtURN])
			require.Equal(t, stored(tc.want)["roles"], doc["roles"])
			require.Equal(t, stored(tc.want)["entitlements"], doc["entitlements"])
		})
	}
}

// Roles that name no grant (an identity provider's app roles, the SCIM Validator's random
// values) are stored as given beside the grant roles, grant nothing, and survive a PUT that
// leaves roles out.
func TestAppRolesAreKept(t *testing.T) {
	t.Parallel()
	app := map[string]any{"value": "Hbqu", "display": "Ucqf", "type": "WindowsAzureActiveDirectoryRole", "primary": true}
	doc := map[string]any{"roles": []any{app, map[string]any{"value": "orgRole:admin"}}}
	g, err := Reconcile(doc, nil, true)
	require.NoError(t, err)
	require.Equal(t, OrgAdmin, g.OrgRole)
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:admin", "type": "orgRole"},
		map[string]any{"value": "accountRole:member", "type": "accountRole"},
		app,
	}, doc["roles"])
	require.Equal(t, []any{app}, OtherRoles(doc["roles"]))

	next := map[string]any{"userName": "u"}
	g, err = Reconcile(next, doc, true)
	require.NoError(t, err)
	require.Equal(t, OrgAdmin, g.OrgRole)
	require.Equal(t, doc["roles"], next["roles"])
}

func TestEffective(t *testing.T) {
	t.Parallel()
	direct := Grants{OrgRole: OrgAdminReadOnly, AccountRole: AccountMember, Products: []string{"webinar"}}
	mapped := []Mapping{
		{OrgRole: OrgUser, Products: []string{"meeting"}},
		{AccountRole: AccountAdmin, Products: []string{"webinar", "connect"}},
	}
	require.Equal(t, Grants{OrgRole: OrgAdminReadOnly, AccountRole: AccountAdmin, Products: []string{"connect", "meeting", "webinar"}},
		Effective(direct, true, mapped), "the highest role of each kind wins; products are united")
	require.Equal(t, Grants{OrgRole: OrgAdmin, AccountRole: AccountMember},
		Effective(Default(), true, []Mapping{{OrgRole: OrgAdmin}, {OrgRole: OrgAdminReadOnly}}))
	require.Equal(t, Default(), Effective(direct, false, mapped), "a suspended user holds nothing")
	require.Equal(t, Default(), Effective(Default(), true, nil))
	require.True(t, Demoted(Grants{OrgRole: OrgAdmin}, Grants{OrgRole: OrgAdminReadOnly}))
	require.True(t, Demoted(Grants{OrgRole: OrgAdminReadOnly}, Grants{OrgRole: OrgUser}))
	require.False(t, Demoted(Grants{OrgRole: OrgUser}, Grants{OrgRole: OrgAdmin}))
}
