package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
)

// Store is the directories of every organization in PostgreSQL: it implements
// directory.Store. It holds no rule: it runs the statements the directory asks for and maps
// rows to the directory's types, and constraint violations to the directory's errors.
type Store struct {
	pool   *pgxpool.Pool
	users  *users
	groups *groups
	tokens *tokenCache
	// orgs keeps organizations' settings between transactions (orgcache.go).
	orgs *orgCache
	// cursors seals and opens list cursors (cursor.go).
	cursors *cursors
	// counts keeps the totals of filtered lists (countcache.go).
	counts *bounded[countedTotal]
}

var _ directory.Store = (*Store)(nil)

// NewStore returns the store over pool for the resource types of reg.
func NewStore(pool *pgxpool.Pool, reg *schema.Registry) (*Store, error) {
	u, err := newUsers(reg.User)
	if err != nil {
		return nil, err
	}
	return &Store{pool: pool, users: u, groups: newGroups(reg.Group), tokens: newTokenCache(),
		orgs: newOrgCache(), cursors: &cursors{pool: pool, now: time.Now}, counts: newBounded[countedTotal](maxCountedTotals)}, nil
}

// Orgs is the organization store over the same pool, sharing the token cache, so that an
// organization deleted through it stops its tokens at once in this process too.
func (s *Store) Orgs() *Orgs {
	return &Orgs{pool: s.pool, tokens: s.tokens}
}

// updateAttempts bounds how often Update runs a transaction that a concurrent one made stale or
// aborted; a change that loses that often is told to retry.
const updateAttempts = 10

// Update implements directory.Store.
//
// An attempt whose statements never reached the server (pgconn.SafeToRetry: the connection
// was found dead as they were written, as happens to pooled connections after PostgreSQL
// restarts or fails over) runs once more on a fresh connection. Any other loss of the
// connection is returned and answered 503: a connection lost while COMMIT was in flight
// leaves the outcome unknown, and the client decides.
func (s *Store) Update(ctx context.Context, org string, fn func(directory.Tx) error) error {
	reconnected := false
	for range updateAttempts {
		err := s.attempt(ctx, org, fn)
		var lost *lostConn
		switch {
		case errors.Is(err, errStale), errors.Is(err, errRetry):
		case errors.As(err, &lost) && !reconnected:
			reconnected = true
		case errors.As(err, &lost):
			return lost.err
		default:
			return err
		}
	}
	return directory.ErrContended
}

// lostConn is an attempt whose statements never reached the server.
type lostConn struct{ err error }

func (e *lostConn) Error() string { return e.err.Error() }
func (e *lostConn) Unwrap() error { return e.err }

// unsent reports whether err means that the attempt's statements never reached the server,
// while the client still waits for the answer.
func unsent(ctx context.Context, err error) bool {
	return ctx.Err() == nil && pgconn.SafeToRetry(err)
}

func (s *Store) attempt(ctx context.Context, org string, fn func(directory.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	t := &tx{ctx: ctx, s: s, conn: conn.Conn(), org: org, queued: &pgx.Batch{}}
	defer t.rollback()
	err = fn(t)
	if err == nil {
		err = t.commit()
	} else if t.cached && !t.began {
		// The change was refused on kept settings before anything was sent: the refusal
		// stands only if they are current (a refusal after that was made on settings the first
		// round trip checked).
		t.queued = &pgx.Batch{}
		if cerr := t.sendWhole(); cerr != nil {
			err = cerr
		}
	}
	if t.cached && errors.Is(err, errRetry) {
		// Perhaps for settings that changed (org_settings_unchanged): the next attempt
		// reads them.
		s.orgs.forget(org)
	}
	if err != nil {
		if unsent(ctx, err) {
			return &lostConn{err}
		}
		return err
	}
	for _, note := range t.notes {
		s.tokens.drop(note)
	}
	return nil
}

// orgSettingsSQL reads what the directory's rules need to know about an organization, in one
// indexed statement, with the version the store keeps them by (migration 0012, orgcache.go).
const orgSettingsSQL = `SELECT o.id::text, o.name, o.default_locale, o.notify, o.nested_groups,
		coalesce((SELECT array_agg(d.domain ORDER BY d.domain) FROM org_domains d
			WHERE d.org_id = o.id AND d.verified_at IS NOT NULL), '{}'),
		coalesce((SELECT array_agg(p.product ORDER BY p.product) FROM org_products p WHERE p.org_id = o.id), '{}'),
		o.settings_version
	FROM organizations o WHERE o.id = $1`

func scanOrgSettings(row pgx.Row) (cachedOrg, error) {
	o := cachedOrg{settings: &directory.Org{}}
	s := o.settings
	err := row.Scan(&s.ID, &s.Name, &s.DefaultLocale, &s.Notify, &s.NestedGroups, &s.VerifiedDomains, &s.Products, &o.version)
	return o, err
}

// Org implements directory.Store.
func (s *Store) Org(ctx context.Context, org string) (*directory.Org, error) {
	o, err := scanOrgSettings(s.row(ctx, orgSettingsSQL, org))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.ErrNoOrg
	}
	return o.settings, err
}

// orgExists answers directory.ErrNoOrg when the organization does not exist, else notFound; a
// read that found nothing tells the two apart with it.
func (s *Store) orgExists(ctx context.Context, org string, notFound error) error {
	var exists bool
	if err := s.row(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)`, org).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return directory.ErrNoOrg
	}
	return notFound
}
