package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/schema"
)

func (s *server) membersPath() schema.Path {
	return schema.Path{Attr: s.Schemas.Group.Schema.Attr("members")}
}

func (s *server) handleListGroups(w http.ResponseWriter, r *http.Request) error {
	rt := s.Schemas.Group
	q, err := queryParams(r).listQuery(rt)
	if err != nil {
		return err
	}
	page, err := s.Directory.ListGroups(r.Context(), actor(r), q)
	if err != nil {
		return err
	}
	if !q.Projection.Returns(s.membersPath()) {
		s.writeList(w, r, rt, q, page)
		return nil
	}
	head, _ := json.Marshal(listHead(q, page))
	s.streamGroups(w, r, http.StatusOK, head, nil, page.Resources, q.Projection)
	return nil
}

func (s *server) handleCreateGroup(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	g, err := s.Directory.CreateGroup(r.Context(), actor(r), body)
	if err != nil {
		return err
	}
	w.Header().Set("Location", s.baseURL(r)+"/Groups/"+g.ID)
	s.writeGroup(w, r, http.StatusCreated, g, queryParams(r).projection(s.Schemas.Group))
	return nil
}

func (s *server) handleGetGroup(w http.ResponseWriter, r *http.Request) error {
	g, err := s.Directory.GetGroup(r.Context(), actor(r), chi.URLParam(r, "id"))
	if err != nil {
		return err
	}
	if precondition(r).NotModified(g) {
		w.Header().Set("ETag", g.ETag())
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	s.writeGroup(w, r, http.StatusOK, g, queryParams(r).projection(s.Schemas.Group))
	return nil
}

func (s *server) handleReplaceGroup(w http.ResponseWriter, r *http.Request) error {
	body, err := decodeObject(r)
	if err != nil {
		return err
	}
	g, err := s.Directory.ReplaceGroup(r.Context(), actor(r), chi.URLParam(r, "id"), body, precondition(r))
	if err != nil {
		return err
	}
	s.writeGroup(w, r, http.StatusOK, g, queryParams(r).projection(s.Schemas.Group))
	return nil
}

// handlePatchGroup answers 204, as Entra expects and so that a membership change never returns
// the member list; a client that names attributes gets 200 with them.
func (s *server) handlePatchGroup(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		return err
	}
	ops, err := patch.Parse(raw)
	if err != nil {
		return err
	}
	g, err := s.Directory.PatchGroup(r.Context(), actor(r), chi.URLParam(r, "id"), ops, precondition(r))
	if err != nil {
		return err
	}
	p := queryParams(r)
	if p["attributes"] == "" && p["excludedattributes"] == "" {
		w.Header().Set("ETag", g.ETag())
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	s.writeGroup(w, r, http.StatusOK, g, p.projection(s.Schemas.Group))
	return nil
}

func (s *server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) error {
	if err := s.Directory.DeleteGroup(r.Context(), actor(r), chi.URLParam(r, "id"), precondition(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// writeGroup answers one group, streaming its members when the projection returns them.
func (s *server) writeGroup(w http.ResponseWriter, r *http.Request, status int, g *directory.Resource, pr schema.Projection) {
	w.Header().Set("ETag", g.ETag())
	if !pr.Returns(s.membersPath()) {
		s.writeJSON(w, status, s.render(r, s.Schemas.Group, g, pr))
		return
	}
	s.streamGroups(w, r, status, nil, nil, []*directory.Resource{g}, pr)
}

// streamGroups writes groups with their members read row by row from the database, so a group
// of any size costs constant memory. With head (a ListResponse without Resources) it writes a
// ListResponse whose Resources start with leading (resources already encoded: the users of a
// root search); without, the single group. Once the status is sent an error cannot be
// reported, so the connection is aborted rather than ending in a truncated but valid body.
func (s *server) streamGroups(w http.ResponseWriter, r *http.Request, status int, head []byte, leading [][]byte,
	groups []*directory.Resource, pr schema.Projection) {
	withMembers := pr.Returns(s.membersPath())
	ids := make([]string, len(groups))
	prefixes := make([][]byte, len(groups))
	for i, g := range groups {
		ids[i] = g.ID
		b, err := encodeJSON(s.render(r, s.Schemas.Group, g, pr))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		prefixes[i] = b[:len(b)-1] // without the closing brace: members may follow
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	bw := bufio.NewWriterSize(w, 32<<10)
	if head != nil {
		bw.Write(head[:len(head)-1])
		bw.WriteString(`,"Resources":[`)
	}
	for i, b := range leading {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(b)
	}
	written := len(leading) // resources written or opened so far
	next := 0               // index of the next group to open
	first := true           // no member written yet in the open group
	// A group without members has no "members" attribute, so the list opens with its first
	// member.
	closeGroup := func() {
		if !first {
			bw.WriteByte(']')
		}
		bw.WriteByte('}')
	}
	open := func() {
		if next > 0 {
			closeGroup()
		}
		if written > 0 {
			bw.WriteByte(',')
		}
		bw.Write(prefixes[next])
		next++
		written++
		first = true
	}
	if withMembers && len(ids) > 0 {
		base := s.baseURL(r)
		err := s.Directory.EachMember(r.Context(), actor(r), ids, func(group string, m directory.Member) error {
			for next == 0 || ids[next-1] != group {
				open()
			}
			if first {
				bw.WriteString(`,"members":[`)
			} else {
				bw.WriteByte(',')
			}
			first = false
			return s.writeMember(bw, pr, base, m)
		})
		if err != nil {
			// The status line is gone: classify only logs (a client that left or stopped
			// reading at INFO, a lost database at WARN), and the connection is cut so the
			// client cannot take the truncated body for a whole one.
			s.classify(r, err)
			panic(http.ErrAbortHandler)
		}
	}
	for next < len(ids) {
		open()
	}
	if next > 0 {
		closeGroup()
	}
	if head != nil {
		bw.WriteString("]}")
	}
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		s.log.Warn("writing response", "err", err.Error())
	}
}

func (s *server) writeMember(bw *bufio.Writer, pr schema.Projection, base string, m directory.Member) error {
	ref := base + "/Users/" + m.Value
	if m.Type == "Group" {
		ref = base + "/Groups/" + m.Value
	}
	el := map[string]any{"value": m.Value, "type": m.Type, "$ref": ref}
	if m.Display != "" {
		el["display"] = m.Display
	}
	if !pr.Empty() {
		list, _ := s.Schemas.Group.Apply(pr, map[string]any{"members": []any{el}})["members"].([]any)
		if len(list) == 1 {
			el, _ = list[0].(map[string]any)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(el); err != nil {
		return err
	}
	_, err := bw.Write(bytes.TrimRight(buf.Bytes(), "\n"))
	return err
}
