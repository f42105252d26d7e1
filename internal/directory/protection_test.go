package directory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

// Who may change what: an admin cannot take away their own access, the
// organization keeps an active admin, admin-readonly actors only read, and a token stops
// working for good when its issuer loses access.

// groupPatch applies PATCH operations (JSON) to a group as actor a.
func (f *fixture) groupPatch(a directory.Actor, group, operations string) error {
	f.t.Helper()
	_, err := f.dir.PatchGroup(f.ctx, a, group, ops(f.t, operations), directory.Precondition{})
	return err
}

func memberList(ids ...string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = map[string]any{"value": id}
	}
	return out
}

func TestAdminsCannotChangeTheirOwnRolesNorSuspendOrDeleteThemselves(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user("boss", "admin")
	ada := f.user("ada", "admin", "meeting")
	me := f.as(ada, "admin")

	roles := "you cannot change your own orgRole or accountRole"
	for _, operation := range []string{
		`{"op":"replace","path":"urn:scimd:schemas:extension:2.0:User:orgRole","value":"user"}`,
		`{"op":"Add","path":"roles","value":[{"value":"orgRole:admin-readonly"}]}`,
		`{"op":"Add","path":"roles","value":[{"value":"accountRole:admin"}]}`,
		`{"op":"replace","value":{"urn:scimd:schemas:extension:2.0:User:accountRole":"admin"}}`,
		`{"op":"remove","path":"roles"}`,
	} {
		f.refused(scimerr.KindForbidden, "", func() error { _, err := f.patch(me, ada, operation); return err }, roles)
	}
	f.refused(scimerr.KindForbidden, "", func() error {
		_, err := f.dir.ReplaceUser(f.ctx, me, ada, doc(t, `{"userName":"ada@example.com","roles":[{"value":"orgRole:user"}]}`),
			directory.Precondition{})
		return err
	}, roles)

	suspend := "you cannot suspend yourself"
	for _, operation := range []string{
		`{"op":"replace","value":{"active":false}}`,
		`{"op":"Replace","path":"active","value":"False"}`,
	} {
		f.refused(scimerr.KindForbidden, "", func() error { _, err := f.patch(me, ada, operation); return err }, suspend)
	}
	f.refused(scimerr.KindForbidden, "", func() error {
		_, err := f.dir.ReplaceUser(f.ctx, me, ada, doc(t, `{"userName":"ada@example.com","active":false}`), directory.Precondition{})
		return err
	}, suspend)
	f.refused(scimerr.KindForbidden, "", func() error {
		return f.dir.Atomically(f.ctx, me, func(o *directory.Ops) error {
			_, err := o.PatchUser(ada, ops(t, `{"op":"replace","path":"active","value":false}`))
			return err
		})
	}, suspend)
	f.refused(scimerr.KindForbidden, "", func() error { _, err := f.dir.SetActive(f.ctx, me, ada, false); return err }, suspend)
	for _, id := range []string{ada, strings.ToUpper(ada)} {
		f.refused(scimerr.KindForbidden, "", func() error { return f.dir.DeleteUser(f.ctx, me, id, directory.Precondition{}) },
			"you cannot delete yourself")
	}

	// Their own name, addresses and products they may change; a PUT of what they read is no
	// change of roles.
	f.mustPatch(ada, `{"op":"add","path":"displayName","value":"Ada L."}`)
	_, err := f.patch(me, ada, `{"op":"replace","path":"name.givenName","value":"Ada"},
		{"op":"add","path":"emails","value":[{"value":"ada@home.example","type":"home"}]},
		{"op":"add","path":"entitlements","value":[{"value":"webinar"}]}`)
	require.NoError(t, err)
	shown, err := f.dir.GetUser(f.ctx, me, ada, everything)
	require.NoError(t, err)
	_, err = f.dir.ReplaceUser(f.ctx, me, ada, shown.Doc, directory.Precondition{})
	require.NoError(t, err)
	require.Equal(t, g("admin", "member", "meeting", "webinar"), f.direct(ada))
	require.Equal(t, "Ada", f.stored(ada).Doc["name"].(map[string]any)["givenName"])
}

