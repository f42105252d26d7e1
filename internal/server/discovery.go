package server

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/bulk"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// handleServiceProviderConfig describes what scimd supports (RFC 7643 §5); every flag here is
// backed by tests.
func (s *server) handleServiceProviderConfig(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]any{
		"schemas":          []string{schema.SPConfigURN},
		"documentationUri": "https://github.com/scimd/scimd#readme",
		"patch":            map[string]any{"supported": true},
		"bulk":             map[string]any{"supported": true, "maxOperations": bulk.MaxOperations, "maxPayloadSize": s.bulkMaxPayload()},
		"filter":           map[string]any{"supported": true, "maxResults": directory.MaxPageSize},
		"changePassword":   map[string]any{"supported": true},
		"sort":             map[string]any{"supported": true},
		"etag":             map[string]any{"supported": true},
		// RFC 9865 §4. Index paging stays the default, as §2 advises for a service that had it
		// first, so that clients unaware of cursors see no change.
		"pagination": map[string]any{
			"cursor":                  true,
			"index":                   true,
			"defaultPaginationMethod": "index",
			"defaultPageSize":         directory.DefaultPageSize,
			"maxPageSize":             directory.MaxPageSize,
			"cursorTimeout":           int(directory.CursorTimeout.Seconds()),
		},
		"authenticationSchemes": []any{map[string]any{
			"type":        "oauthbearertoken",
			"name":        "Bearer token",
			"description": "Authentication with a provisioning token issued for the organization: Authorization: Bearer <token>",
			"primary":     true,
		}},
		"meta": map[string]any{
			"resourceType": "ServiceProviderConfig",
			"location":     s.baseURL(r) + "/ServiceProviderConfig",
		},
	})
}

func (s *server) resourceTypes() []*schema.ResourceType {
	return []*schema.ResourceType{s.Schemas.User, s.Schemas.Group}
}

func (s *server) resourceTypeDoc(r *http.Request, rt *schema.ResourceType) map[string]any {
	exts := []any{}
	for _, e := range rt.Extensions {
		exts = append(exts, map[string]any{"schema": e.ID, "required": false})
	}
	return map[string]any{
		"schemas":          []string{schema.ResourceTypeURN},
		"id":               rt.Name,
		"name":             rt.Name,
		"endpoint":         rt.Endpoint,
		"description":      rt.Description,
		"schema":           rt.Schema.ID,
		"schemaExtensions": exts,
		"meta": map[string]any{
			"resourceType": "ResourceType",
			"location":     s.baseURL(r) + "/ResourceTypes/" + rt.Name,
		},
	}
}

func (s *server) handleResourceTypes(w http.ResponseWriter, r *http.Request) {
	var docs []any
	for _, rt := range s.resourceTypes() {
		docs = append(docs, s.resourceTypeDoc(r, rt))
	}
	s.writeDiscoveryList(w, docs)
}

func (s *server) handleResourceType(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	for _, rt := range s.resourceTypes() {
		if strings.EqualFold(rt.Name, name) {
			s.writeJSON(w, http.StatusOK, s.resourceTypeDoc(r, rt))
			return
		}
	}
	s.writeError(w, r, scimerr.NotFound("no resource type %q", name))
}

// schemaDoc is a schema document exactly as in schemas/, plus its meta.
func (s *server) schemaDoc(r *http.Request, id string) (map[string]any, error) {
	var doc map[string]any
	if err := json.Unmarshal(s.Schemas.Documents[id], &doc); err != nil {
		return nil, err
	}
	doc["meta"] = map[string]any{"resourceType": "Schema", "location": s.baseURL(r) + "/Schemas/" + id}
	return doc, nil
}

// servedSchemas are the schemas of the resource types served.
func (s *server) servedSchemas() []*schema.Schema {
	var out []*schema.Schema
	for _, rt := range s.resourceTypes() {
		out = append(append(out, rt.Schema), rt.Extensions...)
	}
	return out
}

func (s *server) handleSchemas(w http.ResponseWriter, r *http.Request) {
	var docs []any
	for _, sc := range s.servedSchemas() {
		d, err := s.schemaDoc(r, sc.ID)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		docs = append(docs, d)
	}
	s.writeDiscoveryList(w, docs)
}

func (s *server) handleSchema(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	for _, sc := range s.servedSchemas() {
		if strings.EqualFold(sc.ID, id) {
			d, err := s.schemaDoc(r, sc.ID)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			s.writeJSON(w, http.StatusOK, d)
			return
		}
	}
	s.writeError(w, r, scimerr.NotFound("no schema %q", id))
}

func (s *server) writeDiscoveryList(w http.ResponseWriter, docs []any) {
	s.writeJSON(w, http.StatusOK, map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": len(docs),
		"startIndex":   1,
		"itemsPerPage": len(docs),
		"Resources":    docs,
	})
}
