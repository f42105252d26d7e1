package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Bulk (RFC 7644 §3.7). Every operation is carried out by the same directory method as its
// single request, so it obeys the same rules and fails with the same status, scimType and
// detail. What bulk adds is here: bulkId references, the order of operations, failOnErrors,
// the limits, and batched creation of users.
const (
	bulkRequestURN  = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
	bulkResponseURN = "urn:ietf:params:scim:api:messages:2.0:BulkResponse"
	// bulkMaxOperations is maxOperations: the most operations one bulk request may carry.
	bulkMaxOperations = 1000
	// bulkPayloadSize is maxPayloadSize unless the single-request limit is larger: 1,000 user
	// creations of a few kilobytes each fit.
	bulkPayloadSize = 4 << 20
	bulkIDPrefix    = "bulkId:"
)

// bulkMaxPayload is the maxPayloadSize advertised and enforced.
func (s *server) bulkMaxPayload() int64 {
	return max(bulkPayloadSize, s.MaxBodyBytes)
}

func bulkTooLarge(format string, args ...any) error {
	return scimerr.New(scimerr.KindTooLarge, scimerr.TooLarge, format, args...)
}

// withBulkBody is withBody for /Bulk: the same media types, with maxPayloadSize as the limit
// and 413 tooLarge naming it.
func (s *server) withBulkBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/scim+json" && mt != "application/json") {
				s.writeError(w, r, scimerr.New(scimerr.KindUnsupportedMediaType, "",
					"Content-Type must be application/scim+json or application/json, not %q", ct))
				return
			}
		}
		if r.ContentLength > s.bulkMaxPayload() {
			s.writeError(w, r, s.payloadTooLarge())
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.bulkMaxPayload())
		next.ServeHTTP(w, r)
	})
}

func (s *server) payloadTooLarge() error {
	return bulkTooLarge("the bulk request body exceeds maxPayloadSize, %d bytes; split it into several requests", s.bulkMaxPayload())
}

// bulkOp is one operation of a bulk request.
type bulkOp struct {
	index   int
	method  string // upper-case when valid, else as sent
	path    string
	bulkID  string
	version string
	data    any // decoded with json.Number; nil when absent or null
	hasData bool
	dataLen int

	rt *schema.ResourceType
	id string // the id in path, possibly "bulkId:..."
	// routeErr is what the single request's routing answers (404, 405) or a malformed
	// operation; refErr a bulkId reference that cannot be resolved. Either fails the
	// operation without running it.
	routeErr, refErr error
	// deps are the operations whose bulkIds this one references, in request order.
	deps []int
}

// bulkResult is one element of a BulkResponse's Operations.
type bulkResult struct {
	Method   string         `json:"method"`
	BulkID   string         `json:"bulkId,omitempty"`
	Version  string         `json:"version,omitempty"`
	Location string         `json:"location,omitempty"`
	Status   string         `json:"status"`
	Response map[string]any `json:"response,omitempty"`
	failed   bool
}

// handleBulk is POST /Bulk.
//
// Order: operations run in request order, except that an operation referencing another's
// bulkId (in its path or anywhere in its data) runs after it, so forward references work.
// Operations that reference each other in a circle (RFC 7644 §3.7.1) are all POSTs: they are
// created in request order, each without its references to those not created yet, which are
// then patched in, one PATCH per operation (add for an element of a multi-valued attribute such
// as members, replace for a complex attribute such as manager). A circle through an attribute
// that cannot be patched in later is refused (409), as is a reference to an undefined bulkId or
// an operation's own (400). If an operation of a circle fails, the others' references to it
// cannot be set: they fail with 409 and the resources already created for them are deleted.
//
// Results: in request order, each with method, bulkId, status (a string), location and version,
// and on error the SCIM error body as response. With failOnErrors n, processing stops after the
// n-th failed operation; the operations not processed are not in the response.
//
// Runs of user creations that reference no bulkId go through Directory.CreateUsers: the same
// validation per user, written in a few round trips.
func (s *server) handleBulk(w http.ResponseWriter, r *http.Request) {
	raw, err := readBody(r)
	if err != nil {
		if e := scimerr.As(err); e != nil && e.Kind == scimerr.KindTooLarge {
			err = s.payloadTooLarge()
		}
		s.writeError(w, r, err)
		return
	}
	ops, failOnErrors, err := parseBulk(raw)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b := &bulkRun{s: s, r: r, a: actor(r), canWrite: actor(r).CanWrite() == nil, ops: ops,
		failOn: failOnErrors, owners: map[string]int{}, done: make([]*bulkResult, len(ops)), ids: make([]string, len(ops))}
	b.plan()
	b.run()
	results := make([]*bulkResult, 0, len(ops))
	for _, res := range b.done {
		if res != nil {
			results = append(results, res)
		}
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{bulkResponseURN}, "Operations": results})
}