func TestAdminsCannotDemoteThemselvesThroughGroupsOrMappings(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.NestedGroups = true })
	boss := f.user("boss", "admin")
	carl := f.user("carl", "user")
	dave := f.user("dave", "user")
	admins := f.group("Admins", boss, carl)
	inner := f.group("Inner", dave)
	require.NoError(t, f.groupPatch(f.op, admins, `{"op":"add","path":"members","value":[{"value":"`+inner+`"}]}`))
	f.mapGroup(admins, directory.MappingInput{OrgRole: "admin"})
	require.Equal(t, "admin", f.effective(carl).OrgRole)
	require.Equal(t, "admin", f.effective(dave).OrgRole)
	other := f.group("Other", carl)

	demoted := "this change would take your own orgRole from admin to user"
	for _, tc := range []struct {
		who string
		fn  func(a directory.Actor) error
	}{
		{carl, func(a directory.Actor) error {
			return f.groupPatch(a, admins, `{"op":"remove","path":"members[value eq \"`+carl+`\"]"}`)
		}},
		{carl, func(a directory.Actor) error {
			return f.groupPatch(a, admins, `{"op":"Remove","path":"members","value":[{"value":"`+carl+`"}]}`)
		}},
		{carl, func(a directory.Actor) error {
			return f.groupPatch(a, admins, `{"op":"replace","path":"members","value":[{"value":"`+boss+`"},{"value":"`+inner+`"}]}`)
		}},
		{carl, func(a directory.Actor) error { return f.groupPatch(a, admins, `{"op":"remove","path":"members"}`) }},
		{carl, func(a directory.Actor) error {
			_, err := f.dir.ReplaceGroup(f.ctx, a, admins, map[string]any{"displayName": "Admins", "members": memberList(boss, inner)},
				directory.Precondition{})
			return err
		}},
		{carl, func(a directory.Actor) error { return f.dir.DeleteGroup(f.ctx, a, admins, directory.Precondition{}) }},
		{carl, func(a directory.Actor) error { _, err := f.dir.RemoveGroupMapping(f.ctx, a, admins); return err }},
		{carl, func(a directory.Actor) error {
			_, err := f.dir.SetGroupMapping(f.ctx, a, admins, directory.MappingInput{Products: []string{"meeting"}})
			return err
		}},
		{carl, func(a directory.Actor) error {
			return f.dir.Atomically(f.ctx, a, func(o *directory.Ops) error {
				_, err := o.PatchGroup(admins, ops(t, `{"op":"remove","path":"members[value eq \"`+carl+`\"]"}`))
				return err
			})
		}},
		// dave is admin through Inner, nested in Admins.
		{dave, func(a directory.Actor) error {
			return f.groupPatch(a, admins, `{"op":"remove","path":"members[value eq \"`+inner+`\"]"}`)
		}},
		{dave, func(a directory.Actor) error { return f.groupPatch(a, inner, `{"op":"remove","path":"members"}`) }},
		{dave, func(a directory.Actor) error { return f.dir.DeleteGroup(f.ctx, a, inner, directory.Precondition{}) }},
	} {
		f.refused(scimerr.KindForbidden, "", func() error { return tc.fn(f.as(tc.who, "admin")) }, demoted)
	}
	f.refused(scimerr.KindForbidden, "", func() error {
		_, err := f.dir.SetGroupMapping(f.ctx, f.as(carl, "admin"), admins, directory.MappingInput{OrgRole: "admin-readonly"})
		return err
	}, "this change would take your own orgRole from admin to admin-readonly")

	// What leaves their own access alone is allowed: leaving an unmapped group, removing
	// someone else.
	require.NoError(t, f.groupPatch(f.as(carl, "admin"), other, `{"op":"remove","path":"members[value eq \"`+carl+`\"]"}`))
	require.NoError(t, f.groupPatch(f.as(carl, "admin"), admins, `{"op":"remove","path":"members[value eq \"`+inner+`\"]"}`))
	require.Equal(t, "user", f.effective(dave).OrgRole)
	require.Equal(t, "admin", f.effective(carl).OrgRole)
}

