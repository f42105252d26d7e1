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

	// The admin API (admin.go): organization administration for the operator, with its own
	// token; disabled (404) without one.
	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(s.withAdmin)
		r.NotFound(s.adminNotFound)
		r.MethodNotAllowed(s.adminMethodNotAllowed)
		r.Post("/orgs", s.admin(s.adminCreateOrg))
		r.Get("/orgs/{org}", s.admin(s.adminGetOrg))
		r.Get("/orgs/{org}/domains", s.admin(s.adminListDomains))
		r.Post("/orgs/{org}/domains", s.admin(s.adminAddDomain))
		r.Post("/orgs/{org}/domains/{domain}/verify", s.admin(s.adminVerifyDomain))
		r.Delete("/orgs/{org}/domains/{domain}", s.admin(s.adminRemoveDomain))
		r.Get("/orgs/{org}/products", s.admin(s.adminListProducts))
		r.Post("/orgs/{org}/products", s.admin(s.adminAddProduct))
		r.Delete("/orgs/{org}/products/{product}", s.admin(s.adminRemoveProduct))
		r.Get("/orgs/{org}/tokens", s.admin(s.adminListTokens))
		r.Post("/orgs/{org}/tokens", s.admin(s.adminCreateToken))
		r.Delete("/orgs/{org}/tokens/{id}", s.admin(s.adminRevokeToken))
	})
	return r
}
