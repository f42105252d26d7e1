package server

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// searchRequestURN is the schema of a POST /.search body (RFC 7644 §3.4.3).
const searchRequestURN = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"

type checksWritesKey struct{}

// handlerChecksWrites marks the routes whose handler, not withAuth, decides what an
// admin-readonly token may do: the searches, which are POSTs that only read, and /Bulk, which
// refuses each of its operations in turn.
func handlerChecksWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), checksWritesKey{}, true)))
	})
}

func checksWrites(r *http.Request) bool {
	ok, _ := r.Context().Value(checksWritesKey{}).(bool)
	return ok
}

// searchParams turns a SearchRequest body into the query parameters of the equivalent GET, so
// that a search answers exactly what the GET form answers. Keys match case-insensitively;
// attributes and excludedAttributes are lists of strings (a comma-separated string is accepted
// too); startIndex and count are integers; cursor (RFC 9865 §3) is a string; unknown keys are
// ignored, as unknown query parameters are.
func searchParams(body map[string]any) (url.Values, error) {
	out := url.Values{}
	for k, v := range body {
		if v == nil {
			continue
		}
		switch key := strings.ToLower(k); key {
		case "schemas":
			if !hasURN(v, searchRequestURN) {
				return nil, scimerr.Invalid(scimerr.InvalidSyntax, "\"schemas\" must be a list containing %q", searchRequestURN)
			}
		case "filter", "sortby", "sortorder", "cursor":
			s, ok := v.(string)
			if !ok {
				return nil, scimerr.Invalid(scimerr.InvalidValue, "%s must be a string", k)
			}
			out.Set(key, s)
		case "attributes", "excludedattributes":
			s, err := attributeList(k, v)
			if err != nil {
				return nil, err
			}
			out.Set(key, s)
		case "startindex", "count":
			switch n := v.(type) {
			case json.Number:
				out.Set(key, n.String())
			case string:
				out.Set(key, n)
			default:
				return nil, scimerr.Invalid(scimerr.InvalidValue, "%s must be an integer", k)
			}
		}
	}
	return out, nil
}

func attributeList(key string, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case []any:
		names := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", scimerr.Invalid(scimerr.InvalidValue, "%s must be a list of attribute names (strings)", key)
			}
			names = append(names, s)
		}
		return strings.Join(names, ","), nil
	}
	return "", scimerr.Invalid(scimerr.InvalidValue, "%s must be a list of attribute names (strings)", key)
}

func hasURN(v any, urn string) bool {
	list, _ := v.([]any)
	for _, e := range list {
		if s, ok := e.(string); ok && strings.EqualFold(s, urn) {
			return true
		}
	}
	return false
}

// asGet returns r as the GET of its resource type's list with the search body as parameters.
func asGet(r *http.Request) (*http.Request, error) {
	body, err := decodeObject(r)
	if err != nil {
		return nil, err
	}
	q, err := searchParams(body)
	if err != nil {
		return nil, err
	}
	g := r.Clone(r.Context())
	g.URL.RawQuery = q.Encode()
	return g, nil
}

// handleSearchUsers is POST /Users/.search: GET /Users with its parameters in the body.
func (s *server) handleSearchUsers(w http.ResponseWriter, r *http.Request) error {
	g, err := asGet(r)
	if err != nil {
		return err
	}
	return s.handleListUsers(w, g)
}

// handleSearchGroups is POST /Groups/.search: GET /Groups with its parameters in the body.
func (s *server) handleSearchGroups(w http.ResponseWriter, r *http.Request) error {
	g, err := asGet(r)
	if err != nil {
		return err
	}
	return s.handleListGroups(w, g)
}

