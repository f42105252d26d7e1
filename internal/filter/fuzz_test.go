package filter

import (
	"testing"

	"github.com/scimd/scimd/internal/scimerr"
)

// FuzzParse checks that no input makes Parse or ParsePatchPath panic, that every error is an
// invalid *scimerr.Error, and that the filters they return can be evaluated.
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
			walk(e, el)
			pp, err := ParsePatchPath(r, s)
			check(t, err, scimerr.InvalidPath)
			if pp.Filter != nil {
				Match(pp.Filter, el)
			}
		}
	})
}

func check(t *testing.T, err error, scimType string) {
	if err == nil {
		return
	}
	e, ok := err.(*scimerr.Error)
	if !ok || e.Kind != scimerr.KindInvalid || e.ScimType != scimType || e.Detail == "" {
		t.Fatalf("unexpected error %T %v", err, err)
	}
}

// walk evaluates every value filter in e.
func walk(e Expr, el map[string]any) {
	switch e := e.(type) {
	case And:
		walk(e.Left, el)
		walk(e.Right, el)
	case Or:
		walk(e.Left, el)
		walk(e.Right, el)
	case Not:
		walk(e.X, el)
	case ValuePath:
		Match(e.Filter, el)
	}
}