// lowerKeys decodes a JSON object into its members by lower-cased name: SCIM attribute names
// are case-insensitive.
func lowerKeys(raw []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, false
	}
	out := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out, true
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

// parseBulk decodes a BulkRequest. Errors of the request as a whole are returned; those of one
// operation are left in it.
func parseBulk(raw []byte) ([]*bulkOp, int, error) {
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return nil, 0, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is not valid JSON: %v", err)
	}
	top, ok := lowerKeys(raw)
	if !ok {
		return nil, 0, scimerr.Invalid(scimerr.InvalidSyntax, "the request body must be a BulkRequest JSON object")
	}
	var schemas []any
	if err := json.Unmarshal(top["schemas"], &schemas); err != nil || !hasURN(schemas, bulkRequestURN) {
		return nil, 0, scimerr.Invalid(scimerr.InvalidSyntax, "\"schemas\" must be a list containing %q", bulkRequestURN)
	}
	failOnErrors := 0
	if v := top["failonerrors"]; !isNull(v) {
		n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
		if err != nil || n < 1 {
			return nil, 0, scimerr.Invalid(scimerr.InvalidValue, "failOnErrors must be a positive integer, not %s", v)
		}
		failOnErrors = n
	}
	var list []json.RawMessage
	if err := json.Unmarshal(top["operations"], &list); err != nil || len(list) == 0 {
		return nil, 0, scimerr.Invalid(scimerr.InvalidSyntax, "\"Operations\" must be a non-empty list of operations")
	}
	if len(list) > bulkMaxOperations {
		return nil, 0, bulkTooLarge("the bulk request has %d operations; maxOperations is %d", len(list), bulkMaxOperations)
	}
	ops := make([]*bulkOp, len(list))
	for i, el := range list {
		ops[i] = parseBulkOp(i, el)
	}
	return ops, failOnErrors, nil
}

func parseBulkOp(i int, raw json.RawMessage) *bulkOp {
	op := &bulkOp{index: i}
	m, ok := lowerKeys(raw)
	if !ok {
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] must be an object with method, path and data", i)
		return op
	}
	str := func(name string, dst *string) bool {
		v, ok := m[strings.ToLower(name)]
		if !ok || isNull(v) {
			return true
		}
		if json.Unmarshal(v, dst) != nil {
			op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d].%s must be a string", i, name)
			return false
		}
		return true
	}
	if !str("method", &op.method) || !str("path", &op.path) || !str("bulkId", &op.bulkID) || !str("version", &op.version) {
		return op
	}
	if d, ok := m["data"]; ok && !isNull(d) {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		if err := dec.Decode(&op.data); err != nil {
			op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d].data is not valid JSON: %v", i, err)
			return op
		}
		op.hasData, op.dataLen = true, len(d)
	}
	switch strings.ToUpper(op.method) {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		op.method = strings.ToUpper(op.method)
	case "":
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] has no method; it must be POST, PUT, PATCH or DELETE", i)
	default:
		op.routeErr = scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported in a bulk operation; use POST, PUT, PATCH or DELETE", op.method)
	}
	return op
}

// route resolves an operation's path as the single request's routing would.
func (s *server) route(op *bulkOp) {
	if op.routeErr != nil {
		return
	}
	if op.path == "" {
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] has no path, such as /Users or /Groups/{id}", op.index)
		return
	}
	p := strings.TrimRight(op.path, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	endpoint, id, hasID := strings.Cut(p[1:], "/")
	for _, rt := range s.resourceTypes() {
		if rt.Endpoint == "/"+endpoint {
			op.rt = rt
		}
	}
	if op.rt == nil || strings.Contains(id, "/") || (hasID && id == "") {
		op.routeErr = scimerr.NotFound("no endpoint at %s", op.path)
		return
	}
	op.id = id
	if (op.method == http.MethodPost) == hasID {
		op.routeErr = scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported on %s", op.method, op.path)
	}
}

