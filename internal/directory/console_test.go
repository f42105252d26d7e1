package directory_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// The console's rules (console.go): who gets in, how a provider's identity finds its user, and
// how sessions and sign-in links end.

// denied requires err to be a *directory.Denied with reason.
func denied(t *testing.T, err error, reason directory.DenyReason) {
	t.Helper()
	var d *directory.Denied
	require.True(t, errors.As(err, &d), "want a refusal (%s), got %v", reason, err)
	require.Equal(t, reason, d.Reason, "detail: %s", d.Detail)
}

// signInByLink issues a link for user as the operator and uses it, returning the admin and
// the session cookie.
func (f *fixture) signInByLink(user string, at time.Time) (*directory.Admin, string) {
	f.t.Helper()
	l, err := f.dir.IssueLink(f.ctx, f.op, user, at)
	require.NoError(f.t, err)
	admin, cookie, err := f.dir.UseLink(f.ctx, l.Value, at)
	require.NoError(f.t, err)
	return admin, cookie
}

func TestConsoleLinkWorksOnceWithinItsLifetime(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada", grants.OrgAdmin)
	now := time.Now()

	l, err := f.dir.IssueLink(f.ctx, f.op, ada, now)
	require.NoError(t, err)
	require.Equal(t, now.Add(directory.LinkLifetime).UTC().Truncate(time.Microsecond), l.ExpiresAt)
	admin, cookie, err := f.dir.UseLink(f.ctx, l.Value, now.Add(directory.LinkLifetime-time.Second))
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: f.org, UserID: ada, Role: grants.OrgAdmin}, admin.Actor)
	require.NotEmpty(t, cookie)
	require.Len(t, f.store.Sessions(f.org), 1)

	_, _, err = f.dir.UseLink(f.ctx, l.Value, now)
	denied(t, err, directory.DeniedLink)
	require.Len(t, f.store.Sessions(f.org), 1, "a used link opens no second session")

	late, err := f.dir.IssueLink(f.ctx, f.op, ada, now)
	require.NoError(t, err)
	_, _, err = f.dir.UseLink(f.ctx, late.Value, now.Add(directory.LinkLifetime))
	denied(t, err, directory.DeniedLink)

	// A link whose secret is wrong is not a link.
	forged := l.Value[:len(l.Value)-4] + "AAAA"
	_, _, err = f.dir.UseLink(f.ctx, forged, now)
	denied(t, err, directory.DeniedLink)
	_, _, err = f.dir.UseLink(f.ctx, "nonsense", now)
	denied(t, err, directory.DeniedLink)

	entries := f.auditOf(ada)
	require.Equal(t, "ConsoleLink", entries[len(entries)-1].ResourceType)
}

func TestConsoleLinkOnlyForActiveAdmins(t *testing.T) {
	f := newFixture(t)
	f.user("boss", grants.OrgAdmin)
	reader := f.user("reader", grants.OrgAdminReadOnly)
	member := f.user("member", grants.OrgUser)
	gone := f.user("gone", grants.OrgAdmin)
	now := time.Now()

	admin, _ := f.signInByLink(reader, now)
	require.Equal(t, grants.OrgAdminReadOnly, admin.Role)

	_, err := f.dir.IssueLink(f.ctx, f.op, member, now)
	denied(t, err, directory.DeniedNotAdmin)
	_, err = f.dir.SetActive(f.ctx, f.op, gone, false)
	require.NoError(t, err)
	_, err = f.dir.IssueLink(f.ctx, f.op, gone, now)
	denied(t, err, directory.DeniedSuspended)
	_, err = f.dir.IssueLink(f.ctx, f.op, "00000000-0000-4000-8000-000000000001", now)
	requireErr(t, err, scimerr.KindNotFound, "no user")

	// A link is issued by someone who may write; an admin-readonly actor may not.
	_, err = f.dir.IssueLink(f.ctx, f.as(reader, grants.OrgAdminReadOnly), reader, now)
	requireErr(t, err, scimerr.KindForbidden, "admin-readonly")

	// A link issued to an admin who is suspended before using it does not sign in.
	boss2 := f.user("boss2", grants.OrgAdmin)
	l, err := f.dir.IssueLink(f.ctx, f.op, boss2, now)
	require.NoError(t, err)
	_, err = f.dir.SetActive(f.ctx, f.op, boss2, false)
	require.NoError(t, err)
	_, _, err = f.dir.UseLink(f.ctx, l.Value, now)
	denied(t, err, directory.DeniedSuspended)
}

