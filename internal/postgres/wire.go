package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// Decoding of the binary formats in which PostgreSQL sends the column types of a user read
// (each type's send function: int8send, boolsend, timestamptz_send, textsend, jsonb_send,
// array_send). A user read is the hottest statement scimd runs, and pgx's scan of its eleven
// columns plans a scan for each column of each result anew and allocates every string of a
// text[] on its own: decoding the values as they arrive costs a fraction of that, and gives
// all the strings of a text[] one allocation. newWireRow holds the row to the types its
// decoder expects, so that a change to the statement fails loudly instead of being misread.

var errWire = errors.New("malformed value")

// wireRow decodes the columns of one row; the first error sticks, with its column.
type wireRow struct {
	vals [][]byte
	fds  []pgconn.FieldDescription
	err  error
	col  int
}

// newWireRow holds the current row of rows to the column types want, in order. pgx asks for
// every type in binary format but text and jsonb, whose text formats are their contents.
func newWireRow(rows pgx.Rows, want []uint32) (*wireRow, error) {
	fds := rows.FieldDescriptions()
	if len(fds) != len(want) {
		return nil, fmt.Errorf("a result of %d columns, not %d", len(fds), len(want))
	}
	for i, fd := range fds {
		if fd.DataTypeOID != want[i] {
			return nil, fmt.Errorf("column %d (%s) is of type %d, not %d", i, fd.Name, fd.DataTypeOID, want[i])
		}
	}
	return &wireRow{vals: rows.RawValues(), fds: fds}, nil
}

// binary says whether the value of column i is in binary format (else text).
func (r *wireRow) binary(i int) bool { return r.fds[i].Format == pgx.BinaryFormatCode }

// bin is the value of column i, which must be in binary format.
func (r *wireRow) bin(i int) []byte {
	if !r.binary(i) {
		r.fail(i, fmt.Errorf("%w: not in binary format", errWire))
		return nil
	}
	return r.vals[i]
}

func (r *wireRow) fail(i int, err error) {
	if r.err == nil {
		r.err, r.col = err, i
	}
}

func (r *wireRow) int8(i int) int64 {
	b := r.bin(i)
	if len(b) != 8 {
		r.fail(i, errWire)
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

func (r *wireRow) bool(i int) bool {
	b := r.bin(i)
	if len(b) != 1 {
		r.fail(i, errWire)
		return false
	}
	return b[0] != 0
}

// timestamptz decodes microseconds since 2000-01-01 UTC into a time in the local zone, as
// pgx does.
func (r *wireRow) timestamptz(i int) time.Time {
	us := r.int8(i)
	const unixY2K = 946684800 // seconds from 1970-01-01 to 2000-01-01
	return time.Unix(unixY2K+us/1_000_000, us%1_000_000*1000)
}

// jsonb returns the JSON text of a jsonb value (in binary format, a version byte, 1, before
// the text), nil for SQL NULL.
func (r *wireRow) jsonb(i int) []byte {
	b := r.vals[i]
	if b == nil || !r.binary(i) {
		return b
	}
	if len(b) == 0 || b[0] != 1 {
		r.fail(i, errWire)
		return nil
	}
	return b[1:]
}

// texts returns a reader of a text[] that is not NULL.
func (r *wireRow) texts(i int) *textArray {
	a, err := newTextArray(r.bin(i))
	if err != nil {
		r.fail(i, err)
		return &textArray{}
	}
	return a
}

// strings decodes a text[] without NULL elements; nil for SQL NULL.
func (r *wireRow) strings(i int) []string {
	if r.vals[i] == nil {
		return nil
	}
	a := r.texts(i)
	out := make([]string, a.n)
	for k := range out {
		t, err := a.next()
		if err == nil && !t.Valid {
			err = errWire
		}
		if err != nil {
			r.fail(i, err)
			return nil
		}
		out[k] = t.String
	}
	return out
}

// textArray reads the elements of a one-dimensional text[] in order. Its strings are slices
// of one copy of the whole value.
type textArray struct {
	src string
	n   int
}

func newTextArray(b []byte) (*textArray, error) {
	// ndim, has-nulls flag, element type; then, per dimension, its length and lower bound.
	if len(b) < 12 {
		return nil, errWire
	}
	switch ndim := binary.BigEndian.Uint32(b); {
	case ndim == 0:
		return &textArray{}, nil
	case ndim != 1 || len(b) < 20:
		return nil, errWire
	}
	n := int(int32(binary.BigEndian.Uint32(b[12:])))
	if n < 0 {
		return nil, errWire
	}
	return &textArray{src: string(b[20:]), n: n}, nil
}

// next returns the next element; Valid is false for a NULL one.
func (a *textArray) next() (pgtype.Text, error) {
	if a.n == 0 || len(a.src) < 4 {
		return pgtype.Text{}, errWire
	}
	a.n--
	s := a.src
	l := int32(uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3]))
	a.src = s[4:]
	if l < 0 {
		return pgtype.Text{}, nil
	}
	if int(l) > len(a.src) {
		return pgtype.Text{}, errWire
	}
	t := a.src[:l]
	a.src = a.src[l:]
	return pgtype.Text{String: t, Valid: true}, nil
}
