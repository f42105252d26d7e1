package directory_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// Suspension: active=false clears the user's grants and revokes their tokens;
// grant changes sent while the user is suspended are kept as pending grants, shown apart, and
// applied on reactivation.

// suspensionFixture has an admin, and ada: admin-readonly and account admin with meeting and
// webinar directly, training through the mapped group Trainers, and a token of her own.
func suspensionFixture(t *testing.T) (f *fixture, ada, trainers, token string) {
	f = newFixture(t)
	f.user("boss", "admin")
	r := f.create(`{"userName":"ada@example.com","name":{"givenName":"Ada"},
		"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin-readonly","accountRole":"admin","products":["meeting","webinar"]}}`)
	trainers = f.group("Trainers", r.ID)
	f.mapGroup(trainers, directory.MappingInput{Products: []string{"training"}})
	tok, err := f.dir.CreateToken(f.ctx, f.op, directory.TokenInput{IssuerUserID: r.ID}, time.Now())
	require.NoError(t, err)
	require.Equal(t, g("admin-readonly", "admin", "meeting", "training", "webinar"), f.effective(r.ID))
	return f, r.ID, trainers, tok.Value
}

// requireSuspended checks the stored state and the view of a suspended user whose pending
// grants are pending.
func (f *fixture) requireSuspended(id string, r *directory.Resource, pending grants.Grants) {
	f.t.Helper()
	require.False(f.t, f.stored(id).Active())
	require.Equal(f.t, pending, f.direct(id), "the direct grants are the pending grants")
	require.Equal(f.t, none, f.effective(id), "a suspended user holds nothing")
	e := ext(r)
	require.Equal(f.t, directory.StatusSuspended, e["status"])
	require.Equal(f.t, "user", e["orgRole"])
	require.Equal(f.t, "member", e["accountRole"])
	require.NotContains(f.t, e, "products")
	require.NotContains(f.t, r.Doc, "entitlements")
	require.Equal(f.t, pending.OrgRole, e["pendingOrgRole"])
	require.Equal(f.t, pending.AccountRole, e["pendingAccountRole"])
	if len(pending.Products) == 0 {
		require.NotContains(f.t, e, "pendingProducts")
	} else {
		require.Equal(f.t, anyList(pending.Products...), e["pendingProducts"])
	}
	si, err := f.dir.SignIn(f.ctx, f.op, id)
	require.NoError(f.t, err)
	require.Equal(f.t, &directory.SignIn{UserID: id, Status: directory.StatusSuspended, OrgRole: "user", AccountRole: "member",
		Products: []string{}}, si)
}

