package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// res is a result of n requests over one second with the given sorted latencies in ms.
func res(n int, latMS ...float64) *result {
	r := &result{n: n, elapsed: time.Second, fails: map[string]int{}}
	for _, l := range latMS {
		r.lat = append(r.lat, time.Duration(l*float64(time.Millisecond)))
	}
	return r
}

func TestRatio(t *testing.T) {
	v, ok := ratio(3000, res(4000))
	require.True(t, ok)
	require.InDelta(t, 0.75, v, 1e-9)
	_, ok = ratio(3000, nil)
	require.False(t, ok, "no baseline")
	_, ok = ratio(3000, res(0))
	require.False(t, ok, "a baseline that served nothing divides nothing")
}

func TestJSONRows(t *testing.T) {
	rows := []row{
		{name: "username-eq", label: "filter", conc: 8, res: *res(3000, 1, 2, 3), ceiling: readByName, ceil: res(4000),
			ceilN: 4000, rawLabel: "raw SELECT", raw: res(30000), cpuN: 3000, cpu: cpuUse{self: .3, scimd: .6, pg: .9}},
		{name: "create", label: "POST /Users", conc: 8, res: *res(500, 4)},
	}
	rows[0].cpu.machine, rows[0].cpu.wall = 1.8+1, 1 // others: 1 s of the 2 cores' second
	out := jsonRows(rows, 2)
	require.Len(t, out, 2)
	j := out[0]
	require.Equal(t, "username-eq", j.Scenario)
	require.Equal(t, 3000.0, j.RPS)
	require.Equal(t, 2.0, j.P50)
	require.Equal(t, 3.0, j.P99)
	require.Equal(t, readByName.String(), j.Baseline)
	require.Equal(t, 4000.0, *j.BaselineRPS)
	require.Equal(t, 0.75, *j.Ratio, "ratio is scimd's rps over the ceiling's")
	require.Equal(t, 0.1, *j.RawRatio, "raw_ratio is scimd's rps over raw pgx's")
	require.Equal(t, 30000.0, *j.RawRPS)
	require.Equal(t, jsonCPU{Scimbench: 100, Server: 200, Postgres: 300}, j.CPU)
	require.Equal(t, 0.5, j.Others)

	j = out[1]
	require.Equal(t, "none", j.Baseline)
	require.Nil(t, j.BaselineRPS)
	require.Nil(t, j.Ratio, "no ceiling ran: null, not 0")
	require.Nil(t, j.RawRatio)
	require.Nil(t, j.CeilingCPU)
}

func TestTargets(t *testing.T) {
	b := &bench{rows: []row{
		{name: "username-eq", res: *res(3000), ceiling: readByName, ceil: res(4000)},
		{name: "get-by-id", res: *res(2000), ceiling: readByID, ceil: res(4000)},
		{name: "list-first-page", res: *res(10, 10, 10, 10)},
		{name: "list-last-page", res: *res(10, 20, 21, 22)},
		{name: "member-add-small", res: *res(10, 1, 2, 10)},
		{name: "member-add-large", res: *res(10, 1, 2, 15)},
	}}
	rep := &report{b: b}
	rep.ceilingTarget("username-eq", "read ceiling", .75)
	rep.ceilingTarget("get-by-id", "read ceiling", .75)
	rep.ceilingTarget("create", "write ceiling", .6)
	rep.latencyTarget("list-last-page", "list-first-page", .5, 2)
	rep.latencyTarget("member-add-large", "member-add-small", .99, 1.5)
	got := map[string]bool{}
	for _, tg := range rep.targets {
		got[tg.name] = tg.pass
	}
	require.Equal(t, map[string]bool{
		"`username-eq` ≥ 0.75× the read ceiling":                true,  // exactly 0.75
		"`get-by-id` ≥ 0.75× the read ceiling":                  false, // 0.5
		"`create` ≥ 0.60× the write ceiling":                    false, // not run
		"`list-last-page` p50 ≤ 2 × `list-first-page` p50":      false, // 21 vs 10 ms
		"`member-add-large` p99 ≤ 1.5 × `member-add-small` p99": true,  // 15 vs 10 ms
	}, got)
	require.Equal(t, "21.00 vs 10.00 ms = 2.10×", rep.targets[3].measured)
}

func TestPageTrend(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	early, late := pageTrend(ms(5, 1, 1, 1, 1, 1, 1, 1, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 2, 3))
	require.Equal(t, time.Millisecond, early, "median of the first two pages (the lower middle)")
	require.Equal(t, 2*time.Millisecond, late)
	early, late = pageTrend(ms(7))
	require.Equal(t, 7*time.Millisecond, early)
	require.Equal(t, 7*time.Millisecond, late)
	early, late = pageTrend(nil)
	require.Zero(t, early)
	require.Zero(t, late)
}

func TestTrendSentence(t *testing.T) {
	require.Contains(t, trendSentence(100*time.Millisecond, 200*time.Millisecond), "2.00× as long")
	require.Contains(t, trendSentence(100*time.Millisecond, 200*time.Millisecond), "costs more the larger its startIndex")
	// The figures of the old report that claimed growth: the last page was the faster.
	s := trendSentence(205810*time.Microsecond, 190680*time.Microsecond)
	require.Contains(t, s, "does not grow")
	require.NotContains(t, s, "costs more")
	require.Contains(t, trendSentence(300*time.Millisecond, 100*time.Millisecond), "later pages were cheaper")
	require.Contains(t, trendSentence(0, 0), "too few pages")
}

func TestScalingSentence(t *testing.T) {
	s := scalingSentence(8, 549, 480, 7180*time.Microsecond, 1900*time.Microsecond)
	require.Contains(t, s, "wait for one another", "flat throughput, p50 3.8×")
	s = scalingSentence(8, 631, 56, 6360*time.Microsecond, 1630*time.Microsecond)
	require.NotContains(t, s, "wait", "throughput grew 11×")
	require.Contains(t, s, "(11.27×)")
}

func TestCPUSentence(t *testing.T) {
	require.Contains(t, cpuSentence("x", 200, 130, 50, 30), "most of the difference is in scimd's own process (+150 µs, PostgreSQL +100 µs)")
	require.Contains(t, cpuSentence("x", 60, 300, 50, 30), "most of the difference is in PostgreSQL (+270 µs, scimd's own process +10 µs)")
	require.Contains(t, cpuSentence("x", 40, 20, 50, 30), "no more than the ceiling")
}
