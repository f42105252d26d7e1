package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scimd/scimd/internal/directory"
)

// Lists cost the same whatever the size of the organization, for the requests that can:
//
//   - An unfiltered list tells its total from the organization's counters (org_counts, kept by
//     triggers; see migrations/0009_paging.sql), never by counting.
//   - startIndex paging skips rows with OFFSET, which costs the rows skipped, so a page past
//     the middle is read from the end: in the reverse order, skipping the rows after it, which
//     the total tells. The cost grows with the distance from the nearer end, and the last page
//     costs what the first does.
//   - Cursor paging (RFC 9865) continues from the key of the page's last (or first) resource,
//     through the order's index, so every page costs the same and reading a whole list costs
//     O(N).
//   - Sorts use the indexes migrations/0009_paging.sql defines for the common sort attributes
//     (sortKey); sorting by another attribute sorts the whole selection on every page.
//
// A filtered list counts when its page does not tell the total (a first page that is not full
// ends the list) and nothing changed since the same filter was last counted (listing.count): a
// walk through a large selection with startIndex counts it once, not on every page. Its first
// page is read before counting, to spare the count when the page is short; a later page is
// counted first and then read from the nearer end.

// rowKey is where a resource lies in its list: its id and its order key's values.
type rowKey struct {
	id   string
	vals []any
}

// listing is one list query of table t, translated.
type listing struct {
	t          *table
	selectFrom string
	q          *query
	where      string
	filtered   bool
	parts      []keyPart
	keyJoin    string // joined to the FROM clause of pages for the key (sortKey)
	desc       bool
}

// list runs a filtered, sorted, paged read of table t. selectFrom is the SELECT list and FROM
// clause of a full read, starting with "SELECT ".
func list[T any](ctx context.Context, s *Store, t *table, selectFrom, org string, q directory.Query,
	scan func(pgx.Row) (T, error)) ([]T, directory.PageInfo, error) {
	l, err := newListing(t, selectFrom, org, q)
	if err != nil {
		return nil, directory.PageInfo{}, err
	}
	if q.ByCursor {
		return byCursor(ctx, s, l, q, scan)
	}
	if q.StartIndex <= 1 && q.Count > 0 && t.selectsOne(q.Filter) {
		return lookup(ctx, s, l, scan)
	}
	return byIndex(ctx, s, l, q, scan)
}