func anyList(ss ...string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func TestSuspensionClearsGrantsAndKeepsGrantChangesPending(t *testing.T) {
	t.Parallel()
	f, ada, trainers, token := suspensionFixture(t)

	// Okta deactivates with a path-less replace.
	r := f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`)
	f.requireSuspended(ada, r, none)
	st, err := f.store.Token(f.ctx, f.org, tokenID(t, f, ada))
	require.NoError(t, err)
	require.NotNil(t, st.RevokedAt, "the user's tokens are revoked")
	_, err = f.dir.Authenticate(f.ctx, token, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
	require.Equal(t, []string{ada}, f.members(trainers), "memberships stay")
	audit := f.auditOf(ada)
	require.Equal(t, directory.ActionSuspend, audit[len(audit)-1].Action)
	require.Len(t, f.notices(directory.KindSuspended), 1)
	queued := len(f.store.Notifications(f.org))

	// Entra keeps syncing assignments: each change is kept as pending.
	r = f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
	f.requireSuspended(ada, r, g("admin", "member"))
	audit = f.auditOf(ada)
	require.Equal(t, directory.ActionUpdate, audit[len(audit)-1].Action)
	require.Equal(t, map[string]any{"urn:scimd:schemas:extension:2.0:User:pending": map[string]any{
		"before": map[string]any{"orgRole": "user", "accountRole": "member", "products": []any{}},
		"after":  map[string]any{"orgRole": "admin", "accountRole": "member", "products": []any{}}}}, audit[len(audit)-1].Changes)
	r = f.mustPatch(ada, `{"op":"Add","path":"entitlements","value":[{"value":"meeting"}]}`)
	f.requireSuspended(ada, r, g("admin", "member", "meeting"))
	r = f.mustPatch(ada, `{"op":"add","path":"urn:scimd:schemas:extension:2.0:User:products","value":["webinar"]}`)
	f.requireSuspended(ada, r, g("admin", "member", "meeting", "webinar"))
	r = f.mustPatch(ada, `{"op":"Remove","path":"entitlements[value eq \"meeting\"]"}`)
	f.requireSuspended(ada, r, g("admin", "member", "webinar"))
	r = f.mustPatch(ada, `{"op":"Add","path":"roles","value":[{"value":"accountRole:admin"}]}`)
	f.requireSuspended(ada, r, g("admin", "admin", "webinar"))
	r = f.mustPatch(ada, `{"op":"Remove","path":"roles","value":[{"value":"accountRole:admin"}]}`)
	f.requireSuspended(ada, r, g("admin", "member", "webinar"))
	require.Len(t, f.store.Notifications(f.org), queued, "pending grants are not announced")

	// A PUT while suspended adds what it changed relative to the suspended view; a PUT of what
	// a GET showed changes nothing.
	shown, err := f.dir.GetUser(f.ctx, f.op, ada, everything)
	require.NoError(t, err)
	r, err = f.dir.ReplaceUser(f.ctx, f.op, ada, shown.Doc, directory.Precondition{})
	require.NoError(t, err)
	f.requireSuspended(ada, r, g("admin", "member", "webinar"))
	r, err = f.dir.ReplaceUser(f.ctx, f.op, ada, doc(t, `{"userName":"ada@example.com","active":false,
		"urn:scimd:schemas:extension:2.0:User":{"accountRole":"admin","products":["meeting"]}}`), directory.Precondition{})
	require.NoError(t, err)
	f.requireSuspended(ada, r, g("admin", "admin", "meeting", "webinar"))

	// The operator's reactivate and suspend commands are changes of active like any other.
	r, err = f.dir.SetActive(f.ctx, f.op, ada, true)
	require.NoError(t, err)
	require.Equal(t, g("admin", "admin", "meeting", "training", "webinar"), f.effective(ada))
	require.Equal(t, directory.StatusActive, ext(r)["status"])
	r, err = f.dir.SetActive(f.ctx, f.op, ada, false)
	require.NoError(t, err)
	f.requireSuspended(ada, r, none)
	r = f.mustPatch(ada, `{"op":"replace","value":{"urn:scimd:schemas:extension:2.0:User:orgRole":"admin","urn:scimd:schemas:extension:2.0:User:accountRole":"admin",
		"urn:scimd:schemas:extension:2.0:User:products":["meeting","webinar"]}}`)
	f.requireSuspended(ada, r, g("admin", "admin", "meeting", "webinar"))

	// Okta reactivates: the pending grants apply, and the groups' again.
	r = f.mustPatch(ada, `{"op":"replace","value":{"active":true}}`)
	require.Equal(t, g("admin", "admin", "meeting", "webinar"), f.direct(ada))
	require.Equal(t, g("admin", "admin", "meeting", "training", "webinar"), f.effective(ada))
	require.Equal(t, directory.StatusActive, ext(r)["status"])
	require.NotContains(t, ext(r), "pendingOrgRole")
	require.Equal(t, anyList("meeting", "training", "webinar"), ext(r)["products"])
	audit = f.auditOf(ada)
	require.Equal(t, directory.ActionReactivate, audit[len(audit)-1].Action)
	require.Len(t, f.notices(directory.KindReactivated), 2)
	_, err = f.dir.Authenticate(f.ctx, token, time.Now())
	requireErr(t, err, scimerr.KindUnauthorized)
}

func TestSuspendingRequestsEndWithNoProducts(t *testing.T) {
	t.Parallel()
	for name, suspend := range map[string]func(f *fixture, id string) (*directory.Resource, error){
		"Entra's string boolean": func(f *fixture, id string) (*directory.Resource, error) {
			return f.patch(f.op, id, `{"op":"Replace","path":"active","value":"False"}`)
		},
		"PATCH that also grants": func(f *fixture, id string) (*directory.Resource, error) {
			return f.patch(f.op, id, `{"op":"replace","path":"active","value":false},
				{"op":"add","path":"entitlements","value":[{"value":"openvoice"}]},
				{"op":"Add","path":"roles","value":[{"value":"orgRole:admin"}]}`)
		},
		"PATCH that grants first": func(f *fixture, id string) (*directory.Resource, error) {
			return f.patch(f.op, id, `{"op":"add","path":"entitlements","value":[{"value":"openvoice"}]},
				{"op":"replace","value":{"active":false}}`)
		},
		"PUT with active false and products": func(f *fixture, id string) (*directory.Resource, error) {
			return f.dir.ReplaceUser(f.ctx, f.op, id, doc(f.t, `{"userName":"ada@example.com","active":false,
				"urn:scimd:schemas:extension:2.0:User":{"orgRole":"admin","products":["meeting","openvoice"]}}`), directory.Precondition{})
		},
		"the operator's suspend command": func(f *fixture, id string) (*directory.Resource, error) {
			return f.dir.SetActive(f.ctx, f.op, id, false)
		},
		"Bulk's transaction": func(f *fixture, id string) (*directory.Resource, error) {
			var r *directory.Resource
			err := f.dir.Atomically(f.ctx, f.op, func(o *directory.Ops) error {
				var err error
				r, err = o.PatchUser(id, ops(f.t, `{"op":"replace","value":{"active":"false","urn:scimd:schemas:extension:2.0:User:products":["meeting"]}}`))
				return err
			})
			return r, err
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ada, _, token := suspensionFixture(t)
			r, err := suspend(f, ada)
			require.NoError(t, err)
			f.requireSuspended(ada, r, none)
			_, err = f.dir.Authenticate(f.ctx, token, time.Now())
			requireErr(t, err, scimerr.KindUnauthorized)
		})
	}
}

func TestReactivatingAndGrantingDoesBoth(t *testing.T) {
	t.Parallel()
	for name, reactivate := range map[string]func(f *fixture, id string) (*directory.Resource, error){
		"PATCH": func(f *fixture, id string) (*directory.Resource, error) {
			return f.patch(f.op, id, `{"op":"replace","value":{"active":true}},
				{"op":"add","path":"entitlements","value":[{"value":"openvoice"}]}`)
		},
		"PATCH granting first": func(f *fixture, id string) (*directory.Resource, error) {
			return f.patch(f.op, id, `{"op":"add","path":"entitlements","value":[{"value":"openvoice"}]},
				{"op":"replace","path":"active","value":"True"}`)
		},
		"PUT": func(f *fixture, id string) (*directory.Resource, error) {
			return f.dir.ReplaceUser(f.ctx, f.op, id, doc(f.t, `{"userName":"ada@example.com","active":true,
				"urn:scimd:schemas:extension:2.0:User":{"products":["openvoice"]}}`), directory.Precondition{})
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f, ada, _, _ := suspensionFixture(t)
			f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`)
			f.mustPatch(ada, `{"op":"Add","path":"entitlements","value":[{"value":"meeting"}]}`)
			r, err := reactivate(f, ada)
			require.NoError(t, err)
			require.True(t, f.stored(ada).Active())
			require.Equal(t, g("user", "member", "meeting", "openvoice"), f.direct(ada))
			require.Equal(t, g("user", "member", "meeting", "openvoice", "training"), f.effective(ada))
			require.Equal(t, anyList("meeting", "openvoice", "training"), ext(r)["products"])
			audit := f.auditOf(ada)
			require.Equal(t, directory.ActionReactivate, audit[len(audit)-1].Action)
		})
	}
}

