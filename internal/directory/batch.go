package directory

import (
	"context"
	"errors"
	"maps"
	"runtime"
	"strings"
	"sync"

	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Several operations at once, for Bulk (RFC 7644 §3.7): a run of user creations written in a
// few round trips, and operations that must all happen or none (a circle of bulkId
// references). Each goes through the same rules as its single request.

// ErrSkipped is the result of a create that was not attempted because the error budget given
// to CreateUsers (a bulk request's failOnErrors) ran out on an earlier body.
var ErrSkipped = &scimerr.Error{Detail: "not attempted: the request's failOnErrors limit was reached"}

// CreateResult is the outcome of one body given to CreateUsers: the created user, or why not.
type CreateResult struct {
	User *Resource
	Err  error
}

// createChunk is how many users one transaction of CreateUsers writes.
const createChunk = 250

// CreateUsers creates a user from each body, with exactly the outcome CreateUser would have for
// each body in turn, but validating in parallel (bcrypt of passwords above all) and writing
// createChunk users per transaction. userNames taken in the organization, or by an earlier body
// of the list, fail their own body alone. When maxErrors > 0, the bodies after the maxErrors-th
// failure are not attempted and get ErrSkipped.
func (s *Service) CreateUsers(ctx context.Context, a Actor, bodies []map[string]any, maxErrors int) []CreateResult {
	out := make([]CreateResult, len(bodies))
	if err := a.CanWrite(); err != nil {
		for i := range out {
			out[i].Err = err
		}
		return skipAfter(out, 0, maxErrors)
	}
	docs := make([]map[string]any, len(bodies))
	hashes := make([]map[string]string, len(bodies))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(bodies)) {
		wg.Go(func() {
			for i := range work {
				if docs[i], out[i].Err = s.users.Normalize(bodies[i]); out[i].Err == nil {
					hashes[i], out[i].Err = s.hashPasswords(docs[i]["password"])
				}
			}
		})
	}
	for i := range bodies {
		work <- i
	}
	close(work)
	wg.Wait()

	names := make([]string, len(docs))
	for i, d := range docs {
		if out[i].Err == nil {
			names[i], _ = d["userName"].(string)
		}
	}
	taken, err := s.store.TakenUserNames(ctx, a.Org, names)
	if err != nil {
		for i := range out {
			if out[i].Err == nil {
				out[i].Err = err
			}
		}
		return skipAfter(out, 0, maxErrors)
	}
	skipAfter(out, 0, maxErrors)
	claimed := map[string]bool{}
	for start := 0; start < len(bodies); start += createChunk {
		end := min(start+createChunk, len(bodies))
		err := s.createChunk(ctx, a, docs, hashes, out, taken, claimed, start, end, maxErrors)
		if errors.Is(err, ErrUserNameTaken) {
			// A concurrent request took a userName since it was checked: the rest go one by
			// one, so that the conflict fails the body that caused it and no other.
			s.createEach(ctx, a, docs, out, start, maxErrors)
			return out
		}
		if err != nil {
			for i := start; i < len(bodies); i++ {
				if out[i].Err == nil && out[i].User == nil {
					out[i].Err = err
				}
			}
			return skipAfter(out, start, maxErrors)
		}
	}
	return out
}

// createChunk creates the bodies start..end that have not failed, in one transaction. A body
// the rules refuse fails alone, and so does one whose userName is taken in the organization
// (taken, by body) or by a body created earlier in the list (claimed, by lower-cased name, which
// the chunk adds to): checked after the rules, as the unique index refuses a single creation
// that passed them, so that a refused body claims no name. An error of the store fails the
// chunk.
func (s *Service) createChunk(ctx context.Context, a Actor, docs []map[string]any, hashes []map[string]string,
	out []CreateResult, taken []bool, claimed map[string]bool, start, end, maxErrors int) error {
	var created map[int]*User
	var refused map[int]error
	var names map[string]bool
	err := s.update(ctx, a, func(tx Tx) error {
		created, refused, names = map[int]*User{}, map[int]error{}, maps.Clone(claimed)
		org, err := tx.Org()
		if err != nil {
			return err
		}
		failed := countFailed(out[:start])
		var users []*User
		for i := start; i < end; i++ {
			if out[i].Err != nil {
				if out[i].Err != ErrSkipped {
					failed++
				}
				continue
			}
			if maxErrors > 0 && failed >= maxErrors {
				refused[i] = ErrSkipped
				continue
			}
			u, err := s.newUser(tx, a, org, schema.Clone(docs[i]), hashes[i])
			if scimerr.As(err) != nil {
				refused[i] = err
				failed++
				continue
			}
			if err != nil {
				return err
			}
			name, _ := docs[i]["userName"].(string)
			key := strings.ToLower(name)
			if taken[i] || names[key] {
				refused[i] = explainUser(ErrUserNameTaken, "", docs[i])
				failed++
				continue
			}
			names[key] = true
			created[i] = u
			users = append(users, u)
		}
		return s.insertUsers(tx, a, org, users)
	})
	if err != nil {
		return err
	}
	maps.Copy(claimed, names)
	for i, e := range refused {
		out[i].Err = e
	}
	for i, u := range created {
		out[i].User = present(u)
	}
	return nil
}

