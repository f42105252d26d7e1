package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/directory/memstore"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/server"
	"github.com/scimd/scimd/schemas"
)

// FuzzRequestBodies sends arbitrary bodies to every SCIM write, over the directory on the
// in-memory store (no database, so the fuzzer runs fast): whatever the body, the answer is
// never a 500 and the server never panics. The seeds hold the hostile inputs that once gave
// 500s (NUL characters, values over the indexed limits, dateTimes PostgreSQL refuses) and the
// shapes identity providers send. Run it longer with
// go test -run=^$ -fuzz=FuzzRequestBodies -fuzztime=60s -fuzzminimizetime=3s ./internal/server/
func FuzzRequestBodies(f *testing.F) {
	reg, err := schema.Load(schemas.Files)
	if err != nil {
		f.Fatal(err)
	}
	store := memstore.New()
	org := store.AddOrg(directory.Org{Name: "Fuzz", DefaultLocale: "en-US", VerifiedDomains: []string{"example.com"},
		Products: []string{"meeting", "webinar"}, Notify: true, NestedGroups: true})
	dir, err := directory.New(store, reg)
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	tok, err := dir.CreateToken(ctx, directory.Operator(org), directory.TokenInput{Role: "admin"}, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	u, err := dir.CreateUser(ctx, directory.Operator(org), map[string]any{"userName": "fuzz@example.com"})
	if err != nil {
		f.Fatal(err)
	}
	g, err := dir.CreateGroup(ctx, directory.Operator(org), map[string]any{"displayName": "Fuzzers"})
	if err != nil {
		f.Fatal(err)
	}
	h := server.NewServer(server.Deps{Directory: dir, Schemas: reg, Ready: func(context.Context) error { return nil },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	targets := []struct{ method, path string }{
		{http.MethodPost, "/scim/v2/Users"},
		{http.MethodPut, "/scim/v2/Users/" + u.ID},
		{http.MethodPatch, "/scim/v2/Users/" + u.ID},
		{http.MethodPost, "/scim/v2/Groups"},
		{http.MethodPut, "/scim/v2/Groups/" + g.ID},
		{http.MethodPatch, "/scim/v2/Groups/" + g.ID},
		{http.MethodPost, "/scim/v2/Bulk"},
	}
	long := strings.Repeat("ü€𝄞x", 400)
	for _, body := range []string{
		`{"userName":"a\u0000b@example.com"}`,
		`{"userName":"ok@example.com","name":{"givenName":"\u0000"}}`,
		`{"userName":"` + long + `@example.com"}`,
		`{"userName":"ok@example.com","externalId":"` + long + `"}`,
		`{"userName":"ok@example.com","emails":[{"value":"` + long + `"}]}`,
		`{"userName":"ok@example.com","preferredLanguage":"da, en-gb;q=0.8, en;q=0.7","locale":"hi"}`,
		`{"userName":"ok@example.com","urn:ietf:params:scim:schemas:extension:enterprise:2.0:User":{"manager":{"value":"{ABC}"}}}`,
		`{"displayName":"a\u0000","members":[{"value":"\u0000"}]}`,
		`{"displayName":"` + long + `"}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"meta.created","value":"0000-01-01T00:00:00Z"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[type eq \"work\"].value","value":"x\u0000"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"remove","path":"members[value eq \"\u0000\"]"}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":"False","name.givenName":"x"}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"Operations":[{"method":"POST","path":"/Users","bulkId":"a","data":{"userName":"b\u0000"}},{"method":"PATCH","path":"/Groups/bulkId:a","data":{}}]}`,
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],"failOnErrors":1,"Operations":[{"method":"POST","path":"/Groups","bulkId":"x","data":{"displayName":"X","members":[{"value":"bulkId:y"}]}},{"method":"POST","path":"/Groups","bulkId":"y","data":{"displayName":"Y","members":[{"value":"bulkId:x"}]}}]}`,
		`[]`, `null`, `{"userName":1e999}`, "\xff\xfe", ``,
	} {
		for i := range targets {
			f.Add(uint8(i), body)
		}
	}
	f.Fuzz(func(t *testing.T, target uint8, body string) {
		tg := targets[int(target)%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Value)
		req.Header.Set("Content-Type", "application/scim+json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= http.StatusInternalServerError {
			t.Fatalf("%s %s %q: %d %s", tg.method, tg.path, body, rec.Code, rec.Body.String())
		}
	})
}
