package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/orgs"
)

// Orgs stores organizations, their domains, products and tokens. It implements orgs.Store;
// the rules live in internal/orgs.
type Orgs struct {
	pool *pgxpool.Pool
	// tokens is the token cache of the Store it came from (Store.Orgs), nil for one made by
	// NewOrgs: a process that authenticates nothing has no cache.
	tokens *tokenCache
}

var _ orgs.Store = (*Orgs)(nil)

// NewOrgs returns the organization store over pool.
func NewOrgs(pool *pgxpool.Pool) *Orgs { return &Orgs{pool: pool} }

// CreateOrg creates an organization whose domains are verified and which licenses
// orgs.DefaultProducts, and issues its operator token, in one transaction. id may be empty for
// a new random id; an organization that already exists with that id is kept and gets a new
// operator token replacing the one issued before (and any domains or default products it
// lacks): what "scimd serve --demo" does on every start, without piling up valid tokens.
// Domains are only trimmed and lowercased: callers with input to check use orgs.Service.
func (o *Orgs) CreateOrg(ctx context.Context, id, name string, domains []string) (auth.Issued, error) {
	if id == "" {
		id = uuid.NewString()
	}
	tok, err := auth.Generate(id)
	if err != nil {
		return auth.Issued{}, err
	}
	lower := make([]string, len(domains))
	for i, d := range domains {
		lower[i] = strings.ToLower(strings.TrimSpace(d))
	}
	err = o.InsertOrg(ctx, orgs.NewOrg{ID: tok.OrgID, Name: name, DefaultLocale: orgs.DefaultLocale,
		Domains: lower, Products: orgs.DefaultProducts, Operator: tok})
	return tok, err
}

// InsertOrg implements orgs.Store. An organization that exists already is kept; the domains,
// products and operator token are added to it, the token replacing (revoking) earlier operator
// tokens.
func (o *Orgs) InsertOrg(ctx context.Context, n orgs.NewOrg) error {
	locale := n.DefaultLocale
	if locale == "" {
		locale = orgs.DefaultLocale
	}
	return pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name, default_locale) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO NOTHING`, n.ID, n.Name, locale); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_domains (org_id, domain, verified_at)
			SELECT $1, d, now() FROM unnest($2::text[]) AS d
			ON CONFLICT (org_id, domain) DO UPDATE SET verified_at = coalesce(org_domains.verified_at, now())`,
			n.ID, n.Domains); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_products (org_id, product)
			SELECT $1, p FROM unnest($2::text[]) AS p ON CONFLICT DO NOTHING`, n.ID, n.Products); err != nil {
			return err
		}
		// The operator token is a service token with the admin role.
		if _, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = now()
			WHERE org_id = $1 AND issuer_user_id IS NULL AND label = 'operator' AND revoked_at IS NULL`, n.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (org_id, id, secret_hash, role, label, expires_at)
			VALUES ($1, $2, $3, 'admin', 'operator', $4)`, n.ID, n.Operator.ID, n.Operator.Hash, n.Operator.Expiry)
		return err
	})
}

// orgsQuerier is what both a pool and a transaction offer.
type orgsQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// orgMissing answers orgs.ErrNoOrg when the organization does not exist, else notFound.
func orgMissing(ctx context.Context, q orgsQuerier, org string, notFound error) error {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM organizations WHERE id = $1)`, org).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return orgs.ErrNoOrg
	}
	return notFound
}

// orgsPgError maps constraint violations of the organization tables to orgs' errors:
// duplicates are orgs.ErrExists and a missing organization (a foreign key) orgs.ErrNoOrg.
func orgsPgError(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return orgs.ErrExists
		case "23503": // foreign_key_violation
			return orgs.ErrNoOrg
		}
	}
	return err
}

