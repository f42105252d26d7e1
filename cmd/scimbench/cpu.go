package main

import (
	"os"
	"strconv"
	"strings"
)

// CPU accounting tells where a scenario's time went: scimd (or the ceiling server), the
// PostgreSQL backends serving the benchmark's database, scimbench itself (the load generator),
// and everything else on the machine (other people's builds and tests share these cores and
// make every number noisier).

const ticksPerSecond = 100 // USER_HZ, the unit of /proc's CPU times on Linux

// cpuSample is a snapshot of cumulative CPU seconds.
type cpuSample struct {
	machine float64 // busy time of all cores
	scimd   float64
	ceiling float64
	self    float64
	pg      map[int]float64 // per backend of the benchmark's database
}

// cpuUse is the CPU spent between two samples, in seconds.
type cpuUse struct {
	machine, scimd, ceiling, self, pg float64
	wall                              float64
}

func (u cpuUse) add(v cpuUse) cpuUse {
	return cpuUse{u.machine + v.machine, u.scimd + v.scimd, u.ceiling + v.ceiling, u.self + v.self, u.pg + v.pg, u.wall + v.wall}
}

// others is the share of the machine used by processes other than scimd, the ceiling server,
// the database's backends and scimbench.
func (u cpuUse) others(cores int) float64 {
	if u.wall <= 0 {
		return 0
	}
	return max(0, u.machine-u.scimd-u.ceiling-u.self-u.pg) / (u.wall * float64(cores))
}

func (b *bench) cpuNow() cpuSample {
	s := cpuSample{machine: machineBusy(), self: procCPU("self"), pg: map[int]float64{}}
	if b.env.pid > 0 {
		s.scimd = procCPU(strconv.Itoa(b.env.pid))
	}
	if b.env.ceilingPID > 0 {
		s.ceiling = procCPU(strconv.Itoa(b.env.ceilingPID))
	}
	if db := strings.TrimPrefix(mustURL(b.env.dbURL).Path, "/"); db != "" {
		// A backend's title is "postgres: USER DATABASE HOST(PORT) STATE".
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if strings.HasPrefix(string(cmd), "postgres: ") && strings.Contains(string(cmd), " "+db+" ") {
				s.pg[pid] = procCPU(e.Name())
			}
		}
	}
	return s
}

// since returns the CPU used from s0 to s over wall seconds. Backends that started in between
// count in full; those that ended in between are missed (scimd's and the baseline's pools
// keep theirs for the whole run).
func (s cpuSample) since(s0 cpuSample, wall float64) cpuUse {
	u := cpuUse{machine: s.machine - s0.machine, scimd: s.scimd - s0.scimd, ceiling: s.ceiling - s0.ceiling,
		self: s.self - s0.self, wall: wall}
	for pid, v := range s.pg {
		u.pg += v - s0.pg[pid]
	}
	return u
}

// machineBusy reads the busy time of all cores from /proc/stat.
func machineBusy() float64 {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / ticksPerSecond
}

// procCPU reads a process's user+system CPU seconds from /proc/<pid>/stat.
func procCPU(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The command name may contain spaces; the fields after it start at the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64) // utime, field 14
	k, _ := strconv.ParseFloat(f[12], 64) // stime, field 15
	return (u + k) / ticksPerSecond
}