func TestTheLastActiveAdminStays(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "admin")
	f.user("reader", "admin-readonly")
	suspended := f.user("old", "admin")
	f.mustPatch(suspended, `{"op":"replace","value":{"active":false}}`)

	last := "the change would leave the organization without an active admin"
	for _, fn := range []func() error{
		func() error {
			_, err := f.patch(f.op, boss, `{"op":"replace","path":"urn:scimd:schemas:extension:2.0:User:orgRole","value":"admin-readonly"}`)
			return err
		},
		func() error {
			_, err := f.patch(f.op, boss, `{"op":"Add","path":"roles","value":[{"value":"orgRole:user"}]}`)
			return err
		},
		func() error { _, err := f.patch(f.op, boss, `{"op":"replace","value":{"active":false}}`); return err },
		func() error {
			_, err := f.dir.ReplaceUser(f.ctx, f.op, boss, doc(t, `{"userName":"boss@example.com","active":false}`), directory.Precondition{})
			return err
		},
		func() error { return f.dir.DeleteUser(f.ctx, f.op, boss, directory.Precondition{}) },
		func() error { _, err := f.dir.SetActive(f.ctx, f.op, boss, false); return err },
		func() error {
			return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				_, err := o.PatchUser(boss, ops(t, `{"op":"replace","path":"active","value":false}`))
				return err
			})
		},
	} {
		f.refused(scimerr.KindConflict, "", fn, last)
	}

	// Through groups and mappings: ann is the only admin, through the mapping of Admins.
	f2 := newFixture(t)
	ann := f2.user("ann", "user")
	bob := f2.user("bob", "user")
	admins := f2.group("Admins", ann, bob)
	f2.mapGroup(admins, directory.MappingInput{OrgRole: "admin"})
	f2.mustPatch(bob, `{"op":"replace","value":{"active":false}}`)
	for _, fn := range []func() error{
		func() error {
			return f2.groupPatch(f2.op, admins, `{"op":"remove","path":"members[value eq \"`+ann+`\"]"}`)
		},
		func() error {
			_, err := f2.dir.ReplaceGroup(f2.ctx, f2.op, admins, map[string]any{"displayName": "Admins", "members": memberList(bob)},
				directory.Precondition{})
			return err
		},
		func() error { return f2.dir.DeleteGroup(f2.ctx, f2.op, admins, directory.Precondition{}) },
		func() error { _, err := f2.dir.RemoveGroupMapping(f2.ctx, f2.op, admins); return err },
		func() error {
			_, err := f2.dir.SetGroupMapping(f2.ctx, f2.op, admins, directory.MappingInput{OrgRole: "admin-readonly"})
			return err
		},
		func() error { _, err := f2.patch(f2.op, ann, `{"op":"replace","value":{"active":false}}`); return err },
		func() error { return f2.dir.DeleteUser(f2.ctx, f2.op, ann, directory.Precondition{}) },
	} {
		f2.refused(scimerr.KindConflict, "", fn, last)
	}

	// With another active admin, each goes through.
	f.user("second", "admin")
	_, err := f.patch(f.op, boss, `{"op":"Add","path":"roles","value":[{"value":"orgRole:user"}]}`)
	require.NoError(t, err)
	require.Equal(t, "user", f.effective(boss).OrgRole)
	f2.mustPatch(bob, `{"op":"replace","value":{"active":true}}`)
	require.NoError(t, f2.groupPatch(f2.op, admins, `{"op":"remove","path":"members[value eq \"`+ann+`\"]"}`))
	require.Equal(t, "user", f2.effective(ann).OrgRole)
}

