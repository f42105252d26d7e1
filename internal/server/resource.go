package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/console"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// baseURL is the SCIM base URL that Location headers and meta.location are built on.
func (s *server) baseURL(r *http.Request) string {
	if s.BaseURL != "" {
		return strings.TrimSuffix(s.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/scim/v2"
}

// publicRoot is the public URL of scimd's root, where the console is: the SCIM base URL
// without /scim/v2.
func (s *server) publicRoot(r *http.Request) string {
	return console.PublicRoot(s.baseURL(r))
}

// render turns a stored resource into its SCIM representation: the document plus id, schemas
// and meta, projected by pr.
func (s *server) render(r *http.Request, rt *schema.ResourceType, res *directory.Resource, pr schema.Projection) map[string]any {
	doc := res.Doc
	doc["id"] = res.ID
	base := s.baseURL(r)
	location := base + rt.Endpoint + "/" + res.ID
	doc["meta"] = map[string]any{
		"resourceType": rt.Name,
		"created":      res.Created.UTC().Format(time.RFC3339Nano),
		"lastModified": res.LastModified.UTC().Format(time.RFC3339Nano),
		"location":     location,
		"version":      res.ETag(),
	}
	if groups, ok := doc["groups"].([]any); ok {
		for _, g := range groups {
			if m, ok := g.(map[string]any); ok {
				m["$ref"] = base + "/Groups/" + m["value"].(string)
			}
		}
	}
	if m, ok := doc[schema.EnterpriseUserURN].(map[string]any); ok {
		if mgr, ok := m["manager"].(map[string]any); ok {
			if id, ok := mgr["value"].(string); ok {
				mgr["$ref"] = base + "/Users/" + id
			}
		}
	}
	out := rt.Apply(pr, doc)
	// schemas lists the core schema and the extensions the response actually carries.
	schemas := []string{rt.Schema.ID}
	for _, e := range rt.Extensions {
		if _, ok := out[e.ID]; ok {
			schemas = append(schemas, e.ID)
		}
	}
	out["schemas"] = schemas
	return out
}

// writeResource answers with one resource, its ETag and, on creation, its Location.
func (s *server) writeResource(w http.ResponseWriter, r *http.Request, status int, rt *schema.ResourceType, res *directory.Resource, pr schema.Projection) {
	w.Header().Set("ETag", res.ETag())
	body := s.render(r, rt, res, pr)
	if status == http.StatusCreated {
		w.Header().Set("Location", s.baseURL(r)+rt.Endpoint+"/"+res.ID)
	}
	s.writeJSON(w, status, body)
}

// decodeObject reads a JSON object body, keeping numbers exact.
func decodeObject(r *http.Request) (map[string]any, error) {
	raw, err := readBody(r)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body has data after its JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body must be a JSON object")
	}
	return m, nil
}

func readBody(r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, tooLarge(mbe.Limit)
	}
	if err != nil {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "reading the request body: %v", err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, scimerr.Invalid(scimerr.InvalidSyntax, "the request body is empty")
	}
	return raw, nil
}

// params reads query parameters by case-insensitive name, since clients vary the case of
// SCIM's parameter names (sortby, StartIndex).
type params map[string]string

func queryParams(r *http.Request) params {
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[strings.ToLower(k)] = v[0]
		}
	}
	return p
}

func (p params) projection(rt *schema.ResourceType) schema.Projection {
	return rt.ParseProjection(p["attributes"], p["excludedattributes"])
}

// listQuery parses the list parameters of RFC 7644 §3.4.2, and those of cursor pagination
// (RFC 9865): a cursor parameter, even empty, asks for it instead of startIndex.
func (p params) listQuery(rt *schema.ResourceType) (directory.Query, error) {
	q := directory.Query{StartIndex: 1, Count: directory.DefaultPageSize, Projection: p.projection(rt)}
	if f, ok := p["filter"]; ok {
		e, err := filter.Parse(rt, f)
		if err != nil {
			return q, err
		}
		q.Filter = e
	}
	if sb := p["sortby"]; sb != "" {
		path, err := rt.ParsePath(sb)
		if err != nil {
			return q, scimerr.Invalid(scimerr.InvalidValue, "sortBy: %s", scimerr.As(err).Detail)
		}
		q.SortBy = &path
	}
	switch strings.ToLower(p["sortorder"]) {
	case "", "ascending":
	case "descending":
		q.Descending = true
	default:
		return q, scimerr.Invalid(scimerr.InvalidValue, "sortOrder must be ascending or descending, not %q", p["sortorder"])
	}
	q.Cursor, q.ByCursor = p["cursor"]
	if v, ok := p["startindex"]; ok {
		if q.ByCursor {
			return q, scimerr.Invalid(scimerr.InvalidValue, "startIndex and cursor are two ways of paging; send one of them")
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return q, scimerr.Invalid(scimerr.InvalidValue, "startIndex must be an integer, not %q", v)
		}
		q.StartIndex = max(n, 1) // RFC 7644 §3.4.2.4: values below 1 mean 1
	}
	if v, ok := p["count"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			scimType := scimerr.InvalidValue
			if q.ByCursor {
				scimType = scimerr.InvalidCount // RFC 9865 §2.1
			}
			return q, scimerr.Invalid(scimType, "count must be an integer, not %q", v)
		}
		// Below 0 means 0 (RFC 9865 §2), above the maximum means the maximum (RFC 7644 §3.4.2.4).
		q.Count = min(max(n, 0), directory.MaxPageSize)
	}
	return q, nil
}

// listHead is a ListResponse without its Resources. In cursor pagination it has no startIndex,
// has the cursors of the pages around, and has no totalResults when the page was not counted.
func listHead(q directory.Query, page *directory.Page) map[string]any {
	head := map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"itemsPerPage": len(page.Resources),
	}
	if page.Total != directory.Uncounted {
		head["totalResults"] = page.Total
	}
	if !q.ByCursor {
		head["startIndex"] = q.StartIndex
	}
	if page.NextCursor != "" {
		head["nextCursor"] = page.NextCursor
	}
	if page.PreviousCursor != "" {
		head["previousCursor"] = page.PreviousCursor
	}
	return head
}

// writeList answers a ListResponse.
func (s *server) writeList(w http.ResponseWriter, r *http.Request, rt *schema.ResourceType, q directory.Query, page *directory.Page) {
	resources := make([]any, 0, len(page.Resources))
	for _, res := range page.Resources {
		resources = append(resources, s.render(r, rt, res, q.Projection))
	}
	body := listHead(q, page)
	body["Resources"] = resources
	s.writeJSON(w, http.StatusOK, body)
}

func precondition(r *http.Request) directory.Precondition {
	return directory.Precondition{IfMatch: r.Header.Get("If-Match"), IfNoneMatch: r.Header.Get("If-None-Match")}
}