// createEach creates the bodies from start on one by one, keeping to the error budget.
func (s *Service) createEach(ctx context.Context, a Actor, docs []map[string]any, out []CreateResult, start, maxErrors int) {
	failed := countFailed(out[:start])
	for i := start; i < len(docs); i++ {
		switch {
		case out[i].Err == ErrSkipped:
			continue
		case maxErrors > 0 && failed >= maxErrors:
			out[i] = CreateResult{Err: ErrSkipped}
			continue
		case out[i].Err == nil:
			out[i].User, out[i].Err = s.CreateUser(ctx, a, docs[i])
		}
		if out[i].Err != nil {
			failed++
		}
	}
}

// skipAfter marks every result from index from on that comes after the maxErrors-th failure
// (counted from the start of the list) as skipped.
func skipAfter(out []CreateResult, from, maxErrors int) []CreateResult {
	if maxErrors <= 0 {
		return out
	}
	failed := countFailed(out[:from])
	for i := from; i < len(out); i++ {
		if failed >= maxErrors {
			out[i] = CreateResult{Err: ErrSkipped}
			continue
		}
		if out[i].Err != nil && out[i].Err != ErrSkipped {
			failed++
		}
	}
	return out
}

func countFailed(out []CreateResult) int {
	n := 0
	for _, r := range out {
		if r.Err != nil && r.Err != ErrSkipped {
			n++
		}
	}
	return n
}

// Ops are directory operations that run in the one transaction of Atomically, each under the
// rules of its single request.
type Ops struct {
	s  *Service
	tx Tx
	a  Actor
}

// Atomically runs fn, which makes several changes through ops, in one transaction: all of them
// are kept, or none when fn returns an error.
func (s *Service) Atomically(ctx context.Context, a Actor, fn func(ops *Ops) error) error {
	if err := a.CanWrite(); err != nil {
		return err
	}
	err := s.update(ctx, a, func(tx Tx) error { return fn(&Ops{s: s, tx: tx, a: a}) })
	return explainCommit(err)
}

// explainCommit turns what a store reports about Atomically's writes into the client's error.
// A Tx may send writes only with a later read or the commit, so a constraint an operation
// violated can surface after the operation returned, or in a later one that does not explain
// it; which operation caused it is not known then.
func explainCommit(err error) error {
	switch {
	case errors.Is(err, ErrUserNameTaken):
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "a userName these operations give is already taken in this organization")
	case errors.Is(err, ErrDisplayNameTaken):
		return scimerr.New(scimerr.KindConflict, scimerr.Uniqueness, "a Group displayName these operations give already exists in this organization")
	case errors.Is(err, ErrNotLicensed), errors.Is(err, ErrGone):
		return scimerr.New(scimerr.KindConflict, "", "a product, user or group these operations refer to was withdrawn or deleted while the request ran; retry it")
	}
	return err
}

// CreateUser is Service.CreateUser in the transaction.
func (o *Ops) CreateUser(body map[string]any) (*Resource, error) {
	doc, err := o.s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	hashes, err := o.s.hashPasswords(doc["password"])
	if err != nil {
		return nil, err
	}
	org, err := o.tx.Org()
	if err != nil {
		return nil, err
	}
	u, err := o.s.newUser(o.tx, o.a, org, doc, hashes)
	if err == nil {
		err = o.s.insertUsers(o.tx, o.a, org, []*User{u})
	}
	if err != nil {
		return nil, explainUser(err, "", doc)
	}
	return present(u), nil
}

// CreateGroup is Service.CreateGroup in the transaction.
func (o *Ops) CreateGroup(body map[string]any) (*Resource, error) {
	doc, members, err := o.s.splitGroup(body)
	if err != nil {
		return nil, err
	}
	g, err := o.s.createGroup(o.tx, o.a, doc, members)
	return g, explainGroup(err, "", doc)
}

// PatchUser is Service.PatchUser in the transaction.
func (o *Ops) PatchUser(id string, ops []patch.Operation) (*Resource, error) {
	hashes, err := o.s.hashPasswords(patchedPasswords(ops)...)
	if err != nil {
		return nil, err
	}
	id, ok := canonicalID(id)
	if !ok {
		return nil, userNotFound(id)
	}
	u, doc, err := o.s.changeUserTx(o.tx, o.a, id, Precondition{}, hashes, false, o.s.patchEdit(ops))
	if err != nil && !errors.Is(err, errUnchanged) {
		return nil, explainUser(err, id, doc)
	}
	return present(u), nil
}

// PatchGroup is Service.PatchGroup in the transaction.
func (o *Ops) PatchGroup(id string, ops []patch.Operation) (*Resource, error) {
	id, ok := canonicalID(id)
	if !ok {
		return nil, groupNotFound(id)
	}
	g, err := o.s.editGroup(o.tx, o.a, id, o.s.patchGroupEdit(ops, Precondition{}))
	if err != nil && !errors.Is(err, errUnchanged) {
		var doc map[string]any
		if g != nil {
			doc = g.Doc
		}
		return nil, explainGroup(err, id, doc)
	}
	return g, nil
}
