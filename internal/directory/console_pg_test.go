package directory_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
)

// The console's rules on PostgreSQL: what the store keeps (hashes, bindings, used links) and
// what its constraints and cascades do.

func (f *pgFixture) create(body string) string {
	f.t.Helper()
	r, err := f.dir.CreateUser(f.ctx, directory.Operator(f.org), doc(f.t, body))
	require.NoError(f.t, err)
	return r.ID
}

func (f *pgFixture) count(sql string, args ...any) int {
	f.t.Helper()
	var n int
	require.NoError(f.t, f.pool.QueryRow(f.ctx, sql, args...).Scan(&n))
	return n
}

func TestConsoleSignInOnPostgres(t *testing.T) {
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	ada := f.create(`{"userName":"ada@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	bob := f.create(`{"userName":"bob@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	f.create(`{"userName":"boss@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	now := time.Now()

	// A link works once; only its hash is stored.
	l, err := f.dir.IssueLink(f.ctx, op, ada, now)
	require.NoError(t, err)
	require.Equal(t, 1, f.count(`SELECT count(*) FROM console_links WHERE secret_hash = sha256(convert_to($1, 'UTF8'))`, l.Value[len(l.Value)-43:]))
	admin, cookie, err := f.dir.UseLink(f.ctx, l.Value, now)
	require.NoError(t, err)
	require.Equal(t, ada, admin.UserID)
	_, _, err = f.dir.UseLink(f.ctx, l.Value, now)
	denied(t, err, directory.DeniedLink)
	require.Equal(t, 1, f.count(`SELECT count(*) FROM console_links WHERE used_at IS NOT NULL`))

	// The session is found, touched after a minute, and ends at suspension.
	_, err = f.dir.Session(f.ctx, cookie, now.Add(2*time.Minute))
	require.NoError(t, err)
	var seen time.Time
	require.NoError(t, f.pool.QueryRow(f.ctx, `SELECT last_seen_at FROM console_sessions WHERE user_id = $1`, ada).Scan(&seen))
	require.WithinDuration(t, now.Add(2*time.Minute), seen, time.Millisecond)
	_, err = f.dir.SetActive(f.ctx, directory.Operator(f.org), ada, false)
	require.NoError(t, err)
	require.Equal(t, 0, f.count(`SELECT count(*) FROM console_sessions WHERE user_id = $1`, ada))
	_, err = f.dir.Session(f.ctx, cookie, now)
	denied(t, err, directory.DeniedSignedOut)

	// An identity binds once; a second subject of the issuer cannot be bound to the user.
	id := directory.Identity{Issuer: "https://idp.example.com", Subject: "s-bob", Email: "BOB@example.com", EmailVerified: true}
	admin, _, err = f.dir.SignInIdentity(f.ctx, f.org, id, now)
	require.NoError(t, err)
	require.Equal(t, bob, admin.UserID)
	id.Subject = "s-mallory"
	_, _, err = f.dir.SignInIdentity(f.ctx, f.org, id, now)
	denied(t, err, directory.DeniedOtherIdentity)
	require.Equal(t, 1, f.count(`SELECT count(*) FROM console_identities WHERE user_id = $1`, bob))
	// The same subject at another organization is another identity.
	_, _, err = f.dir.SignInIdentity(f.ctx, f.other, directory.Identity{Issuer: id.Issuer, Subject: "s-bob",
		Email: "bob@example.com", EmailVerified: true}, now)
	denied(t, err, directory.DeniedDomain)

	// Deleting the user takes their identities, sessions and links with it.
	_, err = f.dir.IssueLink(f.ctx, op, bob, now)
	require.NoError(t, err)
	require.NoError(t, f.dir.DeleteUser(f.ctx, op, bob, directory.Precondition{}))
	for _, table := range []string{"console_identities", "console_sessions", "console_links"} {
		require.Equal(t, 0, f.count(`SELECT count(*) FROM `+table+` WHERE user_id = $1`, bob), table)
	}
}

func TestBrowseUsersOnPostgres(t *testing.T) {
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	f.create(`{"userName":"zoe@example.com","name":{"givenName":"Zoe","familyName":"Adams"}}`)
	f.create(`{"userName":"Bob@example.com","displayName":"Robert Tables"}`)
	f.create(`{"userName":"carol","emails":[{"value":"carol.h@example.com","primary":true}],"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin"}}`)
	f.create(`{"userName":"adam_100%@example.com","urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin-readonly"}}`)
	f.create(`{"userName":"adamx100x@example.com"}`)
	names := func(b directory.Browse) []string {
		t.Helper()
		out, err := f.dir.BrowseUsers(f.ctx, op, b)
		require.NoError(t, err)
		var list []string
		for _, u := range out.Users {
			list = append(list, u.Doc["userName"].(string))
			require.Nil(t, u.Doc["groups"], "the users tab reads no groups")
		}
		return list
	}
	require.Equal(t, []string{"adam_100%@example.com", "adamx100x@example.com", "Bob@example.com", "carol", "zoe@example.com"},
		names(directory.Browse{Limit: 10}))
	require.Equal(t, []string{"carol"}, names(directory.Browse{Limit: 10, Text: "OL.H@"}))
	require.Equal(t, []string{"Bob@example.com"}, names(directory.Browse{Limit: 10, Text: "tables"}))
	require.Equal(t, []string{"zoe@example.com"}, names(directory.Browse{Limit: 10, Text: "Zoe Adams"}))
	// LIKE's wildcards in the text are the characters themselves.
	require.Equal(t, []string{"adam_100%@example.com"}, names(directory.Browse{Limit: 10, Text: "_100%"}))
	require.Empty(t, names(directory.Browse{Limit: 10, Text: "example.com\\"}))
	require.Equal(t, []string{"carol"}, names(directory.Browse{Limit: 10, Role: grants.OrgAdmin}))
	require.Equal(t, []string{"Bob@example.com", "carol"}, names(directory.Browse{Limit: 2, After: "adamx100x@example.com"}))
	require.Equal(t, []string{"adamx100x@example.com", "Bob@example.com"}, names(directory.Browse{Limit: 2, Before: "carol"}))
	// Another organization's users are never listed.
	other, err := f.dir.BrowseUsers(f.ctx, directory.Operator(f.other), directory.Browse{Limit: 10, Text: "example"})
	require.NoError(t, err)
	require.Empty(t, other.Users)
}

// The users tab beyond the first step's window of 10000 users (postgres/console.go): the page
// is completed from the trigram index, in order, without duplicates, both ways.
func TestBrowseUsersBeyondTheFirstWindowOnPostgres(t *testing.T) {
	f := newPGFixture(t)
	op := directory.Operator(f.org)
	_, err := f.pool.Exec(f.ctx, `INSERT INTO users (org_id, id, user_name, sign_in, family_name, eff_org_role)
		SELECT $1, gen_random_uuid(), format('u%s@example.com', lpad(i::text, 5, '0')), format('u%s@example.com', lpad(i::text, 5, '0')),
			CASE WHEN i BETWEEN 100 AND 109 OR i BETWEEN 10100 AND 10159 THEN 'Needle' ELSE 'Hay' END,
			CASE WHEN i % 2 = 0 THEN 'admin-readonly' ELSE 'user' END
		FROM generate_series(1, 10600) AS i`, f.org)
	require.NoError(t, err)
	_, err = f.pool.Exec(f.ctx, `ANALYZE users`)
	require.NoError(t, err)
	names := func(from, to int) []string {
		var out []string
		for i := from; i <= to; i++ {
			out = append(out, fmt.Sprintf("u%05d@example.com", i))
		}
		return out
	}
	page := func(b directory.Browse) ([]string, *directory.Browsed) {
		t.Helper()
		out, err := f.dir.BrowseUsers(f.ctx, op, b)
		require.NoError(t, err)
		require.False(t, out.Partial)
		var list []string
		for _, u := range out.Users {
			list = append(list, u.Doc["userName"].(string))
		}
		return list, out
	}

	got, p := page(directory.Browse{Text: "needle", Limit: 50})
	require.Equal(t, append(names(100, 109), names(10100, 10139)...), got)
	require.Equal(t, "u10139@example.com", p.Next)
	got, p = page(directory.Browse{Text: "NEEDLE", Limit: 50, After: p.Next})
	require.Equal(t, names(10140, 10159), got)
	require.Empty(t, p.Next)
	got, p = page(directory.Browse{Text: "needle", Limit: 30, Before: p.Prev})
	require.Equal(t, names(10110, 10139), got)
	require.Equal(t, "u10110@example.com", p.Prev)
	got, _ = page(directory.Browse{Text: "needle", Limit: 30, Before: p.Prev})
	require.Equal(t, append(names(100, 109), names(10100, 10109)...), got)
	// With a role: the even ones.
	got, _ = page(directory.Browse{Text: "needle", Role: "admin-readonly", Limit: 50})
	var even []string
	for _, n := range append(names(100, 109), names(10100, 10159)...) {
		var i int
		fmt.Sscanf(n, "u%d@", &i)
		if i%2 == 0 {
			even = append(even, n)
		}
	}
	require.Equal(t, even, got)
	// A text with punctuation is looked up in the index too: "0@e" is in u10130@example.com.
	got, _ = page(directory.Browse{Text: "10130@E", Limit: 50})
	require.Equal(t, []string{"u10130@example.com"}, got)
}

// A text that more than the store's sample of users (5000) have beyond the first window gives a
// partial page: the first by name among those read, each one a match.
func TestBrowseUsersPartialOnPostgres(t *testing.T) {
	f := newPGFixture(t)
	_, err := f.pool.Exec(f.ctx, `INSERT INTO users (org_id, id, user_name, sign_in, family_name)
		SELECT $1, gen_random_uuid(), format('%s%s@example.com', CASE WHEN i <= 10100 THEN 'a' ELSE 'n' END, lpad(i::text, 5, '0')),
			NULL, CASE WHEN i <= 10100 THEN 'Hay' ELSE 'Needle' END
		FROM generate_series(1, 15300) AS i`, f.org)
	require.NoError(t, err)
	out, err := f.dir.BrowseUsers(f.ctx, directory.Operator(f.org), directory.Browse{Text: "needle", Limit: 50})
	require.NoError(t, err)
	require.True(t, out.Partial)
	require.Len(t, out.Users, 50)
	prev := ""
	for _, u := range out.Users {
		name := u.Doc["userName"].(string)
		require.True(t, strings.HasPrefix(name, "n"), name)
		require.Greater(t, name, prev, "sorted by name")
		prev = name
	}
	// The same search from where the needles start is complete again.
	out, err = f.dir.BrowseUsers(f.ctx, directory.Operator(f.org), directory.Browse{Text: "needle", Limit: 50, After: "a10100@example.com"})
	require.NoError(t, err)
	require.False(t, out.Partial)
	require.Equal(t, "n10101@example.com", out.Users[0].Doc["userName"])
}
