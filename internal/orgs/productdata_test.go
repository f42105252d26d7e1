package orgs_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/scimerr"
)

func TestProductDataCursor(t *testing.T) {
	t.Parallel()
	c := orgs.ProductDataCursor{At: time.Date(2024, 5, 1, 9, 0, 0, 123456000, time.UTC), ID: uuid.NewString()}
	got, err := orgs.ParseProductDataCursor(orgs.EncodeProductDataCursor(c))
	require.NoError(t, err)
	require.Equal(t, c, got)
	first, err := orgs.ParseProductDataCursor("")
	require.NoError(t, err)
	require.True(t, first.IsZero())
	for _, bad := range []string{"x", "eA", "MTIzX25vcGU", "YWJjXzAxOGY"} {
		_, err := orgs.ParseProductDataCursor(bad)
		require.Error(t, err, bad)
		require.Equal(t, scimerr.KindInvalid, scimerr.As(err).Kind)
	}
	n, err := orgs.ParseProductDataLimit("")
	require.NoError(t, err)
	require.Equal(t, orgs.DefaultProductDataLimit, n)
	_, err = orgs.ParseProductDataLimit("-1")
	require.Error(t, err)
}

func TestProductDataService(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	user := orgstest.InsertUser(t, f.pool, f.a.ID, "ada@acme.example", "user", true)
	m, err := f.svc.AddMeeting(f.ctx, f.a.ID, user, orgs.MeetingInput{StartedAt: "2024-05-01T09:00:00.1234567Z", Details: []byte(` {"a": 1, "a": 2} `)})
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 5, 1, 9, 0, 0, 123456000, time.UTC), m.StartedAt, "kept to the microsecond, as stored")
	require.JSONEq(t, `{"a": 2}`, string(m.Details), "answered as stored")
	_, err = f.svc.AddMeeting(f.ctx, f.b.ID, user, orgs.MeetingInput{StartedAt: "2024-05-01T09:00:00Z"})
	requireErr(t, err, scimerr.KindNotFound, "organization "+f.b.ID+" has no user")
	_, err = f.svc.ListProductData(f.ctx, f.a.ID, user, 0, orgs.ProductDataCursor{})
	requireErr(t, err, scimerr.KindInvalid, "limit 0")
	page, err := f.svc.ListProductData(f.ctx, f.a.ID, user, 1, orgs.ProductDataCursor{})
	require.NoError(t, err)
	require.Len(t, page.Items, 1)
	require.Empty(t, page.NextCursor)
}
