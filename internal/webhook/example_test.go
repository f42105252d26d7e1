package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/scimd/scimd/internal/webhook"
)

// purgeHandler is a receiver of account.purged events (the README shows it): it verifies the
// signature over the raw body, and deduplicates by event id, since delivery is at least once.
func purgeHandler(secret string, seen func(eventID string) bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		err = webhook.Verify(secret, r.Header.Get("Scimd-Signature"), body, 5*time.Minute, time.Now())
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		if seen(r.Header.Get("Scimd-Event-Id")) { // already purged: acknowledge again
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var ev struct {
			ID         string `json:"id"`
			Type       string `json:"type"`
			OrgID      string `json:"org_id"`
			ResourceID string `json:"resource_id"` // the SCIM user id
		}
		if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "account.purged" {
			http.Error(w, "unexpected event", http.StatusBadRequest)
			return
		}
		// ... purge the account's data, remember ev.ID as seen, then:
		w.WriteHeader(http.StatusNoContent)
	}
}

func ExampleVerify() {
	seen := map[string]bool{}
	http.Handle("/scimd/events", purgeHandler("<the secret shown when the webhook was added>",
		func(id string) bool { return seen[id] }))
}
