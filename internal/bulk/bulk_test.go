package bulk_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/bulk"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

// fake is an Executor and Linker that records what it is asked to do, in order, keeping
// resources by id; a body with "fail" set fails its operation with that detail. Atomically runs
// its function on a copy and keeps it only when it succeeds.
type fake struct {
	log       []string
	resources map[string]map[string]any
	next      int
}

func (f *fake) create(kind string, body map[string]any) (*directory.Resource, error) {
	if msg, ok := body["fail"].(string); ok {
		return nil, scimerr.Invalid(scimerr.InvalidValue, "%s", msg)
	}
	f.next++
	id := fmt.Sprintf("%s-%d", kind, f.next)
	f.resources[id] = body
	f.log = append(f.log, "create "+id)
	return &directory.Resource{ID: id, Version: 1}, nil
}

func (f *fake) patch(id string, ops []patch.Operation) (*directory.Resource, error) {
	if _, ok := f.resources[id]; !ok {
		return nil, scimerr.NotFound("no %s", id)
	}
	for _, op := range ops {
		if v, ok := op.Value.(string); ok && strings.HasPrefix(v, "bad") {
			return nil, scimerr.Invalid(scimerr.InvalidValue, "refused %s", v)
		}
		f.log = append(f.log, fmt.Sprintf("patch %s %s %s %v", id, op.Op, op.Path, op.Value))
	}
	return &directory.Resource{ID: id, Version: 2}, nil
}

type exec struct {
	f    *fake
	kind string
}

func (x exec) Create(_ context.Context, body map[string]any) (*directory.Resource, error) {
	return x.f.create(x.kind, body)
}

func (x exec) Replace(_ context.Context, id string, body map[string]any, _ directory.Precondition) (*directory.Resource, error) {
	x.f.log = append(x.f.log, "replace "+id)
	return &directory.Resource{ID: id, Version: 2}, nil
}

func (x exec) Patch(_ context.Context, id string, ops []patch.Operation, _ directory.Precondition) (*directory.Resource, error) {
	return x.f.patch(id, ops)
}

func (x exec) Delete(_ context.Context, id string, _ directory.Precondition) error {
	x.f.log = append(x.f.log, "delete "+id)
	return nil
}

type link struct {
	f     *fake
	users *bulk.Type
}

func (l link) Create(t *bulk.Type, body map[string]any) (*directory.Resource, error) {
	kind := "group"
	if t == l.users {
		kind = "user"
	}
	return l.f.create(kind, body)
}

func (l link) Patch(_ *bulk.Type, id string, ops []patch.Operation) (*directory.Resource, error) {
	return l.f.patch(id, ops)
}

func newRunner(t *testing.T, f *fake) *bulk.Runner {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	users := &bulk.Type{Resource: reg.User, Exec: exec{f, "user"}, PatchStatus: http.StatusOK}
	groups := &bulk.Type{Resource: reg.Group, Exec: exec{f, "group"}, PatchStatus: http.StatusNoContent}
	return &bulk.Runner{
		Types: []*bulk.Type{users, groups}, MaxData: 1 << 20, TooLarge: scimerr.New(scimerr.KindTooLarge, "", "too large"),
		Atomically: func(_ context.Context, fn func(bulk.Linker) error) error {
			saved, log, next := map[string]map[string]any{}, append([]string{}, f.log...), f.next
			for k, v := range f.resources {
				saved[k] = v
			}
			if err := fn(link{f, users}); err != nil {
				f.resources, f.log, f.next = saved, log, next
				return err
			}
			return nil
		},
	}
}

func parse(t *testing.T, body string) *bulk.Request {
	t.Helper()
	req, err := bulk.Parse([]byte(body))
	require.NoError(t, err)
	return req
}

func statuses(results []*bulk.Result) []string {
	var out []string
	for _, r := range results {
		if r.Err != nil {
			out = append(out, "error: "+scimerr.As(r.Err).Detail)
		} else {
			out = append(out, fmt.Sprintf("%d %s", r.Status, r.ID))
		}
	}
	return out
}

const head = `{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],`

func TestForwardReferencesRunAfterWhatTheyReference(t *testing.T) {
	t.Parallel()
	f := &fake{resources: map[string]map[string]any{}}
	res := newRunner(t, f).Run(context.Background(), parse(t, head+`"Operations":[
		{"method":"PATCH","path":"/Groups/bulkId:g","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"add","path":"members","value":[{"value":"bulkId:u"}]}]}},
		{"method":"POST","path":"/Groups","bulkId":"g","data":{"displayName":"G"}},
		{"method":"POST","path":"/Users","bulkId":"u","data":{"userName":"u"}}]}`))
	require.Equal(t, []string{"204 group-1", "201 group-1", "201 user-2"}, statuses(res), "results in request order")
	require.Equal(t, []string{"create group-1", "create user-2", "patch group-1 add members [map[value:user-2]]"}, f.log)
}