// rewriteRefs finds the bulkId references in a string: the whole string "bulkId:x", or each
// "bulkId:x" in double quotes inside it, as in a PATCH path members[value eq "bulkId:x"]. The
// prefix matches case-insensitively. It returns the string with each reference replaced by
// what fn returns for its bulkId.
func rewriteRefs(s string, fn func(ref string) (string, error)) (string, error) {
	n := len(bulkIDPrefix)
	if len(s) > n && strings.EqualFold(s[:n], bulkIDPrefix) {
		return fn(s[n:])
	}
	var b strings.Builder
	last := 0
	for i := 0; i+1+n < len(s); i++ {
		if s[i] != '"' || !strings.EqualFold(s[i+1:i+1+n], bulkIDPrefix) {
			continue
		}
		end := strings.IndexByte(s[i+1+n:], '"')
		if end <= 0 {
			continue
		}
		id, err := fn(s[i+1+n : i+1+n+end])
		if err != nil {
			return "", err
		}
		b.WriteString(s[last : i+1])
		b.WriteString(id)
		last = i + 1 + n + end
		i = last
	}
	if last == 0 {
		return s, nil
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

// refsIn returns the bulkIds a string references (see rewriteRefs).
func refsIn(s string) []string {
	var out []string
	_, _ = rewriteRefs(s, func(ref string) (string, error) {
		out = append(out, ref)
		return "", nil
	})
	return out
}

func wholeRef(s string) (string, bool) {
	if len(s) > len(bulkIDPrefix) && strings.EqualFold(s[:len(bulkIDPrefix)], bulkIDPrefix) {
		return s[len(bulkIDPrefix):], true
	}
	return "", false
}

// walkStrings calls fn on every string in a decoded JSON value.
func walkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	case map[string]any:
		for _, e := range x {
			walkStrings(e, fn)
		}
	}
}

// bulkRun carries out one bulk request.
type bulkRun struct {
	s        *server
	r        *http.Request
	a        directory.Actor
	canWrite bool
	ops      []*bulkOp
	owners   map[string]int // bulkId → the POST that defines it
	done     []*bulkResult  // by operation; nil while not processed
	ids      []string       // by operation: the id of the resource a POST created
	failOn   int
	failed   int
	stopped  bool
}

// plan routes every operation and resolves its bulkId references to operations.
func (b *bulkRun) plan() {
	for _, op := range b.ops {
		b.s.route(op)
		if op.method == http.MethodPost && op.bulkID != "" {
			if first, dup := b.owners[op.bulkID]; dup {
				op.refErr = scimerr.Invalid(scimerr.InvalidValue,
					"bulkId %q is already used by Operations[%d]; bulkIds must be unique within a request", op.bulkID, first)
			} else {
				b.owners[op.bulkID] = op.index
			}
		}
	}
	for _, op := range b.ops {
		if op.routeErr != nil || op.refErr != nil {
			continue
		}
		var refs []string
		if id, ok := wholeRef(op.id); ok {
			refs = append(refs, id)
		}
		if op.method != http.MethodDelete {
			walkStrings(op.data, func(s string) { refs = append(refs, refsIn(s)...) })
		}
		for _, ref := range refs {
			owner, ok := b.owners[ref]
			if !ok {
				op.refErr = scimerr.Invalid(scimerr.InvalidValue,
					"bulkId %q is not defined: no POST operation of this request has it", ref)
				break
			}
			if owner == op.index {
				op.refErr = scimerr.Invalid(scimerr.InvalidValue,
					"the operation references its own bulkId %q: a resource cannot refer to itself before it exists", ref)
				break
			}
			if !slices.Contains(op.deps, owner) {
				op.deps = append(op.deps, owner)
			}
		}
		if op.refErr != nil {
			op.deps = nil
		}
		slices.Sort(op.deps)
	}
}

