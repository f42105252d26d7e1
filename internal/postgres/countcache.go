package postgres

import (
	"context"
	"fmt"
	"slices"
)

// countedTotal is a filtered list's total as Store.counts keeps it between requests, with the
// change counts it was counted at, so that paging through a filtered list with startIndex (a
// connector's delta sync: meta.lastModified gt T, a thousand users a page) counts the selection
// once instead of on every page, which made reading it O(N²).
//
// A total holds while its organization's change counts (migrations/0013_change_counts.sql) are
// the ones it was counted with: every committed insert, update or delete of the table's rows
// raises them. The counts are read in the statement that counts, and again by every later
// request, which counts only if they moved: one statement either way, in which the count is a
// branch of a CASE that PostgreSQL does not run when the counts are the ones cached (the counts'
// subquery has OFFSET 0 so that it is read once rather than merged into each use). Only filters
// over the table's own columns are kept; one on a multi-valued attribute (q.children) reads
// child tables that the counts do not see, and is counted every time.
//
// In an organization being provisioned the counts move with every change, and the filter is
// counted as before; the cache saves the counting when nothing changed in between, which is
// when paging through a large selection costs the most.
type countedTotal struct {
	orgVersion, changes int64
	total               int
}

// maxCountedTotals bounds the cache, whose entries hold a filter's SQL and values (a few KB at
// most); past it, an arbitrary entry makes room (a miss costs a count, as without the cache).
const maxCountedTotals = 1000

// count counts the filtered listing l, or takes the total counted before (Store.counts) when
// nothing changed in its organization since.
func (l *listing) count(ctx context.Context, s *Store) (int, error) {
	counting := "SELECT count(*) FROM " + l.t.name + " " + l.t.alias + " WHERE " + l.where
	if l.q.children {
		var total int
		err := s.row(ctx, counting, l.q.args...).Scan(&total)
		return total, err
	}
	key := l.t.name + "\x00" + l.where + "\x00" + fmt.Sprintf("%#v", l.q.args)
	known, ok := s.counts.get(key)
	n := len(l.q.args)
	args := append(slices.Clone(l.q.args), known.orgVersion, known.changes, ok)
	var orgVersion *int64
	var changes int64
	var counted *int
	err := s.row(ctx, fmt.Sprintf(`SELECT v.org_version, v.changes, CASE WHEN $%d AND v.org_version = $%d AND v.changes = $%d
		THEN NULL ELSE (%s) END
		FROM (SELECT (SELECT settings_version FROM organizations WHERE id = $1) AS org_version,
			(SELECT coalesce(sum(changes), 0) FROM org_counts WHERE org_id = $1 AND tbl = '%s') AS changes OFFSET 0) v`,
		n+3, n+1, n+2, counting, l.t.name), args...).Scan(&orgVersion, &changes, &counted)
	switch {
	case err != nil:
		return 0, err
	case counted == nil:
		return known.total, nil
	case orgVersion != nil:
		s.counts.put(key, countedTotal{orgVersion: *orgVersion, changes: changes, total: *counted})
	}
	return *counted, nil
}
