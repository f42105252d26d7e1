package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// schemaFiles reads every schema document in the top-level schemas folder, by id.
func schemaFiles(t *testing.T) map[string]map[string]any {
	t.Helper()
	names, err := filepath.Glob("../../schemas/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	out := map[string]map[string]any{}
	for _, name := range names {
		raw, err := os.ReadFile(name)
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc), name)
		out[doc["id"].(string)] = doc
	}
	return out
}

// canonical is a JSON document's canonical encoding (sorted keys, no HTML escaping), so that two
// documents compare byte for byte.
func canonical(t *testing.T, v any) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	require.NoError(t, enc.Encode(v))
	return b.String()
}

func TestDiscoveryIsPublic(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/ServiceProviderConfig", "/ResourceTypes", "/ResourceTypes/User", "/Schemas",
		"/Schemas/" + userURN} {
		e.must(http.StatusOK, http.MethodGet, p, nil, hdr{"Authorization": ""})
		e.must(http.StatusOK, http.MethodGet, p, nil, nil)
	}
}

func TestServiceProviderConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.must(http.StatusOK, http.MethodGet, "/ServiceProviderConfig", nil, nil).Body
	require.Equal(t, []any{"urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"}, c["schemas"])
	for _, feature := range []string{"patch", "filter", "sort", "etag", "changePassword"} {
		require.Equal(t, true, get(c, feature, "supported"), feature)
	}
	require.EqualValues(t, 1000, get(c, "filter", "maxResults"))
	require.Equal(t, map[string]any{"cursor": true, "index": true, "defaultPaginationMethod": "index",
		"defaultPageSize": float64(100), "maxPageSize": float64(1000), "cursorTimeout": float64(3600)}, c["pagination"], "RFC 9865 §4")
	require.Contains(t, c, "bulk")
	require.IsType(t, true, get(c, "bulk", "supported"))
	schemes, _ := c["authenticationSchemes"].([]any)
	require.NotEmpty(t, schemes)
	require.Equal(t, "oauthbearertoken", get(schemes, 0, "type"))
	require.Equal(t, "ServiceProviderConfig", get(c, "meta", "resourceType"))
	require.Equal(t, e.base()+"/ServiceProviderConfig", get(c, "meta", "location"))
}

func TestResourceTypes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := schemaFiles(t)
	r := e.must(http.StatusOK, http.MethodGet, "/ResourceTypes", nil, nil).Body
	require.Equal(t, []any{listURN}, r["schemas"])
	list, _ := r["Resources"].([]any)
	require.EqualValues(t, len(list), r["totalResults"])
	require.EqualValues(t, len(list), r["itemsPerPage"])

	byName := map[string]map[string]any{}
	for _, x := range list {
		rt := x.(map[string]any)
		byName[rt["name"].(string)] = rt
		require.Equal(t, []any{"urn:ietf:params:scim:schemas:core:2.0:ResourceType"}, rt["schemas"])
		require.Contains(t, files, rt["schema"], "the resource type's schema is one of the documents")
		for _, ext := range rt["schemaExtensions"].([]any) {
			require.Contains(t, files, get(ext, "schema"))
			require.Equal(t, false, get(ext, "required"))
		}
		require.Equal(t, e.base()+"/ResourceTypes/"+rt["name"].(string), get(rt, "meta", "location"))
		require.Equal(t, "ResourceType", get(rt, "meta", "resourceType"))

		one := e.must(http.StatusOK, http.MethodGet, "/ResourceTypes/"+url.PathEscape(rt["name"].(string)), nil, nil).Body
		require.Equal(t, rt, one)
	}
	user := byName["User"]
	require.NotNil(t, user, "the User resource type is listed")
	require.Equal(t, "/Users", user["endpoint"])
	require.Equal(t, userURN, user["schema"])
	require.Equal(t, []any{map[string]any{"schema": entURN, "required": false}},
		filterExt(user["schemaExtensions"].([]any), entURN))

	requireError(t, e.do(http.MethodGet, "/ResourceTypes/Nope", nil, nil), http.StatusNotFound, "")
}

func filterExt(exts []any, id string) []any {
	var out []any
	for _, x := range exts {
		if get(x, "schema") == id {
			out = append(out, x)
		}
	}
	return out
}

func TestSchemas(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files := schemaFiles(t)
	r := e.must(http.StatusOK, http.MethodGet, "/Schemas", nil, nil).Body
	require.Equal(t, []any{listURN}, r["schemas"])
	list, _ := r["Resources"].([]any)
	require.EqualValues(t, len(list), r["totalResults"])

	// Every schema a resource type names is served.
	want := map[string]bool{}
	for _, x := range e.must(http.StatusOK, http.MethodGet, "/ResourceTypes", nil, nil).Body["Resources"].([]any) {
		want[get(x, "schema").(string)] = true
		for _, ext := range get(x, "schemaExtensions").([]any) {
			want[get(ext, "schema").(string)] = true
		}
	}
	served := map[string]bool{}
	for _, x := range list {
		doc := x.(map[string]any)
		id := doc["id"].(string)
		served[id] = true
		require.Contains(t, files, id)
		require.Equal(t, "Schema", get(doc, "meta", "resourceType"))
		require.Equal(t, e.base()+"/Schemas/"+id, get(doc, "meta", "location"))

		// The served document is the file, byte for byte once both are in canonical form,
		// meta aside.
		delete(doc, "meta")
		require.Equal(t, canonical(t, files[id]), canonical(t, doc), id)

		one := e.must(http.StatusOK, http.MethodGet, "/Schemas/"+id, nil, nil).Body
		require.Equal(t, e.base()+"/Schemas/"+id, get(one, "meta", "location"))
		delete(one, "meta")
		require.Equal(t, canonical(t, files[id]), canonical(t, one), id)

		// Schema ids match case-insensitively.
		e.must(http.StatusOK, http.MethodGet, "/Schemas/"+strings.ToUpper(id), nil, nil)
	}
	for id := range want {
		require.True(t, served[id], "schema %s of a resource type is served", id)
	}
	require.True(t, served[userURN])
	require.True(t, served[entURN])

	requireError(t, e.do(http.MethodGet, "/Schemas/urn:example:nope", nil, nil), http.StatusNotFound, "")
}
