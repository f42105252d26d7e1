package postgres

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// scimd keeps ids as strings, and passes lists of them as []string to uuid[] parameters. pgx
// encodes such a list in binary format, which its uuid codec cannot do from a string: each
// statement first failed, building an error that formats the whole list (for a thousand
// members, a few hundred microseconds), and then sent the list as text. encodeUUIDText lets
// the uuid codec take a string in binary: registered last among pgx's fallbacks, it is tried
// only for a string no codec or other fallback encodes. A string that is not a uuid still
// fails here, and is then sent as text, for PostgreSQL to refuse as before.
func encodeUUIDText(c *pgx.Conn) {
	m := c.TypeMap()
	m.TryWrapEncodePlanFuncs = append(m.TryWrapEncodePlanFuncs, tryUUIDText)
}

func tryUUIDText(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
	if s, ok := value.(string); ok {
		return &uuidTextPlan{}, uuidText(s), true
	}
	return nil, nil, false
}

// uuidText is a string that the uuid codec reads as a UUIDValuer.
type uuidText string

func (s uuidText) UUIDValue() (pgtype.UUID, error) {
	var u pgtype.UUID
	err := u.Scan(string(s))
	return u, err
}

type uuidTextPlan struct{ next pgtype.EncodePlan }

func (p *uuidTextPlan) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *uuidTextPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(uuidText(value.(string)), buf)
}