// tokenID is the id of the one token user issued.
func tokenID(t *testing.T, f *fixture, user string) string {
	t.Helper()
	list, err := f.dir.ListTokens(f.ctx, f.op)
	require.NoError(t, err)
	for _, tk := range list {
		if tk.IssuerUserID == user {
			return tk.ID
		}
	}
	t.Fatalf("user %s issued no token", user)
	return ""
}

func TestReactivatingByAPUTOfWhatAGETShowedAppliesThePendingGrants(t *testing.T) {
	t.Parallel()
	f, ada, _, _ := suspensionFixture(t)
	f.mustPatch(ada, `{"op":"replace","value":{"active":false}}`)
	f.mustPatch(ada, `{"op":"Add","path":"entitlements","value":[{"value":"meeting"}]}`)
	// Okta's AIW apps read the user and send it back whole with active changed.
	shown, err := f.dir.GetUser(f.ctx, f.op, ada, everything)
	require.NoError(t, err)
	body := shown.Doc
	body["active"] = true
	r, err := f.dir.ReplaceUser(f.ctx, f.op, ada, body, directory.Precondition{})
	require.NoError(t, err)
	require.Equal(t, g("user", "member", "meeting"), f.direct(ada))
	require.Equal(t, g("user", "member", "meeting", "training"), f.effective(ada))
	require.Equal(t, directory.StatusActive, ext(r)["status"])
}
