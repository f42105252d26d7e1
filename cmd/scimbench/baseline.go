package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// raw does what each scenario asks of the database directly with pgx, without scimd: the same
// rows, the same indexes, one statement per operation, at the same concurrency. pgx prepares
// each statement once per connection (its default statement cache), so every call after the
// first is a Bind/Execute of a prepared statement.
//
// Writes go to the baseline's own organization, so they never change what the scenarios read.
type raw struct {
	db      *pgxpool.Pool
	org     string // the baseline's organization
	mainOrg string // the benchmarked organization, only read (delta sync baseline)
	group   string

	seeds []string // users of the baseline org: seeds[i] is named seedName(i)
	next  atomic.Int64

	mu       sync.Mutex
	inserted []string // users inserted by the insert baseline, deleted by the delete baseline
	deleted  atomic.Int64
	inserts  atomic.Int64
}

// userCols are the columns the raw reads return, those a User response is built from.
const userCols = `u.id, u.version, u.created_at, u.last_modified, u.user_name, u.external_id, u.active,
	u.display_name, u.locale, u.name_formatted, u.family_name, u.given_name, u.department`

// userValuesAgg is the multi-valued attributes (the email rows) of user u, as one column.
const userValuesAgg = `(SELECT json_agg(json_build_array(c.attr, c.value, c.display, c.type, c."primary") ORDER BY c.attr, c.pos)
	FROM user_values c WHERE c.org_id = u.org_id AND c.user_id = u.id)`

const insertUserSQL = `INSERT INTO users (org_id, id, user_name, external_id, active, display_name, locale,
	name_formatted, family_name, given_name, department)
	VALUES ($1, $2, $3, $4, true, $5, 'en-US', $5, $6, $7, $8)
	RETURNING version, created_at, last_modified`

const insertEmailSQL = `INSERT INTO user_values (org_id, user_id, attr, pos, value, type, "primary")
	VALUES ($1, $2, 'emails', 0, $3, 'work', true)`

// newRaw creates the baseline's organization, a group, and as many users as the directory will
// have, so that lookups search indexes holding as many entries of the organization (which
// matters for the trigram search, whose index leads with org_id).
func newRaw(ctx context.Context, db *pgxpool.Pool, mainOrg string, seeds int) (*raw, error) {
	r := &raw{db: db, org: uuidV7(), mainOrg: mainOrg, group: uuidV7()}
	if _, err := db.Exec(ctx, "INSERT INTO organizations (id, name) VALUES ($1, 'scimbench raw baseline')", r.org); err != nil {
		return nil, err
	}
	if _, err := db.Exec(ctx, "INSERT INTO groups (org_id, id, display_name) VALUES ($1, $2, 'raw baseline')", r.org, r.group); err != nil {
		return nil, err
	}
	var err error
	start := time.Now()
	if r.seeds, err = r.bulkUsers(ctx, "seed", seeds); err != nil {
		return nil, err
	}
	// Like the 10-member group: the first ten seeds are members, the rest are candidates.
	_, err = db.Exec(ctx, `INSERT INTO group_members (org_id, group_id, member_id, member_type)
		SELECT $1, $2, unnest($3::uuid[]), 'User'`, r.org, r.group, r.seeds[:10])
	logf("raw baseline: organization %s with %d users, seeded in %s", r.org, seeds, time.Since(start).Round(time.Millisecond))
	return r, err
}

func seedName(i int) string   { return fmt.Sprintf("raw-seed-%07d@example.com", i) }
func seedExtID(i int) string  { return fmt.Sprintf("raw-seed-ext-%07d", i) }
func (r *raw) seed(i int) int { return i % len(r.seeds) }

// bulkUsers inserts n users (and their email rows), 50,000 per transaction: untimed setup.
func (r *raw) bulkUsers(ctx context.Context, label string, n int) ([]string, error) {
	all := make([]string, 0, n)
	for lo := 0; lo < n; lo += 50_000 {
		hi := min(lo+50_000, n)
		ids, names, exts := make([]string, hi-lo), make([]string, hi-lo), make([]string, hi-lo)
		for i := range ids {
			ids[i] = uuidV7()
			names[i] = fmt.Sprintf("raw-%s-%07d@example.com", label, lo+i)
			exts[i] = fmt.Sprintf("raw-%s-ext-%07d", label, lo+i)
		}
		err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO users (org_id, id, user_name, external_id, display_name, locale)
				SELECT $1, *, 'en-US' FROM unnest($2::uuid[], $3::text[], $4::text[], $3::text[])`, r.org, ids, names, exts); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO user_values (org_id, user_id, attr, pos, value, type, "primary")
				SELECT $1, i, 'emails', 0, v, 'work', true FROM unnest($2::uuid[], $3::text[]) AS t(i, v)`, r.org, ids, names)
			return err
		})
		if err != nil {
			return nil, err
		}
		all = append(all, ids...)
	}
	return all, nil
}

