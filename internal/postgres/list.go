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
func list[T any](ctx context.Context, pool *pgxpool.Pool, t *table, selectFrom, org string, q directory.Query,
	scan func(pgx.Row) (T, error)) ([]T, int, error) {
	qb := &query{args: []any{org}}
	a := t.alias
	where := a + ".org_id = $1"
	if q.Filter != nil {
		cond, err := t.where(qb, q.Filter)
		if err != nil {
			return nil, 0, err
		}
		where += " AND " + cond
	}
	order, err := t.orderBy(q.SortBy, q.Descending)
	if err != nil {
		return nil, 0, err
	}
	var out []T
	offset := max(q.StartIndex-1, 0)
	if q.Count > 0 {
		sql := fmt.Sprintf("%s JOIN (SELECT %s.id FROM %s %s WHERE %s ORDER BY %s LIMIT %d OFFSET %d) page"+
			" ON page.id = %s.id WHERE %s.org_id = $1 ORDER BY %s",
			selectFrom, a, t.name, a, where, order, q.Count, offset, a, a, order)
		rows, err := pool.Query(ctx, sql, qb.args...)
		if err != nil {
			return nil, 0, err
		}
		for rows.Next() {
			r, err := scan(rows)
			if err != nil {
				rows.Close()
				return nil, 0, err
			}
			out = append(out, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, 0, err
		}
		if n := len(out); n > 0 && n < q.Count {
			return out, offset + n, nil
		}
	}
	var total int
	err = pool.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s %s WHERE %s", t.name, a, where), qb.args...).Scan(&total)
	return out, total, err
}
