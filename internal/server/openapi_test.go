package server_test

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/server"
)

// The admin API's OpenAPI description (openapi.json, served at /admin/v1/openapi.json) is held
// to the code three ways: every /admin/v1 route is described and every described operation is
// a route (TestOpenAPIDescribesEveryAdminRoute); the document is well formed
// (TestOpenAPIDocument); and every answer the admin API's tests receive through adminAPI is
// one the document gives its operation, status and body (checkAdminAnswer, called by
// adminAPI.sendWith).

const adminPrefix = "/admin/v1"

// openAPISpec is openapi.json, parsed, with its operations.
type openAPISpec struct {
	doc map[string]any
	ops []openAPIOp
}

type openAPIOp struct {
	method string // upper case
	path   string // as the document writes it, under adminPrefix
	node   map[string]any
}

var loadOpenAPI = sync.OnceValues(func() (*openAPISpec, error) {
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("openapi.json is not JSON: %w", err)
	}
	sp := &openAPISpec{doc: doc}
	paths, _ := doc["paths"].(map[string]any)
	for path, item := range paths {
		item, _ := item.(map[string]any)
		for method, node := range item {
			if !slices.Contains(openAPIMethods, method) {
				continue
			}
			node, _ := node.(map[string]any)
			sp.ops = append(sp.ops, openAPIOp{method: strings.ToUpper(method), path: path, node: node})
		}
	}
	return sp, nil
})

var openAPIMethods = []string{"get", "put", "post", "delete", "patch"}

func openAPI(t *testing.T) *openAPISpec {
	t.Helper()
	sp, err := loadOpenAPI()
	require.NoError(t, err)
	return sp
}

// operation finds the operation a request to urlPath (under adminPrefix) reaches: the
// described path whose segments match, literal segments before {parameters}.
func (sp *openAPISpec) operation(method, urlPath string) (openAPIOp, bool) {
	rest, ok := strings.CutPrefix(urlPath, adminPrefix)
	if !ok {
		return openAPIOp{}, false
	}
	got := strings.Split(strings.Trim(rest, "/"), "/")
	best, bestLiterals := openAPIOp{}, -1
	for _, op := range sp.ops {
		if op.method != method {
			continue
		}
		want := strings.Split(strings.Trim(op.path, "/"), "/")
		if len(want) != len(got) {
			continue
		}
		literals := 0
		for i, w := range want {
			if strings.HasPrefix(w, "{") {
				continue
			}
			if w != got[i] {
				literals = -1
				break
			}
			literals++
		}
		if literals > bestLiterals {
			best, bestLiterals = op, literals
		}
	}
	return best, bestLiterals >= 0
}

// ref follows node's $ref, if any, within the document.
func (sp *openAPISpec) ref(node map[string]any) (map[string]any, error) {
	for range 10 {
		r, ok := node["$ref"].(string)
		if !ok {
			return node, nil
		}
		target, ok := any(sp.doc), true
		for _, part := range strings.Split(strings.TrimPrefix(r, "#/"), "/") {
			m, isMap := target.(map[string]any)
			if !isMap {
				ok = false
				break
			}
			target, ok = m[part]
			if !ok {
				break
			}
		}
		next, isMap := target.(map[string]any)
		if !strings.HasPrefix(r, "#/") || !ok || !isMap {
			return nil, fmt.Errorf("$ref %q does not resolve in the document", r)
		}
		node = next
	}
	return nil, fmt.Errorf("$ref chain too long at %v", node["$ref"])
}