// lookup reads the resource, if any, that a filter selecting at most one selects
// (table.selectsOne), with a plain indexed statement: no page, order or count to work out. These
// are the lookups identity providers make before every create, by userName or by a group's
// displayName.
func lookup[T any](ctx context.Context, s *Store, l *listing, scan func(pgx.Row) (T, error)) ([]T, directory.PageInfo, error) {
	r, err := scan(s.row(ctx, l.selectFrom+" WHERE "+l.where, l.q.args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, directory.PageInfo{Total: 0}, nil
	}
	if err != nil {
		return nil, directory.PageInfo{}, err
	}
	return []T{r}, directory.PageInfo{Total: 1}, nil
}

func newListing(t *table, selectFrom, org string, q directory.Query) (*listing, error) {
	l := &listing{t: t, selectFrom: selectFrom, q: &query{args: []any{org}}, where: t.alias + ".org_id = $1", desc: q.Descending}
	if q.Filter != nil {
		cond, err := t.where(l.q, q.Filter)
		if err != nil {
			return nil, err
		}
		l.where += " AND " + cond
		l.filtered = true
	}
	var err error
	l.parts, l.keyJoin, err = t.sortKey(q.SortBy)
	return l, err
}

// byIndex reads the page at q.StartIndex.
func byIndex[T any](ctx context.Context, s *Store, l *listing, q directory.Query, scan func(pgx.Row) (T, error)) ([]T, directory.PageInfo, error) {
	offset := max(q.StartIndex-1, 0)
	var out []T
	var total int
	switch {
	case l.filtered && offset == 0 && q.Count > 0:
		// The first page of a filtered list: read, then counted only if it is full. A short
		// page ends the selection and so tells the total; an empty one is the common case of
		// an identity provider asking whether a user exists.
		err := s.readBatch(ctx, func(b *pgx.Batch) {
			queuePageOf(l, b, nil, false, q.Count, 0, scan, &out, nil)
		})
		if err != nil {
			return nil, directory.PageInfo{}, err
		}
		if len(out) < q.Count {
			return out, directory.PageInfo{Total: len(out)}, nil
		}
		total, err = l.count(ctx, s)
		return out, directory.PageInfo{Total: total}, err
	case l.filtered:
		// A later page (or count=0, the total alone) is counted first, so that it can be read
		// from the nearer end, as an unfiltered one is: a page near the end of the selection
		// then skips the few rows after it, not nearly all the rows before it.
		var err error
		if total, err = l.count(ctx, s); err != nil {
			return nil, directory.PageInfo{}, err
		}
	case offset == 0 && q.Count > 0:
		// The first page is read forwards whatever the total: both in one round trip.
		err := s.readBatch(ctx, func(b *pgx.Batch) {
			l.queueTotal(b, &total)
			queuePageOf(l, b, nil, false, q.Count, 0, scan, &out, nil)
		})
		return out, directory.PageInfo{Total: total}, err
	default:
		if err := s.readBatch(ctx, func(b *pgx.Batch) { l.queueTotal(b, &total) }); err != nil {
			return nil, directory.PageInfo{}, err
		}
	}
	if q.Count == 0 || offset >= total {
		return nil, directory.PageInfo{Total: total}, nil
	}
	n := min(q.Count, total-offset)
	err := s.readBatch(ctx, func(b *pgx.Batch) {
		if after := total - offset - n; after < offset {
			// Nearer the end: the n rows before the last `after`, in the reverse order.
			queuePageOf(l, b, nil, true, n, after, scan, &out, nil)
		} else {
			queuePageOf(l, b, nil, false, n, offset, scan, &out, nil)
		}
	})
	return out, directory.PageInfo{Total: total}, err
}

// byCursor reads the first page of a cursor walk, or the page after or before q.Cursor.
//
// totalResults comes with every page of an unfiltered list (the counters), and with the first
// page of a filtered one (counted once, unless the page holds the whole selection); the later
// pages of a filtered walk are Uncounted, since counting each would make reading the selection
// O(N²).
func byCursor[T any](ctx context.Context, s *Store, l *listing, q directory.Query, scan func(pgx.Row) (T, error)) ([]T, directory.PageInfo, error) {
	fp := fingerprint(l.t, l.where, l.q.args, l.parts, l.desc)
	var cur *cursor
	var keyset *condition
	if q.Cursor != "" {
		c, at, err := s.cursors.open(ctx, q.Cursor, fp, l.parts)
		if err != nil {
			return nil, directory.PageInfo{}, err
		}
		cur, keyset = c, l.keyset(at, c.Before)
	}
	info := directory.PageInfo{Total: directory.Uncounted}
	queueTotal := func(b *pgx.Batch) {
		if !l.filtered {
			l.queueTotal(b, &info.Total)
		}
	}
	if q.Count == 0 {
		var err error
		if !l.filtered {
			err = s.readBatch(ctx, queueTotal)
		} else if cur == nil {
			info.Total, err = l.count(ctx, s)
		}
		return nil, info, err
	}
	before := cur != nil && cur.Before
	// One resource more than the page tells whether there are more in the direction read.
	var out []T
	var keys []rowKey
	err := s.readBatch(ctx, func(b *pgx.Batch) {
		queueTotal(b)
		queuePageOf(l, b, keyset, before, q.Count+1, 0, scan, &out, &keys)
	})
	if err != nil {
		return nil, directory.PageInfo{}, err
	}
	if before && len(out) == 0 {
		// Everything before the cursor was deleted since: the page before is the first page.
		q.Cursor = ""
		return byCursor(ctx, s, l, q, scan)
	}
	more := len(out) > q.Count
	if more && before {
		out, keys = out[1:], keys[1:] // read backwards: the extra one comes first
	} else if more {
		out, keys = out[:q.Count], keys[:q.Count]
	}
	// The next page is after the last resource, the previous one before the first. A page read
	// forwards has a next one if it found more, and a previous one unless it is the first; a
	// page read backwards the other way round.
	if n := len(keys); n > 0 && (more || before) {
		if info.NextCursor, err = s.cursors.seal(ctx, fp, false, keys[n-1]); err != nil {
			return nil, directory.PageInfo{}, err
		}
	}
	if len(keys) > 0 && ((cur != nil && !before) || (before && more)) {
		if info.PreviousCursor, err = s.cursors.seal(ctx, fp, true, keys[0]); err != nil {
			return nil, directory.PageInfo{}, err
		}
	}
	if l.filtered && cur == nil {
		if more {
			info.Total, err = l.count(ctx, s)
		} else {
			info.Total = len(out)
		}
	}
	return out, info, err
}

// queueTotal queues the read of an unfiltered list's total from the organization's counters.
func (l *listing) queueTotal(b *pgx.Batch, total *int) {
	b.Queue("SELECT coalesce(sum(n), 0) FROM org_counts WHERE org_id = $1 AND tbl = $2", l.q.args[0], l.t.name).
		QueryRow(func(row pgx.Row) error { return row.Scan(total) })
}

// keyset is the condition selecting the resources after (or before) the one at k, in the
// list's order: one row comparison over the order key, which an index on it serves as the
// start of its range. Its parameters follow the listing's.
func (l *listing) keyset(k rowKey, before bool) *condition {
	op := "<"
	if l.desc == before {
		op = ">"
	}
	q := &query{args: slices.Clone(l.q.args)}
	lhs := make([]string, 0, len(l.parts)+1)
	rhs := make([]string, 0, len(l.parts)+1)
	for i, p := range l.parts {
		lhs = append(lhs, p.sql)
		rhs = append(rhs, q.arg(k.vals[i])+"::"+p.kind)
	}
	lhs = append(lhs, l.t.alias+".id")
	rhs = append(rhs, q.arg(k.id)+"::uuid")
	return &condition{sql: "(" + strings.Join(lhs, ", ") + ") " + op + " (" + strings.Join(rhs, ", ") + ")", args: q.args}
}

// condition is a listing's condition with a further one, and the parameters of both.
type condition struct {
	sql  string
	args []any
}

// order is the ORDER BY list over the key's expressions (in their SQL, or as the columns
// k0, k1, ... of the relation keys when keys is set), ascending or descending.
func (l *listing) order(desc bool, keys string) string {
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	var b strings.Builder
	for i, p := range l.parts {
		if keys != "" {
			fmt.Fprintf(&b, "%s.k%d%s, ", keys, i, dir)
		} else {
			b.WriteString(p.sql + dir + ", ")
		}
	}
	b.WriteString(l.t.alias + ".id" + dir)
	return b.String()
}

// pageSQL reads a page: the resources after skipping offset of those the keyset condition (if
// any) selects, at most limit, in the list's order, or read from the other end when reverse;
// either way they come in the list's order. Each row starts with the resource's id and its key
// values (k0, k1, ...), followed by the columns of selectFrom.
//
// The page's rows are chosen first in a subquery, and the per-resource subqueries of the
// SELECT list (multi-valued attributes, groups) run only for them, never for the rows OFFSET
// skips. A page that skips rows chooses only their ids and keys, which an index-only scan can
// skip through, and reads the page's rows back one by one by their key; a page that skips
// none (the first page, every cursor page, and the lookups identity providers make by filter)
// takes its rows whole, saving the join. The rows are read back in a LATERAL subquery that
// PostgreSQL cannot flatten (OFFSET 0), so only the primary key can serve it: as a plain join,
// the planner sometimes hashed the page against every row of the organization, read through
// whichever index led with org_id (84 ms instead of 24 for 1,000 of 21,000 users). LIMIT and
// OFFSET are literals, validated integers, because as parameters they keep PostgreSQL from ever
// using a cached plan.
func (l *listing) pageSQL(keyset *condition, reverse bool, limit, offset int) string {
	a := l.t.alias
	where := l.where
	if keyset != nil {
		where += " AND " + keyset.sql
	}
	from := " FROM " + l.t.name + " " + a
	columns, _ := strings.CutSuffix(strings.TrimPrefix(l.selectFrom, "SELECT "), from)
	// page names the relation of the chosen rows and their key values k0, k1, ...: the rows
	// themselves (alias a) when nothing is skipped, else the subquery of their ids joined back.
	page := a
	if offset > 0 {
		page = "page"
	}
	var keys, pageKeys strings.Builder
	for i, p := range l.parts {
		fmt.Fprintf(&keys, ", %s AS k%d", p.sql, i)
		fmt.Fprintf(&pageKeys, "%s.k%d, ", page, i)
	}
	choose := fmt.Sprintf("%s%s WHERE %s ORDER BY %s LIMIT %d", from, l.keyJoin, where, l.order(l.desc != reverse, ""), limit)
	if offset == 0 {
		return fmt.Sprintf("SELECT %s.id::text, %s%s FROM (SELECT %s.*%s%s) %s ORDER BY %s",
			a, pageKeys.String(), columns, a, keys.String(), choose, a, l.order(l.desc, page))
	}
	return fmt.Sprintf("SELECT page.id::text, %s%s FROM (SELECT %s.id%s%s OFFSET %d) page"+
		" CROSS JOIN LATERAL (SELECT * FROM %s %s WHERE %s.org_id = $1 AND %s.id = page.id OFFSET 0) %s ORDER BY %s",
		pageKeys.String(), columns, a, keys.String(), choose, offset, l.t.name, a, a, a, a, l.order(l.desc, page))
}

// queuePageOf queues the read of a page (pageSQL) into out and, when keys is not nil, its keys
// into keys. Both are emptied as it is queued, so that a batch queued anew (readBatch) starts
// from nothing.
func queuePageOf[T any](l *listing, b *pgx.Batch, keyset *condition, reverse bool, limit, offset int,
	scan func(pgx.Row) (T, error), out *[]T, keys *[]rowKey) {
	*out = nil
	if keys != nil {
		*keys = nil
	}
	args := l.q.args
	if keyset != nil {
		args = keyset.args
	}
	b.Queue(l.pageSQL(keyset, reverse, limit, offset), args...).Query(func(rows pgx.Rows) error {
		defer rows.Close()
		for rows.Next() {
			k := rowKey{vals: make([]any, len(l.parts))}
			dest := []any{&k.id}
			for _, p := range l.parts {
				switch p.kind {
				case kindBool:
					dest = append(dest, new(bool))
				case kindTime:
					dest = append(dest, new(time.Time))
				default:
					dest = append(dest, new(string))
				}
			}
			r, err := scan(keyedRow{Row: rows, keys: dest})
			if err != nil {
				return err
			}
			for i, d := range dest[1:] {
				switch d := d.(type) {
				case *bool:
					k.vals[i] = *d
				case *time.Time:
					k.vals[i] = *d
				case *string:
					k.vals[i] = *d
				}
			}
			*out = append(*out, r)
			if keys != nil {
				*keys = append(*keys, k)
			}
		}
		return rows.Err()
	})
}

// keyedRow is a row whose first columns are a page's keys, scanned into keys before the
// columns the scan function asks for.
type keyedRow struct {
	pgx.Row
	keys []any
}

func (r keyedRow) Scan(dest ...any) error {
	if len(dest) == 1 {
		if rs, ok := dest[0].(pgx.RowScanner); ok {
			return r.Row.Scan(keyedScanner{keys: r.keys, rest: rs})
		}
	}
	return r.Row.Scan(append(slices.Clip(r.keys), dest...)...)
}

// keyedScanner scans a row's first columns into keys, and gives the rest of the row to a
// scanner of whole rows (userRow), which pgx calls only when it is the sole destination.
type keyedScanner struct {
	keys []any
	rest pgx.RowScanner
}

func (k keyedScanner) ScanRow(rows pgx.Rows) error {
	fds, vals := rows.FieldDescriptions(), rows.RawValues()
	m := rows.Conn().TypeMap()
	for i, d := range k.keys {
		if err := m.Scan(fds[i].DataTypeOID, fds[i].Format, vals[i], d); err != nil {
			return fmt.Errorf("page key %d: %w", i, err)
		}
	}
	return k.rest.ScanRow(columnsFrom{Rows: rows, n: len(k.keys)})
}

// columnsFrom is a row without its first n columns.
type columnsFrom struct {
	pgx.Rows
	n int
}

func (r columnsFrom) FieldDescriptions() []pgconn.FieldDescription {
	return r.Rows.FieldDescriptions()[r.n:]
}

func (r columnsFrom) RawValues() [][]byte { return r.Rows.RawValues()[r.n:] }
