package directory_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Several operations at once (Bulk): Atomically's all-or-nothing transaction, and CreateUsers,
// which must have the outcome CreateUser has for each body.

func TestAtomicallyRollsBackEveryOpWhenOneFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.user("boss", "admin")
	ada := f.user("ada", "user")
	staff := f.group("Staff", ada)
	f.mapGroup(staff, directory.MappingInput{Products: []string{"webinar"}})

	var created, group string
	work := func(o *directory.Ops) error {
		u, err := o.CreateUser(doc(t, `{"userName":"new@example.com","urn:scimd:schemas:extension:2.0:User":{"products":["meeting"]}}`))
		if err != nil {
			return err
		}
		created = u.ID
		gr, err := o.CreateGroup(map[string]any{"displayName": "Circle", "members": memberList(u.ID, ada)})
		if err != nil {
			return err
		}
		group = gr.ID
		if _, err := o.PatchUser(strings.ToUpper(ada), ops(t, `{"op":"add","path":"displayName","value":"Ada"}`)); err != nil {
			return err
		}
		_, err = o.PatchGroup(staff, ops(t, `{"op":"add","path":"members","value":[{"value":"`+u.ID+`"}]}`))
		return err
	}
	for _, tc := range []struct {
		fail      func(o *directory.Ops) error
		kind      scimerr.Kind
		scimType  string
		fragments []string
	}{
		// A store may report a taken name only at the commit, when the operation is not known.
		{func(o *directory.Ops) error {
			_, err := o.CreateUser(doc(t, `{"userName":"NEW@example.com"}`))
			return err
		},
			scimerr.KindConflict, scimerr.Uniqueness, []string{"a userName these operations give is already taken in this organization"}},
		{func(o *directory.Ops) error {
			_, err := o.CreateGroup(map[string]any{"displayName": "circle"})
			return err
		},
			scimerr.KindConflict, scimerr.Uniqueness, []string{"a Group displayName these operations give already exists in this organization"}},
		// Or in a later operation, which does not explain it.
		{func(o *directory.Ops) error {
			if _, err := o.CreateUser(doc(t, `{"userName":"NEW@example.com"}`)); err != nil {
				return err
			}
			_, err := o.CreateGroup(map[string]any{"displayName": "Later", "members": memberList(ada)})
			return err
		}, scimerr.KindConflict, scimerr.Uniqueness, []string{"a userName these operations give is already taken in this organization"}},
		{func(o *directory.Ops) error {
			_, err := o.PatchUser(ada, ops(t, `{"op":"replace","path":"userName","value":"x@evil.example"}`))
			return err
		}, scimerr.KindInvalid, scimerr.InvalidValue, []string{`userName "x@evil.example" is the user's sign-in address`}},
		{func(o *directory.Ops) error {
			_, err := o.PatchGroup(group, ops(t, `{"op":"replace","value":{"displayName":"Staff"}}`))
			return err
		}, scimerr.KindConflict, scimerr.Uniqueness, []string{"a Group displayName these operations give already exists"}},
		{func(o *directory.Ops) error {
			_, err := o.PatchGroup(group, ops(t, `{"op":"replace","value":{"displayName":"Staff"}},{"op":"remove","path":"members"}`))
			return err
		}, scimerr.KindConflict, scimerr.Uniqueness, []string{`a Group with displayName "Staff" already exists`}},
		{func(o *directory.Ops) error {
			_, err := o.PatchUser(created, ops(t, `{"op":"remove","path":"active"}`))
			return err
		},
			scimerr.KindInvalid, scimerr.InvalidValue, []string{"active cannot be removed"}},
	} {
		f.refused(tc.kind, tc.scimType, func() error {
			return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				if err := work(o); err != nil {
					return err
				}
				return tc.fail(o)
			})
		}, tc.fragments...)
	}

	// Without the failure, everything is kept.
	require.NoError(t, f.dir.Atomically(f.ctx, f.op, work))
	require.Equal(t, g("user", "member", "meeting", "webinar"), f.effective(created))
	require.ElementsMatch(t, []string{created, ada}, f.members(group))
	require.ElementsMatch(t, []string{created, ada}, f.members(staff))
	require.Equal(t, "Ada", f.stored(ada).Doc["displayName"])
}

func TestAtomicallyPatchGroupIsPatchGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ada := f.user("ada", "user")
	staff := f.group("Staff")
	f.group("Sales")
	require.NoError(t, f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
		_, err := o.PatchGroup(strings.ToUpper(staff), ops(t, `{"op":"add","path":"members","value":[{"value":"`+ada+`"}]}`))
		return err
	}))
	require.Equal(t, []string{ada}, f.members(staff))
	f.refused(scimerr.KindNotFound, "", func() error {
		return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
			_, err := o.PatchGroup("not-a-group", ops(t, `{"op":"add","path":"displayName","value":"X"}`))
			return err
		})
	}, `no Group with id "not-a-group"`)
	// A taken displayName that surfaces within the operation (its member change reads) is
	// named.
	f.refused(scimerr.KindConflict, scimerr.Uniqueness, func() error {
		return f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
			_, err := o.PatchGroup(staff, ops(t, `{"op":"replace","path":"displayName","value":"sales"},{"op":"remove","path":"members"}`))
			return err
		})
	}, `a Group with displayName "sales" already exists`)
}

