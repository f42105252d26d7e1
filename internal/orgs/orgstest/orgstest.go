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

// InsertGroup stores a group of org straight into the database, with users as members, and
// returns its id. Effective grants are not refreshed.
func InsertGroup(t testing.TB, pool *pgxpool.Pool, org, name string, users ...string) string {
	t.Helper()
	id := uuid.NewString()
	_, err := pool.Exec(context.Background(), `INSERT INTO groups (org_id, id, display_name) VALUES ($1, $2, $3)`, org, id, name)
	require.NoError(t, err)
	for _, u := range users {
		_, err := pool.Exec(context.Background(), `INSERT INTO group_members (org_id, group_id, member_id, member_type)
			VALUES ($1, $2, $3, 'User')`, org, id, u)
		require.NoError(t, err)
	}
	return id
}

// MappingState reads everything stored that a group mapping or an organization setting may
// change: memberships, mappings and effective grants.
func MappingState(t testing.TB, pool *pgxpool.Pool) State {
	t.Helper()
	out := State{}
	for table, sql := range map[string]string{
		"organizations":           "SELECT * FROM organizations ORDER BY id",
		"group_mappings":          "SELECT * FROM group_mappings ORDER BY org_id, group_id",
		"group_mapping_products":  "SELECT * FROM group_mapping_products ORDER BY org_id, group_id, product",
		"group_members":           "SELECT * FROM group_members ORDER BY org_id, group_id, member_id",
		"users":                   "SELECT org_id, id, org_role, account_role, eff_org_role, eff_account_role, active FROM users ORDER BY org_id, id",
		"user_effective_products": "SELECT * FROM user_effective_products ORDER BY org_id, user_id, product",
	} {
		rows, err := pool.Query(context.Background(), sql)
		require.NoError(t, err)
		all, err := pgx.CollectRows(rows, pgx.RowToMap)
		require.NoError(t, err)
		out[table] = all
	}
	return out
}
