package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
)

// Reads and writes of users: the directory.Store and directory.Tx methods about users.

// User implements directory.Store.
func (s *Store) User(ctx context.Context, org, id string, pr schema.Projection) (*directory.User, error) {
	u, err := s.users.scan(s.row(ctx, s.users.selectByID(pr, false), org, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.ErrNotFound
	}
	return u, err
}

// Users implements directory.Store.
func (s *Store) Users(ctx context.Context, org string, q directory.Query) ([]*directory.User, directory.PageInfo, error) {
	return list(ctx, s, &s.users.table, s.users.selectFrom(q.Projection, false), org, q, s.users.scan)
}

// TakenUserNames implements directory.Store, comparing with lower() as the unique index
// users_user_name_key does.
func (s *Store) TakenUserNames(ctx context.Context, org string, names []string) ([]bool, error) {
	taken := make([]bool, len(names))
	rows, err := s.pool.Query(ctx, `SELECT n.i, EXISTS (SELECT 1 FROM users u WHERE u.org_id = $1 AND lower(u.user_name) = lower(n.name))
		FROM unnest($2::text[]) WITH ORDINALITY AS n(name, i) WHERE n.name <> ''`, org, names)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var i int64
		var exists bool
		if err := rows.Scan(&i, &exists); err != nil {
			return nil, err
		}
		taken[i-1] = exists
	}
	return taken, rows.Err()
}

// LockUser implements directory.Tx. The lock is taken first and the user read in a second
// statement: under READ COMMITTED a locking read re-checks only the locked row after waiting,
// while its subqueries (the user's multi-valued attributes) would keep the older snapshot.
func (t *tx) LockUser(id string) (*directory.User, error) {
	found := false
	var u *directory.User
	err := t.send(func(b *pgx.Batch) {
		b.Queue("SELECT 1 FROM users WHERE org_id = $1 AND id = $2 FOR UPDATE", t.org, id).Query(func(rows pgx.Rows) error {
			found = rows.Next()
			rows.Close()
			return rows.Err()
		})
		b.Queue(t.s.users.selectByID(schema.Projection{}, true), t.org, id).Query(func(rows pgx.Rows) error {
			defer rows.Close()
			if rows.Next() {
				var err error
				u, err = t.s.users.scan(rows)
				return err
			}
			return rows.Err()
		})
	})
	if err != nil {
		return nil, err
	}
	if !found || u == nil {
		return nil, directory.ErrNotFound
	}
	return u, nil
}

// ExistingUsers implements directory.Tx.
func (t *tx) ExistingUsers(ids []string) ([]string, error) {
	var out []string
	err := t.send(func(b *pgx.Batch) {
		b.Queue("SELECT id::text FROM users WHERE org_id = $1 AND id = ANY($2::uuid[])", t.org, ids).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, pgx.RowTo[string])
			return err
		})
	})
	return out, err
}

// InsertUser implements directory.Tx: the users row, its children, its direct and effective
// products, queued to go with the next round trip.
func (t *tx) InsertUser(u *directory.User) error {
	multi, err := t.s.users.multiValued(u.Doc)
	if err != nil {
		return err
	}
	active, texts, err := t.s.users.columnValues(u.Doc)
	if err != nil {
		return err
	}
	t.queue(insertUserSQL, t.org, u.ID, nullIfEmpty(u.PasswordHash), u.Direct.OrgRole, u.Direct.AccountRole,
		u.Effective.OrgRole, u.Effective.AccountRole, nullIfEmpty(u.SignIn), multi, nonNil(u.Effective.Products),
		active, texts).
		QueryRow(func(row pgx.Row) error {
			return row.Scan(&u.Version, &u.Created, &u.LastModified, &u.AccountID)
		})
	t.s.users.queueChildren(t.queued, t.org, u.ID, u.Doc, nil)
	queueProducts(t.queued, t.org, u.ID, u.Direct.Products, nil)
	if len(u.Effective.Products) > 0 {
		t.queue(`INSERT INTO user_effective_products (org_id, user_id, product) SELECT $1, $2, unnest($3::text[])`,
			t.org, u.ID, u.Effective.Products)
	}
	return nil
}

// UpdateUser implements directory.Tx: only the children and products that changed are
// rewritten.
func (t *tx) UpdateUser(before, u *directory.User) error {
	multi, err := t.s.users.multiValued(u.Doc)
	if err != nil {
		return err
	}
	active, texts, err := t.s.users.columnValues(u.Doc)
	if err != nil {
		return err
	}
	t.queue(updateUserSQL, t.org, u.ID, nullIfEmpty(u.PasswordHash), u.Direct.OrgRole, u.Direct.AccountRole,
		nullIfEmpty(u.SignIn), multi, active, texts).
		QueryRow(func(row pgx.Row) error { return row.Scan(&u.Version, &u.LastModified) })
	t.s.users.queueChildren(t.queued, t.org, u.ID, u.Doc, before.Doc)
	queueProducts(t.queued, t.org, u.ID, u.Direct.Products, before.Direct.Products)
	return nil
}

// The user INSERT and UPDATE, built once. Their parameters: those the statements name, then
// active, then the other columns of userColumns as one text[] (columnValues). One array
// encodes in a fraction of the time of two dozen parameters, each of which pgx plans and
// encodes on its own; the manager's id is cast back to its uuid column.
var insertUserSQL, updateUserSQL = func() (string, string) {
	const insertLead, updateLead = 10, 7
	cols := make([]string, len(userColumns))
	insertVals := make([]string, len(userColumns))
	sets := make([]string, len(userColumns))
	text := 0
	for i, c := range userColumns {
		cols[i] = c.column
		if c.column == "active" {
			insertVals[i] = fmt.Sprintf("$%d", insertLead+1)
			sets[i] = fmt.Sprintf("active = $%d", updateLead+1)
			continue
		}
		text++
		cast := ""
		if c.column == managerColumn {
			cast = "::uuid"
		}
		insertVals[i] = fmt.Sprintf("($%d::text[])[%d]%s", insertLead+2, text, cast)
		sets[i] = fmt.Sprintf("%s = ($%d::text[])[%d]%s", c.column, updateLead+2, text, cast)
	}
	return `INSERT INTO users (org_id, id, password_hash, org_role, account_role, eff_org_role, eff_account_role, sign_in,
		multi_valued, eff_products, ` + strings.Join(cols, ", ") + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, ` +
			strings.Join(insertVals, ", ") + `)
		RETURNING version, created_at, last_modified, account_id`,
		`UPDATE users SET ` + strings.Join(sets, ", ") + `,
		password_hash = coalesce($3, password_hash), org_role = $4, account_role = $5, sign_in = $6, multi_valued = $7,
		version = version + 1, last_modified = clock_timestamp()
		WHERE org_id = $1 AND id = $2 RETURNING version, last_modified`
}()

// nonNil is ss, or an empty list for nil: a nil slice is a NULL array, which the NOT NULL
// array columns refuse.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
