package directory_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// The rules of a user's attributes: the sign-in address, languages,
// licensed products and the manager.

func TestSignInAddressMustBeOnAVerifiedDomain(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	// Which address is the sign-in address, and that only it must be verified.
	for _, tc := range []struct {
		body, signIn string
	}{
		{`{"userName":"ada@example.com","emails":[{"value":"ada@home.example","primary":true}]}`, "ada@example.com"},
		{`{"userName":"Bob@EXAMPLE.com"}`, "Bob@EXAMPLE.com"},
		{`{"userName":"carol","emails":[{"value":"c@home.example","type":"home"},{"value":"carol@example.com","primary":true}]}`, "carol@example.com"},
		{`{"userName":"dan","emails":[{"value":"d@home.example","type":"home"},{"value":"dan@example.com","type":"work"}]}`, "dan@example.com"},
		{`{"userName":"erin","emails":[{"value":"erin@example.com"},{"value":"e@home.example"}]}`, "erin@example.com"},
		{`{"userName":"nobody"}`, ""},
		{`{"userName":"phone-only","emails":[{"value":"not an address"}]}`, ""},
	} {
		r := f.create(tc.body)
		require.Equal(t, tc.signIn, f.stored(r.ID).SignIn, tc.body)
		require.Equal(t, doc(t, tc.body)["emails"] != nil, f.stored(r.ID).Doc["emails"] != nil, "other addresses are stored")
	}

	// Every way the sign-in address can be off a verified domain, on create.
	badBodies := []struct{ body, from, addr, domain string }{
		{`{"userName":"mallory@evil.example"}`, "userName", "mallory@evil.example", "evil.example"},
		{`{"userName":"m1","emails":[{"value":"ok@example.com","type":"work"},{"value":"m1@evil.example","primary":true}]}`,
			"the primary email", "m1@evil.example", "evil.example"},
		{`{"userName":"m2","emails":[{"value":"ok@example.com","type":"home"},{"value":"m2@evil.example","type":"work"}]}`,
			"the first work email", "m2@evil.example", "evil.example"},
		{`{"userName":"m3","emails":[{"value":"m3@evil.example","type":"home"},{"value":"ok@example.com","type":"other"}]}`,
			"the first email", "m3@evil.example", "evil.example"},
		{`{"userName":"m4@mail.example.com"}`, "userName", "m4@mail.example.com", "mail.example.com"},
	}
	for _, tc := range badBodies {
		frags := []string{tc.from + ` "` + tc.addr + `" is the user's sign-in address`, `on domain "` + tc.domain + `"`,
			"not a verified domain of this organization (verified: example.com)"}
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.CreateUser(f.ctx, f.op, doc(t, tc.body))
			return err
		}, frags...)
		// Through Bulk and Atomically too.
		res := f.dir.CreateUsers(f.ctx, f.op, []map[string]any{doc(t, tc.body)}, 0)
		requireErr(t, res[0].Err, scimerr.KindInvalid, frags...)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				_, err := o.CreateUser(doc(t, tc.body))
				return err
			})
		}, frags...)
	}

	// On replace and patch.
	id := f.create(`{"userName":"frank","emails":[{"value":"frank@example.com","type":"work"}]}`).ID
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.dir.ReplaceUser(f.ctx, f.op, id, doc(t, `{"userName":"frank","emails":[{"value":"frank@evil.example","type":"work"}]}`),
			directory.Precondition{})
		return err
	}, `the first work email "frank@evil.example"`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.patch(f.op, id, `{"op":"replace","path":"userName","value":"frank@evil.example"}`)
		return err
	}, `userName "frank@evil.example"`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.patch(f.op, id, `{"op":"add","path":"emails","value":[{"value":"f@evil.example","primary":true}]}`)
		return err
	}, `the primary email "f@evil.example"`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
			_, err := o.PatchUser(id, ops(t, `{"op":"replace","path":"userName","value":"frank@evil.example"}`))
			return err
		})
	}, `userName "frank@evil.example"`)
	// A second address off the verified domains may be added.
	f.mustPatch(id, `{"op":"add","path":"emails","value":[{"value":"f@home.example","type":"home"}]}`)
	require.Equal(t, "frank@example.com", f.stored(id).SignIn)
	require.Len(t, f.stored(id).Doc["emails"], 2)

	// The rule runs only when userName or emails change: once example.com is no longer
	// verified, users on it can still be renamed and suspended.
	f.setOrg(func(o *directory.Org) { o.VerifiedDomains = nil })
	f.mustPatch(id, `{"op":"replace","path":"displayName","value":"Frank"}`)
	f.mustPatch(id, `{"op":"replace","path":"active","value":false}`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.patch(f.op, id, `{"op":"replace","path":"userName","value":"frank2@example.com"}`)
		return err
	}, `userName "frank2@example.com"`, "(verified: none)")
}

