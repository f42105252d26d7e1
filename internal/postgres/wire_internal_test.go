package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

// encode gives a value in the binary format pgx sends it in, which is PostgreSQL's.
func encode(t *testing.T, oid uint32, v any) []byte {
	t.Helper()
	b, err := pgtype.NewMap().Encode(oid, pgtype.BinaryFormatCode, v, nil)
	require.NoError(t, err)
	return b
}

// formats describes columns in binary format, or text where false.
func formats(binary ...bool) []pgconn.FieldDescription {
	fds := make([]pgconn.FieldDescription, len(binary))
	for i, b := range binary {
		if b {
			fds[i].Format = pgtype.BinaryFormatCode
		}
	}
	return fds
}

// TestWireRowDecodesWhatPgxEncodes checks the decoders of wire.go against pgx's encoders.
func TestWireRowDecodesWhatPgxEncodes(t *testing.T) {
	texts := []pgtype.Text{{String: "a", Valid: true}, {}, {String: "", Valid: true}, {String: "Zoë 日本", Valid: true}}
	times := []time.Time{time.Date(2026, 12, 1, 15, 4, 5, 123456000, time.UTC), time.Date(1969, 7, 20, 20, 17, 40, 1000, time.UTC)}
	row := wireRow{fds: formats(true, true, true, true, true, true, true, true, true, false), vals: [][]byte{
		encode(t, pgtype.Int8OID, int64(-42)),
		encode(t, pgtype.BoolOID, true),
		encode(t, pgtype.TimestamptzOID, times[0]),
		encode(t, pgtype.TimestamptzOID, times[1]),
		encode(t, pgtype.JSONBOID, map[string]any{"emails": []any{"x"}}),
		encode(t, pgtype.TextArrayOID, texts),
		encode(t, pgtype.TextArrayOID, []string{"b", "a"}),
		encode(t, pgtype.TextArrayOID, []string{}),
		nil,
		[]byte(`{"a": 1}`),
	}}
	require.Equal(t, int64(-42), row.int8(0))
	require.True(t, row.bool(1))
	require.True(t, times[0].Equal(row.timestamptz(2)))
	require.True(t, times[1].Equal(row.timestamptz(3)), "before 2000: %v", row.timestamptz(3))
	require.JSONEq(t, `{"emails":["x"]}`, string(row.jsonb(4)))
	a := row.texts(5)
	require.Equal(t, len(texts), a.n)
	for _, want := range texts {
		got, err := a.next()
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := a.next()
	require.Error(t, err, "past the last element")
	require.Equal(t, []string{"b", "a"}, row.strings(6))
	require.Equal(t, []string{}, row.strings(7))
	require.Nil(t, row.strings(8), "NULL")
	require.Nil(t, row.jsonb(8), "NULL")
	require.Equal(t, `{"a": 1}`, string(row.jsonb(9)), "jsonb in text format")
	require.NoError(t, row.err)
}

// TestWireRowRefusesMalformedValues: a value of the wrong size or shape is an error of its
// column, never a panic or a misread.
func TestWireRowRefusesMalformedValues(t *testing.T) {
	arr := encode(t, pgtype.TextArrayOID, []string{"abc", "de"})
	withNull := encode(t, pgtype.TextArrayOID, []pgtype.Text{{String: "a", Valid: true}, {}})
	for name, c := range map[string]struct {
		val    []byte
		decode func(r *wireRow)
	}{
		"short int8":         {[]byte{1, 2}, func(r *wireRow) { r.int8(0) }},
		"NULL int8":          {nil, func(r *wireRow) { r.int8(0) }},
		"long bool":          {[]byte{1, 0}, func(r *wireRow) { r.bool(0) }},
		"jsonb version 2":    {[]byte{2, '{', '}'}, func(r *wireRow) { r.jsonb(0) }},
		"empty jsonb":        {[]byte{}, func(r *wireRow) { r.jsonb(0) }},
		"array header short": {arr[:8], func(r *wireRow) { r.strings(0) }},
		"array cut":          {arr[:len(arr)-1], func(r *wireRow) { r.strings(0) }},
		"array two dims":     {encode(t, pgtype.TextArrayOID, [][]string{{"a"}, {"b"}}), func(r *wireRow) { r.strings(0) }},
		"NULL element":       {withNull, func(r *wireRow) { r.strings(0) }},
		"int8 in text":       {[]byte("42"), func(r *wireRow) { r.fds = formats(false); r.int8(0) }},
	} {
		t.Run(name, func(t *testing.T) {
			r := wireRow{vals: [][]byte{c.val}, fds: formats(true)}
			c.decode(&r)
			require.ErrorIs(t, r.err, errWire)
			require.Equal(t, 0, r.col)
		})
	}
}