func TestConsoleSessionExpires(t *testing.T) {
	f := newFixture(t)
	ada := f.user("ada", grants.OrgAdmin)
	start := time.Now()

	_, cookie := f.signInByLink(ada, start)
	admin, err := f.dir.Session(f.ctx, cookie, start.Add(directory.SessionIdle-time.Second))
	require.NoError(t, err)
	require.Equal(t, ada, admin.UserID)

	// Requests keep it open until the absolute lifetime ends.
	at := start
	for at.Before(start.Add(directory.SessionLifetime - directory.SessionIdle)) {
		at = at.Add(directory.SessionIdle - time.Minute)
		_, err := f.dir.Session(f.ctx, cookie, at)
		require.NoError(t, err, "at %s", at.Sub(start))
	}
	_, err = f.dir.Session(f.ctx, cookie, start.Add(directory.SessionLifetime))
	denied(t, err, directory.DeniedExpired)
	require.Empty(t, f.store.Sessions(f.org), "an expired session is deleted")

	// Idle for SessionIdle ends it.
	_, cookie = f.signInByLink(ada, start)
	_, err = f.dir.Session(f.ctx, cookie, start.Add(directory.SessionIdle))
	denied(t, err, directory.DeniedExpired)

	// Signing out ends it; a cookie that is not a session is signed out.
	_, cookie = f.signInByLink(ada, start)
	require.NoError(t, f.dir.EndSession(f.ctx, cookie))
	_, err = f.dir.Session(f.ctx, cookie, start)
	denied(t, err, directory.DeniedSignedOut)
	_, err = f.dir.Session(f.ctx, "scimds_garbage", start)
	denied(t, err, directory.DeniedSignedOut)
	_, err = f.dir.Session(f.ctx, cookie[:len(cookie)-1]+"x", start)
	denied(t, err, directory.DeniedSignedOut)
}

func TestConsoleSessionEndsWithTheAdminsAccess(t *testing.T) {
	f := newFixture(t)
	f.user("boss", grants.OrgAdmin)
	now := time.Now()

	for _, tc := range []struct {
		name   string
		role   string
		change func(id string) error
		reason directory.DenyReason
	}{
		{"suspended", grants.OrgAdmin, func(id string) error {
			_, err := f.dir.SetActive(f.ctx, f.op, id, false)
			return err
		}, directory.DeniedSignedOut},
		{"demoted to admin-readonly", grants.OrgAdmin, func(id string) error {
			_, err := f.patch(f.op, id, fmt.Sprintf(`{"op":"replace","path":"%s:orgRole","value":"admin-readonly"}`, grants.ExtURN))
			return err
		}, directory.DeniedSignedOut},
		{"demoted to user", grants.OrgAdminReadOnly, func(id string) error {
			_, err := f.patch(f.op, id, `{"op":"replace","path":"roles","value":[{"value":"orgRole:user"}]}`)
			return err
		}, directory.DeniedSignedOut},
		{"deleted", grants.OrgAdmin, func(id string) error {
			return f.dir.DeleteUser(f.ctx, f.op, id, directory.Precondition{})
		}, directory.DeniedSignedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := f.user("u"+fmt.Sprint(time.Now().UnixNano()), tc.role)
			_, cookie := f.signInByLink(id, now)
			_, err := f.dir.Session(f.ctx, cookie, now)
			require.NoError(t, err)
			require.NoError(t, tc.change(id))
			_, err = f.dir.Session(f.ctx, cookie, now)
			denied(t, err, tc.reason)
			for _, s := range f.store.Sessions(f.org) {
				require.NotEqual(t, id, s.UserID, "the user's sessions are deleted with their access")
			}
		})
	}

	// Reactivating a suspended admin does not bring the session back.
	ada := f.user("ada", grants.OrgAdmin)
	_, cookie := f.signInByLink(ada, now)
	_, err := f.dir.SetActive(f.ctx, f.op, ada, false)
	require.NoError(t, err)
	_, err = f.dir.SetActive(f.ctx, f.op, ada, true)
	require.NoError(t, err)
	_, err = f.dir.Session(f.ctx, cookie, now)
	denied(t, err, directory.DeniedSignedOut)
}