func TestMailGoesOnlyToTheSignInAddressWhileItsDomainIsVerified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	bob := f.create(`{"userName":"bob","displayName":"Bob","emails":[{"value":"bob@home.example","type":"home"},
		{"value":"bob@example.com","type":"work"}],"urn:scimd:schemas:extension:2.0:User":{"products":["meeting"]}}`).ID
	nobody := f.create(`{"userName":"nobody","urn:scimd:schemas:extension:2.0:User":{"products":["meeting"]}}`).ID
	welcomes := f.notices(directory.KindWelcome)
	require.Len(t, welcomes, 1, "the user without an address gets no mail")
	require.Len(t, f.notices(directory.KindGrants), 1)
	queued := len(f.store.Notifications(f.org))
	require.Equal(t, directory.Notice{UserID: bob, Kind: directory.KindWelcome, Data: map[string]any{"product": "meeting"},
		Recipient: "bob@example.com", RecipientName: "Bob", Language: "en"}, welcomes[0])
	require.Len(t, f.store.Welcomes(f.org), 2, "both are welcomed, whether mailed or not")

	// Once the domain is no longer verified, nothing is mailed to it; the change is made and
	// audited all the same.
	f.setOrg(func(o *directory.Org) { o.VerifiedDomains = []string{"other.example"} })
	f.mustPatch(bob, `{"op":"add","path":"entitlements","value":[{"value":"webinar"}]}`)
	f.mustPatch(nobody, `{"op":"add","path":"entitlements","value":[{"value":"webinar"}]}`)
	require.Len(t, f.store.Notifications(f.org), queued)
	require.Equal(t, g("user", "member", "meeting", "webinar"), f.effective(bob))
	require.Len(t, f.auditOf(bob), 2)
}

func TestLocalesAreCanonicalAndDefaultToTheOrganizations(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.DefaultLocale = "de-DE" })

	a := f.create(`{"userName":"a@example.com","locale":"fr_FR","preferredLanguage":"da, EN_gb;q=0.80 ,en;Q=0.7"}`)
	require.Equal(t, "fr-FR", a.Doc["locale"])
	require.Equal(t, "fr-FR", f.stored(a.ID).Doc["locale"])
	require.Equal(t, "da, en-GB;q=0.8, en;q=0.7", f.stored(a.ID).Doc["preferredLanguage"])
	b := f.create(`{"userName":"b@example.com"}`)
	require.Equal(t, "de-DE", f.stored(b.ID).Doc["locale"], "no locale: the organization's")
	require.Nil(t, f.stored(b.ID).Doc["preferredLanguage"])

	f.mustPatch(b.ID, `{"op":"replace","path":"locale","value":"FR-fr"}`)
	require.Equal(t, "fr-FR", f.stored(b.ID).Doc["locale"])
	f.mustPatch(b.ID, `{"op":"remove","path":"locale"}`)
	require.Equal(t, "de-DE", f.stored(b.ID).Doc["locale"], "a removed locale becomes the organization's")
	_, err := f.dir.ReplaceUser(f.ctx, f.op, a.ID, doc(t, `{"userName":"a@example.com","preferredLanguage":"iw"}`), directory.Precondition{})
	require.NoError(t, err)
	require.Equal(t, "de-DE", f.stored(a.ID).Doc["locale"], "a PUT without locale gets the organization's")
	require.Equal(t, "he", f.stored(a.ID).Doc["preferredLanguage"])

	for _, tc := range []struct{ attr, value string }{
		{"locale", "xx"}, {"locale", "en-US, fr"}, {"preferredLanguage", "en;q=2"}, {"preferredLanguage", "und"},
	} {
		frags := []string{tc.attr + ` "` + tc.value + `" is not`}
		body := map[string]any{"userName": "c@example.com", tc.attr: tc.value}
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error { _, err := f.dir.CreateUser(f.ctx, f.op, body); return err }, frags...)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.PatchUser(f.ctx, f.op, b.ID, []patch.Operation{{Op: "replace", Path: tc.attr, Value: tc.value}}, directory.Precondition{})
			return err
		}, frags...)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.ReplaceUser(f.ctx, f.op, b.ID, map[string]any{"userName": "b@example.com", tc.attr: tc.value}, directory.Precondition{})
			return err
		}, frags...)
	}
}

