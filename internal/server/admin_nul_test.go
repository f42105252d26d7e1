package server_test

import (
	"net/http"
	"testing"
)

// PostgreSQL text cannot hold NUL: every admin input carrying one is a 400 that changes nothing,
// never a 500. Body fields are refused by their own validation, which names them.
func TestAdminRefusesNUL(t *testing.T) {
	t.Parallel()
	a := newAdminAPI(t, testAdminToken)
	org := a.createOrg("Acme", "acme.example")
	base := "/admin/v1/orgs/" + org
	for _, tc := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/admin/v1/orgs", map[string]any{"name": "A\x00B"}},
		{http.MethodPatch, base, map[string]any{"name": "A\x00B"}},
		{http.MethodPost, base + "/domains", map[string]any{"domain": "x\x00.example"}},
		{http.MethodPost, base + "/products", map[string]any{"product": "meet\x00ing"}},
		{http.MethodPost, base + "/tokens", map[string]any{"label": "ci\x00", "role": "admin"}},
		{http.MethodPost, base + "/webhooks", map[string]any{"url": "https://hooks.example/\x00"}},
		{http.MethodGet, base + "/audit?action=%00", nil},
		{http.MethodGet, base + "/audit?resource_id=%00", nil},
		{http.MethodGet, base + "/users?filter=userName%20eq%20%22%00%22", nil},
		{http.MethodGet, "/admin/v1/orgs?cursor=%00", nil},
	} {
		var want []string
		if tc.body == nil {
			want = append(want, "NUL character (%00)")
		}
		a.refused(http.StatusBadRequest, tc.method, tc.path, tc.body, want...)
	}
}
