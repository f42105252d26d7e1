package postgres

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/schemas"
)

func registry(t *testing.T) *schema.Registry {
	t.Helper()
	reg, err := schema.Load(schemas.Files)
	require.NoError(t, err)
	return reg
}

// TestEveryUserAttributeIsStored checks that every attribute a client may write to a User is
// stored somewhere (a users column, a child table, or a view of stored data), so that no
// attribute is accepted and then silently lost.
func TestEveryUserAttributeIsStored(t *testing.T) {
	t.Parallel()
	reg := registry(t)
	s, err := newUsers(reg.User)
	require.NoError(t, err)
	// Attributes stored other than in the filter whitelist, with the reason.
	elsewhere := map[string]string{
		"password": "users.password_hash, as a bcrypt hash",
		schema.EnterpriseUserURN + ":manager.$ref": "derived from manager.value when rendered",
		"roles.display":        "roles is a view of orgRole and accountRole (package grants)",
		"roles.primary":        "roles is a view of orgRole and accountRole (package grants)",
		"entitlements.display": "entitlements is a view of the products (package grants)",
		"entitlements.primary": "entitlements is a view of the products (package grants)",
	}
	var missing []string
	check := func(p schema.Path) {
		if p.Leaf().Mutability == schema.ReadOnly && p.Attr.Mutability == schema.ReadOnly {
			return // server-made; whether it is served is not this test's concern
		}
		if _, ok := elsewhere[p.String()]; ok {
			return
		}
		top := schema.Path{Ext: p.Ext, Attr: p.Attr}
		if _, ok := s.table.columns[p.String()]; ok {
			return
		}
		if ch, ok := s.table.children[top.String()]; ok {
			if p.Sub == nil || ch.columns[p.Sub.Name] != "" {
				return
			}
		}
		missing = append(missing, p.String())
	}
	walk := func(ext *schema.Schema, attrs []*schema.Attribute) {
		for _, a := range attrs {
			p := schema.Path{Ext: ext, Attr: a}
			if a.Type == schema.TypeComplex {
				for _, sub := range a.SubAttributes {
					if sub.Mutability == schema.ReadOnly {
						continue
					}
					check(schema.Path{Ext: ext, Attr: a, Sub: sub})
				}
				continue
			}
			check(p)
		}
	}
	walk(nil, reg.User.Schema.Attributes)
	for _, e := range reg.User.Extensions {
		walk(e, e.Attributes)
	}
	require.Empty(t, missing, "User attributes that are stored nowhere")
}
