package directory_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

// Groups: effective grants through group mappings, nested groups, and the
// names that must be unique.

func TestEffectiveGrantsUniteDirectAndMappedGrantsHighestRoleWinning(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.setOrg(func(o *directory.Org) { o.NestedGroups = true })
	f.user("boss", "admin")
	ada := f.user("ada", "admin-readonly", "meeting")
	sales := f.group("Sales", ada)
	admins := f.group("Admins")
	inner := f.group("Inner", ada)
	require.NoError(t, f.groupPatch(f.op, admins, `{"op":"add","path":"members","value":[{"value":"`+inner+`"}]}`))

	set, err := f.dir.SetGroupMapping(f.ctx, f.op, sales, directory.MappingInput{OrgRole: "user", AccountRole: "member", Products: []string{"Webinar", "meeting"}})
	require.NoError(t, err)
	require.Equal(t, 1, set.UsersChanged)
	require.Equal(t, g("admin-readonly", "member", "meeting", "webinar"), f.effective(ada), "a mapped user role does not lower a direct one")
	set, err = f.dir.SetGroupMapping(f.ctx, f.op, admins, directory.MappingInput{OrgRole: "admin", AccountRole: "admin"})
	require.NoError(t, err)
	require.Equal(t, 1, set.UsersChanged, "users of nested groups are users of the group")
	require.Equal(t, g("admin", "admin", "meeting", "webinar"), f.effective(ada))
	require.Equal(t, g("admin-readonly", "member", "meeting"), f.direct(ada), "mappings leave the direct grants alone")
	si, err := f.dir.SignIn(f.ctx, f.op, ada)
	require.NoError(t, err)
	require.Equal(t, &directory.SignIn{UserID: ada, CanSignIn: true, Status: directory.StatusActive, OrgRole: "admin", AccountRole: "admin",
		Products: []string{"meeting", "webinar"}}, si)
	grantsAudit := 0
	for _, e := range f.auditOf(ada) {
		if e.Action == directory.ActionGrants {
			grantsAudit++
		}
	}
	require.Equal(t, 2, grantsAudit, "each change through a mapping is audited on the user")

	// What an identity provider writes back does not turn mapped grants into direct ones, and
	// removing a mapped product from the view leaves it mapped.
	shown, err := f.dir.GetUser(f.ctx, f.op, ada, everything)
	require.NoError(t, err)
	_, err = f.dir.ReplaceUser(f.ctx, f.op, ada, shown.Doc, directory.Precondition{})
	require.NoError(t, err)
	require.Equal(t, g("admin-readonly", "member", "meeting"), f.direct(ada))
	f.mustPatch(ada, `{"op":"remove","path":"entitlements[value eq \"webinar\"]"}`)
	require.Equal(t, g("admin-readonly", "member", "meeting"), f.direct(ada))
	require.Equal(t, g("admin", "admin", "meeting", "webinar"), f.effective(ada))

	// Suspended users hold none of it; reactivated, the mappings apply again.
	f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`)
	require.Equal(t, none, f.effective(ada))
	si, err = f.dir.SignIn(f.ctx, f.op, ada)
	require.NoError(t, err)
	require.False(t, si.CanSignIn)
	require.Equal(t, "user", si.OrgRole)
	f.mustPatch(ada, `{"op":"replace","value":{"active":true}}`)
	require.Equal(t, g("admin", "admin", "meeting", "webinar"), f.effective(ada))

	// Leaving the nested group, then deleting the other, takes what they mapped away.
	require.NoError(t, f.groupPatch(f.op, inner, `{"op":"remove","path":"members[value eq \"`+ada+`\"]"}`))
	require.Equal(t, g("user", "member", "meeting", "webinar"), f.effective(ada))
	require.NoError(t, f.dir.DeleteGroup(f.ctx, f.op, sales, directory.Precondition{}))
	require.Equal(t, none, f.effective(ada))
	ms, err := f.dir.ListGroupMappings(f.ctx, f.op)
	require.NoError(t, err)
	require.Len(t, ms, 1, "a deleted group's mapping goes with it")
	require.Equal(t, "Admins", ms[0].GroupName)
}

func TestNestedGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ada := f.user("ada", "user")
	a := f.group("A", ada)
	b := f.group("B")
	c := f.group("C")

	off := func(id string) []string {
		return []string{`member "` + id + `" is a Group; nested groups are not enabled for this organization`}
	}
	for _, fn := range []func() error{
		func() error {
			return f.groupPatch(f.op, a, `{"op":"add","path":"members","value":[{"value":"`+b+`"}]}`)
		},
		func() error {
			return f.groupPatch(f.op, a, `{"op":"replace","path":"members","value":[{"value":"`+ada+`"},{"value":"`+b+`"}]}`)
		},
		func() error { return f.groupPatch(f.op, a, `{"op":"add","value":{"members":[{"value":"`+b+`"}]}}`) },
		func() error {
			_, err := f.dir.ReplaceGroup(f.ctx, f.op, a, map[string]any{"displayName": "A", "members": memberList(ada, b)}, directory.Precondition{})
			return err
		},
		func() error {
			_, err := f.dir.CreateGroup(f.ctx, f.op, map[string]any{"displayName": "D", "members": memberList(b)})
			return err
		},
		func() error {
			return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				_, err := o.CreateGroup(map[string]any{"displayName": "D", "members": memberList(ada, b)})
				return err
			})
		},
	} {
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, fn, off(b)...)
	}

	require.NoError(t, f.dir.SetNestedGroups(f.ctx, f.op, true))
	org, err := f.store.Org(f.ctx, f.org)
	require.NoError(t, err)
	require.True(t, org.NestedGroups)
	require.NoError(t, f.groupPatch(f.op, a, `{"op":"add","path":"members","value":[{"value":"`+b+`"}]}`))
	require.NoError(t, f.groupPatch(f.op, b, `{"op":"add","path":"members","value":[{"value":"`+c+`"}]}`))
	require.ElementsMatch(t, []string{ada, b}, f.members(a))

	// A group never contains itself, at any depth.
	cycle := func(id string) string {
		return `adding group "` + id + `" as a member would make a cycle: it is or contains this group`
	}
	for _, tc := range []struct {
		fn      func() error
		culprit string
	}{
		{func() error {
			return f.groupPatch(f.op, a, `{"op":"add","path":"members","value":[{"value":"`+a+`"}]}`)
		}, a},
		{func() error {
			return f.groupPatch(f.op, b, `{"op":"add","path":"members","value":[{"value":"`+a+`"}]}`)
		}, a},
		{func() error {
			return f.groupPatch(f.op, c, `{"op":"add","path":"members","value":[{"value":"`+ada+`"},{"value":"`+a+`"}]}`)
		}, a},
		{func() error {
			_, err := f.dir.ReplaceGroup(f.ctx, f.op, c, map[string]any{"displayName": "C", "members": memberList(b)}, directory.Precondition{})
			return err
		}, b},
		{func() error {
			return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				_, err := o.PatchGroup(c, ops(t, `{"op":"Add","path":"members","value":[{"value":"`+a+`"}]}`))
				return err
			})
		}, a},
	} {
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, tc.fn, cycle(tc.culprit))
	}

	// Nesting cannot be disabled while groups are members of groups.
	f.refused(scimerr.KindConflict, "", func() error { return f.dir.SetNestedGroups(f.ctx, f.op, false) },
		"nested groups cannot be disabled for organization "+f.org+": 2 group-in-group memberships exist")
	require.NoError(t, f.dir.DeleteGroup(f.ctx, f.op, c, directory.Precondition{}))
	f.refused(scimerr.KindConflict, "", func() error { return f.dir.SetNestedGroups(f.ctx, f.op, false) },
		"1 group-in-group memberships exist")
	require.NoError(t, f.groupPatch(f.op, a, `{"op":"remove","path":"members[type eq \"Group\"]"}`))
	require.Equal(t, []string{ada}, f.members(a))
	require.NoError(t, f.dir.SetNestedGroups(f.ctx, f.op, false))
	org, err = f.store.Org(f.ctx, f.org)
	require.NoError(t, err)
	require.False(t, org.NestedGroups)

	// Members are users of the organization (or groups): nothing else.
	for _, id := range []string{uuid.NewString(), "not-an-id", newFixture(t).user("stranger", "user")} {
		f.refused(scimerr.KindInvalid, scimerr.InvalidValue, func() error {
			return f.groupPatch(f.op, a, `{"op":"add","path":"members","value":[{"value":"`+id+`"}]}`)
		}, `member "`+id+`" is not a User of this organization`)
	}
}

func TestUserNamesAndGroupNamesAreUniqueCaseInsensitively(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user("ada", "user")
	bob := f.user("bob", "user")
	taken := `userName "ADA@example.com" is already taken in this organization`
	for _, fn := range []func() error{
		func() error {
			_, err := f.dir.CreateUser(f.ctx, f.op, doc(t, `{"userName":"ADA@example.com"}`))
			return err
		},
		func() error {
			_, err := f.dir.ReplaceUser(f.ctx, f.op, bob, doc(t, `{"userName":"ADA@example.com"}`), directory.Precondition{})
			return err
		},
		func() error {
			_, err := f.patch(f.op, bob, `{"op":"replace","path":"userName","value":"ADA@example.com"}`)
			return err
		},
	} {
		f.refused(scimerr.KindConflict, scimerr.Uniqueness, fn, taken)
	}
	f.refused(scimerr.KindConflict, scimerr.Uniqueness, func() error {
		return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
			_, err := o.CreateUser(doc(t, `{"userName":"ADA@example.com"}`))
			return err
		})
	}, "a userName these operations give is already taken in this organization")
	// A user may change the case of their own userName.
	f.mustPatch(bob, `{"op":"replace","path":"userName","value":"BOB@example.com"}`)

	admins := f.group("Admins")
	staff := f.group("Staff")
	exists := `a Group with displayName "admins" already exists in this organization`
	for _, fn := range []func() error{
		func() error {
			_, err := f.dir.CreateGroup(f.ctx, f.op, map[string]any{"displayName": "admins"})
			return err
		},
		func() error {
			_, err := f.dir.ReplaceGroup(f.ctx, f.op, staff, map[string]any{"displayName": "admins"}, directory.Precondition{})
			return err
		},
		func() error {
			return f.groupPatch(f.op, staff, `{"op":"replace","value":{"id":"`+staff+`","displayName":"admins"}}`)
		},
	} {
		f.refused(scimerr.KindConflict, scimerr.Uniqueness, fn, exists)
	}
	require.NoError(t, f.groupPatch(f.op, admins, `{"op":"replace","value":{"displayName":"ADMINS"}}`))
	got, err := f.dir.GetGroup(f.ctx, f.op, strings.ToUpper(admins))
	require.NoError(t, err)
	require.Equal(t, "ADMINS", got.Doc["displayName"])
	require.Equal(t, int64(2), got.Version)
}
