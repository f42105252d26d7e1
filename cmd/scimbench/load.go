package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	userSchemas  = `["urn:ietf:params:scim:schemas:core:2.0:User","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]`
	enterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	patchSchemas = `["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`
	memberBatch  = 1000 // members per PATCH when filling the large group
)

// loadStats is what the report says about the directory load.
type loadStats struct {
	apiUsers      int // created one per POST /Users
	apiTime       time.Duration
	bulkUsers     int // created through POST /Bulk
	bulkTime      time.Duration
	bulkRequests  int
	bulkNote      string // why the bulk path was or was not used
	members       int
	membersTime   time.Duration
	memberPATCHs  int
	analyzeTime   time.Duration
	autovacuumOff bool
}

// bulkThreshold is the directory size above which -load auto switches to /Bulk after a first
// apiSample users through POST /Users: at ~700 users/s on this machine, 1,000,000 single
// POSTs take 25 minutes, while /Bulk runs the same per-user validation and writes in batches.
const (
	bulkThreshold = 200_000
	apiSample     = 20_000
)

// userName is the userName of directory user i. The run tag keeps names unique when -url
// points at an organization that an earlier run already filled.
func (b *bench) userName(i int) string { return fmt.Sprintf("%s%07d@example.com", b.prefix, i) }

func (b *bench) externalID(i int) string { return fmt.Sprintf("%sext-%07d", b.prefix, i) }

// userDoc is a User as Entra ID sends it on provisioning: core and enterprise attributes, one
// work email. No password: identity providers rarely send one, and bcrypt would dominate.
func userDoc(userName, externalID string, i int) []byte {
	return fmt.Appendf(nil, `{"schemas":%s,"userName":%q,"externalId":%q,"active":true,`+
		`"displayName":"Given%d Family%d","locale":"en-US",`+
		`"name":{"givenName":"Given%d","familyName":"Family%d","formatted":"Given%d Family%d"},`+
		`"emails":[{"value":%q,"type":"work","primary":true}],`+
		`%q:{"department":"Department %d"}}`,
		userSchemas, userName, externalID, i, i, i, i, i, i, userName, enterprise, i%50)
}

// load fills the directory: N users (POST /Users, and /Bulk for large directories, see -load),
// a 10-member group and a group with every one of the N users, filled by PATCH in batches of
// 1,000; then it VACUUM ANALYZEs the tables.
func (b *bench) load(ctx context.Context) error {
	// Delta sync later asks for everything modified after this instant: the whole directory.
	b.since = time.Now().Add(-time.Second).UTC()
	n := b.cfg.users
	b.ids = make([]string, n)
	apiN := n
	bulkOps, bulkPayload, supported := b.bulkLimits(ctx)
	ls := &b.loadStats
	switch {
	case b.cfg.load == "users":
		ls.bulkNote = "-load users"
	case !supported:
		ls.bulkNote = "scimd does not advertise bulk support, so every user was created by POST /Users"
	case b.cfg.load == "bulk":
		apiN = 0
		ls.bulkNote = "-load bulk"
	case n > bulkThreshold:
		apiN = apiSample
		ls.bulkNote = fmt.Sprintf("-load auto: above %d users, the first %d go through POST /Users "+
			"(to measure it) and the rest through /Bulk", bulkThreshold, apiSample)
	default:
		ls.bulkNote = fmt.Sprintf("-load auto: up to %d users, all through POST /Users", bulkThreshold)
	}

	if apiN > 0 {
		logf("loading %d users through POST /Users with %d concurrent clients", apiN, b.cfg.loadConc)
	}
	start := time.Now()
	err := parallel(ctx, b.cfg.loadConc, apiN, func(ctx context.Context, i int) error {
		r, err := b.api.do(ctx, "POST", "/Users", userDoc(b.userName(i), b.externalID(i), i))
		if err != nil {
			return err
		}
		if r.status != 201 || r.location == "" {
			return fmt.Errorf("POST /Users: HTTP %d: %.300s", r.status, r.body)
		}
		b.ids[i] = path.Base(r.location)
		return nil
	})
	if err != nil {
		return err
	}
	ls.apiUsers, ls.apiTime = apiN, time.Since(start)
	if apiN > 0 {
		logf("loaded %d users in %s (%.0f users/s)", apiN, ls.apiTime.Round(time.Millisecond), float64(apiN)/ls.apiTime.Seconds())
	}
	if apiN < n {
		if err := b.bulkLoad(ctx, apiN, bulkOps, bulkPayload); err != nil {
			return err
		}
	}

	if b.smallGroup, err = b.createGroup(ctx, "small", b.ids[:10]); err != nil {
		return err
	}
	if b.bigGroup, err = b.createGroup(ctx, "all", nil); err != nil {
		return err
	}
	// The group row is locked by each PATCH, so more than two clients would only queue; two
	// let one request's HTTP and JSON work overlap the other's database work.
	batches := (n + memberBatch - 1) / memberBatch
	start = time.Now()
	err = parallel(ctx, 2, batches, func(ctx context.Context, k int) error {
		ids := b.ids[k*memberBatch : min((k+1)*memberBatch, n)]
		r, err := b.api.do(ctx, "PATCH", "/Groups/"+b.bigGroup, addMembers(ids))
		if err != nil {
			return err
		}
		if !r.ok() {
			return fmt.Errorf("PATCH /Groups add %d members: HTTP %d: %.300s", len(ids), r.status, r.body)
		}
		return nil
	})
	if err != nil {
		return err
	}
	ls.members, ls.membersTime, ls.memberPATCHs = n, time.Since(start), batches
	logf("added %d members to the large group in %d PATCHes in %s", n, batches, ls.membersTime.Round(time.Millisecond))
	return b.analyze(ctx)
}

