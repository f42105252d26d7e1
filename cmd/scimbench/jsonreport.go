package main

import "math"

// jsonRow is one series of a scenario as `-json FILE` writes it. ratio is rps over the
// ceiling's rps (baseline_rps), raw_ratio rps over the raw baseline's; both are null when that
// baseline did not run. CPU is per request of the whole run (all its series), in µs.
type jsonRow struct {
	Scenario    string   `json:"scenario"`
	RPS         float64  `json:"rps"`
	P50         float64  `json:"p50_ms"`
	P99         float64  `json:"p99_ms"`
	Baseline    string   `json:"baseline"`
	BaselineRPS *float64 `json:"baseline_rps"`
	Ratio       *float64 `json:"ratio"`
	RawRatio    *float64 `json:"raw_ratio"`
	RawBaseline string   `json:"raw_baseline"`
	RawRPS      *float64 `json:"raw_rps"`
	Request     string   `json:"request"`
	Clients     int      `json:"clients"`
	Requests    int      `json:"requests"`
	Errors      int      `json:"errors"`
	CPU         jsonCPU  `json:"cpu_us_per_request"`
	CeilingCPU  *jsonCPU `json:"ceiling_cpu_us_per_request"`
	// The share of the machine's cores that other processes used during the scenario's run
	// and during its ceiling's runs: how much the two may have met different conditions.
	Others        float64  `json:"others_cpu_share"`
	CeilingOthers *float64 `json:"ceiling_others_cpu_share"`
}

// jsonCPU is the CPU per request of one run: the load generator, the server (scimd or the
// ceiling) and PostgreSQL's backends.
type jsonCPU struct {
	Scimbench float64 `json:"scimbench"`
	Server    float64 `json:"server"`
	Postgres  float64 `json:"postgres"`
}

func jsonRows(rows []row, cores int) []jsonRow {
	out := make([]jsonRow, 0, len(rows))
	for _, rw := range rows {
		r := rw.res
		j := jsonRow{Scenario: rw.name, RPS: round(r.rate(), 1), P50: msFloat(r, .5), P99: msFloat(r, .99),
			Baseline: rw.ceilingName(), RawBaseline: "none", Request: rw.label, Clients: rw.conc, Requests: r.n, Errors: r.errors(),
			CPU: cpuPerRequest(rw.cpu.self, rw.cpu.scimd, rw.cpu.pg, rw.cpuN), Others: round(rw.cpu.others(cores), 2)}
		if v, ok := rw.ratio(); ok {
			j.BaselineRPS, j.Ratio = ptr(round(rw.ceil.rate(), 1)), ptr(round(v, 3))
			c := cpuPerRequest(rw.ceilCPU.self, rw.ceilCPU.ceiling, rw.ceilCPU.pg, rw.ceilN)
			j.CeilingCPU, j.CeilingOthers = &c, ptr(round(rw.ceilCPU.others(cores), 2))
		}
		if v, ok := ratio(r.rate(), rw.raw); ok {
			j.RawBaseline, j.RawRPS, j.RawRatio = rw.rawLabel, ptr(round(rw.raw.rate(), 1)), ptr(round(v, 3))
		}
		out = append(out, j)
	}
	return out
}

func cpuPerRequest(self, server, pg float64, n int) jsonCPU {
	if n == 0 {
		return jsonCPU{}
	}
	per := func(sec float64) float64 { return round(1e6*sec/float64(n), 1) }
	return jsonCPU{Scimbench: per(self), Server: per(server), Postgres: per(pg)}
}

func msFloat(r result, q float64) float64 { return round(r.pct(q).Seconds()*1000, 3) }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func ptr[T any](v T) *T { return &v }
