package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes is the whole HTTP surface of scimd.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.withRequestID, s.withRecovery, s.withAccessLog, middleware.StripSlashes)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	r.Get("/healthz", s.handleHealth)
	r.Get("/readyz", s.handleReady)

	r.Route("/scim/v2", func(r chi.Router) {
		// Discovery endpoints describe the service, not a tenant, and RFC 7644 §4 lets them
		// be public.
		r.Get("/ServiceProviderConfig", s.handleServiceProviderConfig)
		r.Get("/ResourceTypes", s.handleResourceTypes)
		r.Get("/ResourceTypes/{name}", s.handleResourceType)
		r.Get("/Schemas", s.handleSchemas)
		r.Get("/Schemas/{id}", s.handleSchema)

		r.Group(func(r chi.Router) {
			r.Use(s.withAuth, s.withBody)
			r.Get("/Users", s.handleListUsers)
			r.Post("/Users", s.handleCreateUser)
			r.Get("/Users/{id}", s.handleGetUser)
			r.Put("/Users/{id}", s.handleReplaceUser)
			r.Patch("/Users/{id}", s.handlePatchUser)
			r.Delete("/Users/{id}", s.handleDeleteUser)
			r.Get("/Groups", s.handleListGroups)
			r.Post("/Groups", s.handleCreateGroup)
			r.Get("/Groups/{id}", s.handleGetGroup)
			r.Put("/Groups/{id}", s.handleReplaceGroup)
			r.Patch("/Groups/{id}", s.handlePatchGroup)
			r.Delete("/Groups/{id}", s.handleDeleteGroup)
		})
	})
	return r
}
