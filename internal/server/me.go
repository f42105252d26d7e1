package server

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/scimd/scimd/internal/scimerr"
)

// me serves /Me (RFC 7644 §3.11) with the /Users/{id} handler h, for the user who issued the
// calling token: the same rules, answers and ETags, and Location and meta.location name
// /Users/{id}. The rules for acting on oneself apply by themselves, since the directory sees
// the actor's issuer and the resource are the same user: DELETE /Me is the 403 of
// DELETE /Users/{own id}, and so are changes of one's own roles or suspension.
func (s *server) me(h scimHandler) scimHandler {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := actor(r).UserID
		if id == "" {
			return scimerr.NotFound("/Me is the user who issued the calling token, and this token has none: " +
				"it is a service token (such as the organization's operator token), which acts for no person; " +
				"use a token issued by a user, or /Users/{id}")
		}
		chi.RouteContext(r.Context()).URLParams.Add("id", id)
		return h(w, r)
	}
}