// insertUser is one raw user creation: the users row and its email row in one implicit
// transaction (a pipelined batch, one round trip), as scimd's CreateUser writes them.
func (r *raw) insertUser(ctx context.Context, c *client) error {
	k := int(r.inserts.Add(1))
	id := uuidV7()
	name := fmt.Sprintf("raw-new-%08d@example.com", k)
	err := c.exec(0, func() error {
		b := &pgx.Batch{}
		b.Queue(insertUserSQL, r.org, id, name, fmt.Sprintf("raw-new-ext-%08d", k),
			fmt.Sprintf("Given%d Family%d", k, k), fmt.Sprintf("Family%d", k), fmt.Sprintf("Given%d", k), "Department 1")
		b.Queue(insertEmailSQL, r.org, id, name)
		return r.db.SendBatch(ctx, b).Close()
	})
	if err == nil {
		r.mu.Lock()
		r.inserted = append(r.inserted, id)
		r.mu.Unlock()
	}
	return nil
}

// query runs a read and checks how many rows it returned.
func (r *raw) query(ctx context.Context, c *client, want int, sql string, args ...any) error {
	_ = c.exec(0, func() error {
		rows, err := r.db.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("%d rows, want %d", n, want)
		}
		return nil
	})
	return nil
}

func (r *raw) selectByID(ctx context.Context, c *client) error {
	return r.query(ctx, c, 1, "SELECT "+userCols+" FROM users u WHERE u.org_id = $1 AND u.id = $2",
		r.org, r.seeds[c.rng.IntN(len(r.seeds))])
}

func (r *raw) selectByUserName(ctx context.Context, c *client) error {
	return r.query(ctx, c, 1, "SELECT "+userCols+" FROM users u WHERE u.org_id = $1 AND lower(u.user_name) = $2",
		r.org, seedName(c.rng.IntN(len(r.seeds))))
}

func (r *raw) selectByUserNameMissing(ctx context.Context, c *client) error {
	return r.query(ctx, c, 0, "SELECT "+userCols+" FROM users u WHERE u.org_id = $1 AND lower(u.user_name) = $2",
		r.org, fmt.Sprintf("raw-missing-%07d@example.com", c.rng.IntN(1_000_000)))
}

func (r *raw) selectByExternalID(ctx context.Context, c *client) error {
	return r.query(ctx, c, 1, "SELECT "+userCols+" FROM users u WHERE u.org_id = $1 AND u.external_id = $2",
		r.org, seedExtID(c.rng.IntN(len(r.seeds))))
}

// selectByEmailContains is the trigram search as a DBA would write it: from the email rows
// (user_values_value_trgm) to their users.
func (r *raw) selectByEmailContains(ctx context.Context, c *client) error {
	return r.query(ctx, c, 1, "SELECT "+userCols+` FROM user_values v JOIN users u ON u.org_id = v.org_id AND u.id = v.user_id
		WHERE v.org_id = $1 AND v.attr = 'emails' AND lower(v.value) LIKE $2`,
		r.org, fmt.Sprintf("%%raw-seed-%07d@%%", c.rng.IntN(len(r.seeds))))
}

// listPage returns the read of 100 users of the benchmarked organization from offset, in
// creation order (the list order), with the email rows a page of GET /Users carries. The
// offset is skipped in the index alone (an index-only scan of users_created), and only the 100
// rows of the page are read and aggregated, as a DBA would write it. Only r's fields are read
// when the op runs, so it may be made from a nil r.
func (r *raw) listPage(offset int) op {
	return func(ctx context.Context, c *client) error {
		return r.query(ctx, c, 100, "SELECT "+userCols+", "+userValuesAgg+`
			FROM (SELECT id, created_at FROM users WHERE org_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT 100) p
			JOIN users u ON u.org_id = $1 AND u.id = p.id
			ORDER BY p.created_at, p.id`, r.mainOrg, offset)
	}
}

