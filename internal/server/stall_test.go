package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/eventually"
	"github.com/scimd/scimd/internal/server"
)

// hugeGroup is a group of 20,000 members, whose answer is far larger than a socket's buffers.
func hugeGroup(t *testing.T, e *env) string {
	t.Helper()
	gid := e.group("Everyone")
	_, err := e.pool.Exec(context.Background(), `WITH u AS (
			INSERT INTO users (org_id, id, user_name, display_name)
			SELECT $1, gen_random_uuid(), 'member-' || i || '@example.com', 'A member with a long enough display name ' || i
			FROM generate_series(1, 20000) i RETURNING id)
		INSERT INTO group_members (org_id, group_id, member_id, member_type) SELECT $1, $2, id, 'User' FROM u`, e.org, gid)
	require.NoError(t, err)
	return gid
}

// stallReaders sends n requests for the group on connections that never read their answers.
func stallReaders(t *testing.T, e *env, gid string, n int) {
	t.Helper()
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for range n {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		require.NoError(t, conn.(*net.TCPConn).SetReadBuffer(1024))
		_, err = fmt.Fprintf(conn, "GET /scim/v2/Groups/%s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n\r\n", gid, addr, e.token)
		require.NoError(t, err)
	}
	time.Sleep(500 * time.Millisecond) // the stalled requests are being written
}

// Readers of their own organization's answers that stall keep no slot of it: once their
// answers are being written, the organization's other requests are served, five in a row. A
// slot kept by a stalled reader would make each of them wait OrgWait and answer 503 for as long
// as the readers stay. Neither how long the stalled requests take to reach their answer nor how
// long a read takes is bounded here: on a machine busy with other tests under the race
// detector, the first has taken over half a second and the second as much.
func TestStalledReadersKeepNoSlotOfTheirOrganization(t *testing.T) {
	t.Parallel()
	const limit = 2
	e := newEnvWith(t, func(d *server.Deps) { d.OrgConcurrency, d.OrgWait = limit, 300*time.Millisecond })
	stallReaders(t, e, hugeGroup(t, e), 2*limit)
	eventually.Holds(t, "five requests of the organization served in a row beside its stalled readers", func() bool {
		for range 5 {
			if e.do(http.MethodGet, "/Users?count=10", nil, nil).Status != http.StatusOK {
				return false
			}
		}
		return true
	})
}

// Clients that ask for a huge group and never read must not hold database connections while
// scimd waits to write to them: another organization's requests are served. The test's pool
// has no acquire timeout, so a request waiting for a connection held by a stalled reader would
// wait until the client gives up.
func TestStalledReadersLeaveOthersFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other := e.otherOrg()
	gid := hugeGroup(t, e)
	stalled := 3 * int(e.pool.Config().MaxConns)
	stallReaders(t, e, gid, stalled)
	client := &http.Client{Timeout: 5 * time.Second}
	for range 5 {
		req, err := http.NewRequest(http.MethodGet, other.srv.URL+"/scim/v2/Users?count=10", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+other.token)
		res, err := client.Do(req)
		require.NoError(t, err, "another organization's request waited on the stalled readers")
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
	}
	require.Less(t, e.pool.Stat().AcquiredConns(), int32(stalled), "no connection is held for a stalled reader")
}
