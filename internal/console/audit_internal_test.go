package console

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The audit table shows each changed attribute with its values before and after as a person
// reads them, whatever the shape of the values; never the stored JSON.
func TestAuditChangesReadAsText(t *testing.T) {
	raw := json.RawMessage(`{
		"title": {"before": "Engineer", "after": "Manager"},
		"active": {"before": true, "after": false},
		"emails": {"after": [{"type": "work", "value": "ada@example.com", "primary": true}, {"value": "a@example.org"}]},
		"name": {"before": {"givenName": "Ada", "familyName": "Lovelace"}},
		"urn:scimd:schemas:extension:2.0:User:products": {"before": ["meeting"], "after": ["meeting", "webinar"]},
		"accountId": {"after": 12345678901234567890},
		"secret": "changed",
		"long": {"after": "` + strings.Repeat("é", 300) + `"}
	}`)
	got := auditChanges(raw)
	want := []auditChange{
		{Attr: "accountId", After: "12345678901234567890"},
		{Attr: "active", Before: "true", After: "false"},
		{Attr: "emails", After: "ada@example.com (work, primary), a@example.org"},
		{Attr: "long", After: strings.Repeat("é", maxShownValue) + "…"},
		{Attr: "name", Before: "familyName: Lovelace; givenName: Ada"},
		{Attr: "secret", After: "changed"},
		{Attr: "title", Before: "Engineer", After: "Manager"},
		{Attr: "urn:scimd:schemas:extension:2.0:User:products", Before: "meeting", After: "meeting, webinar"},
	}
	require.Equal(t, want, got)
	require.Empty(t, auditChanges(json.RawMessage(`{}`)))
	require.Empty(t, auditChanges(json.RawMessage(`null`)))
	require.Empty(t, auditChanges(json.RawMessage(`not json`)))
}