func TestCircleRunsInOneTransaction(t *testing.T) {
	t.Parallel()
	f := &fake{resources: map[string]map[string]any{}}
	r := newRunner(t, f)
	circle := func(bad string) string {
		return head + `"Operations":[
		{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"a","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"bulkId:b"}}}},
		{"method":"POST","path":"/Users","bulkId":"b","data":{"userName":"b","title":"` + bad + `","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"bulkId:a"}}}}]}`
	}
	res := r.Run(context.Background(), parse(t, circle("ok")))
	require.Equal(t, []string{"201 user-1", "201 user-2"}, statuses(res))
	require.Len(t, f.log, 3, "a created without its reference, b with it, then a's patched in: %v", f.log)
	require.Contains(t, f.log[2], "patch user-1 replace urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")

	// The patch-in fails: nothing of the circle is kept, the failed one answers its error and
	// the other a 409 naming it.
	f2 := &fake{resources: map[string]map[string]any{}}
	res = newRunner(t, f2).Run(context.Background(), parse(t, head+`"Operations":[
		{"method":"POST","path":"/Groups","bulkId":"a","data":{"displayName":"A","members":[{"value":"bulkId:b"}]}},
		{"method":"POST","path":"/Groups","bulkId":"b","data":{"displayName":"B","members":[{"value":"bulkId:a"}],"fail":"B refused"}}]}`))
	require.Equal(t, []string{`error: bulkId "b" cannot be resolved: Operations[1] (POST /Groups), which defines it, failed; none of the operations in its circle of references was kept`,
		"error: B refused"}, statuses(res))
	require.Empty(t, f2.resources)
	require.Empty(t, f2.log)
}

func TestFailOnErrorsStops(t *testing.T) {
	t.Parallel()
	f := &fake{resources: map[string]map[string]any{}}
	res := newRunner(t, f).Run(context.Background(), parse(t, head+`"failOnErrors":1,"Operations":[
		{"method":"POST","path":"/Users","data":{"userName":"x","fail":"no"}},
		{"method":"POST","path":"/Users","data":{"userName":"y"}}]}`))
	require.Equal(t, []string{"error: no"}, statuses(res), "the operations not processed are left out")
	require.Empty(t, f.log)
}

func TestReferenceErrors(t *testing.T) {
	t.Parallel()
	f := &fake{resources: map[string]map[string]any{}}
	res := newRunner(t, f).Run(context.Background(), parse(t, head+`"Operations":[
		{"method":"POST","path":"/Users","bulkId":"x","data":{"userName":"x","title":"bulkId:nowhere"}},
		{"method":"POST","path":"/Users","bulkId":"self","data":{"userName":"bulkId:self"}},
		{"method":"POST","path":"/Users","bulkId":"x","data":{"userName":"dup"}},
		{"method":"GET","path":"/Users"},
		{"method":"POST","path":"/Nope","data":{}},
		{"method":"DELETE","path":"/Users"}]}`))
	require.Equal(t, []string{
		`error: bulkId "nowhere" is not defined: no POST operation of this request has it`,
		`error: the operation references its own bulkId "self": a resource cannot refer to itself before it exists`,
		`error: bulkId "x" is already used by Operations[0]; bulkIds must be unique within a request`,
		"error: GET is not supported in a bulk operation; use POST, PUT, PATCH or DELETE",
		"error: no endpoint at /Nope",
		"error: DELETE is not supported on /Users",
	}, statuses(res))
	require.Empty(t, f.log)
}

func TestParseLimits(t *testing.T) {
	t.Parallel()
	ops := strings.Repeat(`{"method":"DELETE","path":"/Users/x"},`, bulk.MaxOperations+1)
	_, err := bulk.Parse([]byte(head + `"Operations":[` + strings.TrimSuffix(ops, ",") + `]}`))
	require.Equal(t, scimerr.TooLarge, scimerr.As(err).ScimType)
	for body, want := range map[string]string{
		`[]`:                      "BulkRequest JSON object",
		`{"Operations":[{}]}`:     `"schemas" must be a list`,
		head + `"Operations":[]}`: `"Operations" must be a non-empty list`,
		head + `"failOnErrors":0,"Operations":[{}]}`: "failOnErrors must be a positive integer",
	} {
		_, err := bulk.Parse([]byte(body))
		require.ErrorContains(t, err, want, body)
	}
}

// A request stopped by the process's shutdown finishes the operation in hand, and answers 503
// for each it had not started; what ran stays done.
func TestStopAnswersUnstartedOperations(t *testing.T) {
	t.Parallel()
	f := &fake{resources: map[string]map[string]any{}}
	r := newRunner(t, f)
	stop := make(chan struct{})
	r.Stop = stop
	r.Types[0].Exec = &stopAfter{exec: exec{f, "user"}, n: 2, stop: stop}
	res := r.Run(context.Background(), parse(t, head+`"Operations":[
		{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"a"}},
		{"method":"PATCH","path":"/Users/bulkId:a","data":{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
			"Operations":[{"op":"replace","path":"title","value":"x"}]}},
		{"method":"POST","path":"/Users","data":{"userName":"c"}},
		{"method":"DELETE","path":"/Users/bulkId:a"},
		{"method":"DELETE","path":"/Users/u-9"}]}`))
	require.Len(t, res, 5, "every operation is answered")
	require.Equal(t, []string{"201 user-1", "200 user-1"}, statuses(res[:2]))
	for i, r := range res[2:] {
		require.ErrorIs(t, r.Err, bulk.ErrNotStarted, "Operations[%d]", i+2)
		require.Equal(t, scimerr.KindUnavailable, scimerr.As(r.Err).Kind)
	}
	require.Empty(t, res[3].ID, "a bulkId that was never resolved is not named")
	require.Equal(t, "u-9", res[4].ID)
	require.Equal(t, []string{"create user-1", "patch user-1 replace title x"}, f.log)
}

// stopAfter is an executor that closes stop when its n-th operation is done.
type stopAfter struct {
	exec
	n, done int
	stop    chan struct{}
}

func (x *stopAfter) count() {
	if x.done++; x.done == x.n {
		close(x.stop)
	}
}

func (x *stopAfter) Create(ctx context.Context, body map[string]any) (*directory.Resource, error) {
	defer x.count()
	return x.exec.Create(ctx, body)
}

func (x *stopAfter) Patch(ctx context.Context, id string, ops []patch.Operation, pre directory.Precondition) (*directory.Resource, error) {
	defer x.count()
	return x.exec.Patch(ctx, id, ops, pre)
}
