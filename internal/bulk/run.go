package bulk

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Executor carries out operations on one resource type for the actor of a bulk request, each
// with the rules, status and error of its single request.
type Executor interface {
	Create(ctx context.Context, body map[string]any) (*directory.Resource, error)
	Replace(ctx context.Context, id string, body map[string]any, pre directory.Precondition) (*directory.Resource, error)
	Patch(ctx context.Context, id string, ops []patch.Operation, pre directory.Precondition) (*directory.Resource, error)
	Delete(ctx context.Context, id string, pre directory.Precondition) error
}

// Linker creates and patches resources inside the one transaction of a circle of references.
type Linker interface {
	Create(t *Type, body map[string]any) (*directory.Resource, error)
	Patch(t *Type, id string, ops []patch.Operation) (*directory.Resource, error)
}

// Type is a resource type bulk operations may address.
type Type struct {
	Resource *schema.ResourceType
	Exec     Executor
	// CreateMany, when set, creates a run of resources with the outcome Create would have for
	// each in turn, in a few round trips; after the maxErrors-th failure (when positive) the
	// rest get directory.ErrSkipped.
	CreateMany func(ctx context.Context, bodies []map[string]any, maxErrors int) []directory.CreateResult
	// PatchStatus is the status of a successful PATCH, as its single request answers it.
	PatchStatus int
}

// Runner carries out bulk requests for one actor.
type Runner struct {
	Types []*Type
	// CanWrite is the actor's right to write: operations of an actor without it fail with
	// its error, as their single requests would.
	CanWrite error
	// Atomically runs fn in one transaction, for a circle of references.
	Atomically func(ctx context.Context, fn func(Linker) error) error
	// MaxData is the single-request body limit, which each operation's data is held to.
	MaxData int64
	// TooLarge is the single request's error for data over MaxData.
	TooLarge error
	// Stop, when closed, stops the request: the operations not started by then fail with
	// ErrNotStarted, so that the response is written before the process exits (the server
	// closes it shortly before the end of its shutdown grace). Nil never closes.
	Stop <-chan struct{}
}

// ErrNotStarted is the result of the operations a request left when it was stopped. They are
// independent of those that ran (RFC 7644 §3.7), which stay done; the client sends them again.
var ErrNotStarted = scimerr.New(scimerr.KindUnavailable, "",
	"this operation was not started because scimd is shutting down; send it again")

// maxBatch bounds a run of creations handed to CreateMany at once, so that a stop is noticed
// between runs of a long request.
const maxBatch = 250

// Result is one element of a BulkResponse's Operations: the created or changed resource, or
// the error (rendered by the caller as its single request's error response).
type Result struct {
	Op       *Op
	Status   int // of a success
	Resource *directory.Resource
	// Location names the resource addressed, when known (also for a failed PUT, PATCH or
	// DELETE of an id).
	Type *Type
	ID   string
	Err  error
}

// run is one bulk request in progress.
type run struct {
	r       *Runner
	ctx     context.Context
	ops     []*Op
	owners  map[string]int // bulkId → the POST that defines it
	done    []*Result      // by operation; nil while not processed
	ids     []string       // by operation: the id of the resource a POST created
	failOn  int
	failed  int
	stopped bool
}

// Run carries out a bulk request and returns its results in request order; operations not
// processed (after failOnErrors stopped the request, or the client went away) are left out.
//
// Order: operations run in request order, except that an operation referencing another's
// bulkId (in its path or anywhere in its data) runs after it, so forward references work.
// Operations that reference each other in a circle (RFC 7644 §3.7.1) are all POSTs: they run
// in one transaction, each created without its references to those not created yet, which
// are then patched in (add for an element of a multi-valued attribute such as members,
// replace for a complex attribute such as manager). A circle through an attribute that cannot
// be patched in later is refused (409), as is a reference to an undefined bulkId or an
// operation's own (400). If an operation of a circle fails, none of the circle is kept.
//
// Runs of creations that reference no bulkId go through the type's CreateMany.
func (r *Runner) Run(ctx context.Context, req *Request) []*Result {
	b := &run{r: r, ctx: ctx, ops: req.Ops, failOn: req.FailOnErrors, owners: map[string]int{},
		done: make([]*Result, len(req.Ops)), ids: make([]string, len(req.Ops))}
	b.plan()
	b.execute()
	out := make([]*Result, 0, len(req.Ops))
	for _, res := range b.done {
		if res != nil {
			out = append(out, res)
		}
	}
	return out
}

