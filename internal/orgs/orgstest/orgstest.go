// Package orgstest is test support for organization administration: a DNS server on loopback
// for domain verification, users inserted straight into the database to issue tokens, and a
// snapshot of everything stored about organizations to assert that a refused request changed
// nothing.
package orgstest

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// InsertUser stores a user of org with the orgRole and active state given, and returns its id.
func InsertUser(t testing.TB, pool *pgxpool.Pool, org, userName, orgRole string, active bool) string {
	t.Helper()
	id := uuid.NewString()
	_, err := pool.Exec(context.Background(), `INSERT INTO users (org_id, id, user_name, org_role, eff_org_role, active)
		VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN $4 ELSE 'user' END, $5)`, org, id, userName, orgRole, active)
	require.NoError(t, err)
	return id
}

// Grant grants a licensed product to a user directly.
func Grant(t testing.TB, pool *pgxpool.Pool, org, user, product string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `INSERT INTO user_products (org_id, user_id, product)
		VALUES ($1, $2, $3)`, org, user, product)
	require.NoError(t, err)
}

// State is every stored row of the organization tables, each table's rows in a fixed order.
type State map[string][]map[string]any

// Snapshot reads State.
func Snapshot(t testing.TB, pool *pgxpool.Pool) State {
	t.Helper()
	out := State{}
	for table, order := range map[string]string{
		"organizations": "id",
		"org_domains":   "org_id, domain",
		"org_products":  "org_id, product",
		"tokens":        "org_id, id",
		"user_products": "org_id, user_id, product",
	} {
		rows, err := pool.Query(context.Background(), "SELECT * FROM "+table+" ORDER BY "+order)
		require.NoError(t, err)
		all, err := pgx.CollectRows(rows, pgx.RowToMap)
		require.NoError(t, err)
		out[table] = all
	}
	return out
}

// Count runs a SELECT count(*) query.
func Count(t testing.TB, pool *pgxpool.Pool, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}
