package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// version is set when building a release: go build -ldflags "-X main.version=1.2.0". Without
// it, scimd reports the version Go records in the binary: the module version, which since Go
// 1.24 is derived from version control (a tag, or a pseudo-version naming the commit).
var version string

// build is what scimd knows about its own build.
type build struct {
	Version   string
	Revision  string // the commit, when built from a checkout
	Time      string // the commit's time
	Modified  bool   // built with uncommitted changes
	GoVersion string
}

func readBuild() build {
	b := build{Version: version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if b.Version == "" {
			b.Version = "unknown"
		}
		return b
	}
	b.GoVersion = bi.GoVersion
	if b.Version == "" {
		b.Version = bi.Main.Version
	}
	if b.Version == "" {
		b.Version = "(devel)" // a test binary records no module version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// String is the line "scimd version" prints.
func (b build) String() string {
	var details []string
	if b.Revision != "" {
		rev := "commit " + b.Revision
		if b.Time != "" {
			rev += " of " + b.Time
		}
		if b.Modified {
			rev += ", with uncommitted changes"
		}
		details = append(details, rev)
	}
	if b.GoVersion != "" {
		details = append(details, "built with "+b.GoVersion)
	}
	if len(details) == 0 {
		return "scimd " + b.Version
	}
	return fmt.Sprintf("scimd %s (%s)", b.Version, strings.Join(details, ", "))
}

// metric is scimd_build_info, the Prometheus convention for a build's identity: always 1,
// with the version in its labels.
func (b build) metric() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "scimd_build_info",
		Help:        "The running scimd's version, commit and Go version; always 1.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	return g
}