func TestProductsMustBeLicensedAndTheGrantViewsAgree(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.Products = []string{"meeting", "webinar"} })
	id := f.user("ada", "user")
	group := f.group("Trainers", id)

	unlicensed := []string{`product "training" is not licensed by this organization; licensed products are meeting, webinar`}
	for _, body := range []string{
		`{"userName":"b@example.com","urn:scimd:schemas:extension:2.0:User":{"products":["meeting","training"]}}`,
		`{"userName":"b@example.com","entitlements":[{"value":"Training"}]}`,
	} {
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error { _, err := f.dir.CreateUser(f.ctx, f.op, doc(t, body)); return err }, unlicensed...)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.ReplaceUser(f.ctx, f.op, id, doc(t, strings.Replace(body, "b@", "ada@", 1)), directory.Precondition{})
			return err
		}, unlicensed...)
	}
	for _, operation := range []string{
		`{"op":"add","path":"entitlements","value":[{"value":"training"}]}`,
		`{"op":"replace","path":"urn:scimd:schemas:extension:2.0:User:products","value":["training"]}`,
		`{"op":"replace","value":{"urn:scimd:schemas:extension:2.0:User:products":["training"]}}`,
	} {
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error { _, err := f.patch(f.op, id, operation); return err }, unlicensed...)
	}
	// A suspended user's pending grants are held to the licence as well.
	f.mustPatch(id, `{"op":"replace","value":{"active":false}}`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.patch(f.op, id, `{"op":"add","path":"entitlements","value":[{"value":"training"}]}`)
		return err
	}, unlicensed...)
	f.mustPatch(id, `{"op":"replace","value":{"active":true}}`)
	// Mappings too.
	f.refused(scimerr.KindInvalid, "", func() error {
		_, err := f.dir.SetGroupMapping(f.ctx, f.op, group, directory.MappingInput{Products: []string{"meeting", "training"}})
		return err
	}, `product "training" is not licensed by organization `+f.org, "licensed products are meeting, webinar")

	// The extension, roles and entitlements are three views of the same grants: whichever a
	// request writes, all three show it, and only the grants are stored.
	r := f.create(`{"userName":"c@example.com","roles":[{"value":"orgRole:admin-readonly"},{"value":"Reader","type":"app"}],
		"entitlements":[{"value":"Meeting"}]}`)
	require.Equal(t, g("admin-readonly", "member", "meeting"), f.direct(r.ID))
	require.Equal(t, g("admin-readonly", "member", "meeting"), f.effective(r.ID))
	require.Equal(t, "admin-readonly", ext(r)["orgRole"])
	require.Equal(t, []any{"meeting"}, ext(r)["products"])
	require.Equal(t, []any{map[string]any{"value": "meeting", "type": "product"}}, r.Doc["entitlements"])
	require.Equal(t, []any{
		map[string]any{"value": "orgRole:admin-readonly", "type": "orgRole"},
		map[string]any{"value": "accountRole:member", "type": "accountRole"},
		map[string]any{"value": "Reader", "type": "app"},
	}, r.Doc["roles"])
	st := f.stored(r.ID).Doc
	require.Equal(t, []any{map[string]any{"value": "Reader", "type": "app"}}, st["roles"], "only app roles are stored as roles")
	require.NotContains(t, st, "entitlements")
	require.NotContains(t, st, grants.ExtURN)

	r, err := f.patch(f.op, r.ID, `{"op":"Add","path":"roles","value":[{"value":"accountRole:admin"}]}`)
	require.NoError(t, err)
	require.Equal(t, g("admin-readonly", "admin", "meeting"), f.direct(r.ID))
	require.Equal(t, "admin", ext(r)["accountRole"])
	r, err = f.patch(f.op, r.ID, `{"op":"replace","path":"urn:scimd:schemas:extension:2.0:User:products","value":["webinar","meeting"]}`)
	require.NoError(t, err)
	require.Equal(t, g("admin-readonly", "admin", "meeting", "webinar"), f.direct(r.ID))
	require.Len(t, r.Doc["entitlements"], 2)

	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.dir.CreateUser(f.ctx, f.op, doc(t, `{"userName":"d@example.com","roles":[{"value":"orgRole:admin"}],
			"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin-readonly"}}`))
		return err
	}, `roles says orgRole "admin" but orgRole says "admin-readonly"`)
	f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
		_, err := f.dir.CreateUser(f.ctx, f.op, doc(t, `{"userName":"d@example.com","entitlements":[{"value":"meeting"}],
			"urn:scimd:schemas:extension:2.0:User":{"products":["webinar"]}}`))
		return err
	}, "entitlements and products ask for different products")
}

