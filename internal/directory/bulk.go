package directory

import (
	"context"
	"runtime"
	"sync"

	"github.com/scimd/scimd/internal/scimerr"
)

// ErrSkipped is the result of a create that was not attempted because the error budget given
// to CreateUsers (a bulk request's failOnErrors) ran out on an earlier body.
var ErrSkipped = &scimerr.Error{Detail: "not attempted: the request's failOnErrors limit was reached"}

// UserBatchStore is implemented by a Store that can create many users in a few round trips.
// Without it, CreateUsers falls back to Store.CreateUser for each user.
type UserBatchStore interface {
	// CreateUsers creates users in order, with the outcome CreateUser would have for each in
	// turn (a userName taken by an earlier user of the list is a uniqueness error), and
	// returns each one's error. A nil entry is a user that failed before reaching the store:
	// it is not created but counts as a failure. When maxErrors > 0, the users after the
	// maxErrors-th failure are not created and get ErrSkipped.
	CreateUsers(ctx context.Context, org string, users []*Resource, maxErrors int) []error
}

// CreateResult is the outcome of one body given to CreateUsers: the created user, or why not.
type CreateResult struct {
	User *Resource
	Err  error
}

// CreateUsers creates a user from each body, with exactly the outcome of CreateUser for each
// body in order, but validating in parallel and writing through the store's batch path when it
// has one. When maxErrors > 0, the bodies after the maxErrors-th failure are not created and
// their results carry ErrSkipped.
func (s *Service) CreateUsers(ctx context.Context, a Actor, bodies []map[string]any, maxErrors int) []CreateResult {
	out := make([]CreateResult, len(bodies))
	org, err := s.orgs.Org(ctx, a.Org)
	if err != nil {
		for i := range out {
			out[i].Err = err
		}
		return budget(out, maxErrors)
	}
	users := make([]*Resource, len(bodies))
	// Validation (bcrypt of passwords above all) is CPU-bound and independent per body.
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(bodies)) {
		wg.Go(func() {
			for i := range work {
				users[i], out[i].Err = s.prepareNew(a, org, bodies[i])
			}
		})
	}
	for i := range bodies {
		work <- i
	}
	close(work)
	wg.Wait()

	if bs, ok := s.store.(UserBatchStore); ok {
		errs := bs.CreateUsers(ctx, a.Org, users, maxErrors)
		for i, err := range errs {
			if err == ErrSkipped {
				out[i] = CreateResult{Err: ErrSkipped}
				continue
			}
			if users[i] == nil {
				continue
			}
			if out[i].Err = err; err == nil {
				out[i].User = users[i]
			}
		}
		return out
	}
	failed := 0
	for i, u := range users {
		if maxErrors > 0 && failed >= maxErrors {
			out[i] = CreateResult{Err: ErrSkipped}
			continue
		}
		if u != nil {
			if out[i].Err = s.store.CreateUser(ctx, a.Org, u); out[i].Err == nil {
				out[i].User = u
			}
		}
		if out[i].Err != nil {
			failed++
		}
	}
	return out
}

// prepareNew is CreateUser up to the store: the same normalisation and rules.
func (s *Service) prepareNew(a Actor, org *Org, body map[string]any) (*Resource, error) {
	doc, err := s.users.Normalize(body)
	if err != nil {
		return nil, err
	}
	u := &Resource{Doc: doc}
	if err := s.prepareUser(a, org, u, nil, true); err != nil {
		return nil, err
	}
	return u, nil
}

// budget marks the results after the maxErrors-th failure as skipped.
func budget(out []CreateResult, maxErrors int) []CreateResult {
	failed := 0
	for i := range out {
		if maxErrors > 0 && failed >= maxErrors {
			out[i] = CreateResult{Err: ErrSkipped}
			continue
		}
		if out[i].Err != nil {
			failed++
		}
	}
	return out
}