// execute carries out the operations in order, batching runs of independent creations.
func (b *run) execute() {
	var batch []*Op
	flush := func() {
		switch len(batch) {
		case 0:
		case 1:
			b.finish(batch[0], b.runOne(batch[0], batch[0].Data))
		default:
			b.createMany(batch)
		}
		batch = batch[:0]
	}
	for _, scc := range b.order() {
		if b.halted() {
			b.refuseUnstarted()
			return
		}
		if len(scc) > 1 {
			flush()
			b.runCircle(scc)
			continue
		}
		op := scc[0]
		if len(batch) > 0 && batch[0].typ != op.typ {
			flush()
		}
		if b.batchable(op) {
			batch = append(batch, op)
			if len(batch) == maxBatch {
				flush()
			}
			continue
		}
		flush()
		if !b.halted() {
			b.finish(op, b.runOne(op, op.Data))
		}
	}
	if !b.halted() {
		flush()
	}
	b.refuseUnstarted()
}

// halted tells that no more operations are processed: failOnErrors was reached, the client
// went away (its operations' errors would reach no one), or the request was stopped.
func (b *run) halted() bool {
	return b.stopped || b.ctx.Err() != nil || b.stopping()
}

// stopping tells that Runner.Stop is closed.
func (b *run) stopping() bool {
	select {
	case <-b.r.Stop:
		return true
	default:
		return false
	}
}

// refuseUnstarted answers ErrNotStarted for each operation not processed when the request
// was stopped. Those left by failOnErrors or by a client that went away stay out of the
// response, as RFC 7644 §3.7.3 has it.
func (b *run) refuseUnstarted() {
	if !b.stopping() || b.stopped || b.ctx.Err() != nil {
		return
	}
	for _, op := range b.ops {
		if b.done[op.Index] == nil {
			id := op.id
			if _, ok := wholeRef(id); ok {
				id = "" // a bulkId that may never have been resolved
			}
			b.done[op.Index] = b.fail(op, ErrNotStarted, id)
		}
	}
}

// batchable tells the creations that CreateMany can take: valid, referencing no bulkId.
func (b *run) batchable(op *Op) bool {
	_, isObject := op.Data.(map[string]any)
	return b.r.CanWrite == nil && op.Method == http.MethodPost && op.routeErr == nil && op.refErr == nil &&
		op.typ.CreateMany != nil && len(op.deps) == 0 && isObject && int64(op.DataLen) <= b.r.MaxData
}

// finish records an operation's result and counts failures against failOnErrors.
func (b *run) finish(op *Op, res *Result) {
	if b.ctx.Err() != nil && res.Err != nil {
		return // cancelled with the request: not an outcome of the operation
	}
	b.done[op.Index] = res
	if res.Err != nil {
		b.failed++
		if b.failOn > 0 && b.failed >= b.failOn {
			b.stopped = true
		}
	}
}

func (b *run) fail(op *Op, err error, id string) *Result {
	return &Result{Op: op, Type: op.typ, ID: id, Err: err}
}

func (b *run) ok(op *Op, status int, res *directory.Resource) *Result {
	out := &Result{Op: op, Type: op.typ, Status: status, Resource: res}
	if res != nil {
		out.ID = res.ID
	}
	return out
}

// resolve is the id of the resource created by the operation that defines bulkId ref.
func (b *run) resolve(ref string) (string, error) {
	owner := b.owners[ref]
	if id := b.ids[owner]; id != "" {
		return id, nil
	}
	o := b.ops[owner]
	if b.done[owner] != nil {
		return "", scimerr.New(scimerr.KindConflict, "",
			"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, failed", ref, owner, o.Path)
	}
	return "", scimerr.New(scimerr.KindConflict, "",
		"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, has not created its resource", ref, owner, o.Path)
}

