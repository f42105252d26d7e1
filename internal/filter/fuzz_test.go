package filter

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/scimd/scimd/internal/randtext"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// FuzzParse checks that no input makes Parse or ParsePatchPath panic, that every error is an
// invalid *scimerr.Error, that the filters they return can be evaluated, and that no value
// PostgreSQL would refuse (NUL, invalid UTF-8, a dateTime it cannot read) gets through.
//
// Run it with -fuzzminimizetime=3s: the long seeds make the default minimisation of new inputs
// (up to 60 s each) stall the fuzzer, e.g.
//
//	go test -run=^$ -fuzz=FuzzParse -fuzztime=60s -fuzzminimizetime=3s ./internal/filter/
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`userName eq "bjensen"`,
		`externalId eq jyoung`,
		`name.FamilyName eq Employee and (emails.Value co example.com or emails.Value co example.org)`,
		`emails[type eq "work"].value eq "x"`,
		`emails[type eq "work" and not (value co "a\"b\u00e9")] or meta.Created GT "2011-05-13T04:42:34Z"`,
		`not (active eq true) and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber pr`,
		`members[value eq "7f4b"]`,
		`x509Certificates[value le 1e3]`,
		`((((title pr))))`,
		`emails[type eq "work"].value`,
		// Values PostgreSQL cannot take: NUL, invalid UTF-8, dateTimes outside xsd:dateTime.
		`userName eq "a\u0000b"`,
		"userName eq a\x00b",
		`emails[value eq "\u0000"]`,
		`emails[type eq "work"].value eq "x\u0000"`,
		"userName eq \"\xff\"",
		"displayName eq \xc3",
		`meta.created gt "0000-01-01T00:00:00Z"`,
		`meta.created gt "0001-01-01T00:00:00+14:00"`,
		`meta.created gt "2011-05-13T04:42:34+23:59"`,
		`meta.lastModified le "2011-05-13T04:42:34-14:01"`,
		`meta.created eq "2011-02-30T00:00:00Z"`,
		`meta.created eq "2011-05-13T24:00:00Z"`,
		`meta.created eq "10000-01-01T00:00:00Z"`,
		`meta.lastModified gt "2011-05-13T04:42:34.1234567890123+14:00"`,
		// Long random values, beyond the attribute limits and the 4096-byte filter limit.
		`externalId eq "` + randtext.String(3000) + `"`,
		`emails[type eq "work"].value eq "` + randtext.String(2000) + `"`,
		`userName eq "` + randtext.String(4100) + `"`,
	} {
		f.Add(s)
	}
	reg := registry(f)
	el := map[string]any{"value": "a", "type": "work", "primary": true}
	f.Fuzz(func(t *testing.T, s string) {
		for _, rt := range []string{"User", "Group"} {
			r := reg.User
			if rt == "Group" {
				r = reg.Group
			}
			e, err := Parse(r, s)
			check(t, err, scimerr.InvalidFilter)
			walk(t, e, el)
			pp, err := ParsePatchPath(r, s)
			check(t, err, scimerr.InvalidPath)
			if pp.Filter != nil {
				walk(t, pp.Filter, el)
				Match(pp.Filter, el)
			}
		}
	})
}

// check requires err to be nil or an invalid *scimerr.Error of scimType with a detail.
func check(t *testing.T, err error, scimType string) {
	if err == nil {
		return
	}
	e, ok := err.(*scimerr.Error)
	if !ok || e.Kind != scimerr.KindInvalid || e.ScimType != scimType || e.Detail == "" {
		t.Fatalf("unexpected error %T %v", err, err)
	}
}

// walk evaluates every value filter in e and checks that every compare value is one PostgreSQL
// can take: a string without NUL, a dateTime it can read.
func walk(t *testing.T, e Expr, el map[string]any) {
	switch e := e.(type) {
	case And:
		walk(t, e.Left, el)
		walk(t, e.Right, el)
	case Or:
		walk(t, e.Left, el)
		walk(t, e.Right, el)
	case Not:
		walk(t, e.X, el)
	case ValuePath:
		walk(t, e.Filter, el)
		Match(e.Filter, el)
	case Compare:
		s, ok := e.Value.(string)
		if !ok {
			return
		}
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			t.Fatalf("value %q reached a Compare", s)
		}
		if e.Path.Leaf().Type == schema.TypeDateTime {
			if _, err := schema.ParseDateTime(s); err != nil {
				t.Fatalf("dateTime %q reached a Compare: %v", s, err)
			}
		}
	}
}
