package patch

import (
	"maps"

	"github.com/scimd/scimd/internal/schema"
)

// ApplyAt applies op, operation i (0-based) of a request, to doc, leaving doc unchanged on error.
// Callers that carry out some operations themselves (group members) use it for the rest, so
// error details still name the operation's place in the request.
func ApplyAt(rt *schema.ResourceType, doc map[string]any, i int, op Operation) error {
	a := &applier{rt: rt, doc: schema.Clone(doc)}
	if err := a.apply(op); err != nil {
		return wrap(i, op, err)
	}
	rt.MergeDuplicates(a.doc)
	clear(doc)
	maps.Copy(doc, a.doc)
	return nil
}

// Label prefixes err with operation i's place and path, as Apply's errors are.
func Label(i int, op Operation, err error) error {
	return wrap(i, op, err)
}
