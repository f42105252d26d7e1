package directory_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
)

// Notifications: what is mailed for a change, when the organization or the
// request suppresses it, the welcomes sent whatever the setting, and in which language.

func TestNotificationsOfGrantsSuspensionAndReactivation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user("boss", "admin")
	ada := f.create(`{"userName":"ada@example.com","name":{"givenName":"Ada","familyName":"Lovelace"},"locale":"fr_FR"}`).ID
	sales := f.group("Sales", ada)
	require.Empty(t, f.noticesTo(ada), "a user created with nothing granted is not mailed")

	f.mapGroup(sales, directory.MappingInput{OrgRole: "admin-readonly", Products: []string{"connect"}})
	require.Equal(t, []directory.Notice{{UserID: ada, Kind: directory.KindGrants, Recipient: "ada@example.com", RecipientName: "Ada Lovelace",
		Language: "fr", Data: map[string]any{"products_added": []string{"connect"},
			"org_role": directory.Change{Before: "user", After: "admin-readonly"}}}}, f.noticesTo(ada))

	f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`)
	f.mustPatch(ada, `{"op":"replace","value":{"active":true}}`)
	list := f.noticesTo(ada)
	require.Len(t, list, 3, "a suspension and a reactivation are announced as such, not as grant changes")
	require.Equal(t, directory.KindSuspended, list[1].Kind)
	require.Equal(t, directory.KindReactivated, list[2].Kind)
	require.Equal(t, "ada@example.com", list[2].Recipient)
	require.Equal(t, "fr", list[2].Language)

	// A change of the user's own grants is announced as such, with what changed.
	f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"accountRole:admin"}]}`)
	list = f.noticesTo(ada)
	require.Len(t, list, 4)
	require.Equal(t, directory.KindGrants, list[3].Kind)
	require.Equal(t, map[string]any{"account_role": directory.Change{Before: "member", After: "admin"}}, list[3].Data)
	// A change of something else is not.
	f.mustPatch(ada, `{"op":"add","path":"title","value":"Countess"}`)
	require.Len(t, f.noticesTo(ada), 4)
}

func TestNotifySettingAndOverrideWithWelcomesSentOncePerProduct(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	f := newFixture(t)
	ada := f.user("ada", "user")
	quiet := f.op
	quiet.Notify = &no

	// The request suppresses notifications; the first grant of a welcomed product is mailed
	// anyway, and connect is not a welcomed product.
	_, err := f.patch(quiet, ada, `{"op":"add","path":"entitlements","value":[{"value":"meeting"},{"value":"connect"}]}`)
	require.NoError(t, err)
	_, err = f.patch(quiet, ada, `{"op":"replace","value":{"active":false}}`)
	require.NoError(t, err)
	_, err = f.patch(quiet, ada, `{"op":"replace","value":{"active":true}},{"op":"add","path":"entitlements","value":[{"value":"meeting"}]}`)
	require.NoError(t, err)
	require.Equal(t, []directory.Notice{{UserID: ada, Kind: directory.KindWelcome, Data: map[string]any{"product": "meeting"},
		Recipient: "ada@example.com", Language: "en"}}, f.store.Notifications(f.org), "meeting is welcomed once, ever")
	require.Equal(t, []directory.Welcome{{UserID: ada, Product: "meeting"}}, f.store.Welcomes(f.org))

	// The organization suppresses them; a request may ask for them.
	f.setOrg(func(o *directory.Org) { o.Notify = false })
	f.mustPatch(ada, `{"op":"add","path":"entitlements","value":[{"value":"webinar"}]}`)
	list := f.store.Notifications(f.org)
	require.Len(t, list, 2)
	require.Equal(t, directory.Notice{UserID: ada, Kind: directory.KindWelcome, Data: map[string]any{"product": "webinar"},
		Recipient: "ada@example.com", Language: "en"}, list[1])
	loud := f.op
	loud.Notify = &yes
	_, err = f.patch(loud, ada, `{"op":"remove","path":"entitlements[value eq \"webinar\"]"}`)
	require.NoError(t, err)
	list = f.store.Notifications(f.org)
	require.Len(t, list, 3)
	require.Equal(t, directory.KindGrants, list[2].Kind)
	require.Equal(t, map[string]any{"products_removed": []string{"webinar"}}, list[2].Data)

	// Welcomes through a mapping reach every user of the group, each once, created or not;
	// a user created with the product is welcomed in the same way.
	bob := f.user("bob", "user", "training")
	carl := f.user("carl", "user")
	group := f.group("Trainers", ada, bob, carl)
	f.mapGroup(group, directory.MappingInput{Products: []string{"training"}})
	f.mapGroup(group, directory.MappingInput{Products: []string{"training", "openvoice"}})
	var welcomes []directory.Welcome
	for _, n := range f.notices(directory.KindWelcome) {
		welcomes = append(welcomes, directory.Welcome{UserID: n.UserID, Product: n.Data["product"].(string)})
	}
	require.ElementsMatch(t, []directory.Welcome{{UserID: ada, Product: "meeting"}, {UserID: ada, Product: "webinar"},
		{UserID: bob, Product: "training"}, {UserID: ada, Product: "training"}, {UserID: carl, Product: "training"},
		{UserID: ada, Product: "openvoice"}, {UserID: bob, Product: "openvoice"}, {UserID: carl, Product: "openvoice"}}, welcomes)
	require.Len(t, f.notices(directory.KindGrants), 1, "the organization still suppresses the rest")
}

func TestNotificationsAreInTheUsersLanguage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.DefaultLocale = "es-ES" })
	for _, tc := range []struct{ body, language, name string }{
		{`{"userName":"a@example.com","preferredLanguage":"fr-CA, en;q=0.5","locale":"de-DE","displayName":"Amélie"}`, "fr", "Amélie"},
		{`{"userName":"b@example.com","locale":"de_AT","name":{"givenName":"Bea"}}`, "de", "Bea"},
		{`{"userName":"c@example.com","preferredLanguage":"hi"}`, "es", ""},
		{`{"userName":"d@example.com","preferredLanguage":"en-GB;q=0.4, pt-PT"}`, "pt", ""},
	} {
		before := len(f.store.Notifications(f.org))
		id := f.create(tc.body).ID
		f.mustPatch(id, `{"op":"add","path":"entitlements","value":[{"value":"connect"}]}`)
		list := f.store.Notifications(f.org)
		require.Len(t, list, before+1, tc.body)
		require.Equal(t, tc.language, list[before].Language, tc.body)
		require.Equal(t, tc.name, list[before].RecipientName, tc.body)
	}
}

// noticesTo are the notifications queued for a user.
func (f *fixture) noticesTo(id string) []directory.Notice {
	var out []directory.Notice
	for _, n := range f.store.Notifications(f.org) {
		if n.UserID == id {
			out = append(out, n)
		}
	}
	return out
}