// handleSearchRoot is POST /.search: Users and Groups in one list, Users first. The parameters
// apply to each type as they would to its own search, with these rules for the ones only one
// type understands:
//   - a filter on an attribute that only one type has selects nothing of the other type (a
//     resource without the attribute cannot match it); a filter neither understands is the
//     error its Users search gives;
//   - a sortBy only one type has sorts that type and leaves the other in creation order;
//   - attributes names that a type lacks are ignored for it; if none apply, its resources
//     carry only id, schemas and meta.
//
// totalResults is the sum of both totals, and startIndex and count page through the Users
// followed by the Groups: one query per type, each reading only its part of the page.
func (s *server) handleSearchRoot(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	vals, err := searchParams(body)
	if err != nil {
		return err
	}
	p := params{}
	for k := range vals {
		p[k] = vals.Get(k)
	}
	if _, ok := p["cursor"]; ok {
		// A cursor over two tables would need a key order across both; the root search is
		// rare enough that it pages by index only.
		return scimerr.Invalid(scimerr.InvalidValue, "cursor pagination is not offered by the root /.search; "+
			"page by startIndex here, or search /Users/.search and /Groups/.search by cursor")
	}
	if err := rootCommonError(p, s.Schemas.User); err != nil {
		return err
	}
	uq, ufilterErr, usortErr := rootQuery(p, s.Schemas.User)
	gq, gfilterErr, gsortErr := rootQuery(p, s.Schemas.Group)
	useUsers, useGroups := ufilterErr == nil, gfilterErr == nil
	switch {
	case !useUsers && !useGroups:
		return ufilterErr
	case (!useUsers || usortErr != nil) && (!useGroups || gsortErr != nil):
		// sortBy names an attribute no searched type has.
		return cmp.Or(usortErr, gsortErr)
	}
	start, count := uq.StartIndex, uq.Count
	users := &directory.Page{}
	if useUsers {
		if users, err = s.Directory.ListUsers(r.Context(), actor(r), uq); err != nil {
			return err
		}
	}
	groups := &directory.Page{}
	if useGroups {
		gq.Count = count - len(users.Resources)
		gq.StartIndex = max(1, start-users.Total)
		if groups, err = s.Directory.ListGroups(r.Context(), actor(r), gq); err != nil {
			return err
		}
	}
	s.writeRootList(w, r, users.Total+groups.Total, start, users.Resources, uq.Projection, groups.Resources, gq.Projection)
	return nil
}

// rootQuery is the list query of one type in a root search. filterErr is the error of a filter
// the type cannot evaluate (an attribute it lacks): the type is then not searched. sortErr is
// that of a sortBy it lacks: the type is then listed in creation order.
func rootQuery(p params, rt *schema.ResourceType) (q directory.Query, filterErr, sortErr error) {
	unsorted := params{}
	for k, v := range p {
		if k != "sortby" {
			unsorted[k] = v
		}
	}
	if q, filterErr = unsorted.listQuery(rt); filterErr != nil {
		return q, filterErr, nil
	}
	if p["sortby"] != "" {
		sorted, err := p.listQuery(rt)
		if err != nil {
			sortErr, q.Descending = err, false
		} else {
			q = sorted
		}
	}
	if attrs := p["attributes"]; strings.TrimSpace(attrs) != "" {
		var known []string
		for _, a := range strings.Split(attrs, ",") {
			if _, err := rt.ParsePath(strings.TrimSpace(a)); err == nil {
				known = append(known, a)
			}
		}
		if len(known) == 0 {
			known = []string{"id"}
		}
		q.Projection = rt.ParseProjection(strings.Join(known, ","), p["excludedattributes"])
	}
	return q, nil, sortErr
}

// rootCommonError is the error of a root search's parameters whatever the type: everything
// listQuery checks except the attribute names in filter and sortBy.
func rootCommonError(p params, rt *schema.ResourceType) error {
	neutral := params{}
	for k, v := range p {
		if k != "filter" && k != "sortby" {
			neutral[k] = v
		}
	}
	_, err := neutral.listQuery(rt)
	return err
}

// writeRootList writes a ListResponse of users followed by groups, streaming group members
// from the database as streamGroups does, so a root search costs constant memory per member.
func (s *server) writeRootList(w http.ResponseWriter, r *http.Request, total, start int,
	users []*directory.Resource, upr schema.Projection, groups []*directory.Resource, gpr schema.Projection) {
	head, err := encodeJSON(map[string]any{
		"schemas":      []string{schema.ListResponseURN},
		"totalResults": total,
		"startIndex":   start,
		"itemsPerPage": len(users) + len(groups),
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var leading [][]byte
	for _, u := range users {
		b, err := encodeJSON(s.render(r, s.Schemas.User, u, upr))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		leading = append(leading, b)
	}
	s.streamGroups(w, r, http.StatusOK, head, leading, groups, gpr)
}

// encodeJSON encodes v as writeJSON does, without the trailing newline.
func encodeJSON(v any) ([]byte, error) {
	return appendJSON(nil, v)
}
