package orgs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/scimerr"
)

// An organization's lifecycle beyond its creation: listing, renaming, its
// default locale, and deletion, which purges everything of it.

// OrgSummary is an organization as a list shows it.
type OrgSummary struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	DefaultLocale string    `json:"default_locale"`
	Created       time.Time `json:"created"`
}

// OrgPage is a page of organizations, oldest first; NextCursor, when not null, asks for the
// next page.
type OrgPage struct {
	Orgs       []OrgSummary `json:"orgs"`
	NextCursor *string      `json:"next_cursor"`
}

// Organization page sizes.
const (
	DefaultOrgLimit = 100
	MaxOrgLimit     = 1000
)

// OrgCursor continues a list after the organization created at (Created, ID).
type OrgCursor struct {
	Created time.Time
	ID      string
}

// ListOrgs returns a page of organizations, oldest first. limit and cursor are as a client
// sends them ("" for absent).
func (s *Service) ListOrgs(ctx context.Context, limit, cursor string) (*OrgPage, error) {
	n, err := parseLimit("limit", limit, DefaultOrgLimit, MaxOrgLimit)
	if err != nil {
		return nil, err
	}
	var after *OrgCursor
	if cursor != "" {
		c, ok := decodeOrgCursor(cursor)
		if !ok {
			return nil, scimerr.Invalid("", "cursor %q is not a cursor this API returned", cursor)
		}
		after = &c
	}
	list, err := s.store.ListOrgs(ctx, after, n+1)
	if err != nil {
		return nil, err
	}
	page := &OrgPage{Orgs: list}
	if len(list) > n {
		page.Orgs = list[:n]
		last := page.Orgs[n-1]
		c := encodeOrgCursor(OrgCursor{Created: last.Created, ID: last.ID})
		page.NextCursor = &c
	}
	if page.Orgs == nil {
		page.Orgs = []OrgSummary{}
	}
	return page, nil
}

func encodeOrgCursor(c OrgCursor) string {
	b, _ := json.Marshal([]string{c.Created.Format(time.RFC3339Nano), c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeOrgCursor(s string) (OrgCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	var parts []string
	if err != nil || json.Unmarshal(b, &parts) != nil || len(parts) != 2 {
		return OrgCursor{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, parts[0])
	id, idErr := uuid.Parse(parts[1])
	if err != nil || idErr != nil {
		return OrgCursor{}, false
	}
	return OrgCursor{Created: at, ID: id.String()}, true
}

// OrgChange changes an organization's name or default locale (nil leaves it).
type OrgChange struct {
	Name          *string
	DefaultLocale *string
}

// checkName checks and trims an organization name.
func checkName(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", scimerr.Invalid("", "an organization needs a name")
	case len(n) > 200:
		return "", scimerr.Invalid("", "the organization name is %d bytes long; at most 200 are allowed", len(n))
	case strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return "", scimerr.Invalid("", "the organization name must not contain control characters")
	}
	return n, nil
}

// ChangeOrg renames an organization or changes its default locale: a language tag scimd knows
// (canonicalised as a user's locale is). The default locale is what users without one get when
// they are written next, and the language of mail to users whose own languages scimd does not
// speak.
func (s *Service) ChangeOrg(ctx context.Context, org string, ch OrgChange) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	if ch, err = ch.Checked(); err != nil {
		return err
	}
	return s.orgErr(s.store.UpdateOrg(ctx, org, ch), org)
}

// Checked is ch with its values checked and canonical, so that a caller changing several
// things at once can refuse bad input before changing any.
func (ch OrgChange) Checked() (OrgChange, error) {
	if ch.Name != nil {
		n, err := checkName(*ch.Name)
		if err != nil {
			return ch, err
		}
		ch.Name = &n
	}
	if ch.DefaultLocale != nil {
		l, err := locale.Canonical("default_locale", *ch.DefaultLocale)
		if err != nil {
			return ch, scimerr.Invalid("", "%s", scimerr.As(err).Detail)
		}
		ch.DefaultLocale = &l
	}
	return ch, nil
}

// EventOrganizationPurged is the webhook event of an organization's deletion.
const EventOrganizationPurged = "organization.purged"

// OrgPurge is what a store needs to delete an organization: the tombstone's actor and the
// event queued to the organization's endpoints.
type OrgPurge struct {
	Actor     string
	RequestID string
	EventID   string
	Event     []byte
}

// DeleteOrg deletes an organization and purges everything of it in one transaction, as a user
// DELETE does for one account: users with their data, groups, domains,
// products, tokens (which stop working at once), queued notifications, webhook endpoints and
// the audit log. What remains is a tombstone with the organization's id, the time and the
// actor, and an organization.purged event (ids only) queued, signed, to each endpoint the
// organization had, so that product systems purge their copies. actor names who deleted it
// (the operator's tool).
func (s *Service) DeleteOrg(ctx context.Context, org, actor, requestID string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	eid, err := uuid.NewV7()
	if err != nil {
		return err
	}
	event, err := json.Marshal(map[string]any{
		"id":      eid.String(),
		"type":    EventOrganizationPurged,
		"created": s.now().UTC().Format(time.RFC3339),
		"org_id":  org,
	})
	if err != nil {
		return err
	}
	return s.orgErr(s.store.DeleteOrg(ctx, org, OrgPurge{Actor: actor, RequestID: requestID, EventID: eid.String(), Event: event}), org)
}
