package postgres

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/scimerr"
)

// testCursors seals with a fixed key at the time *now.
func testCursors(t *testing.T, now *time.Time) *cursors {
	t.Helper()
	block, err := aes.NewCipher(make([]byte, 32))
	require.NoError(t, err)
	aead, err := cipher.NewGCM(block)
	require.NoError(t, err)
	return &cursors{aead: aead, now: func() time.Time { return *now }}
}

// A cursor opens to the position it was sealed at, for CursorTimeout; after that it is
// expiredCursor (RFC 9865 §2.1), however well formed.
func TestCursorExpires(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	c := testCursors(t, &now)
	parts := []keyPart{{"(x IS NULL)", kindBool}, {"x", kindText}, {"t", kindTime}}
	fp := []byte("fingerprint-1234")
	at := rowKey{id: "0190f3c2-0000-7000-8000-000000000001", vals: []any{false, "ada", now.Add(-time.Minute)}}
	s, err := c.seal(ctx, fp, true, at)
	require.NoError(t, err)
	require.Regexp(t, `^[A-Za-z0-9_-]+$`, s, "only unreserved characters (RFC 3986 §2.3)")
	require.NotContains(t, s, "ada")

	now = now.Add(directory.CursorTimeout)
	cur, got, err := c.open(ctx, s, fp, parts)
	require.NoError(t, err)
	require.True(t, cur.Before)
	require.Equal(t, at, got)

	now = now.Add(time.Second)
	_, _, err = c.open(ctx, s, fp, parts)
	require.Equal(t, scimerr.ExpiredCursor, scimerr.As(err).ScimType, "%v", err)
	require.Equal(t, scimerr.KindInvalid, scimerr.As(err).Kind)

	// A cursor of another shape (a scimd version that keyed the list otherwise) is invalid,
	// never a failure in SQL.
	now = now.Add(-time.Hour)
	_, _, err = c.open(ctx, s, fp, parts[:2])
	require.Equal(t, scimerr.InvalidCursor, scimerr.As(err).ScimType, "%v", err)
	_, _, err = c.open(ctx, s, fp, []keyPart{{"x", kindText}, {"x", kindText}, {"t", kindTime}})
	require.Equal(t, scimerr.InvalidCursor, scimerr.As(err).ScimType, "%v", err)
}