// order groups operations into the strongly connected components of their references (Tarjan),
// dependencies first and otherwise in request order. A component of more than one operation is
// a circle of references.
func (b *bulkRun) order() [][]*bulkOp {
	n := len(b.ops)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	var out [][]*bulkOp
	counter := 0
	var visit func(v int)
	visit = func(v int) {
		counter++
		index[v], low[v] = counter, counter
		stack = append(stack, v)
		onStack[v] = true
		for _, w := range b.ops[v].deps {
			if index[w] == 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []*bulkOp
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, b.ops[w])
				if w == v {
					break
				}
			}
			slices.SortFunc(scc, func(x, y *bulkOp) int { return x.index - y.index })
			out = append(out, scc)
		}
	}
	for v := range n {
		if index[v] == 0 {
			visit(v)
		}
	}
	return out
}

// run carries out the operations in order, batching runs of independent user creations.
func (b *bulkRun) run() {
	var batch []*bulkOp
	flush := func() {
		switch len(batch) {
		case 0:
		case 1:
			b.finish(batch[0], b.runOne(batch[0], batch[0].data))
		default:
			b.createUsers(batch)
		}
		batch = batch[:0]
	}
	for _, scc := range b.order() {
		if b.stopped {
			break
		}
		if len(scc) > 1 {
			flush()
			b.runCircle(scc)
			continue
		}
		op := scc[0]
		if b.batchable(op) {
			batch = append(batch, op)
			continue
		}
		flush()
		if !b.stopped {
			b.finish(op, b.runOne(op, op.data))
		}
	}
	if !b.stopped {
		flush()
	}
}

// batchable tells the user creations that CreateUsers can take: valid, referencing no bulkId.
func (b *bulkRun) batchable(op *bulkOp) bool {
	_, isObject := op.data.(map[string]any)
	return b.canWrite && op.method == http.MethodPost && op.rt == b.s.Schemas.User && op.routeErr == nil &&
		op.refErr == nil && len(op.deps) == 0 && isObject && int64(op.dataLen) <= b.s.MaxBodyBytes
}

// finish records an operation's result and counts failures against failOnErrors.
func (b *bulkRun) finish(op *bulkOp, res *bulkResult) {
	b.done[op.index] = res
	if res.failed {
		b.failed++
		if b.failOn > 0 && b.failed >= b.failOn {
			b.stopped = true
		}
	}
}

func (b *bulkRun) location(rt *schema.ResourceType, id string) string {
	return b.s.baseURL(b.r) + rt.Endpoint + "/" + id
}

func (b *bulkRun) result(op *bulkOp, status int, res *directory.Resource) *bulkResult {
	out := &bulkResult{Method: op.method, BulkID: op.bulkID, Status: strconv.Itoa(status)}
	if res != nil {
		out.Version = res.ETag()
		out.Location = b.location(op.rt, res.ID)
	}
	return out
}

// errResult is a failed operation's result: its response is what writeError answers.
func (b *bulkRun) errResult(op *bulkOp, err error, location string) *bulkResult {
	status, body := b.s.errorBody(b.r, err)
	return &bulkResult{Method: op.method, BulkID: op.bulkID, Location: location,
		Status: strconv.Itoa(status), Response: body, failed: true}
}

// resolve is the id of the resource created by the operation that defines bulkId ref.
func (b *bulkRun) resolve(ref string) (string, error) {
	owner := b.owners[ref]
	if id := b.ids[owner]; id != "" {
		return id, nil
	}
	o := b.ops[owner]
	if b.done[owner] != nil {
		return "", scimerr.New(scimerr.KindConflict, "",
			"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, failed", ref, owner, o.path)
	}
	return "", scimerr.New(scimerr.KindConflict, "",
		"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, has not created its resource", ref, owner, o.path)
}