// checkAdminAnswer requires that an answer of the admin API is one the document describes:
// a status its operation lists (not merely "default": the tests meet no unexpected errors)
// and a body that matches the schema of that response, or no body where it has none.
// Requests to no described operation (unknown paths, wrong methods) are not checked here.
func checkAdminAnswer(method, target string, status int, raw []byte) error {
	sp, err := loadOpenAPI()
	if err != nil {
		return err
	}
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	op, ok := sp.operation(method, u.Path)
	if !ok {
		return nil
	}
	where := fmt.Sprintf("openapi.json, %s %s answered %d", op.method, op.path, status)
	responses, _ := op.node["responses"].(map[string]any)
	resp, ok := responses[strconv.Itoa(status)].(map[string]any)
	if !ok {
		return fmt.Errorf("%s: the document does not list that status: %s", where, raw)
	}
	if resp, err = sp.ref(resp); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	content, _ := resp["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	schema, _ := media["schema"].(map[string]any)
	if schema == nil {
		if len(strings.TrimSpace(string(raw))) > 0 {
			return fmt.Errorf("%s: the document describes no body, the answer has %s", where, raw)
		}
		return nil
	}
	var body any
	if err := json.Unmarshal(raw, &body); err != nil {
		return fmt.Errorf("%s: the body is not JSON: %w: %s", where, err, raw)
	}
	if err := sp.validate(schema, body, "body"); err != nil {
		return fmt.Errorf("%s: %w: %s", where, err, raw)
	}
	return nil
}

// schemaKeywords are the JSON Schema keywords the document may use: those validate checks,
// and annotations. Any other keyword is an error, so that the document never says something
// the tests silently ignore.
var schemaKeywords = []string{"$ref", "type", "properties", "required", "additionalProperties", "items",
	"enum", "const", "oneOf", "format", "minimum", "maximum", "description", "examples"}

// validate checks v against the JSON Schema subset of schemaKeywords.
func (sp *openAPISpec) validate(schema map[string]any, v any, at string) error {
	for k := range schema {
		if !slices.Contains(schemaKeywords, k) {
			return fmt.Errorf("%s: the schema uses %q, which the tests do not check", at, k)
		}
	}
	if _, ok := schema["$ref"]; ok {
		target, err := sp.ref(schema)
		if err != nil {
			return err
		}
		return sp.validate(target, v, at)
	}
	if alts, ok := schema["oneOf"].([]any); ok {
		matched := 0
		for _, alt := range alts {
			alt, _ := alt.(map[string]any)
			if sp.validate(alt, v, at) == nil {
				matched++
			}
		}
		if matched != 1 {
			return fmt.Errorf("%s: %d of oneOf's schemas match %v, not one", at, matched, v)
		}
	}
	if c, ok := schema["const"]; ok && !reflect.DeepEqual(c, v) {
		return fmt.Errorf("%s: %v is not the constant %v", at, v, c)
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return reflect.DeepEqual(e, v) }) {
		return fmt.Errorf("%s: %v is not one of %v", at, v, enum)
	}
	if t, ok := schema["type"]; ok {
		var types []string
		switch t := t.(type) {
		case string:
			types = []string{t}
		case []any:
			for _, x := range t {
				s, _ := x.(string)
				types = append(types, s)
			}
		}
		if !slices.Contains(types, jsonType(v)) && !(jsonType(v) == "integer" && slices.Contains(types, "number")) {
			return fmt.Errorf("%s: %s, not %s: %v", at, jsonType(v), strings.Join(types, " or "), v)
		}
	}
	switch v := v.(type) {
	case map[string]any:
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := v[r]; !ok {
				return fmt.Errorf("%s: the required %q is missing", at, r)
			}
		}
		for k, x := range v {
			p, ok := props[k].(map[string]any)
			if !ok {
				if extra, _ := schema["additionalProperties"].(bool); !extra && schema["additionalProperties"] != nil {
					return fmt.Errorf("%s: %q is not a property the document describes", at, k)
				}
				continue
			}
			if err := sp.validate(p, x, at+"."+k); err != nil {
				return err
			}
		}
	case []any:
		if items, ok := schema["items"].(map[string]any); ok {
			for i, x := range v {
				if err := sp.validate(items, x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case string:
		switch schema["format"] {
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, v); err != nil {
				return fmt.Errorf("%s: %q is not an RFC 3339 time", at, v)
			}
		case "uuid":
			if _, err := uuid.Parse(v); err != nil {
				return fmt.Errorf("%s: %q is not a UUID", at, v)
			}
		}
	case float64:
		if lo, ok := schema["minimum"].(float64); ok && v < lo {
			return fmt.Errorf("%s: %v is below the minimum %v", at, v, lo)
		}
		if hi, ok := schema["maximum"].(float64); ok && v > hi {
			return fmt.Errorf("%s: %v is above the maximum %v", at, v, hi)
		}
	}
	return nil
}

func jsonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case float64:
		if v == math.Trunc(v) {
			return "integer"
		}
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func asStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// adminRoutes are the routes under adminPrefix of the handler NewServer returns, as "METHOD
// /path" relative to adminPrefix.
func adminRoutes(t *testing.T) []string {
	t.Helper()
	routes, ok := server.NewServer(server.Deps{}).(chi.Routes)
	require.True(t, ok, "NewServer's handler is no longer a chi router; walk its routes another way")
	var out []string
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if rest, ok := strings.CutPrefix(route, adminPrefix+"/"); ok {
			out = append(out, method+" /"+strings.TrimSuffix(rest, "/"))
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestOpenAPIDescribesEveryAdminRoute(t *testing.T) {
	t.Parallel()
	sp := openAPI(t)
	routes := adminRoutes(t)
	require.NotEmpty(t, routes)
	var described []string
	for _, op := range sp.ops {
		described = append(described, op.method+" "+op.path)
	}
	var undescribed, unrouted []string
	for _, r := range routes {
		if !slices.Contains(described, r) {
			undescribed = append(undescribed, r)
		}
	}
	for _, d := range described {
		if !slices.Contains(routes, d) {
			unrouted = append(unrouted, d)
		}
	}
	sort.Strings(undescribed)
	sort.Strings(unrouted)
	require.Empty(t, undescribed, "routes under %s that internal/server/openapi.json does not describe", adminPrefix)
	require.Empty(t, unrouted, "operations internal/server/openapi.json describes that routes.go does not route")
}

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	sp := openAPI(t)
	doc := sp.doc
	require.Equal(t, "3.1.0", doc["openapi"])
	info, _ := doc["info"].(map[string]any)
	require.NotEmpty(t, info["title"])
	require.NotEmpty(t, info["version"])
	require.NotEmpty(t, sp.ops)

	// Every $ref resolves, and every schema uses only keywords the tests check.
	var walk func(node any, at string)
	walk = func(node any, at string) {
		switch n := node.(type) {
		case map[string]any:
			if _, ok := n["$ref"]; ok {
				_, err := sp.ref(n)
				require.NoError(t, err, at)
			}
			for k, v := range n {
				walk(v, at+"/"+k)
			}
		case []any:
			for i, v := range n {
				walk(v, fmt.Sprintf("%s/%d", at, i))
			}
		}
	}
	walk(doc, "#")
	components, _ := doc["components"].(map[string]any)
	schemas, _ := components["schemas"].(map[string]any)
	require.NotEmpty(t, schemas)
	var checkSchema func(s map[string]any, at string)
	checkSchema = func(s map[string]any, at string) {
		for k, v := range s {
			require.Contains(t, schemaKeywords, k, "%s uses a keyword the tests do not check", at)
			switch k {
			case "properties":
				props, _ := v.(map[string]any)
				for name, p := range props {
					p, ok := p.(map[string]any)
					require.True(t, ok, "%s/properties/%s", at, name)
					checkSchema(p, at+"/properties/"+name)
				}
			case "items":
				items, ok := v.(map[string]any)
				require.True(t, ok, "%s/items", at)
				checkSchema(items, at+"/items")
			case "oneOf":
				alts, _ := v.([]any)
				for i, alt := range alts {
					alt, ok := alt.(map[string]any)
					require.True(t, ok, "%s/oneOf/%d", at, i)
					checkSchema(alt, fmt.Sprintf("%s/oneOf/%d", at, i))
				}
			case "required":
				props, _ := s["properties"].(map[string]any)
				for _, r := range asStrings(v) {
					require.Contains(t, props, r, "%s requires a property it does not describe", at)
				}
			}
		}
	}
	for name, s := range schemas {
		s, ok := s.(map[string]any)
		require.True(t, ok, name)
		checkSchema(s, "#/components/schemas/"+name)
	}

	paths, _ := doc["paths"].(map[string]any)
	ids := map[string]bool{}
	for path, item := range paths {
		require.True(t, strings.HasPrefix(path, "/"), path)
		item, _ := item.(map[string]any)
		for k := range item {
			require.True(t, k == "parameters" || slices.Contains(openAPIMethods, k), "%s: %q is not a method", path, k)
		}
		for _, method := range openAPIMethods {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			at := strings.ToUpper(method) + " " + path
			id, _ := op["operationId"].(string)
			require.NotEmpty(t, id, at)
			require.False(t, ids[id], "%s: operationId %s is used twice", at, id)
			ids[id] = true
			require.NotEmpty(t, op["summary"], at)

			// The path's parameters are declared, each required, and no others.
			declared := map[string]bool{}
			for _, list := range []any{item["parameters"], op["parameters"]} {
				params, _ := list.([]any)
				for _, p := range params {
					p, err := sp.ref(p.(map[string]any))
					require.NoError(t, err, at)
					require.NotEmpty(t, p["name"], at)
					require.Contains(t, p, "schema", "%s: parameter %v", at, p["name"])
					if p["in"] == "path" {
						require.Equal(t, true, p["required"], "%s: path parameter %v", at, p["name"])
						declared[p["name"].(string)] = true
					}
				}
			}
			inPath := map[string]bool{}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				inPath[m[1]] = true
			}
			require.Equal(t, inPath, declared, "%s: path parameters", at)

			if rb, ok := op["requestBody"].(map[string]any); ok {
				content, _ := rb["content"].(map[string]any)
				media, _ := content["application/json"].(map[string]any)
				require.Contains(t, media, "schema", "%s: request body", at)
			}

			// Responses: a success, the admin token's 401, a description each, and errors
			// in the one error shape.
			responses, _ := op["responses"].(map[string]any)
			require.NotEmpty(t, responses, at)
			require.Contains(t, responses, "401", at)
			success := false
			for code, resp := range responses {
				require.True(t, code == "default" || regexp.MustCompile(`^[1-5][0-9][0-9]$`).MatchString(code), "%s: response %q", at, code)
				success = success || strings.HasPrefix(code, "2")
				resp, err := sp.ref(resp.(map[string]any))
				require.NoError(t, err, at)
				require.NotEmpty(t, resp["description"], "%s: response %s", at, code)
				if code == "default" || code[0] == '4' || code[0] == '5' {
					content, _ := resp["content"].(map[string]any)
					media, _ := content["application/json"].(map[string]any)
					schema, _ := media["schema"].(map[string]any)
					require.Equal(t, "#/components/schemas/Error", schema["$ref"], "%s: response %s", at, code)
				}
			}
			require.True(t, success, "%s has no success response", at)
		}
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile("openapi.json")
	require.NoError(t, err)

	a := newAdminAPI(t, testAdminToken)
	r := a.must(http.StatusOK, http.MethodGet, adminPrefix+"/openapi.json", nil)
	require.Equal(t, want, r.Raw)
	require.Equal(t, "no-store", r.Header.Get("Cache-Control"))
	requireAdminError(t, a.callWith(nil, http.MethodGet, adminPrefix+"/openapi.json", nil), http.StatusUnauthorized)

	off := newAdminAPI(t, "")
	requireAdminError(t, off.callWith(nil, http.MethodGet, adminPrefix+"/openapi.json", nil), http.StatusNotFound)
}

// TestOpenAPICheckCatchesDrift proves checkAdminAnswer would fail: an undescribed status, a
// missing required field, an undescribed field, a body where none is described.
func TestOpenAPICheckCatchesDrift(t *testing.T) {
	t.Parallel()
	org := "/admin/v1/orgs/" + uuid.NewString()
	for _, c := range []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, org, http.StatusTeapot, `{"status":"418","detail":"x"}`},
		{http.MethodGet, org + "/products", http.StatusOK, `{}`},
		{http.MethodGet, org + "/products", http.StatusOK, `{"products":[],"extra":1}`},
		{http.MethodGet, org + "/products", http.StatusOK, `{"products":[1]}`},
		{http.MethodDelete, org, http.StatusNoContent, `{}`},
		{http.MethodGet, org, http.StatusNotFound, `{"status":"404"}`},
		{http.MethodGet, org + "/tokens", http.StatusOK, `{"tokens":[{"id":"not a uuid","issuer_user_id":"","role":"admin","label":"","created":"2024-05-01T09:00:00Z","expires_at":null,"revoked_at":null}]}`},
	} {
		require.Error(t, checkAdminAnswer(c.method, c.path, c.status, []byte(c.body)), "%s %s %d %s", c.method, c.path, c.status, c.body)
	}
	require.NoError(t, checkAdminAnswer(http.MethodGet, org+"/products", http.StatusOK, []byte(`{"products":["meeting"]}`)))
}