func TestConsoleSessionChecksTheUserOnEveryRequest(t *testing.T) {
	f := newFixture(t)
	f.user("boss", grants.OrgAdmin)
	reader := f.user("reader", grants.OrgAdminReadOnly)
	now := time.Now()
	_, cookie := f.signInByLink(reader, now)

	// The user's state changes behind the directory's back (as another process's write
	// would look to a session read before it): the session check still refuses, and ends it.
	f.store.SetUser(f.org, reader, func(u *directory.User) { u.Effective.OrgRole = grants.OrgUser })
	_, err := f.dir.Session(f.ctx, cookie, now)
	denied(t, err, directory.DeniedNotAdmin)
	require.Empty(t, f.store.Sessions(f.org))

	_, cookie = f.signInByLink(f.user("other", grants.OrgAdmin), now)
	other := f.store.Sessions(f.org)[0].UserID
	f.store.SetUser(f.org, other, func(u *directory.User) { u.Doc["active"] = false })
	_, err = f.dir.Session(f.ctx, cookie, now)
	denied(t, err, directory.DeniedSuspended)
}

func TestConsoleSpeaksTheAdminsLanguage(t *testing.T) {
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.DefaultLocale = "de-DE" })
	now := time.Now()
	for body, want := range map[string]string{
		`{"userName":"a@example.com","preferredLanguage":"fr-CA, en;q=0.5"}`: "fr",
		`{"userName":"b@example.com","locale":"nl_BE"}`:                      "nl",
		`{"userName":"c@example.com","preferredLanguage":"hi"}`:              "de",
		`{"userName":"d@example.com"}`:                                       "de",
	} {
		r := f.create(body)
		f.mustPatch(r.ID, fmt.Sprintf(`{"op":"replace","path":"%s:orgRole","value":"admin"}`, grants.ExtURN))
		admin, _ := f.signInByLink(r.ID, now)
		require.Equal(t, want, admin.Language, body)
	}
}

// idp is an identity of the test's provider.
func idp(subject, email string, verified bool) directory.Identity {
	return directory.Identity{Issuer: "https://idp.example.com", Subject: subject, Email: email, EmailVerified: verified}
}

func TestConsoleIdentityMatchesAVerifiedEmailOnceThenItsBinding(t *testing.T) {
	f := newFixture(t)
	ada := f.create(`{"userName":"ada","emails":[{"value":"Ada@Example.com","primary":true}],
		"name":{"givenName":"Ada","familyName":"Lovelace"},"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`).ID
	grace := f.user("grace", grants.OrgAdmin)
	now := time.Now()

	admin, cookie, err := f.dir.SignInIdentity(f.ctx, f.org, idp("sub-ada", "ada@EXAMPLE.com", true), now)
	require.NoError(t, err)
	require.Equal(t, ada, admin.UserID)
	require.Equal(t, "Ada Lovelace", admin.Name)
	require.NotEmpty(t, cookie)
	require.Equal(t, [][2]string{{"https://idp.example.com", "sub-ada"}}, f.store.Identities(f.org, ada))

	// The binding decides from now on: Ada's email changed at the provider to Grace's does not
	// sign her in as Grace.
	admin, _, err = f.dir.SignInIdentity(f.ctx, f.org, idp("sub-ada", "grace@example.com", true), now)
	require.NoError(t, err)
	require.Equal(t, ada, admin.UserID)

	// Another identity carrying Ada's email cannot take Ada's account.
	_, _, err = f.dir.SignInIdentity(f.ctx, f.org, idp("sub-mallory", "ada@example.com", true), now)
	denied(t, err, directory.DeniedOtherIdentity)
	require.Empty(t, f.store.Identities(f.org, grace))

	// Grace's own first sign-in binds her.
	admin, _, err = f.dir.SignInIdentity(f.ctx, f.org, idp("sub-grace", "grace@example.com", true), now)
	require.NoError(t, err)
	require.Equal(t, grace, admin.UserID)
	entries := f.auditOf(grace)
	require.Equal(t, "ConsoleIdentity", entries[len(entries)-1].ResourceType)
}

