package server

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of the admin API. openapi_test.go holds it to the
// routes (every /admin/v1 route described, every described path a route) and to the answers
// the admin API's tests receive (each a status and a body the document gives its operation).
//
//go:embed openapi.json
var openAPI []byte

// adminOpenAPI serves the description at /admin/v1/openapi.json, behind the admin token as
// every admin endpoint is.
func (s *server) adminOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if _, err := w.Write(openAPI); err != nil {
		s.log.Warn("writing response", "err", err.Error())
	}
}
