package postgres

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/auth"
)

// Orgs stores organizations, their domains and their tokens.
type Orgs struct {
	pool *pgxpool.Pool
}

// NewOrgs returns the organization store over pool.
func NewOrgs(pool *pgxpool.Pool) *Orgs { return &Orgs{pool: pool} }

// CreateOrg creates an organization whose domains are verified, and issues its operator token
// (a token with no issuing user), in one transaction. id may be empty for a new random id; an
// organization that already exists with that id is kept and only gets a new token.
func (o *Orgs) CreateOrg(ctx context.Context, id, name string, domains []string) (auth.Issued, error) {
	if id == "" {
		id = uuid.NewString()
	}
	tok, err := auth.Generate(id)
	if err != nil {
		return auth.Issued{}, err
	}
	err = pgx.BeginFunc(ctx, o.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO organizations (id, name) VALUES ($1, $2)
			ON CONFLICT (id) DO NOTHING`, id, name); err != nil {
			return err
		}
		lower := make([]string, len(domains))
		for i, d := range domains {
			lower[i] = strings.ToLower(strings.TrimSpace(d))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO org_domains (org_id, domain, verified_at)
			SELECT $1, d, now() FROM unnest($2::text[]) AS d
			ON CONFLICT (org_id, domain) DO UPDATE SET verified_at = coalesce(org_domains.verified_at, now())`,
			id, lower); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO tokens (org_id, id, secret_hash, description)
			VALUES ($1, $2, $3, 'operator')`, tok.OrgID, tok.ID, tok.Hash)
		return err
	})
	return tok, err
}