func (r *raw) updateTwo(ctx context.Context, c *client) error {
	k := r.next.Add(1)
	_ = c.exec(0, func() error {
		_, err := r.db.Exec(ctx, `UPDATE users SET title = $3, display_name = $4, version = version + 1,
			last_modified = clock_timestamp() WHERE org_id = $1 AND id = $2`,
			r.org, r.seeds[r.seed(int(k))], fmt.Sprintf("Title %d", k), fmt.Sprintf("Name %d", k))
		return err
	})
	return nil
}

func (r *raw) suspend(ctx context.Context, c *client) error {
	k := r.next.Add(1)
	_ = c.exec(0, func() error {
		_, err := r.db.Exec(ctx, `UPDATE users SET active = false, version = version + 1,
			last_modified = clock_timestamp() WHERE org_id = $1 AND id = $2`, r.org, r.seeds[r.seed(int(k))])
		return err
	})
	return nil
}

// memberAddRemove inserts one group_members row and deletes it again. The candidate cycles
// through the seeds after the first ten, so no two clients hold the same one at once.
func (r *raw) memberAddRemove(ctx context.Context, c *client) error {
	k := int(r.next.Add(1))
	id := r.seeds[10+k%(len(r.seeds)-10)]
	if c.exec(0, func() error {
		_, err := r.db.Exec(ctx, `INSERT INTO group_members (org_id, group_id, member_id, member_type)
			VALUES ($1, $2, $3, 'User')`, r.org, r.group, id)
		return err
	}) != nil {
		return nil
	}
	_ = c.exec(1, func() error {
		_, err := r.db.Exec(ctx, "DELETE FROM group_members WHERE org_id = $1 AND group_id = $2 AND member_id = $3",
			r.org, r.group, id)
		return err
	})
	return nil
}

// ensureDeletable makes sure the delete baseline has at least n users that it may delete.
func (r *raw) ensureDeletable(ctx context.Context, n int) error {
	r.mu.Lock()
	have := len(r.inserted) - int(r.deleted.Load())
	r.mu.Unlock()
	if have >= n {
		return nil
	}
	ids, err := r.bulkUsers(ctx, fmt.Sprintf("del%d", time.Now().UnixNano()), n-have)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.inserted = append(r.inserted, ids...)
	r.mu.Unlock()
	return nil
}

// deleteUser deletes one user row; its email row goes by ON DELETE CASCADE.
func (r *raw) deleteUser(ctx context.Context, c *client) error {
	k := int(r.deleted.Add(1) - 1)
	r.mu.Lock()
	if k >= len(r.inserted) {
		r.mu.Unlock()
		return errStop
	}
	id := r.inserted[k]
	r.mu.Unlock()
	_ = c.exec(0, func() error {
		_, err := r.db.Exec(ctx, "DELETE FROM users WHERE org_id = $1 AND id = $2", r.org, id)
		return err
	})
	return nil
}

// pageAll reads every user of the benchmarked organization modified after since, 1,000 at a
// time, with keyset paging on users_last_modified, with the same email rows a User response
// carries. It is what the database alone needs for a full delta sync.
func (r *raw) pageAll(ctx context.Context, since time.Time, deadline time.Time) (pages, users int, elapsed time.Duration, err error) {
	start := time.Now()
	lastTime, lastID := since, "00000000-0000-0000-0000-000000000000"
	for pages < 10_000_000 && time.Now().Before(deadline) {
		rows, err := r.db.Query(ctx, "SELECT u.last_modified, u.id::text, "+userCols+", "+userValuesAgg+`
			FROM users u WHERE u.org_id = $1 AND (u.last_modified, u.id) > ($2, $3::uuid)
			ORDER BY u.last_modified, u.id LIMIT 1000`, r.mainOrg, lastTime, lastID)
		if err != nil {
			return pages, users, time.Since(start), err
		}
		n := 0
		for rows.Next() {
			// Only the keyset columns are decoded; the rest is read off the wire as is.
			if err := rows.Scan(&lastTime, &lastID, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil); err != nil {
				rows.Close()
				return pages, users, time.Since(start), err
			}
			n++
		}
		if err := rows.Err(); err != nil {
			return pages, users, time.Since(start), err
		}
		if n == 0 {
			break
		}
		pages++
		users += n
	}
	return pages, users, time.Since(start), nil
}

// deleteOrg deletes an organization scimbench made in a database it did not create; its
// users, email rows and groups go with it (ON DELETE CASCADE).
func deleteOrg(db *pgxpool.Pool, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := db.Exec(ctx, "DELETE FROM organizations WHERE id = $1", id); err != nil {
		logf("could not delete organization %s: %v", id, err)
	}
}
