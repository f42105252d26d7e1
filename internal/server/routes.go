package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
)

// routes is the whole HTTP surface of scimd.
func (s *server) routes() http.Handler {
	r := chi.NewRouter()
	// The body discard runs outside the access log: the time a client takes to send a body
	// nobody reads is not the request's.
	r.Use(s.withRequestID, s.withDrainClose, s.withBodyDiscard, s.withRecovery, s.withAccessLog, s.withWriteDeadline,
		middleware.StripSlashes)
	r.NotFound(s.notFound)
	r.MethodNotAllowed(s.methodNotAllowed)

	// Health on every listener; /metrics and the admin API on the admin listener when there is
	// one (Deps.SeparateAdmin), SCIM on the others.
	r.Get("/healthz", s.handleHealth)
	r.Get("/readyz", s.handleReady)
	r.With(s.onListener(adminSide)).Method(http.MethodGet, "/metrics", s.handleMetrics())

	// Authentication for SCIM: failed attempts limited per client address, then the token's
	// own rate and its organization's share of concurrent requests (limits.go).
	scimAuth := []func(http.Handler) http.Handler{s.limitAuthFailures(s.writeError), s.withAuth, s.withRateLimit, s.withOrgLimit}

	r.Route("/scim/v2", func(r chi.Router) {
		r.Use(s.onListener(scimSide))
		// Discovery endpoints describe the service, not a tenant, and RFC 7644 §4 lets them
		// be public.
		r.Get("/ServiceProviderConfig", s.handleServiceProviderConfig)
		r.Get("/ResourceTypes", s.handleResourceTypes)
		r.Get("/ResourceTypes/{name}", s.handleResourceType)
		r.Get("/Schemas", s.handleSchemas)
		r.Get("/Schemas/{id}", s.handleSchema)

		r.Group(func(r chi.Router) {
			r.Use(scimAuth...)
			r.Use(s.withBody)
			r.Get("/Users", s.scim(s.handleListUsers))
			r.Post("/Users", s.scim(s.handleCreateUser))
			r.Get("/Users/{id}", s.scim(s.handleGetUser))
			r.Put("/Users/{id}", s.scim(s.handleReplaceUser))
			r.Patch("/Users/{id}", s.scim(s.handlePatchUser))
			r.Delete("/Users/{id}", s.scim(s.handleDeleteUser))
			r.Get("/Groups", s.scim(s.handleListGroups))
			r.Post("/Groups", s.scim(s.handleCreateGroup))
			r.Get("/Groups/{id}", s.scim(s.handleGetGroup))
			r.Put("/Groups/{id}", s.scim(s.handleReplaceGroup))
			r.Patch("/Groups/{id}", s.scim(s.handlePatchGroup))
			r.Delete("/Groups/{id}", s.scim(s.handleDeleteGroup))
			// /Me: the user who issued the calling token (me.go).
			r.Get("/Me", s.scim(s.me(s.handleGetUser)))
			r.Put("/Me", s.scim(s.me(s.handleReplaceUser)))
			r.Patch("/Me", s.scim(s.me(s.handlePatchUser)))
			r.Delete("/Me", s.scim(s.me(s.handleDeleteUser)))
		})
		// Searches are POSTs that only read: admin-readonly tokens may use them (search.go).
		r.Group(func(r chi.Router) {
			r.Use(handlerChecksWrites)
			r.Use(scimAuth...)
			r.Use(s.withBody)
			r.Post("/.search", s.scim(s.handleSearchRoot))
			r.Post("/Users/.search", s.scim(s.handleSearchUsers))
			r.Post("/Groups/.search", s.scim(s.handleSearchGroups))
		})
		// Bulk has its own body limit (maxPayloadSize) and refuses writes of admin-readonly
		// tokens operation by operation (bulk.go).
		r.Group(func(r chi.Router) {
			r.Use(handlerChecksWrites)
			r.Use(scimAuth...)
			r.Use(s.withBulkBody)
			r.Post("/Bulk", s.scim(s.handleBulk))
		})
	})

	// The Organization Center (internal/console, its routes in its routes.go), while there is
	// organization administration to serve it: on the listener people reach, beside SCIM.
	if s.console != nil {
		r.With(s.onListener(scimSide)).Mount("/console", s.console)
	}

	// The admin API (admin.go): organization administration for the operator, with its own
	// token; disabled (404) without one.
	r.Route("/admin/v1", func(r chi.Router) {
		r.Use(s.onListener(adminSide), s.limitAuthFailures(s.writeAdminError), s.withAdmin)
		r.NotFound(s.adminNotFound)
		r.MethodNotAllowed(s.adminMethodNotAllowed)
		// This API's OpenAPI description (admin_openapi.go): a route added here is described
		// there too, or openapi_test.go fails.
		r.Get("/openapi.json", s.adminOpenAPI)
		r.Post("/orgs", s.admin(s.adminCreateOrg))
		r.Get("/orgs", s.admin(s.adminListOrgs))
		r.Get("/orgs/{org}", s.admin(s.adminGetOrg))
		r.Delete("/orgs/{org}", s.admin(s.adminDeleteOrg))
		r.Patch("/orgs/{org}", s.adminDirectory(s.adminPatchOrg))
		r.Get("/orgs/{org}/domains", s.admin(s.adminListDomains))
		r.Post("/orgs/{org}/domains", s.admin(s.adminAddDomain))
		r.Post("/orgs/{org}/domains/{domain}/verify", s.admin(s.adminVerifyDomain))
		r.Delete("/orgs/{org}/domains/{domain}", s.admin(s.adminRemoveDomain))
		r.Get("/orgs/{org}/products", s.admin(s.adminListProducts))
		r.Post("/orgs/{org}/products", s.admin(s.adminAddProduct))
		r.Delete("/orgs/{org}/products/{product}", s.admin(s.adminRemoveProduct))
		r.Get("/orgs/{org}/tokens", s.adminDirectory(s.adminListTokens))
		r.Post("/orgs/{org}/tokens", s.adminDirectory(s.adminCreateToken))
		r.Delete("/orgs/{org}/tokens/{id}", s.adminDirectory(s.adminRevokeToken))
		r.Get("/orgs/{org}/group-mappings", s.adminDirectory(s.adminListGroupMappings))
		r.Put("/orgs/{org}/group-mappings/{group}", s.adminDirectory(s.adminSetGroupMapping))
		r.Delete("/orgs/{org}/group-mappings/{group}", s.adminDirectory(s.adminRemoveGroupMapping))
		// Account product data (admin_productdata.go) and webhook endpoints (admin_webhooks.go).
		r.Post("/orgs/{org}/users/{id}/meetings", s.admin(s.adminAddMeeting))
		r.Post("/orgs/{org}/users/{id}/scheduled-meetings", s.admin(s.adminAddScheduledMeeting))
		r.Post("/orgs/{org}/users/{id}/records", s.admin(s.adminAddProductRecord))
		r.Get("/orgs/{org}/users/{id}/product-data", s.admin(s.adminListProductData))
		r.Get("/orgs/{org}/webhooks", s.admin(s.adminListWebhooks))
		r.Post("/orgs/{org}/webhooks", s.admin(s.adminAddWebhook))
		r.Delete("/orgs/{org}/webhooks/{id}", s.admin(s.adminRemoveWebhook))
		// Users: support commands, sign-in state, and the audit log (admin_users.go).
		r.Get("/orgs/{org}/users", s.adminDirectory(s.adminListUsers))
		r.Get("/orgs/{org}/users/{id}", s.adminDirectory(s.adminGetUser))
		r.Delete("/orgs/{org}/users/{id}", s.adminDirectory(s.adminDeleteUser))
		r.Post("/orgs/{org}/users/{id}/suspend", s.adminDirectory(s.adminSuspendUser))
		r.Post("/orgs/{org}/users/{id}/reactivate", s.adminDirectory(s.adminReactivateUser))
		r.Get("/orgs/{org}/users/{id}/sign-in", s.adminDirectory(s.adminUserSignIn))
		r.Get("/orgs/{org}/audit", s.admin(s.adminAudit))
		// OpenID Connect settings of the console's sign-in (admin_oidc.go).
		r.Get("/orgs/{org}/oidc", s.admin(s.adminGetOIDC))
		r.Put("/orgs/{org}/oidc", s.admin(s.adminSetOIDC))
		r.Delete("/orgs/{org}/oidc", s.admin(s.adminRemoveOIDC))
	})
	return r
}

// The two sides of a process whose admin API has a listener of its own.
const (
	scimSide  = false
	adminSide = true
)

// onListener answers 404, as for a path that does not exist, to requests that arrived on the
// other side's listener when the admin API has its own (Deps.SeparateAdmin).
func (s *server) onListener(admin bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if !s.SeparateAdmin {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if onAdminListener(r) != admin {
				s.notFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