func TestConsoleIdentityRefusals(t *testing.T) {
	f := newFixture(t)
	f.user("boss", grants.OrgAdmin)
	f.user("member", grants.OrgUser)
	f.create(`{"userName":"twin1","emails":[{"value":"twin@example.com"}],"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	f.create(`{"userName":"twin2","emails":[{"value":"TWIN@example.com"}],"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	f.setOrg(func(o *directory.Org) { o.VerifiedDomains = append(o.VerifiedDomains, "example.org") })
	f.user("sub", grants.OrgAdmin) // sub@example.com
	f.setOrg(func(o *directory.Org) { o.VerifiedDomains = []string{"example.org"} })
	now := time.Now()

	for _, tc := range []struct {
		id     directory.Identity
		reason directory.DenyReason
	}{
		{idp("s1", "boss@example.com", false), directory.DeniedEmailUnverified},
		{idp("s2", "", true), directory.DeniedEmailUnverified},
		{idp("s3", "boss@example.com", true), directory.DeniedDomain},
	} {
		_, _, err := f.dir.SignInIdentity(f.ctx, f.org, tc.id, now)
		denied(t, err, tc.reason)
	}
	f.setOrg(func(o *directory.Org) { o.VerifiedDomains = []string{"example.com"} })
	for _, tc := range []struct {
		id     directory.Identity
		reason directory.DenyReason
	}{
		{idp("s4", "nobody@example.com", true), directory.DeniedNoUser},
		{idp("s5", "member@example.com", true), directory.DeniedNotAdmin},
		{idp("s6", "twin@example.com", true), directory.DeniedAmbiguous},
	} {
		before := f.store.Snapshot()
		_, _, err := f.dir.SignInIdentity(f.ctx, f.org, tc.id, now)
		denied(t, err, tc.reason)
		require.Equal(t, before, f.store.Snapshot(), "a refused sign-in binds and opens nothing")
	}
	require.Empty(t, f.store.Sessions(f.org))
}

func TestBrowseUsers(t *testing.T) {
	f := newFixture(t)
	f.create(`{"userName":"zoe@example.com","name":{"givenName":"Zoe","familyName":"Adams"}}`)
	f.create(`{"userName":"Bob@example.com","displayName":"Robert Tables"}`)
	f.create(`{"userName":"carol","emails":[{"value":"carol.h@example.com","primary":true}],"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	f.create(`{"userName":"adam@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin-readonly"}}`)
	names := func(b *directory.Browsed) []string {
		var out []string
		for _, u := range b.Users {
			out = append(out, u.Doc["userName"].(string))
		}
		return out
	}
	browse := func(b directory.Browse) *directory.Browsed {
		t.Helper()
		out, err := f.dir.BrowseUsers(f.ctx, f.op, b)
		require.NoError(t, err)
		return out
	}

	all := browse(directory.Browse{Limit: 10})
	require.Equal(t, []string{"adam@example.com", "Bob@example.com", "carol", "zoe@example.com"}, names(all))
	require.Empty(t, all.Next)
	require.Empty(t, all.Prev)

	// Paging forward and back.
	p1 := browse(directory.Browse{Limit: 3})
	require.Equal(t, []string{"adam@example.com", "Bob@example.com", "carol"}, names(p1))
	require.Equal(t, "carol", p1.Next)
	require.Empty(t, p1.Prev)
	p2 := browse(directory.Browse{Limit: 3, After: p1.Next})
	require.Equal(t, []string{"zoe@example.com"}, names(p2))
	require.Empty(t, p2.Next)
	require.Equal(t, "zoe@example.com", p2.Prev)
	back := browse(directory.Browse{Limit: 3, Before: p2.Prev})
	require.Equal(t, names(p1), names(back))
	require.Empty(t, back.Prev)
	require.Equal(t, "carol", back.Next)
	back2 := browse(directory.Browse{Limit: 2, Before: p2.Prev})
	require.Equal(t, []string{"Bob@example.com", "carol"}, names(back2))
	require.Equal(t, "Bob@example.com", back2.Prev)

	// The text is a part of the sign-in address, userName, displayName or name.
	require.Equal(t, []string{"carol"}, names(browse(directory.Browse{Limit: 10, Text: "OL.H@"})))
	require.Equal(t, []string{"Bob@example.com"}, names(browse(directory.Browse{Limit: 10, Text: "tables"})))
	require.Equal(t, []string{"zoe@example.com"}, names(browse(directory.Browse{Limit: 10, Text: "zoe adams"})))
	require.Equal(t, []string{"adam@example.com", "zoe@example.com"}, names(browse(directory.Browse{Limit: 10, Text: "adam"})))
	require.Empty(t, names(browse(directory.Browse{Limit: 10, Text: "nobody"})))
	require.Equal(t, []string{"carol"}, names(browse(directory.Browse{Limit: 10, Role: grants.OrgAdmin})))

	_, err := f.dir.BrowseUsers(f.ctx, f.op, directory.Browse{Role: "owner"})
	requireErr(t, err, scimerr.KindInvalid, "owner")
	require.Equal(t, "role", scimerr.As(err).Attribute)
	_, err = f.dir.BrowseUsers(f.ctx, f.op, directory.Browse{Text: "a\nb"})
	requireErr(t, err, scimerr.KindInvalid, "control characters")
}
