package orgs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/scimerr"
)

// AuditEntry is one record of the audit log: a change, who made it and what it changed.
type AuditEntry struct {
	ID        string    `json:"id"`
	At        time.Time `json:"at"`
	RequestID string    `json:"request_id"`
	// TokenID is the token the change was made with; ActorUserID the admin who issued it
	// (null for an organization's operator token, or work no token asked for).
	TokenID      *string `json:"token_id"`
	ActorUserID  *string `json:"actor_user_id"`
	Action       string  `json:"action"`
	ResourceType string  `json:"resource_type"`
	ResourceID   string  `json:"resource_id"`
	// Changes are the attribute-level changes, {"attr": {"before": ..., "after": ...}}.
	Changes json.RawMessage `json:"changes"`
}

// AuditPage is a page of the audit log, newest first. NextCursor, when not null, asks for the
// next (older) page.
type AuditPage struct {
	Entries    []AuditEntry `json:"entries"`
	NextCursor *string      `json:"next_cursor"`
}

// AuditInput is a request for a page of the audit log, every field as a client sends it
// ("" for absent).
type AuditInput struct {
	// User selects the records about one resource (a user's id).
	User string
	// Actor selects the records of changes made with tokens one admin issued.
	Actor string
	// Action selects one action: create, update, suspend, reactivate, delete or grants.
	Action string
	// Since (inclusive) and Until (exclusive) bound the time, RFC 3339.
	Since string
	Until string
	// Limit is the page size: default DefaultAuditLimit, at most MaxAuditLimit.
	Limit string
	// Cursor is the next_cursor of the previous page.
	Cursor string
}

// Audit page sizes.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 1000
)

// AuditQuery is a checked AuditInput, for a store.
type AuditQuery struct {
	User, Actor, Action string
	Since, Until        *time.Time
	// Before, when set, selects the records older than the one at (BeforeAt, BeforeID).
	BeforeAt *time.Time
	BeforeID string
	Limit    int
}

// Audit returns a page of the organization's audit log, newest first.
func (s *Service) Audit(ctx context.Context, org string, in AuditInput) (*AuditPage, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	q, err := parseAudit(in)
	if err != nil {
		return nil, err
	}
	// One more than asked tells whether there is a next page.
	want := q.Limit
	q.Limit++
	entries, err := s.store.ListAudit(ctx, org, q)
	if err != nil {
		return nil, s.orgErr(err, org)
	}
	page := &AuditPage{Entries: entries}
	if page.Entries == nil {
		page.Entries = []AuditEntry{}
	}
	if len(entries) > want {
		page.Entries = entries[:want]
		last := page.Entries[want-1]
		c := encodeCursor(last.At, last.ID)
		page.NextCursor = &c
	}
	return page, nil
}

func parseAudit(in AuditInput) (AuditQuery, error) {
	q := AuditQuery{Limit: DefaultAuditLimit}
	id := func(name, v string) (string, error) {
		if v == "" {
			return "", nil
		}
		u, err := uuid.Parse(v)
		if err != nil {
			return "", scimerr.Invalid("", "%s %q is not a user id (a UUID)", name, v)
		}
		return u.String(), nil
	}
	var err error
	if q.User, err = id("user", in.User); err != nil {
		return q, err
	}
	if q.Actor, err = id("actor", in.Actor); err != nil {
		return q, err
	}
	q.Action = strings.ToLower(strings.TrimSpace(in.Action))
	at := func(name, v string) (*time.Time, error) {
		if v == "" {
			return nil, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return nil, scimerr.Invalid("", "%s %q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", name, v)
		}
		return &t, nil
	}
	if q.Since, err = at("since", in.Since); err != nil {
		return q, err
	}
	if q.Until, err = at("until", in.Until); err != nil {
		return q, err
	}
	if q.Limit, err = parseLimit("limit", in.Limit, DefaultAuditLimit, MaxAuditLimit); err != nil {
		return q, err
	}
	if in.Cursor != "" {
		t, id, ok := decodeCursor(in.Cursor)
		if !ok {
			return q, scimerr.Invalid("", "cursor %q is not one this server gave; pass next_cursor of the previous page as it is", in.Cursor)
		}
		q.BeforeAt, q.BeforeID = &t, id
	}
	return q, nil
}

// A cursor is the time and id of the last record of a page, base64url-encoded.
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + " " + id))
}

func decodeCursor(c string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", false
	}
	ts, id, ok := strings.Cut(string(raw), " ")
	if !ok {
		return time.Time{}, "", false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", false
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return time.Time{}, "", false
	}
	return t, u.String(), true
}

// parseLimit reads a page size: def when absent, at most max (a larger one is lowered to it).
func parseLimit(name, v string, def, max int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, scimerr.Invalid("", "%s %q is not a positive whole number", name, v)
	}
	return min(n, max), nil
}
