package filter

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/schema"
)

func TestMatch(t *testing.T) {
	reg := registry(t)
	work := map[string]any{"value": "Babs@Example.com", "type": "work", "primary": true}
	home := map[string]any{"value": "babs@home.org", "type": "home"}
	tests := []struct {
		filter string // inside emails[...]
		el     map[string]any
		want   bool
	}{
		{`type eq "work"`, work, true},
		{`type eq "WORK"`, work, true}, // emails.type is not caseExact
		{`type eq "work"`, home, false},
		{`type ne "work"`, home, true},
		{`display ne "x"`, home, true}, // ne matches an absent sub-attribute
		{`display eq "x"`, home, false},
		{`value co "@example."`, work, true},
		{`value co "@EXAMPLE."`, work, true},
		{`value sw "babs@"`, work, true},
		{`value sw "abs"`, work, false},
		{`value ew ".COM"`, work, true},
		{`value ew ".org"`, work, false},
		{`value gt "babs@a"`, work, true},
		{`value ge "babs@example.com"`, work, true},
		{`value lt "babs@example.com"`, work, false},
		{`value le "babs@example.com"`, work, true},
		{`primary eq true`, work, true},
		{`primary eq false`, work, false},
		{`primary ne true`, home, true},
		{`primary pr`, work, true},
		{`primary pr`, home, false},
		{`display pr`, map[string]any{"display": ""}, false},
		{`value pr`, home, true},
		{`type eq "work" and primary eq true`, work, true},
		{`type eq "work" and primary eq true`, home, false},
		{`type eq "work" or value ew "home.org"`, home, true},
		{`not (type eq "work")`, home, true},
		{`not (type eq "work")`, work, false},
		{`(type eq "home" or type eq "work") and not (value co "home")`, work, true},
		{`value eq "x"`, map[string]any{"value": 42}, false}, // wrong type never matches
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			e, err := Parse(reg.User, "emails["+tt.filter+"]")
			require.NoError(t, err)
			require.Equal(t, tt.want, Match(e.(ValuePath).Filter, tt.el))
		})
	}
}

func TestMatchCaseExact(t *testing.T) {
	reg := registry(t)
	e, err := Parse(reg.Group, `members[value eq "ABC"]`) // members.value is caseExact
	require.NoError(t, err)
	f := e.(ValuePath).Filter
	require.True(t, Match(f, map[string]any{"value": "ABC"}))
	require.False(t, Match(f, map[string]any{"value": "abc"}))
	require.False(t, Match(f, map[string]any{}))
}

// Match on attribute types no multi-valued core attribute has: dateTime, numbers, lists.
func TestMatchTypes(t *testing.T) {
	when := &schema.Attribute{Name: "when", Type: schema.TypeDateTime}
	n := &schema.Attribute{Name: "n", Type: schema.TypeDecimal}
	tags := &schema.Attribute{Name: "tags", Type: schema.TypeString, MultiValued: true}
	parent := &schema.Attribute{Name: "x", Type: schema.TypeComplex, MultiValued: true,
		SubAttributes: []*schema.Attribute{when, n, tags}}
	cmp := func(sub *schema.Attribute, op string, v any) Expr {
		return Compare{Path: schema.Path{Attr: parent, Sub: sub}, Op: op, Value: v}
	}
	el := map[string]any{
		"when": "2020-01-01T01:00:00+01:00",
		"n":    json.Number("1.50"),
		"tags": []any{"Red", "green"},
	}
	tests := []struct {
		f    Expr
		want bool
	}{
		{cmp(when, "eq", "2020-01-01T00:00:00Z"), true}, // same instant, other zone
		{cmp(when, "gt", "2019-12-31T23:59:59.999Z"), true},
		{cmp(when, "lt", "2019-12-31T23:59:59.999Z"), false},
		{cmp(when, "le", "2020-01-01T00:00:00Z"), true},
		{cmp(n, "eq", json.Number("1.5")), true},
		{cmp(n, "gt", json.Number("1.4999")), true},
		{cmp(n, "ge", json.Number("15e-1")), true},
		{cmp(n, "lt", json.Number("1")), false},
		{cmp(tags, "eq", "red"), true},
		{cmp(tags, "sw", "gr"), true},
		{cmp(tags, "ne", "blue"), true},
		{cmp(tags, "ne", "green"), false},
	}
	for i, tt := range tests {
		require.Equal(t, tt.want, Match(tt.f, el), "case %d: %s", i, render(tt.f))
	}
	require.True(t, Match(cmp(when, "eq", "2020-01-01T00:00:00Z"),
		map[string]any{"when": time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}))
	require.True(t, Match(cmp(n, "eq", json.Number("2")), map[string]any{"n": 2.0}))
}
