package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
)

// list runs a filtered, sorted, paged read of table t. selectFrom is the SELECT list and FROM
// clause of a full read.
//
// The page's ids are chosen first in a subquery and only those rows are read in full, so the
// per-resource subqueries (multi-valued attributes, groups) never run for the rows OFFSET
// skips. LIMIT and OFFSET are literals, validated integers, because as parameters they keep
// PostgreSQL from ever using a cached plan. totalResults needs a count only when the page does
// not tell it: a page that is not full ends the result set.
func list(ctx context.Context, pool *pgxpool.Pool, t *table, selectFrom, org string, q directory.Query,
	scan func(pgx.Row) (*directory.Resource, error)) (*directory.Page, error) {
	qb := &query{args: []any{org}}
	a := t.alias
	where := a + ".org_id = $1"
	if q.Filter != nil {
		cond, err := t.where(qb, q.Filter)
		if err != nil {
			return nil, err
		}
		where += " AND " + cond
	}
	order, err := t.orderBy(q.SortBy, q.Descending)
	if err != nil {
		return nil, err
	}
	page := &directory.Page{}
	offset := max(q.StartIndex-1, 0)
	if q.Count > 0 {
		sql := fmt.Sprintf("%s JOIN (SELECT %s.id FROM %s %s WHERE %s ORDER BY %s LIMIT %d OFFSET %d) page"+
			" ON page.id = %s.id WHERE %s.org_id = $1 ORDER BY %s",
			selectFrom, a, t.name, a, where, order, q.Count, offset, a, a, order)
		rows, err := pool.Query(ctx, sql, qb.args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			r, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			page.Resources = append(page.Resources, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if n := len(page.Resources); n > 0 && n < q.Count {
			page.Total = offset + n
			return page, nil
		}
	}
	err = pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s %s WHERE %s", t.name, a, where), qb.args...).Scan(&page.Total)
	return page, err
}
