package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/dbtest"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/orgs/orgstest"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/schemas"
)

func strp(s string) *string { return &s }

func TestMappingStoreErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	store := postgres.NewOrgs(pool)
	tok, err := store.CreateOrg(ctx, "", "Acme", nil)
	require.NoError(t, err)
	org := tok.OrgID
	group := uuid.NewString()
	_, err = pool.Exec(ctx, `INSERT INTO groups (org_id, id, display_name) VALUES ($1, $2, 'G')`, org, group)
	require.NoError(t, err)

	_, err = store.SetGroupMapping(ctx, uuid.NewString(), orgs.GroupMapping{GroupID: group, OrgRole: strp("admin")})
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	_, err = store.SetGroupMapping(ctx, org, orgs.GroupMapping{GroupID: uuid.NewString(), OrgRole: strp("admin")})
	require.ErrorIs(t, err, orgs.ErrNotFound)
	_, err = store.SetGroupMapping(ctx, org, orgs.GroupMapping{GroupID: group, Products: []string{"whiteboard"}})
	require.ErrorIs(t, err, orgs.ErrNotLicensed)
	_, err = store.DeleteGroupMapping(ctx, org, group)
	require.ErrorIs(t, err, orgs.ErrNoMapping)
	_, err = store.DeleteGroupMapping(ctx, org, uuid.NewString())
	require.ErrorIs(t, err, orgs.ErrNotFound)
	_, err = store.DeleteGroupMapping(ctx, uuid.NewString(), group)
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	_, err = store.ListGroupMappings(ctx, uuid.NewString())
	require.ErrorIs(t, err, orgs.ErrNoOrg)
	require.ErrorIs(t, store.SetNestedGroups(ctx, uuid.NewString(), true), orgs.ErrNoOrg)
	require.Equal(t, 0, orgstest.Count(t, pool, "SELECT count(*) FROM group_mappings"))

	// A nil product list is no products, and replaces the ones there.
	set, err := store.SetGroupMapping(ctx, org, orgs.GroupMapping{GroupID: group, Products: []string{"meeting"}})
	require.NoError(t, err)
	require.True(t, set.Created)
	set, err = store.SetGroupMapping(ctx, org, orgs.GroupMapping{GroupID: group, OrgRole: strp("user")})
	require.NoError(t, err)
	require.False(t, set.Created)
	require.Equal(t, 0, orgstest.Count(t, pool, "SELECT count(*) FROM group_mapping_products"))

	other := uuid.NewString()
	_, err = pool.Exec(ctx, `INSERT INTO groups (org_id, id, display_name) VALUES ($1, $2, 'H')`, org, other)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO group_members (org_id, group_id, member_id, member_type) VALUES ($1, $2, $3, 'Group')`, org, group, other)
	require.NoError(t, err)
	var inUse *orgs.NestedInUseError
	require.NoError(t, store.SetNestedGroups(ctx, org, true), "enabling is never refused")
	require.ErrorAs(t, store.SetNestedGroups(ctx, org, false), &inUse)
	require.Equal(t, 1, inUse.Memberships)
}

// Mapping changes race membership changes of the mapped group and of a group nested in it;
// afterwards, every user's materialised effective grants are what recomputing them gives.
func TestMappingsRaceMembershipChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.New(t)
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	store := postgres.NewOrgs(pool)
	groups := postgres.NewGroups(pool, reg.Group)
	tok, err := store.CreateOrg(ctx, "", "Acme", []string{"example.com"})
	require.NoError(t, err)
	org := tok.OrgID
	require.NoError(t, store.SetNestedGroups(ctx, org, true))
	orgstest.InsertUser(t, pool, org, "root@example.com", "admin", true)

	parent := &directory.Resource{Doc: map[string]any{"displayName": "Parent"}}
	child := &directory.Resource{Doc: map[string]any{"displayName": "Child"}}
	require.NoError(t, groups.CreateGroup(ctx, org, parent, nil))
	require.NoError(t, groups.CreateGroup(ctx, org, child, nil))
	const n = 24
	users := make([]string, n)
	for i := range users {
		users[i] = orgstest.InsertUser(t, pool, org, fmt.Sprintf("u%d@example.com", i), "user", true)
	}
	change := func(group string, fn func(directory.MemberChanges) error) error {
		_, err := groups.UpdateGroup(ctx, org, group, func(_ *directory.Resource, mc directory.MemberChanges) error { return fn(mc) })
		return err
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i, u := range users {
		wg.Go(func() {
			g := child.ID
			if i%3 == 0 {
				g = parent.ID
			}
			ref := []directory.MemberRef{{Value: u}}
			errs <- change(g, func(mc directory.MemberChanges) error { return mc.Add(ref) })
			if i%4 == 1 {
				errs <- change(g, func(mc directory.MemberChanges) error { return mc.Remove(ref) })
			}
		})
	}
	wg.Go(func() {
		for i := range n / 2 {
			ref := []directory.MemberRef{{Value: child.ID}}
			if i%2 == 0 {
				errs <- change(parent.ID, func(mc directory.MemberChanges) error { return mc.Remove(ref) })
			} else {
				errs <- change(parent.ID, func(mc directory.MemberChanges) error { return mc.Add(ref) })
			}
		}
	})
	wg.Go(func() {
		for i := range n {
			var err error
			if i%3 == 2 {
				_, err = store.DeleteGroupMapping(ctx, org, parent.ID)
				if errors.Is(err, orgs.ErrNoMapping) {
					err = nil
				}
			} else {
				_, err = store.SetGroupMapping(ctx, org, orgs.GroupMapping{GroupID: parent.ID,
					OrgRole: strp("admin-readonly"), Products: []string{[]string{"meeting", "webinar"}[i%2]}})
			}
			errs <- err
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	var stale []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(array_agg(user_id::text), '{}')
		FROM refresh_grants($1, (SELECT array_agg(id) FROM users WHERE org_id = $1))`, org).Scan(&stale))
	require.Empty(t, stale, "effective grants that differ from a recomputation")
	require.Positive(t, orgstest.Count(t, pool, `SELECT count(*) FROM group_members WHERE org_id = $1`, org))
}