// analyze refreshes the planner statistics after the load. Autovacuum would do it in
// production once a table has grown by 10%; without it (this machine's PostgreSQL runs with
// autovacuum = off) the planner keeps the estimates of an empty table and picks plans that no
// production database would use. Doing it always makes runs comparable.
func (b *bench) analyze(ctx context.Context) error {
	if b.env.db == nil {
		return nil
	}
	var av string
	if err := b.env.db.QueryRow(ctx, "SHOW autovacuum").Scan(&av); err == nil {
		b.loadStats.autovacuumOff = av == "off"
	}
	var err error
	if b.loadStats.analyzeTime, err = b.vacuum(ctx); err != nil {
		return err
	}
	logf("VACUUM ANALYZE in %s (autovacuum %s)", b.loadStats.analyzeTime.Round(time.Millisecond), av)
	return nil
}

// vacuum runs VACUUM (ANALYZE) on the whole database, which holds only scimd's tables: every
// table a scenario may have changed, including any the benchmark does not know about.
func (b *bench) vacuum(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := b.env.db.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return 0, fmt.Errorf("VACUUM ANALYZE: %w", err)
	}
	return time.Since(start), nil
}

// bulkLimits reads /ServiceProviderConfig: whether scimd supports /Bulk, with how many
// operations and bytes per request.
func (b *bench) bulkLimits(ctx context.Context) (ops int, payload int64, ok bool) {
	r, err := b.api.do(ctx, "GET", "/ServiceProviderConfig", nil)
	if err != nil || !r.ok() {
		return 0, 0, false
	}
	var spc struct {
		Bulk struct {
			Supported      bool  `json:"supported"`
			MaxOperations  int   `json:"maxOperations"`
			MaxPayloadSize int64 `json:"maxPayloadSize"`
		} `json:"bulk"`
	}
	if json.Unmarshal(r.body, &spc) != nil || !spc.Bulk.Supported || spc.Bulk.MaxOperations < 1 {
		return 0, 0, false
	}
	return min(spc.Bulk.MaxOperations, memberBatch), spc.Bulk.MaxPayloadSize, true
}