func TestTokensOfAnIssuerWhoLosesAccessAreRevokedForGood(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		viaGroup      bool
		lose, restore func(f *fixture, ada, group string)
	}{
		"demoted directly": {
			lose: func(f *fixture, ada, _ string) {
				f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"orgRole:admin-readonly"}]}`)
			},
			restore: func(f *fixture, ada, _ string) {
				f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
			},
		},
		"demoted through a group": {
			viaGroup: true,
			lose: func(f *fixture, ada, group string) {
				require.NoError(f.t, f.groupPatch(f.op, group, `{"op":"remove","path":"members[value eq \"`+ada+`\"]"}`))
			},
			restore: func(f *fixture, ada, group string) {
				require.NoError(f.t, f.groupPatch(f.op, group, `{"op":"add","path":"members","value":[{"value":"`+ada+`"}]}`))
			},
		},
		"demoted through a mapping": {
			viaGroup: true,
			lose: func(f *fixture, _, group string) {
				_, err := f.dir.RemoveGroupMapping(f.ctx, f.op, group)
				require.NoError(f.t, err)
			},
			restore: func(f *fixture, _, group string) { f.mapGroup(group, directory.MappingInput{OrgRole: "admin"}) },
		},
		"suspended": {
			lose: func(f *fixture, ada, _ string) { f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`) },
			restore: func(f *fixture, ada, _ string) {
				f.mustPatch(ada, `{"op":"replace","value":{"active":true}},{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.user("boss", "admin")
			// ada is admin through the mapping of Admins, or directly.
			ada := f.user("ada", "user")
			admins := f.group("Admins", ada)
			if tc.viaGroup {
				f.mapGroup(admins, directory.MappingInput{OrgRole: "admin"})
			} else {
				f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
			}
			require.Equal(t, "admin", f.effective(ada).OrgRole)
			tok, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: ada}, time.Now())
			require.NoError(t, err)
			a, err := f.dir.Authenticate(f.ctx, tok.Value, time.Now())
			require.NoError(t, err)
			require.Equal(t, directory.Actor{Org: f.org, UserID: ada, TokenID: tok.ID, Role: "admin"}, a)

			tc.lose(f, ada, admins)
			st, err := f.store.Token(f.ctx, f.org, tok.ID)
			require.NoError(t, err)
			require.NotNil(t, st.RevokedAt)
			_, err = f.dir.Authenticate(f.ctx, tok.Value, time.Now())
			requireErr(t, err, scimerr.KindUnauthorized)

			tc.restore(f, ada, admins)
			require.Equal(t, "admin", f.effective(ada).OrgRole)
			_, err = f.dir.Authenticate(f.ctx, tok.Value, time.Now())
			requireErr(t, err, scimerr.KindUnauthorized, "invalid, expired or revoked")
		})
	}

	// Deleted: the token goes with its issuer.
	f := newFixture(t)
	f.user("boss", "admin")
	ada := f.user("ada", "admin")
	tok, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: ada}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.dir.DeleteUser(f.ctx, f.op, ada, directory.Precondition{}))
	_, err = f.store.Token(f.ctx, f.org, tok.ID)
	require.ErrorIs(t, err, directory.ErrNotFound)
	_, err = f.dir.Authenticate(f.ctx, tok.Value, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
}

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "admin")
	reader := f.user("reader", "admin-readonly")
	user, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: boss, ExpiresIn: time.Hour}, time.Now())
	require.NoError(t, err)
	ro, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: reader}, time.Now())
	require.NoError(t, err)
	svc, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{Role: "admin", Label: "Entra ID"}, time.Now())
	require.NoError(t, err)

	a, err := f.dir.Authenticate(f.ctx, user.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: f.org, UserID: boss, TokenID: user.ID, Role: "admin"}, a)
	a, err = f.dir.Authenticate(f.ctx, ro.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: f.org, UserID: reader, TokenID: ro.ID, Role: "admin-readonly"}, a)
	a, err = f.dir.Authenticate(f.ctx, svc.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, directory.Actor{Org: f.org, TokenID: svc.ID, Role: "admin"}, a, "a service token acts as no person")

	// A user token acts with its issuer's role now: promoted, it acts as admin.
	f.mustPatch(reader, `{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
	a, err = f.dir.Authenticate(f.ctx, ro.Value, time.Now())
	require.NoError(t, err)
	require.Equal(t, "admin", a.Role)

	for _, bad := range []string{"", "nonsense", user.Value[:len(user.Value)-1] + "x", strings.Replace(user.Value, "scimd_", "scimd-", 1)} {
		_, err := f.dir.Authenticate(f.ctx, bad, time.Now())
		requireErr(t, err, scimerr.KindUnauthorized, "the bearer token is invalid, expired or revoked")
	}
	_, err = f.dir.Authenticate(f.ctx, user.Value, time.Now().Add(time.Hour+time.Second))
	requireErr(t, err, scimerr.KindUnauthorized)
	_, err = f.dir.RevokeToken(f.ctx, f.op, svc.ID, time.Now())
	require.NoError(t, err)
	_, err = f.dir.Authenticate(f.ctx, svc.Value, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
	// Another organization's directory does not know the token.
	_, err = newFixture(t).dir.Authenticate(f.ctx, user.Value, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
}

func TestAdminReadOnlyActorsCannotWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	boss := f.user("boss", "admin")
	reader := f.user("reader", "admin-readonly")
	group := f.group("Staff", boss)
	tok, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{Role: "admin-readonly"}, time.Now())
	require.NoError(t, err)
	svc, err := f.dir.Authenticate(f.ctx, tok.Value, time.Now())
	require.NoError(t, err)

	for _, a := range []directory.Actor{svc, f.as(reader, "admin-readonly")} {
		no := func(fn func() error) {
			t.Helper()
			f.refused(scimerr.KindForbidden, "", fn, "acts as an admin-readonly user: it may read but not change anything")
		}
		no(func() error { _, err := f.dir.CreateUser(f.ctx, a, doc(t, `{"userName":"x@example.com"}`)); return err })
		no(func() error {
			_, err := f.dir.ReplaceUser(f.ctx, a, boss, doc(t, `{"userName":"boss@example.com"}`), directory.Precondition{})
			return err
		})
		no(func() error { _, err := f.patch(a, boss, `{"op":"add","path":"displayName","value":"B"}`); return err })
		no(func() error {
			_, err := f.patch(a, reader, `{"op":"add","path":"displayName","value":"Me"}`)
			return err
		})
		no(func() error { return f.dir.DeleteUser(f.ctx, a, boss, directory.Precondition{}) })
		no(func() error { _, err := f.dir.SetActive(f.ctx, a, boss, false); return err })
		no(func() error { _, err := f.dir.CreateGroup(f.ctx, a, map[string]any{"displayName": "G"}); return err })
		no(func() error {
			_, err := f.dir.ReplaceGroup(f.ctx, a, group, map[string]any{"displayName": "G"}, directory.Precondition{})
			return err
		})
		no(func() error { return f.groupPatch(a, group, `{"op":"remove","path":"members"}`) })
		no(func() error { return f.dir.DeleteGroup(f.ctx, a, group, directory.Precondition{}) })
		no(func() error {
			_, err := f.dir.SetGroupMapping(f.ctx, a, group, directory.MappingInput{OrgRole: "admin"})
			return err
		})
		no(func() error { _, err := f.dir.RemoveGroupMapping(f.ctx, a, group); return err })
		no(func() error { return f.dir.SetNestedGroups(f.ctx, a, true) })
		no(func() error {
			_, err := f.dir.CreateToken(f.ctx, a, directory.TokenInput{Role: "admin"}, time.Now())
			return err
		})
		no(func() error { _, err := f.dir.RevokeToken(f.ctx, a, tok.ID, time.Now()); return err })
		no(func() error { return f.dir.Atomically(f.ctx, a, func(*directory.Ops) error { return nil }) })
		no(func() error {
			res := f.dir.CreateUsers(f.ctx, a, []map[string]any{doc(t, `{"userName":"y@example.com"}`), doc(t, `{"userName":"z@example.com"}`)}, 0)
			require.Len(t, res, 2)
			require.Equal(t, res[0].Err, res[1].Err)
			return res[0].Err
		})
		// Reads are allowed.
		_, err := f.dir.GetUser(f.ctx, a, boss, everything)
		require.NoError(t, err)
		_, err = f.dir.ListTokens(f.ctx, a)
		require.NoError(t, err)
	}
}
