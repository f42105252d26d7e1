package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/orgs"
)

// auditRow is an audit record as the console shows it: each changed attribute with its value
// before and after, written as a person reads them rather than as the JSON stored.
type auditRow struct {
	orgs.AuditEntry
	Changes []auditChange
}

// auditChange is one attribute of a record's changes; Before or After is empty where the
// attribute had no value.
type auditChange struct {
	Attr, Before, After string
}

// maxShownValue bounds a value as the audit table shows it, in characters.
const maxShownValue = 200

// auditRows shows audit records with their changes by attribute, in name order.
func auditRows(entries []orgs.AuditEntry) []auditRow {
	out := make([]auditRow, len(entries))
	for i, e := range entries {
		out[i] = auditRow{AuditEntry: e, Changes: auditChanges(e.Changes)}
	}
	return out
}

// auditChanges reads a record's changes, {"attr": {"before": ..., "after": ...}}. A change of
// another shape is shown whole as its value after.
func auditChanges(raw json.RawMessage) []auditChange {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var changes map[string]any
	if err := dec.Decode(&changes); err != nil || len(changes) == 0 {
		return nil
	}
	out := make([]auditChange, 0, len(changes))
	for attr, c := range changes {
		ch := auditChange{Attr: attr}
		m, ok := c.(map[string]any)
		_, hasBefore := m["before"]
		_, hasAfter := m["after"]
		if ok && (hasBefore || hasAfter) && len(m) <= 2 {
			ch.Before, ch.After = shownValue(m["before"]), shownValue(m["after"])
		} else {
			ch.After = shownValue(c)
		}
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b auditChange) int { return strings.Compare(a.Attr, b.Attr) })
	return out
}

// shownValue writes a value of the audit log for people: strings as they are, a list as its
// elements, a multi-valued attribute's element as its value with its type, display and primary
// in parentheses, another object as its members in name order.
func shownValue(v any) string {
	var b strings.Builder
	writeValue(&b, v)
	s := b.String()
	if utf8.RuneCountInString(s) > maxShownValue {
		s = string([]rune(s)[:maxShownValue]) + "…"
	}
	return s
}

func writeValue(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
	case string:
		b.WriteString(v)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case json.Number:
		b.WriteString(v.String())
	case []any:
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeValue(b, e)
		}
	case map[string]any:
		if value, ok := v["value"]; ok {
			writeValue(b, value)
			var notes []string
			for _, k := range []string{"type", "display"} {
				if s, ok := v[k].(string); ok && s != "" {
					notes = append(notes, s)
				}
			}
			if v["primary"] == true {
				notes = append(notes, "primary")
			}
			if len(notes) > 0 {
				b.WriteString(" (" + strings.Join(notes, ", ") + ")")
			}
			return
		}
		for i, k := range slices.Sorted(maps.Keys(v)) {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(k + ": ")
			writeValue(b, v[k])
		}
	default:
		fmt.Fprint(b, v)
	}
}