func TestManagerIsAUserOfTheOrganization(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "user")
	other := newFixture(t).user("stranger", "user")
	manager := func(id string) any {
		ent, _ := f.stored(id).Doc[schema.EnterpriseUserURN].(map[string]any)
		return ent["manager"]
	}

	braced := "{" + strings.ToUpper(boss) + "}"
	r := f.create(`{"userName":"a@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"department":"R&D",
		"manager":{"value":"` + braced + `","displayName":"Someone"}}}`)
	require.Equal(t, map[string]any{"value": boss}, manager(r.ID), "stored canonical, without what the client said of it")

	// Entra's "Remove Manager" is a replace with an empty value.
	f.mustPatch(r.ID, `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":""}}`)
	require.Nil(t, manager(r.ID))
	require.Equal(t, "R&D", f.stored(r.ID).Doc[schema.EnterpriseUserURN].(map[string]any)["department"])
	f.mustPatch(r.ID, `{"op":"replace","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":{"value":"`+strings.ToUpper(boss)+`"}}`)
	require.Equal(t, map[string]any{"value": boss}, manager(r.ID))
	_, err := f.dir.ReplaceUser(f.ctx, f.op, r.ID, doc(t, `{"userName":"a@example.com",
		"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"  "}}}`), directory.Precondition{})
	require.NoError(t, err)
	require.NotContains(t, f.stored(r.ID).Doc, schema.EnterpriseUserURN, "an empty manager clears it, and the empty extension goes")

	for _, tc := range []struct{ value, detail string }{
		{"not-a-uuid", `manager "not-a-uuid" is not a user id`},
		{uuid.NewString(), "is not a User of this organization"},
		{other, `manager "` + other + `" is not a User of this organization`},
	} {
		ent := `"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"` + tc.value + `"}}`
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.CreateUser(f.ctx, f.op, doc(t, `{"userName":"b@example.com",`+ent+`}`))
			return err
		}, tc.detail)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.dir.ReplaceUser(f.ctx, f.op, r.ID, doc(t, `{"userName":"a@example.com",`+ent+`}`), directory.Precondition{})
			return err
		}, tc.detail)
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			_, err := f.patch(f.op, r.ID, `{"op":"replace","value":{`+ent+`}}`)
			return err
		}, tc.detail)
	}
}