// bulkBodies are a list CreateUsers must treat as CreateUser would treat each in turn, in an
// organization that has ada@example.com already.
var bulkBodies = []string{
	`{"userName":"a@example.com","urn:scimd:schemas:extension:2.0:User":{"products":["meeting"]}}`,
	`{"userName":"ADA@example.com"}`,
	`{"userName":"b@example.com","locale":"fr_FR","roles":[{"value":"orgRole:admin-readonly"}]}`,
	`{"userName":"A@EXAMPLE.COM"}`,
	`{"userName":"m@evil.example"}`,
	`{"userName":"c@example.com","entitlements":[{"value":"Webinar"}],"emails":[{"value":"c@home.example","type":"home"}]}`,
	`{"userName":"d@example.com","urn:scimd:schemas:extension:2.0:User":{"products":["whiteboard"]}}`,
	`{"userName":"e@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"nobody"}}}`,
}

// outcome is what creating a user did, without what differs from one run to another.
type outcome struct {
	Err                   *scimerr.Error
	Doc                   map[string]any
	Direct, Effective     grants.Grants
	SignIn                string
	Notices               []string
	Audited, AuditActions int
}

func (f *fixture) outcome(r *directory.Resource, err error) outcome {
	f.t.Helper()
	if err != nil {
		e := scimerr.As(err)
		require.NotNil(f.t, e, "%v", err)
		return outcome{Err: e}
	}
	st := f.stored(r.ID)
	out := outcome{Doc: r.Doc, Direct: st.Direct, Effective: st.Effective, SignIn: st.SignIn}
	delete(ext(r), "accountId")
	for _, n := range f.noticesTo(r.ID) {
		out.Notices = append(out.Notices, fmt.Sprint(n.Kind, n.Data))
	}
	out.Audited = len(f.auditOf(r.ID))
	return out
}

func TestCreateUsersHasCreateUsersOutcomeForEachBody(t *testing.T) {
	t.Parallel()
	one := newFixture(t)
	one.user("ada", "admin")
	var want []outcome
	for _, b := range bulkBodies {
		r, err := one.dir.CreateUser(one.ctx, one.op, doc(t, b))
		want = append(want, one.outcome(r, err))
	}
	require.Equal(t, scimerr.Uniqueness, want[1].Err.ScimType)
	require.Equal(t, scimerr.Uniqueness, want[3].Err.ScimType)

	bulk := newFixture(t)
	bulk.user("ada", "admin")
	bodies := make([]map[string]any, len(bulkBodies))
	for i, b := range bulkBodies {
		bodies[i] = doc(t, b)
	}
	res := bulk.dir.CreateUsers(bulk.ctx, bulk.op, bodies, 0)
	require.Len(t, res, len(bulkBodies))
	for i, r := range res {
		require.Equal(t, want[i], bulk.outcome(r.User, r.Err), bulkBodies[i])
	}
	list, err := bulk.dir.ListUsers(bulk.ctx, bulk.op, directory.Query{StartIndex: 1, Count: 100})
	require.NoError(t, err)
	var names []any
	for _, r := range list.Resources {
		names = append(names, r.Doc["userName"])
	}
	require.Equal(t, []any{"ada@example.com", "a@example.com", "b@example.com", "c@example.com"}, names, "created in the order given")
}

func TestCreateUsersKeepsToTheErrorBudget(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		maxErrors int
		created   []int // indexes of bulkBodies created
		failed    int   // bodies that failed; the rest are skipped
	}{
		{0, []int{0, 2, 5}, 5},
		{1, []int{0}, 1},
		{2, []int{0, 2}, 2},
		{4, []int{0, 2, 5}, 4},
	} {
		f := newFixture(t)
		f.user("ada", "admin")
		bodies := make([]map[string]any, len(bulkBodies))
		for i, b := range bulkBodies {
			bodies[i] = doc(t, b)
		}
		res := f.dir.CreateUsers(f.ctx, f.op, bodies, tc.maxErrors)
		var created []int
		failed, skipped := 0, 0
		for i, r := range res {
			switch {
			case r.Err == directory.ErrSkipped:
				skipped++
				require.Nil(t, r.User)
			case r.Err != nil:
				require.Zero(t, skipped, "no failure after a skip, maxErrors %d", tc.maxErrors)
				failed++
			default:
				require.Zero(t, skipped, "no creation after a skip, maxErrors %d", tc.maxErrors)
				created = append(created, i)
				require.Equal(t, r.User.Doc["userName"], f.stored(r.User.ID).Doc["userName"])
			}
		}
		require.Equal(t, tc.created, created, "maxErrors %d", tc.maxErrors)
		require.Equal(t, tc.failed, failed, "maxErrors %d", tc.maxErrors)
		page, err := f.dir.ListUsers(f.ctx, f.op, directory.Query{Count: 0})
		require.NoError(t, err)
		require.Equal(t, 1+len(tc.created), page.Total, "skipped bodies create nothing")
	}

	// Across transactions of many users, a userName given twice fails the second alone.
	f := newFixture(t)
	var bodies []map[string]any
	for i := range 300 {
		bodies = append(bodies, map[string]any{"userName": fmt.Sprintf("u%03d@example.com", i)})
	}
	bodies[280] = map[string]any{"userName": "U007@example.com"}
	res := f.dir.CreateUsers(f.ctx, f.op, bodies, 0)
	for i, r := range res {
		if i == 280 {
			requireErr(t, r.Err, scimerr.KindConflict, `userName "U007@example.com" is already taken`)
			continue
		}
		require.NoError(t, r.Err)
	}
	page, err := f.dir.ListUsers(f.ctx, f.op, directory.Query{StartIndex: 251, Count: 2})
	require.NoError(t, err)
	require.Equal(t, 299, page.Total)
	require.Equal(t, "u250@example.com", page.Resources[0].Doc["userName"])
}
