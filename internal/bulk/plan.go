package bulk

import (
	"net/http"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/scimerr"
)

// route resolves an operation's path as the single request's routing would.
func (r *Runner) route(op *Op) {
	if op.routeErr != nil {
		return
	}
	if op.Path == "" {
		op.routeErr = scimerr.Invalid(scimerr.InvalidSyntax, "Operations[%d] has no path, such as /Users or /Groups/{id}", op.Index)
		return
	}
	p := strings.TrimRight(op.Path, "/")
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	endpoint, id, hasID := strings.Cut(p[1:], "/")
	for _, t := range r.Types {
		if t.Resource.Endpoint == "/"+endpoint {
			op.typ = t
		}
	}
	if op.typ == nil || strings.Contains(id, "/") || (hasID && id == "") {
		op.routeErr = scimerr.NotFound("no endpoint at %s", op.Path)
		return
	}
	op.id = id
	if (op.Method == http.MethodPost) == hasID {
		op.routeErr = scimerr.New(scimerr.KindMethodNotAllowed, "", "%s is not supported on %s", op.Method, op.Path)
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

// plan routes every operation and resolves its bulkId references to operations.
func (b *run) plan() {
	for _, op := range b.ops {
		b.r.route(op)
		if op.Method == http.MethodPost && op.BulkID != "" {
			if first, dup := b.owners[op.BulkID]; dup {
				op.refErr = scimerr.Invalid(scimerr.InvalidValue,
					"bulkId %q is already used by Operations[%d]; bulkIds must be unique within a request", op.BulkID, first)
			} else {
				b.owners[op.BulkID] = op.Index
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
		if op.Method != http.MethodDelete {
			walkStrings(op.Data, func(s string) { refs = append(refs, refsIn(s)...) })
		}
		for _, ref := range refs {
			owner, ok := b.owners[ref]
			if !ok {
				op.refErr = scimerr.Invalid(scimerr.InvalidValue,
					"bulkId %q is not defined: no POST operation of this request has it", ref)
				break
			}
			if owner == op.Index {
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
func (b *run) order() [][]*Op {
	n := len(b.ops)
	index, low := make([]int, n), make([]int, n)
	onStack := make([]bool, n)
	var stack []int
	var out [][]*Op
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
			var scc []*Op
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				scc = append(scc, b.ops[w])
				if w == v {
					break
				}
			}
			slices.SortFunc(scc, func(x, y *Op) int { return x.Index - y.Index })
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