// resolved is a copy of v with every bulkId reference replaced by its resource's id.
func (b *run) resolved(v any) (any, error) {
	switch x := v.(type) {
	case string:
		return rewriteRefs(x, b.resolve)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := b.resolved(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			r, err := b.resolved(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// precheck is what the single request's routing and middleware check before it runs, in the
// same order.
func (b *run) precheck(op *Op) error {
	switch {
	case op.routeErr != nil:
		return op.routeErr
	case b.r.CanWrite != nil:
		return b.r.CanWrite
	case op.Method != http.MethodDelete && int64(op.DataLen) > b.r.MaxData:
		return b.r.TooLarge
	}
	return op.refErr
}

// runOne carries out one operation with data (its own, or in a circle its data without the
// references not resolvable yet) through the executor of its type.
func (b *run) runOne(op *Op, data any) *Result {
	if err := b.precheck(op); err != nil {
		return b.fail(op, err, "")
	}
	id := op.id
	if op.Method != http.MethodPost {
		if ref, ok := wholeRef(id); ok {
			var err error
			if id, err = b.resolve(ref); err != nil {
				return b.fail(op, err, "")
			}
		}
	}
	data, err := b.resolved(data)
	if err != nil {
		return b.fail(op, err, id)
	}
	ctx, x, pre := b.ctx, op.typ.Exec, directory.Precondition{IfMatch: op.Version}
	switch op.Method {
	case http.MethodPost:
		body, err := objectData(op, data)
		if err != nil {
			return b.fail(op, err, "")
		}
		res, err := x.Create(ctx, body)
		if err != nil {
			return b.fail(op, err, "")
		}
		b.ids[op.Index] = res.ID
		return b.ok(op, http.StatusCreated, res)
	case http.MethodPut:
		body, err := objectData(op, data)
		if err != nil {
			return b.fail(op, err, id)
		}
		res, err := x.Replace(ctx, id, body, pre)
		if err != nil {
			return b.fail(op, err, id)
		}
		return b.ok(op, http.StatusOK, res)
	case http.MethodPatch:
		ops, err := patchOps(op, data)
		if err != nil {
			return b.fail(op, err, id)
		}
		res, err := x.Patch(ctx, id, ops, pre)
		if err != nil {
			return b.fail(op, err, id)
		}
		return b.ok(op, op.typ.PatchStatus, res)
	}
	if err := x.Delete(ctx, id, pre); err != nil {
		return b.fail(op, err, id)
	}
	out := b.ok(op, http.StatusNoContent, nil)
	out.ID = id
	return out
}

// objectData is the body of a POST or PUT, refused as the single request's decoding would.
func objectData(op *Op, data any) (map[string]any, error) {
	if !op.HasData {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is empty")
	}
	m, ok := data.(map[string]any)
	if !ok {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body must be a JSON object")
	}
	return m, nil
}

// patchOps reads the operations of a PATCH, as the single request's body would be read.
func patchOps(op *Op, data any) ([]patch.Operation, error) {
	if !op.HasData {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is empty")
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	return patch.Parse(raw)
}

// createMany creates a run of resources that reference no bulkId through the type's batch.
func (b *run) createMany(ops []*Op) {
	bodies := make([]map[string]any, len(ops))
	for i, op := range ops {
		bodies[i] = op.Data.(map[string]any)
	}
	budget := 0
	if b.failOn > 0 {
		budget = b.failOn - b.failed
	}
	for i, res := range ops[0].typ.CreateMany(b.ctx, bodies, budget) {
		op := ops[i]
		switch {
		case res.Err == directory.ErrSkipped:
			b.stopped = true
		case res.Err != nil:
			b.finish(op, b.fail(op, res.Err, ""))
		default:
			b.ids[op.Index] = res.User.ID
			b.finish(op, b.ok(op, http.StatusCreated, res.User))
		}
	}
}

// runCircle carries out operations that reference each other in a circle, in one transaction:
// each is created without its references to those created after it, which are then patched
// in. If one fails, the others' references to it cannot be set, so none is kept: the failed
// one answers its error and the others 409, and nothing of the circle remains (no purge, no
// event: the resources never existed for anyone).
func (b *run) runCircle(members []*Op) {
	if b.r.CanWrite != nil {
		for _, m := range members {
			if !b.halted() {
				b.finish(m, b.fail(m, b.r.CanWrite, ""))
			}
		}
		return
	}
	for i, m := range members {
		if err := b.precheck(m); err != nil {
			b.failCircle(members, i, err)
			return
		}
		if _, err := objectData(m, m.Data); err != nil {
			b.failCircle(members, i, err)
			return
		}
	}
	datas := make([]any, len(members))
	fixups := make([][]fixup, len(members))
	for i, m := range members {
		later := map[string]bool{}
		for _, n := range members[i+1:] {
			later[n.BulkID] = true
		}
		var err error
		if datas[i], fixups[i], err = splitLater(m.typ.Resource, m.Data, later); err != nil {
			names := make([]string, len(members))
			for j, n := range members {
				names[j] = fmt.Sprintf("Operations[%d] (bulkId %q)", n.Index, n.BulkID)
			}
			b.failCircle(members, -1, scimerr.New(scimerr.KindConflict, "", "%s reference each other in a circle that cannot be resolved: "+
				"Operations[%d] %s; a circle can be resolved only through attributes that can be set after creation, "+
				"such as members or manager", strings.Join(names, ", "), m.Index, scimerr.As(err).Detail))
			return
		}
	}
	failed := -1
	var cause error
	results := make([]*directory.Resource, len(members))
	err := b.r.Atomically(b.ctx, func(l Linker) error {
		failed = -1
		for _, m := range members {
			b.ids[m.Index] = ""
		}
		for i, m := range members {
			data, err := b.resolved(datas[i])
			if err == nil {
				results[i], err = l.Create(m.typ, data.(map[string]any))
			}
			if err != nil {
				failed, cause = i, err
				return err
			}
			b.ids[m.Index] = results[i].ID
		}
		for i, m := range members {
			if len(fixups[i]) == 0 {
				continue
			}
			ops, err := b.fixupOps(fixups[i])
			if err == nil {
				results[i], err = l.Patch(m.typ, b.ids[m.Index], ops)
			}
			if err != nil {
				failed, cause = i, err
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, m := range members {
			b.ids[m.Index] = ""
		}
		if failed < 0 {
			cause = err
		}
		b.failCircle(members, failed, cause)
		return
	}
	for i, m := range members {
		if !b.halted() {
			b.finish(m, b.ok(m, http.StatusCreated, results[i]))
		}
	}
}

// failCircle answers the operations of a circle none of which was kept: the one at failed
// (when not -1) with cause, the others with 409 naming it.
func (b *run) failCircle(members []*Op, failed int, cause error) {
	for i, m := range members {
		if b.halted() {
			return
		}
		err := cause
		if failed >= 0 && i != failed {
			f := members[failed]
			err = scimerr.New(scimerr.KindConflict, "",
				"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, failed; none of the operations "+
					"in its circle of references was kept", f.BulkID, f.Index, f.Path)
		}
		b.finish(m, b.fail(m, err, ""))
	}
}

// fixup is a reference taken out of a POST in a circle, to be patched in once the resource
// it names exists.
type fixup struct {
	op    string // patch.OpAdd for an element of a multi-valued attribute, else patch.OpReplace
	path  string
	value any // with its bulkId references, resolved when patched in
}

func (b *run) fixupOps(fixups []fixup) ([]patch.Operation, error) {
	ops := make([]patch.Operation, len(fixups))
	for i, f := range fixups {
		v, err := b.resolved(f.value)
		if err != nil {
			return nil, err
		}
		ops[i] = patch.Operation{Op: f.op, Path: f.path, Value: v}
	}
	return ops, nil
}

// splitLater takes out of a POST body the parts that reference the bulkIds in later, and
// returns the body without them and the PATCH operations that put them back. A reference can
// be taken out when it is in a complex attribute (at the top level or in an extension): an
// element of a multi-valued one (members), or a whole single-valued one (manager).
func splitLater(rt *schema.ResourceType, data any, later map[string]bool) (any, []fixup, error) {
	doc, ok := data.(map[string]any)
	if !ok {
		return data, nil, nil
	}
	refersLater := func(v any) bool {
		found := false
		walkStrings(v, func(s string) {
			for _, ref := range refsIn(s) {
				found = found || later[ref]
			}
		})
		return found
	}
	var fixups []fixup
	// split handles the attribute key of container (the document or one of its extensions).
	split := func(container map[string]any, prefix, key string) error {
		v := container[key]
		if !refersLater(v) {
			return nil
		}
		p, err := rt.ParsePath(prefix + key)
		if err != nil || p.Attr.Type != schema.TypeComplex {
			return scimerr.Invalid(scimerr.InvalidValue, "refers to a later operation's bulkId in %q, which cannot be set after creation", prefix+key)
		}
		list, isList := v.([]any)
		if !p.Attr.MultiValued || p.Sub != nil || !isList {
			delete(container, key)
			op := patch.OpReplace
			if p.Attr.MultiValued && p.Sub == nil {
				op, v = patch.OpAdd, []any{v}
			}
			fixups = append(fixups, fixup{op: op, path: prefix + key, value: v})
			return nil
		}
		var keep, move []any
		for _, e := range list {
			if refersLater(e) {
				move = append(move, e)
			} else {
				keep = append(keep, e)
			}
		}
		if keep == nil {
			keep = []any{}
		}
		container[key] = keep
		fixups = append(fixups, fixup{op: patch.OpAdd, path: prefix + key, value: move})
		return nil
	}
	out := maps.Clone(doc)
	for k, v := range doc {
		if ext := rt.Extension(k); ext != nil {
			if em, ok := v.(map[string]any); ok {
				em = maps.Clone(em)
				out[k] = em
				for ek := range em {
					if err := split(em, ext.ID+":", ek); err != nil {
						return nil, nil, err
					}
				}
				continue
			}
		}
		if err := split(out, "", k); err != nil {
			return nil, nil, err
		}
	}
	return out, fixups, nil
}