// resolved is a copy of v with every bulkId reference replaced by its resource's id.
func (b *bulkRun) resolved(v any) (any, error) {
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

// runOne carries out one operation with data (its own, or in a circle its data without the
// references not resolvable yet) through the directory method of its single request, checking
// what the single request's middleware checks first, in the same order.
func (b *bulkRun) runOne(op *bulkOp, data any) *bulkResult {
	if op.routeErr != nil {
		return b.errResult(op, op.routeErr, "")
	}
	if err := b.a.CanWrite(); err != nil {
		return b.errResult(op, err, "")
	}
	if op.method != http.MethodDelete && int64(op.dataLen) > b.s.MaxBodyBytes {
		return b.errResult(op, tooLarge(b.s.MaxBodyBytes), "")
	}
	if op.refErr != nil {
		return b.errResult(op, op.refErr, "")
	}
	id, location := op.id, ""
	if op.method != http.MethodPost {
		if ref, ok := wholeRef(id); ok {
			var err error
			if id, err = b.resolve(ref); err != nil {
				return b.errResult(op, err, "")
			}
		}
		location = b.location(op.rt, id)
	}
	data, err := b.resolved(data)
	if err != nil {
		return b.errResult(op, err, location)
	}
	ctx, d, pre := b.r.Context(), b.s.Directory, directory.Precondition{IfMatch: op.version}
	users := op.rt == b.s.Schemas.User
	var res *directory.Resource
	status := http.StatusOK
	switch op.method {
	case http.MethodPost, http.MethodPut:
		body, err := objectData(op, data)
		if err != nil {
			return b.errResult(op, err, location)
		}
		switch {
		case op.method == http.MethodPost && users:
			res, err = d.CreateUser(ctx, b.a, body)
		case op.method == http.MethodPost:
			res, err = d.CreateGroup(ctx, b.a, body)
		case users:
			res, err = d.ReplaceUser(ctx, b.a, id, body, pre)
		default:
			res, err = d.ReplaceGroup(ctx, b.a, id, body, pre)
		}
		if err != nil {
			return b.errResult(op, err, location)
		}
		if op.method == http.MethodPost {
			status = http.StatusCreated
			b.ids[op.index] = res.ID
		}
	case http.MethodPatch:
		if !op.hasData {
			return b.errResult(op, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is empty"), location)
		}
		raw, err := json.Marshal(data)
		if err != nil {
			return b.errResult(op, err, location)
		}
		ops, err := patch.Parse(raw)
		if err != nil {
			return b.errResult(op, err, location)
		}
		if users {
			res, err = d.PatchUser(ctx, b.a, id, ops, pre)
		} else {
			// As its single request answers (no attributes asked for): 204.
			res, err = d.PatchGroup(ctx, b.a, id, ops, pre)
			status = http.StatusNoContent
		}
		if err != nil {
			return b.errResult(op, err, location)
		}
	case http.MethodDelete:
		if users {
			err = d.DeleteUser(ctx, b.a, id, pre)
		} else {
			err = d.DeleteGroup(ctx, b.a, id, pre)
		}
		if err != nil {
			return b.errResult(op, err, location)
		}
		out := b.result(op, http.StatusNoContent, nil)
		out.Location = location
		return out
	}
	return b.result(op, status, res)
}

// objectData is the body of a POST or PUT, refused as the single request's decodeObject would.
func objectData(op *bulkOp, data any) (map[string]any, error) {
	if !op.hasData {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is empty")
	}
	m, ok := data.(map[string]any)
	if !ok {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body must be a JSON object")
	}
	return m, nil
}

// createUsers creates a run of users that reference no bulkId through the batched path.
func (b *bulkRun) createUsers(ops []*bulkOp) {
	bodies := make([]map[string]any, len(ops))
	for i, op := range ops {
		bodies[i] = op.data.(map[string]any)
	}
	budget := 0
	if b.failOn > 0 {
		budget = b.failOn - b.failed
	}
	for i, res := range b.s.Directory.CreateUsers(b.r.Context(), b.a, bodies, budget) {
		op := ops[i]
		switch {
		case res.Err == directory.ErrSkipped:
			b.stopped = true
		case res.Err != nil:
			b.finish(op, b.errResult(op, res.Err, ""))
		default:
			b.ids[op.index] = res.User.ID
			b.finish(op, b.result(op, http.StatusCreated, res.User))
		}
	}
}

// fixup is a reference taken out of a POST in a circle, to be patched in once the resource
// it names exists.
type fixup struct {
	op    string // patch.OpAdd for an element of a multi-valued attribute, else patch.OpReplace
	path  string
	value any // with its bulkId references, resolved when patched in
}

// runCircle carries out operations that reference each other in a circle, in one transaction:
// each is created without its references to those created after it, which are then patched
// in. If one fails, the others' references to it cannot be set, so none is kept: the failed
// one answers its error and the others 409, and nothing of the circle remains.
func (b *bulkRun) runCircle(members []*bulkOp) {
	if !b.canWrite {
		for _, m := range members {
			if !b.stopped {
				b.finish(m, b.runOne(m, m.data))
			}
		}
		return
	}
	datas := make([]any, len(members))
	fixups := make([][]fixup, len(members))
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = fmt.Sprintf("Operations[%d] (bulkId %q)", m.index, m.bulkID)
	}
	for i, m := range members {
		later := map[string]bool{}
		for _, n := range members[i+1:] {
			later[n.bulkID] = true
		}
		var err error
		if datas[i], fixups[i], err = splitLater(m.rt, m.data, later); err != nil {
			circle := scimerr.New(scimerr.KindConflict, "", "%s reference each other in a circle that cannot be resolved: "+
				"Operations[%d] %s; a circle can be resolved only through attributes that can be set after creation, "+
				"such as members or manager", strings.Join(names, ", "), m.index, scimerr.As(err).Detail)
			b.failCircle(members, -1, circle)
			return
		}
	}
	for i, m := range members {
		if err := b.precheck(m); err != nil {
			b.failCircle(members, i, err)
			return
		}
	}
	failed := -1
	var cause error
	results := make([]*directory.Resource, len(members))
	err := b.s.Directory.Atomically(b.r.Context(), b.a, func(ops *directory.Ops) error {
		failed = -1
		for _, m := range members {
			b.ids[m.index] = ""
		}
		for i, m := range members {
			res, err := b.createIn(ops, m, datas[i])
			if err != nil {
				failed, cause = i, err
				return err
			}
			b.ids[m.index], results[i] = res.ID, res
		}
		for i, m := range members {
			if len(fixups[i]) == 0 {
				continue
			}
			res, err := b.patchIn(ops, m, fixups[i])
			if err != nil {
				failed, cause = i, err
				return err
			}
			results[i] = res
		}
		return nil
	})
	if err != nil {
		for _, m := range members {
			b.ids[m.index] = ""
		}
		if failed < 0 {
			cause = err
		}
		b.failCircle(members, failed, cause)
		return
	}
	for i, m := range members {
		if !b.stopped {
			b.finish(m, b.result(m, http.StatusCreated, results[i]))
		}
	}
}

// failCircle answers the operations of a circle none of which was kept: the one at failed
// (when not -1) with cause, the others with 409 naming it.
func (b *bulkRun) failCircle(members []*bulkOp, failed int, cause error) {
	for i, m := range members {
		if b.stopped {
			return
		}
		err := cause
		if failed >= 0 && i != failed {
			f := members[failed]
			err = scimerr.New(scimerr.KindConflict, "",
				"bulkId %q cannot be resolved: Operations[%d] (POST %s), which defines it, failed; none of the operations "+
					"in its circle of references was kept", f.bulkID, f.index, f.path)
		}
		b.finish(m, b.errResult(m, err, ""))
	}
}

// precheck is what runOne checks before an operation runs, for an operation of a circle.
func (b *bulkRun) precheck(op *bulkOp) error {
	switch {
	case op.routeErr != nil:
		return op.routeErr
	case int64(op.dataLen) > b.s.MaxBodyBytes:
		return tooLarge(b.s.MaxBodyBytes)
	case op.refErr != nil:
		return op.refErr
	}
	_, err := objectData(op, op.data)
	return err
}

// createIn creates a circle's resource in the circle's transaction, with data's references to
// earlier operations resolved.
func (b *bulkRun) createIn(ops *directory.Ops, m *bulkOp, data any) (*directory.Resource, error) {
	data, err := b.resolved(data)
	if err != nil {
		return nil, err
	}
	body := data.(map[string]any)
	if m.rt == b.s.Schemas.User {
		return ops.CreateUser(body)
	}
	return ops.CreateGroup(body)
}

// patchIn patches the references taken out of a circle's POST into the created resource.
func (b *bulkRun) patchIn(ops *directory.Ops, m *bulkOp, fixups []fixup) (*directory.Resource, error) {
	list := make([]patch.Operation, len(fixups))
	for i, f := range fixups {
		v, err := b.resolved(f.value)
		if err != nil {
			return nil, err
		}
		list[i] = patch.Operation{Op: f.op, Path: f.path, Value: v}
	}
	if m.rt == b.s.Schemas.User {
		return ops.PatchUser(b.ids[m.index], list)
	}
	return ops.PatchGroup(b.ids[m.index], list)
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
