package memstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/directory/memstore"
	"github.com/scimd/scimd/internal/grants"
)

// The store's own promises, seen through directory.Store and directory.Tx: constraints mapped
// to the directory's errors, queued writes failing late, rollback and retries.

func newUser(name string) *directory.User {
	return &directory.User{Resource: directory.Resource{ID: uuid.NewString(), Doc: map[string]any{"userName": name, "active": true}},
		Direct: grants.Default(), Effective: grants.Default()}
}

func TestConstraintsAnswerTheDirectorysErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	org := s.AddOrg(directory.Org{Name: "Acme", Products: []string{"meeting"}})
	ada := newUser("ada@example.com")
	staff := &directory.Resource{ID: uuid.NewString(), Doc: map[string]any{"displayName": "Staff"}}
	require.NoError(t, s.Update(ctx, org, func(tx directory.Tx) error {
		if err := tx.InsertUser(ada); err != nil {
			return err
		}
		return tx.InsertGroup(staff)
	}))
	require.Equal(t, int64(1), ada.Version)
	before := s.Snapshot()

	for _, tc := range []struct {
		name string
		fn   func(tx directory.Tx) error
		want error
	}{
		// Queued writes: the failure comes from the next read, and from Update.
		{"userName taken", func(tx directory.Tx) error {
			require.NoError(t, tx.InsertUser(newUser("ADA@example.com")))
			_, err := tx.LockUser(ada.ID)
			require.ErrorIs(t, err, directory.ErrUserNameTaken, "the next read reports it")
			return nil
		}, directory.ErrUserNameTaken},
		{"displayName taken", func(tx directory.Tx) error {
			return tx.InsertGroup(&directory.Resource{ID: uuid.NewString(), Doc: map[string]any{"displayName": "staff"}})
		}, directory.ErrDisplayNameTaken},
		{"direct product not licensed", func(tx directory.Tx) error {
			u := newUser("bob@example.com")
			u.Direct.Products = []string{"webinar"}
			return tx.InsertUser(u)
		}, directory.ErrNotLicensed},
		{"manager gone", func(tx directory.Tx) error {
			u := newUser("bob@example.com")
			u.Doc["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"] = map[string]any{"manager": map[string]any{"value": uuid.NewString()}}
			return tx.InsertUser(u)
		}, directory.ErrGone},
		// Writes sent at once fail at once.
		{"member gone", func(tx directory.Tx) error {
			_, err := tx.AddMembers(staff.ID, []string{uuid.NewString()}, nil)
			return err
		}, directory.ErrGone},
		{"mapped product not licensed", func(tx directory.Tx) error {
			_, err := tx.PutMapping(&directory.Mapping{GroupID: staff.ID, Products: []string{"webinar"}})
			return err
		}, directory.ErrNotLicensed},
		{"no mapping", func(tx directory.Tx) error { return tx.DeleteMapping(staff.ID) }, directory.ErrNotFound},
		{"no user", func(tx directory.Tx) error { _, err := tx.LockUser(uuid.NewString()); return err }, directory.ErrNotFound},
		{"no group", func(tx directory.Tx) error { _, err := tx.Group(uuid.NewString(), true); return err }, directory.ErrNotFound},
		{"no token", func(tx directory.Tx) error { _, err := tx.RevokeToken(uuid.NewString(), ada.Created); return err }, directory.ErrNotFound},
	} {
		require.ErrorIs(t, s.Update(ctx, org, tc.fn), tc.want, tc.name)
		require.Equal(t, before, s.Snapshot(), "%s: a failed transaction leaves nothing", tc.name)
	}

	// An organization that does not exist: its settings and any write.
	missing := uuid.NewString()
	require.ErrorIs(t, s.Update(ctx, missing, func(tx directory.Tx) error { _, err := tx.Org(); return err }), directory.ErrNoOrg)
	require.ErrorIs(t, s.Update(ctx, missing, func(tx directory.Tx) error { return tx.InsertUser(newUser("x")) }), directory.ErrNoOrg)
	require.ErrorIs(t, s.Update(ctx, missing, func(tx directory.Tx) error { tx.Audit(directory.AuditEntry{}); return nil }), directory.ErrNoOrg)
	_, err := s.Org(ctx, missing)
	require.ErrorIs(t, err, directory.ErrNoOrg)
	require.Equal(t, before, s.Snapshot())
}

func TestAccountIDsAreNeverReused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	a := s.AddOrg(directory.Org{Name: "A"})
	b := s.AddOrg(directory.Org{Name: "B"})
	insert := func(org string, fail bool) int64 {
		u := newUser(uuid.NewString())
		err := s.Update(ctx, org, func(tx directory.Tx) error {
			if err := tx.InsertUser(u); err != nil {
				return err
			}
			if _, err := tx.LockUser(u.ID); err != nil {
				return err
			}
			if fail {
				return errors.New("rolled back")
			}
			return nil
		})
		require.Equal(t, fail, err != nil)
		return u.AccountID
	}
	require.Equal(t, []int64{1, 2, 3, 4}, []int64{insert(a, false), insert(b, false), insert(a, true), insert(a, false)})
}

func TestStaleGroupUpdatesRunAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := memstore.New()
	org := s.AddOrg(directory.Org{Name: "Acme"})
	g := &directory.Resource{ID: uuid.NewString(), Doc: map[string]any{"displayName": "Staff"}}
	require.NoError(t, s.Update(ctx, org, func(tx directory.Tx) error { return tx.InsertGroup(g) }))

	runs := 0
	err := s.Update(ctx, org, func(tx directory.Tx) error {
		runs++
		read, err := tx.Group(g.ID, false)
		if err != nil {
			return err
		}
		if runs < 3 {
			read.Version-- // as if read before a concurrent change
		}
		return tx.UpdateGroup(read, true)
	})
	require.NoError(t, err)
	require.Equal(t, 3, runs)
	got, err := s.Group(ctx, org, g.ID)
	require.NoError(t, err)
	require.Equal(t, int64(2), got.Version)

	err = s.Update(ctx, org, func(tx directory.Tx) error {
		stale := *g
		stale.Version = 0
		return tx.UpdateGroup(&stale, true)
	})
	require.Same(t, directory.ErrContended, err)
}