// GetOrg implements orgs.Store, reading the organization, its domains and products in one
// snapshot.
func (o *Orgs) GetOrg(ctx context.Context, org string) (*orgs.Org, error) {
	var out orgs.Org
	err := pgx.BeginTxFunc(ctx, o.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `SELECT id::text, name, default_locale, created_at FROM organizations WHERE id = $1`, org).
			Scan(&out.ID, &out.Name, &out.DefaultLocale, &out.Created)
		if errors.Is(err, pgx.ErrNoRows) {
			return orgs.ErrNoOrg
		}
		if err != nil {
			return err
		}
		out.Created = out.Created.UTC()
		if out.Domains, err = orgDomains(ctx, tx, org); err != nil {
			return err
		}
		out.Products, err = orgProducts(ctx, tx, org)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

const orgDomainColumns = `domain, verified_at, txt_value, created_at`

func scanOrgDomain(row pgx.Row) (orgs.Domain, error) {
	var d orgs.Domain
	var txt *string
	if err := row.Scan(&d.Domain, &d.VerifiedAt, &txt, &d.Created); err != nil {
		return d, err
	}
	d.Created = d.Created.UTC()
	if d.VerifiedAt != nil {
		at := d.VerifiedAt.UTC()
		d.Verified, d.VerifiedAt = true, &at
	}
	if txt != nil {
		d.TXT = &orgs.TXTRecord{Name: orgs.Challenge(d.Domain), Value: *txt}
	}
	return d, nil
}

func orgDomains(ctx context.Context, q orgsQuerier, org string) ([]orgs.Domain, error) {
	rows, err := q.Query(ctx, `SELECT `+orgDomainColumns+` FROM org_domains WHERE org_id = $1 ORDER BY domain`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orgs.Domain, error) { return scanOrgDomain(r) })
	if out == nil && err == nil {
		out = []orgs.Domain{}
	}
	return out, err
}

func orgProducts(ctx context.Context, q orgsQuerier, org string) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT product FROM org_products WHERE org_id = $1 ORDER BY product`, org)
	if err != nil {
		return nil, err
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if out == nil && err == nil {
		out = []string{}
	}
	return out, err
}

// ListDomains implements orgs.Store.
func (o *Orgs) ListDomains(ctx context.Context, org string) ([]orgs.Domain, error) {
	if err := orgMissing(ctx, o.pool, org, nil); err != nil {
		return nil, err
	}
	return orgDomains(ctx, o.pool, org)
}

// GetDomain implements orgs.Store.
func (o *Orgs) GetDomain(ctx context.Context, org, domain string) (*orgs.Domain, error) {
	d, err := scanOrgDomain(o.pool.QueryRow(ctx, `SELECT `+orgDomainColumns+` FROM org_domains
		WHERE org_id = $1 AND domain = $2`, org, domain))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// InsertDomain implements orgs.Store.
func (o *Orgs) InsertDomain(ctx context.Context, org string, d orgs.Domain) error {
	var txt *string
	if d.TXT != nil {
		txt = &d.TXT.Value
	}
	_, err := o.pool.Exec(ctx, `INSERT INTO org_domains (org_id, domain, verified_at, txt_value)
		VALUES ($1, $2, $3, $4)`, org, d.Domain, d.VerifiedAt, txt)
	return orgsPgError(err)
}

// MarkDomainVerified implements orgs.Store.
func (o *Orgs) MarkDomainVerified(ctx context.Context, org, domain string, at time.Time) (*orgs.Domain, error) {
	d, err := scanOrgDomain(o.pool.QueryRow(ctx, `UPDATE org_domains SET verified_at = coalesce(verified_at, $3)
		WHERE org_id = $1 AND domain = $2 RETURNING `+orgDomainColumns, org, domain, at))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// DeleteDomain implements orgs.Store.
func (o *Orgs) DeleteDomain(ctx context.Context, org, domain string) error {
	tag, err := o.pool.Exec(ctx, `DELETE FROM org_domains WHERE org_id = $1 AND domain = $2`, org, domain)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return nil
}

// ListProducts implements orgs.Store.
func (o *Orgs) ListProducts(ctx context.Context, org string) ([]string, error) {
	if err := orgMissing(ctx, o.pool, org, nil); err != nil {
		return nil, err
	}
	return orgProducts(ctx, o.pool, org)
}

// InsertProduct implements orgs.Store.
func (o *Orgs) InsertProduct(ctx context.Context, org, product string) error {
	_, err := o.pool.Exec(ctx, `INSERT INTO org_products (org_id, product) VALUES ($1, $2)`, org, product)
	return orgsPgError(err)
}

// DeleteProduct implements orgs.Store. The foreign keys from grants (user_products, and any
// later table of grants) refuse the delete while the product is granted; the refusal counts
// the users holding it directly.
func (o *Orgs) DeleteProduct(ctx context.Context, org, product string) error {
	tag, err := o.pool.Exec(ctx, `DELETE FROM org_products WHERE org_id = $1 AND product = $2`, org, product)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		var n int
		if err := o.pool.QueryRow(ctx, `SELECT count(*) FROM user_products WHERE org_id = $1 AND product = $2`,
			org, product).Scan(&n); err != nil {
			return err
		}
		return &orgs.InUseError{Users: n}
	}
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return orgMissing(ctx, o.pool, org, orgs.ErrNotFound)
	}
	return nil
}
