package directory_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/directory/memstore"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

// The rules' unit tests run the directory over the in-memory store (package memstore): no
// database, so every rule can be tried on every path that triggers it, and the stored state
// read back directly.

var registry = sync.OnceValues(func() (*schema.Registry, error) { return schema.Load(schemas.Files) })

// licensed are the products a fixture's organization licenses.
var licensed = []string{"connect", "meeting", "openvoice", "training", "webinar"}

// fixture is the directory over a memstore holding one organization, Acme: verified domain
// example.com, the licensed products, default locale en-US, notifications on, nesting off.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	store *memstore.Store
	dir   *directory.Service
	org   string
	// op is the operator: an admin with no person of the organization behind it.
	op directory.Actor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	reg, err := registry()
	require.NoError(t, err)
	store := memstore.New()
	dir, err := directory.New(store, reg)
	require.NoError(t, err)
	org := store.AddOrg(directory.Org{Name: "Acme", DefaultLocale: "en-US", VerifiedDomains: []string{"example.com"},
		Products: licensed, Notify: true})
	return &fixture{t: t, ctx: context.Background(), store: store, dir: dir, org: org, op: directory.Operator(org)}
}

// as is the actor of a token or session of user id, with the role given.
func (f *fixture) as(id, role string) directory.Actor {
	return directory.Actor{Org: f.org, UserID: id, Role: role}
}

// setOrg changes the organization's settings as the operator's tools would.
func (f *fixture) setOrg(change func(o *directory.Org)) {
	f.t.Helper()
	require.NoError(f.t, f.store.SetOrg(f.org, change))
}

// doc decodes a JSON object as the server does (numbers as json.Number).
func doc(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m))
	return m
}

// ops parses PATCH operations, given as the JSON of the Operations list's elements.
func ops(t *testing.T, operations string) []patch.Operation {
	t.Helper()
	list, err := patch.Parse([]byte(`{"schemas":["` + schema.PatchOpURN + `"],"Operations":[` + operations + `]}`))
	require.NoError(t, err)
	return list
}

// create creates a user from a JSON body as the operator.
func (f *fixture) create(body string) *directory.Resource {
	f.t.Helper()
	r, err := f.dir.CreateUser(f.ctx, f.op, doc(f.t, body))
	require.NoError(f.t, err)
	return r
}

// user creates name@example.com with an orgRole and direct products, and returns its id.
func (f *fixture) user(name, orgRole string, products ...string) string {
	f.t.Helper()
	list := make([]any, len(products))
	for i, p := range products {
		list[i] = p
	}
	r, err := f.dir.CreateUser(f.ctx, f.op, map[string]any{"userName": name + "@example.com",
		grants.ExtURN: map[string]any{"orgRole": orgRole, "products": list}})
	require.NoError(f.t, err)
	return r.ID
}

// patch applies PATCH operations (JSON, as for ops) to user id as actor a.
func (f *fixture) patch(a directory.Actor, id, operations string) (*directory.Resource, error) {
	f.t.Helper()
	return f.dir.PatchUser(f.ctx, a, id, ops(f.t, operations), directory.Precondition{})
}

// mustPatch is patch as the operator, which must succeed.
func (f *fixture) mustPatch(id, operations string) *directory.Resource {
	f.t.Helper()
	r, err := f.patch(f.op, id, operations)
	require.NoError(f.t, err)
	return r
}

// group creates a group with user members as the operator and returns its id.
func (f *fixture) group(name string, members ...string) string {
	f.t.Helper()
	list := make([]any, len(members))
	for i, m := range members {
		list[i] = map[string]any{"value": m}
	}
	g, err := f.dir.CreateGroup(f.ctx, f.op, map[string]any{"displayName": name, "members": list})
	require.NoError(f.t, err)
	return g.ID
}

// mapGroup maps a group to grants as the operator.
func (f *fixture) mapGroup(group string, in directory.MappingInput) {
	f.t.Helper()
	_, err := f.dir.SetGroupMapping(f.ctx, f.op, group, in)
	require.NoError(f.t, err)
}

// stored is the user's record in the store.
func (f *fixture) stored(id string) *directory.User {
	f.t.Helper()
	u, ok := f.store.StoredUser(f.org, id)
	require.True(f.t, ok, "user %s is not stored", id)
	return u
}

// gone requires that the store has no user id.
func (f *fixture) gone(id string) {
	f.t.Helper()
	_, ok := f.store.StoredUser(f.org, id)
	require.False(f.t, ok, "user %s is still stored", id)
}

// members are the ids of a group's members.
func (f *fixture) members(group string) []string {
	f.t.Helper()
	var out []string
	require.NoError(f.t, f.dir.EachMember(f.ctx, f.op, []string{group}, func(_ string, m directory.Member) error {
		out = append(out, m.Value)
		return nil
	}))
	return out
}

// refused runs fn, which must fail with kind and scimType and a detail holding every
// fragment, and requires that nothing stored changed.
func (f *fixture) refused(kind scimerr.Kind, scimType string, fn func() error, fragments ...string) {
	f.t.Helper()
	before := f.store.Snapshot()
	err := fn()
	requireErr(f.t, err, kind, fragments...)
	require.Equal(f.t, scimType, scimerr.As(err).ScimType, "scimType of %q", scimerr.As(err).Detail)
	require.Equal(f.t, before, f.store.Snapshot(), "a refused request must change nothing")
}

// direct and effective are a stored user's grants.
func (f *fixture) direct(id string) grants.Grants    { return f.stored(id).Direct }
func (f *fixture) effective(id string) grants.Grants { return f.stored(id).Effective }

// ext is the scimd extension of a presented document.
func ext(r *directory.Resource) map[string]any {
	e, _ := r.Doc[grants.ExtURN].(map[string]any)
	return e
}

// notices are the organization's queued notifications of a kind.
func (f *fixture) notices(kind string) []directory.Notice {
	var out []directory.Notice
	for _, n := range f.store.Notifications(f.org) {
		if n.Kind == kind {
			out = append(out, n)
		}
	}
	return out
}

// auditOf are the organization's audit entries about a resource.
func (f *fixture) auditOf(id string) []directory.AuditEntry {
	var out []directory.AuditEntry
	for _, e := range f.store.Audit(f.org) {
		if e.ResourceID == id {
			out = append(out, e)
		}
	}
	return out
}

func g(orgRole, accountRole string, products ...string) grants.Grants {
	if len(products) == 0 {
		products = nil
	}
	return grants.Grants{OrgRole: orgRole, AccountRole: accountRole, Products: products}
}

var none = grants.Default()

// everything is the projection of a read that asks for every attribute.
var everything = schema.Projection{}
