package server

import (
	"context"
	"mime"
	"net/http"
	"strconv"

	"github.com/scimd/scimd/internal/bulk"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/scimerr"
)

// POST /Bulk: the HTTP framing of internal/bulk, which plans and runs the operations, each
// through the directory method of its single request.

// bulkMaxPayload is the maxPayloadSize advertised and enforced.
func (s *server) bulkMaxPayload() int64 {
	return max(bulk.MaxPayload, s.MaxBodyBytes)
}

// withBulkBody is withBody for /Bulk: the same media types, with maxPayloadSize as the limit
// and 413 tooLarge naming it.
func (s *server) withBulkBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); ct != "" {
			mt, _, err := mime.ParseMediaType(ct)
			if err != nil || (mt != "application/scim+json" && mt != "application/json") {
				s.writeError(w, r, scimerr.New(scimerr.KindUnsupportedMediaType, "",
					"Content-Type must be application/scim+json or application/json, not %q", ct))
				return
			}
		}
		if !limitBody(w, r, s.bulkMaxPayload()) {
			s.writeError(w, r, s.payloadTooLarge())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) payloadTooLarge() error {
	return bulk.TooLarge("the bulk request body exceeds maxPayloadSize, %d bytes; split it into several requests", s.bulkMaxPayload())
}

// bulkResult is one element of a BulkResponse's Operations.
type bulkResult struct {
	Method   string         `json:"method"`
	BulkID   string         `json:"bulkId,omitempty"`
	Version  string         `json:"version,omitempty"`
	Location string         `json:"location,omitempty"`
	Status   string         `json:"status"`
	Response map[string]any `json:"response,omitempty"`
}

// handleBulk is POST /Bulk (RFC 7644 §3.7).
func (s *server) handleBulk(w http.ResponseWriter, r *http.Request) error {
	raw, err := readBody(r)
	if err != nil {
		if e := scimerr.As(err); e != nil && e.Kind == scimerr.KindTooLarge {
			err = s.payloadTooLarge()
		}
		return err
	}
	req, err := bulk.Parse(raw)
	if err != nil {
		return err
	}
	results := s.bulkRunner(actor(r)).Run(r.Context(), req)
	out := make([]bulkResult, len(results))
	for i, res := range results {
		o := bulkResult{Method: res.Op.Method, BulkID: res.Op.BulkID, Status: strconv.Itoa(res.Status)}
		if res.Type != nil && res.ID != "" {
			o.Location = s.baseURL(r) + res.Type.Resource.Endpoint + "/" + res.ID
		}
		if res.Err != nil {
			var status int
			status, o.Response = s.errorBody(r, res.Err)
			o.Status = strconv.Itoa(status)
		} else if res.Resource != nil {
			o.Version = res.Resource.ETag()
		}
		out[i] = o
	}
	s.writeJSON(w, http.StatusOK, map[string]any{"schemas": []string{bulk.ResponseURN}, "Operations": out})
	return nil
}

// bulkRunner runs bulk operations as actor a, through the directory.
func (s *server) bulkRunner(a directory.Actor) *bulk.Runner {
	d := s.Directory
	users := &bulk.Type{Resource: s.Schemas.User, Exec: userExec{d, a}, PatchStatus: http.StatusOK,
		CreateMany: func(ctx context.Context, bodies []map[string]any, maxErrors int) []directory.CreateResult {
			return d.CreateUsers(ctx, a, bodies, maxErrors)
		}}
	// A group PATCH answers 204, as its single request does without attributes asked for.
	groups := &bulk.Type{Resource: s.Schemas.Group, Exec: groupExec{d, a}, PatchStatus: http.StatusNoContent}
	return &bulk.Runner{
		Types:    []*bulk.Type{users, groups},
		CanWrite: a.CanWrite(),
		MaxData:  s.MaxBodyBytes,
		TooLarge: tooLarge(s.MaxBodyBytes),
		Stop:     s.Lifecycle.stopBulk(),
		Atomically: func(ctx context.Context, fn func(bulk.Linker) error) error {
			return d.Atomically(ctx, a, func(ops *directory.Ops) error {
				return fn(linker{ops: ops, users: users})
			})
		},
	}
}

// userExec and groupExec are the directory's operations on users and groups, as bulk runs them.
type userExec struct {
	d *directory.Service
	a directory.Actor
}

func (x userExec) Create(ctx context.Context, body map[string]any) (*directory.Resource, error) {
	return x.d.CreateUser(ctx, x.a, body)
}

func (x userExec) Replace(ctx context.Context, id string, body map[string]any, pre directory.Precondition) (*directory.Resource, error) {
	return x.d.ReplaceUser(ctx, x.a, id, body, pre)
}

func (x userExec) Patch(ctx context.Context, id string, ops []patch.Operation, pre directory.Precondition) (*directory.Resource, error) {
	return x.d.PatchUser(ctx, x.a, id, ops, pre)
}

func (x userExec) Delete(ctx context.Context, id string, pre directory.Precondition) error {
	return x.d.DeleteUser(ctx, x.a, id, pre)
}

type groupExec struct {
	d *directory.Service
	a directory.Actor
}

func (x groupExec) Create(ctx context.Context, body map[string]any) (*directory.Resource, error) {
	return x.d.CreateGroup(ctx, x.a, body)
}

func (x groupExec) Replace(ctx context.Context, id string, body map[string]any, pre directory.Precondition) (*directory.Resource, error) {
	return x.d.ReplaceGroup(ctx, x.a, id, body, pre)
}

func (x groupExec) Patch(ctx context.Context, id string, ops []patch.Operation, pre directory.Precondition) (*directory.Resource, error) {
	return x.d.PatchGroup(ctx, x.a, id, ops, pre)
}

func (x groupExec) Delete(ctx context.Context, id string, pre directory.Precondition) error {
	return x.d.DeleteGroup(ctx, x.a, id, pre)
}

// linker creates and patches users and groups in the transaction of ops.
type linker struct {
	ops   *directory.Ops
	users *bulk.Type
}

func (l linker) Create(t *bulk.Type, body map[string]any) (*directory.Resource, error) {
	if t == l.users {
		return l.ops.CreateUser(body)
	}
	return l.ops.CreateGroup(body)
}

func (l linker) Patch(t *bulk.Type, id string, ops []patch.Operation) (*directory.Resource, error) {
	if t == l.users {
		return l.ops.PatchUser(id, ops)
	}
	return l.ops.PatchGroup(id, ops)
}
