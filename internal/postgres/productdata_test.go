package postgres_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
)

func TestProductDataStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	store := postgres.NewOrgs(pool)
	a, err := store.CreateOrg(ctx, "", "Acme", []string{"acme.example"})
	require.NoError(t, err)
	b, err := store.CreateOrg(ctx, "", "Globex", []string{"globex.example"})
	require.NoError(t, err)
	user := orgstest.InsertUser(t, pool, a.OrgID, "ada@acme.example", "user", true)
	other := orgstest.InsertUser(t, pool, b.OrgID, "bob@globex.example", "user", true)

	base := time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)
	ended := base.Add(time.Hour)
	m, err := store.InsertMeeting(ctx, a.OrgID, orgs.Meeting{Type: orgs.TypeMeeting, ID: uuid.NewString(), UserID: user,
		Topic: "Standup", StartedAt: base, EndedAt: &ended, Details: json.RawMessage(`{"room":"1"}`)})
	require.NoError(t, err)
	require.False(t, m.Created.IsZero())
	sm, err := store.InsertScheduledMeeting(ctx, a.OrgID, orgs.ScheduledMeeting{Type: orgs.TypeScheduledMeeting, ID: uuid.NewString(),
		UserID: user, Topic: "Review", StartsAt: base.Add(48 * time.Hour), DurationMin: 30, Details: json.RawMessage(`{}`)})
	require.NoError(t, err)
	// Three records at one time: ties are ordered by id, descending.
	var recs []string
	for range 3 {
		id, _ := uuid.NewV7()
		r, err := store.InsertProductRecord(ctx, a.OrgID, orgs.ProductRecord{Type: orgs.TypeRecord, ID: id.String(), UserID: user,
			Product: "meeting", Kind: "recording", Payload: json.RawMessage(`{"n": 1}`), RecordedAt: base.Add(24 * time.Hour)})
		require.NoError(t, err)
		recs = append(recs, r.ID)
	}

	// Unknown users, and users of another organization, are ErrNotFound; unknown organizations
	// ErrNoOrg.
	_, err = store.InsertMeeting(ctx, a.OrgID, orgs.Meeting{ID: uuid.NewString(), UserID: other, StartedAt: base, Details: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, orgs.ErrNotFound)
	_, err = store.InsertScheduledMeeting(ctx, a.OrgID, orgs.ScheduledMeeting{ID: uuid.NewString(), UserID: uuid.NewString(), StartsAt: base, DurationMin: 5, Details: json.RawMessage(`{}`)})
	require.ErrorIs(t, err, orgs.ErrNotFound)
	_, err = store.InsertProductRecord(ctx, uuid.NewString(), orgs.ProductRecord{ID: uuid.NewString(), UserID: user, Product: "p", Kind: "k", Payload: json.RawMessage(`{}`), RecordedAt: base})
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	_, err = store.ListProductData(ctx, a.OrgID, other, orgs.ProductDataCursor{}, 10)
	require.ErrorIs(t, err, orgs.ErrNotFound)
	_, err = store.ListProductData(ctx, uuid.NewString(), user, orgs.ProductDataCursor{}, 10)
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	empty, err := store.ListProductData(ctx, b.OrgID, other, orgs.ProductDataCursor{}, 10)
	require.NoError(t, err)
	require.Empty(t, empty)

	want := []string{sm.ID, recs[2], recs[1], recs[0], m.ID}
	all, err := store.ListProductData(ctx, a.OrgID, user, orgs.ProductDataCursor{}, 10)
	require.NoError(t, err)
	require.Equal(t, want, itemIDs(all))
	got := all[4].(*orgs.Meeting)
	require.Equal(t, "Standup", got.Topic)
	require.Equal(t, base, got.StartedAt)
	require.Equal(t, ended, *got.EndedAt)
	require.JSONEq(t, `{"room":"1"}`, string(got.Details))
	require.Equal(t, 30, all[0].(*orgs.ScheduledMeeting).DurationMin)
	require.Equal(t, "recording", all[1].(*orgs.ProductRecord).Kind)

	// Keyset pages of two walk the same order.
	var paged []string
	cursor := orgs.ProductDataCursor{}
	for {
		page, err := store.ListProductData(ctx, a.OrgID, user, cursor, 2)
		require.NoError(t, err)
		paged = append(paged, itemIDs(page)...)
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		cursor = orgs.ProductDataCursor{At: last.At(), ID: last.ItemID()}
	}
	require.Equal(t, want, paged)

	// The product data lives and dies with the user.
	_, err = pool.Exec(ctx, `DELETE FROM users WHERE org_id = $1 AND id = $2`, a.OrgID, user)
	require.NoError(t, err)
	for _, table := range []string{"meeting_history", "scheduled_meetings", "product_records"} {
		require.Zero(t, orgstest.Count(t, pool, `SELECT count(*) FROM `+table+` WHERE org_id = $1`, a.OrgID), table)
	}
}

func itemIDs(items []orgs.ProductData) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.ItemID())
	}
	return out
}
