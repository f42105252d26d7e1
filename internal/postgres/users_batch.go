package postgres

import (
	"context"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/scimerr"
)

// batchChunk is how many users one round trip (and one transaction) of CreateUsers writes.
const batchChunk = 250

// CreateUsers implements directory.UserBatchStore: a bulk request's run of user creations in a
// few round trips instead of several per user.
//
//   - One query checks every userName against the table (with PostgreSQL's lower(), as the
//     unique index users_user_name_key compares); a name taken there, or by an earlier user of
//     the list, fails that user alone, with the error CreateUser gives for the violation.
//   - The others are written batchChunk at a time, one transaction per chunk: what CreateUser
//     queues for each user (users row, children, direct products, audit record) goes in one
//     pgx batch, one round trip; users given grants then get one refresh of their effective
//     grants for all of them and the journal CreateUser writes for each (see insertAll).
//   - A chunk can still fail on a constraint when a concurrent request took a userName (or
//     withdrew a product) after the check. Its transaction is rolled back, and that chunk and
//     the rest of the list are created one by one through CreateUser, so the violation is
//     reported on the user that caused it and on no other.
func (s *Users) CreateUsers(ctx context.Context, org string, users []*directory.Resource, maxErrors int) []error {
	errs := make([]error, len(users))
	taken, keys, err := s.takenNames(ctx, org, users)
	if err != nil {
		for i, u := range users {
			if u != nil {
				errs[i] = err
			}
		}
		return skipAfter(users, errs, 0, maxErrors)
	}
	seen := make(map[string]bool, len(users))
	for i, u := range users {
		if u == nil {
			continue
		}
		if taken[i] || seen[keys[i]] {
			errs[i] = s.mapErr(&pgconn.PgError{Code: "23505", ConstraintName: "users_user_name_key"}, u.Doc)
			continue
		}
		seen[keys[i]] = true
	}
	errs = skipAfter(users, errs, 0, maxErrors)
	for start := 0; start < len(users); start += batchChunk {
		end := min(start+batchChunk, len(users))
		var chunk []*directory.Resource
		for i := start; i < end; i++ {
			if users[i] != nil && errs[i] == nil {
				chunk = append(chunk, users[i])
			}
		}
		if len(chunk) == 0 {
			continue
		}
		err := s.insertAll(ctx, org, chunk)
		if err == nil {
			continue
		}
		if scimerr.As(s.mapErr(err, nil)) != nil {
			return s.createEach(ctx, org, users, errs, start, maxErrors)
		}
		// Not a constraint: nothing of this chunk was written, and the rest is not tried.
		for i := start; i < len(users); i++ {
			if users[i] != nil && (errs[i] == nil || errs[i] == directory.ErrSkipped) {
				errs[i] = err
			}
		}
		return skipAfter(users, errs, start, maxErrors)
	}
	return errs
}

// takenNames reports, for each user, whether its userName is taken in the table, and the
// userName as the unique index compares it.
func (s *Users) takenNames(ctx context.Context, org string, users []*directory.Resource) ([]bool, []string, error) {
	taken := make([]bool, len(users))
	keys := make([]string, len(users))
	var names []string
	var index []int
	for i, u := range users {
		if u != nil {
			name, _ := u.Doc["userName"].(string)
			names = append(names, name)
			index = append(index, i)
		}
	}
	if len(names) == 0 {
		return taken, keys, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT n.i, lower(n.name),
			EXISTS (SELECT 1 FROM users u WHERE u.org_id = $1 AND lower(u.user_name) = lower(n.name))
		FROM unnest($2::text[]) WITH ORDINALITY AS n(name, i)`, org, names)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var n int64
		var key string
		var exists bool
		if err := rows.Scan(&n, &key, &exists); err != nil {
			return nil, nil, err
		}
		i := index[n-1]
		taken[i], keys[i] = exists, key
	}
	return taken, keys, rows.Err()
}

// insertAll creates users as CreateUser creates each, in one transaction: every users row, its
// children, direct products and audit record in one batch (one round trip); then, for the users
// given grants, one refresh of their effective grants and the journal of each change, which is
// what CreateUser does for such a user in its transaction.
func (s *Users) insertAll(ctx context.Context, org string, users []*directory.Resource) error {
	accountIDs := make([]string, len(users))
	var granted []string
	changes := map[string]directory.GrantChange{}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		granted = granted[:0]
		for i, u := range users {
			if err := s.queueInsert(ctx, b, org, u, &accountIDs[i]); err != nil {
				return err
			}
			if !reflect.DeepEqual(u.Direct, grants.Default()) {
				granted = append(granted, u.ID)
			}
		}
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
		if len(granted) == 0 {
			return nil
		}
		rows, err := tx.Query(ctx, refreshSQL, org, granted)
		if err != nil {
			return err
		}
		list, err := scanGrantChanges(rows)
		rows.Close()
		if err != nil {
			return err
		}
		if err := checkAdminsKept(ctx, tx, org, list); err != nil {
			return err
		}
		for _, c := range list {
			// Each user is the subject of its own creation, as in CreateUser.
			if err := journalGrants(ctx, tx, org, []directory.GrantChange{c}, c.UserID, ""); err != nil {
				return err
			}
			changes[c.UserID] = c
		}
		return nil
	})
	if err != nil {
		return err
	}
	for i, u := range users {
		eff := grants.Default()
		if c, ok := changes[u.ID]; ok {
			eff = c.After
			u.Changes = []directory.GrantChange{c}
		}
		eff.Write(u.Doc)
		setComputed(u.Doc, accountIDs[i])
	}
	return nil
}

// createEach creates users[from:] one by one through CreateUser, in order, keeping to the error
// budget: users that already failed count, and after the maxErrors-th failure the rest are
// skipped.
func (s *Users) createEach(ctx context.Context, org string, users []*directory.Resource, errs []error, from, maxErrors int) []error {
	failed := countFailed(users[:from], errs[:from])
	for i := from; i < len(users); i++ {
		if errs[i] == directory.ErrSkipped {
			continue
		}
		if maxErrors > 0 && failed >= maxErrors {
			errs[i] = directory.ErrSkipped
			continue
		}
		if users[i] == nil || errs[i] != nil {
			failed++
			continue
		}
		if err := s.CreateUser(ctx, org, users[i]); err != nil {
			errs[i] = err
			failed++
		}
	}
	return errs
}

// skipAfter marks every user from index from on that comes after the maxErrors-th failure
// (counted from the start of the list) as skipped.
func skipAfter(users []*directory.Resource, errs []error, from, maxErrors int) []error {
	if maxErrors <= 0 {
		return errs
	}
	failed := countFailed(users[:from], errs[:from])
	for i := from; i < len(users); i++ {
		if failed >= maxErrors {
			errs[i] = directory.ErrSkipped
			continue
		}
		if users[i] == nil || (errs[i] != nil && errs[i] != directory.ErrSkipped) {
			failed++
		}
	}
	return errs
}

func countFailed(users []*directory.Resource, errs []error) int {
	n := 0
	for i := range users {
		if users[i] == nil || (errs[i] != nil && errs[i] != directory.ErrSkipped) {
			n++
		}
	}
	return n
}