// bulkLoad creates directory users [from, N) through POST /Bulk, as many per request as the
// limits allow, two requests at a time (each is one client's batch; more would only queue
// on the two cores).
func (b *bench) bulkLoad(ctx context.Context, from, maxOps int, maxPayload int64) error {
	n := b.cfg.users
	per := maxOps
	if op := int64(len(userDoc(b.userName(n), b.externalID(n), n)) + 100); maxPayload > 0 && int64(per)*op > maxPayload*8/10 {
		per = max(1, int(maxPayload*8/10/op))
	}
	reqs := (n - from + per - 1) / per
	logf("loading %d users through POST /Bulk, %d per request", n-from, per)
	start := time.Now()
	err := parallel(ctx, 2, reqs, func(ctx context.Context, k int) error {
		lo, hi := from+k*per, min(from+(k+1)*per, n)
		var sb strings.Builder
		sb.WriteString(`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[`)
		for i := lo; i < hi; i++ {
			if i > lo {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"method":"POST","path":"/Users","bulkId":"u%d","data":%s}`, i, userDoc(b.userName(i), b.externalID(i), i))
		}
		sb.WriteString("]}")
		r, err := b.api.do(ctx, "POST", "/Bulk", []byte(sb.String()))
		if err != nil {
			return err
		}
		if !r.ok() {
			return fmt.Errorf("POST /Bulk: HTTP %d: %.300s", r.status, r.body)
		}
		var resp struct {
			Operations []struct {
				BulkID   string          `json:"bulkId"`
				Location string          `json:"location"`
				Status   json.RawMessage `json:"status"`
				Response json.RawMessage `json:"response"`
			} `json:"Operations"`
		}
		if err := json.Unmarshal(r.body, &resp); err != nil {
			return fmt.Errorf("POST /Bulk: %w", err)
		}
		for _, op := range resp.Operations {
			i, err := strconv.Atoi(strings.TrimPrefix(op.BulkID, "u"))
			// RFC 7644 §3.7.3 writes status as a string; accept a number too.
			if st := strings.Trim(string(op.Status), `"`); err != nil || i < lo || i >= hi || st != "201" || op.Location == "" {
				return fmt.Errorf("POST /Bulk: operation %s: status %s: %.300s", op.BulkID, op.Status, op.Response)
			}
			b.ids[i] = path.Base(op.Location)
		}
		for i := lo; i < hi; i++ {
			if b.ids[i] == "" {
				return fmt.Errorf("POST /Bulk: no result for operation u%d", i)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.loadStats.bulkUsers, b.loadStats.bulkTime, b.loadStats.bulkRequests = n-from, time.Since(start), reqs
	logf("loaded %d users through /Bulk in %s (%.0f users/s)", n-from, b.loadStats.bulkTime.Round(time.Millisecond),
		float64(n-from)/b.loadStats.bulkTime.Seconds())
	return nil
}

// createGroup creates a group with the given members and returns its id.
func (b *bench) createGroup(ctx context.Context, label string, members []string) (string, error) {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":%q,"members":[`,
		"scimbench "+label+" "+b.prefix)
	for i, id := range members {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"value":%q}`, id)
	}
	sb.WriteString("]}")
	r, err := b.api.do(ctx, "POST", "/Groups", []byte(sb.String()))
	if err != nil {
		return "", err
	}
	if r.status != 201 || r.location == "" {
		return "", fmt.Errorf("POST /Groups: HTTP %d: %.300s", r.status, r.body)
	}
	return path.Base(r.location), nil
}

func addMembers(ids []string) []byte {
	var sb strings.Builder
	sb.WriteString(`{"schemas":` + patchSchemas + `,"Operations":[{"op":"add","path":"members","value":[`)
	for i, id := range ids {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"value":"` + id + `"}`)
	}
	sb.WriteString("]}]}")
	return []byte(sb.String())
}

func removeMember(id string) []byte {
	return []byte(`{"schemas":` + patchSchemas + `,"Operations":[{"op":"remove","path":"members[value eq \"` + id + `\"]"}]}`)
}

// parallel runs f(i) for i in [0,n) on conc workers and stops at the first error. It logs
// progress every 10 seconds, since a large load takes minutes.
func parallel(ctx context.Context, conc, n int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var next, done atomic.Int64
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					once.Do(func() { first = err; cancel() })
					return
				}
				done.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := done.Load()
				logf("  %d/%d (%.0f/s)", d, n, float64(d)/time.Since(start).Seconds())
			}
		}
	}()
	wg.Wait()
	close(stop)
	if first != nil {
		return first
	}
	if err := ctx.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if int(done.Load()) != n {
		return fmt.Errorf("interrupted after %d of %d", done.Load(), n)
	}
	return nil
}
