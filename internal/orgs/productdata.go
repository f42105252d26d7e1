package orgs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/scimerr"
)

// Product data: what product systems store in scimd about an account —
// meeting history, scheduled meetings and other product records — written through the admin
// API, scoped to the organization and the user. It lives and dies with the user: deleting the
// user purges it in the same transaction (migration 0005, ON DELETE CASCADE).

// Kinds of product data, the "type" of each item.
const (
	TypeMeeting          = "meeting"
	TypeScheduledMeeting = "scheduled_meeting"
	TypeRecord           = "record"
)

// ProductData is one item of a user's product data: a *Meeting, *ScheduledMeeting or
// *ProductRecord.
type ProductData interface {
	// At is the time the item is ordered by: when the meeting started, when the scheduled
	// meeting starts, when the record was recorded.
	At() time.Time
	ItemID() string
}

// Meeting is a meeting the user held or took part in.
type Meeting struct {
	Type      string          `json:"type"`
	ID        string          `json:"id"`
	UserID    string          `json:"user_id"`
	Topic     string          `json:"topic"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   *time.Time      `json:"ended_at"`
	Details   json.RawMessage `json:"details"`
	Created   time.Time       `json:"created"`
}

// ScheduledMeeting is a meeting the user scheduled.
type ScheduledMeeting struct {
	Type        string          `json:"type"`
	ID          string          `json:"id"`
	UserID      string          `json:"user_id"`
	Topic       string          `json:"topic"`
	StartsAt    time.Time       `json:"starts_at"`
	DurationMin int             `json:"duration_min"`
	Details     json.RawMessage `json:"details"`
	Created     time.Time       `json:"created"`
}

// ProductRecord is any other record a product keeps about the user.
type ProductRecord struct {
	Type       string          `json:"type"`
	ID         string          `json:"id"`
	UserID     string          `json:"user_id"`
	Product    string          `json:"product"`
	Kind       string          `json:"kind"`
	Payload    json.RawMessage `json:"payload"`
	RecordedAt time.Time       `json:"recorded_at"`
}

func (m *Meeting) At() time.Time           { return m.StartedAt }
func (m *Meeting) ItemID() string          { return m.ID }
func (m *ScheduledMeeting) At() time.Time  { return m.StartsAt }
func (m *ScheduledMeeting) ItemID() string { return m.ID }
func (r *ProductRecord) At() time.Time     { return r.RecordedAt }
func (r *ProductRecord) ItemID() string    { return r.ID }

// MeetingInput is a meeting to record. Times are RFC 3339.
type MeetingInput struct {
	Topic     string          `json:"topic"`
	StartedAt string          `json:"started_at"`
	EndedAt   string          `json:"ended_at"`
	Details   json.RawMessage `json:"details"`
}

// ScheduledMeetingInput is a scheduled meeting to record; DurationMin defaults to
// DefaultDurationMin.
type ScheduledMeetingInput struct {
	Topic       string          `json:"topic"`
	StartsAt    string          `json:"starts_at"`
	DurationMin *int            `json:"duration_min"`
	Details     json.RawMessage `json:"details"`
}

// ProductRecordInput is a product record to store; RecordedAt defaults to now.
type ProductRecordInput struct {
	Product    string          `json:"product"`
	Kind       string          `json:"kind"`
	Payload    json.RawMessage `json:"payload"`
	RecordedAt string          `json:"recorded_at"`
}

// Limits of product data.
const (
	// MaxTopicLen bounds a topic, in bytes.
	MaxTopicLen = 1000
	// DefaultDurationMin is a scheduled meeting's duration when none is given;
	// MaxDurationMin bounds it (a week).
	DefaultDurationMin = 60
	MaxDurationMin     = 7 * 24 * 60
	// DefaultProductDataLimit and MaxProductDataLimit are a page's default and largest size.
	DefaultProductDataLimit = 100
	MaxProductDataLimit     = 1000
)

// ProductDataPage is one page of a user's product data, newest first. NextCursor, when set,
// asks for the next page.
type ProductDataPage struct {
	Items      []ProductData `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ProductDataCursor is where a page starts: after the item at At with the id ID, in the order
// (At, ID) descending. The zero cursor is the first page.
type ProductDataCursor struct {
	At time.Time
	ID string
}

// IsZero tells the first page's cursor.
func (c ProductDataCursor) IsZero() bool { return c.ID == "" }

func userNotFound(org, user string) error {
	return scimerr.NotFound("organization %s has no user %q", org, user)
}

// canonUser returns a user id in canonical form; an id that is not a UUID names no user.
func canonUser(org, user string) (string, error) {
	id, err := uuid.Parse(user)
	if err != nil {
		return "", userNotFound(org, user)
	}
	return id.String(), nil
}

// productDataErr turns a Store's ErrNotFound (no such user) and ErrNoOrg into client errors.
func (s *Service) productDataErr(err error, org, user string) error {
	if errors.Is(err, ErrNotFound) {
		return userNotFound(org, user)
	}
	return s.orgErr(err, org)
}

// parseTime parses a required or optional RFC 3339 time of field.
func parseTime(field, v string, required bool) (*time.Time, error) {
	if strings.TrimSpace(v) == "" {
		if required {
			return nil, scimerr.Invalid("", "%s is required: an RFC 3339 time such as \"2024-05-01T09:30:00Z\"", field)
		}
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(v))
	if err != nil {
		return nil, scimerr.Invalid("", "%s %q is not an RFC 3339 time such as \"2024-05-01T09:30:00Z\" (with a time zone)", field, v)
	}
	t = t.UTC().Truncate(time.Microsecond) // what PostgreSQL keeps
	return &t, nil
}

// checkText refuses text PostgreSQL cannot store or that is too long.
func checkText(field, v string, maxLen int) error {
	switch {
	case len(v) > maxLen:
		return scimerr.Invalid("", "%s is %d bytes long; at most %d are allowed", field, len(v), maxLen)
	case !utf8.ValidString(v):
		return scimerr.Invalid("", "%s is not valid UTF-8", field)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' }):
		return scimerr.Invalid("", "%s contains control characters", field)
	}
	return nil
}

// jsonObject checks that raw is a JSON object PostgreSQL's jsonb can store and returns it
// compacted; absent or null is the empty object.
func jsonObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage(`{}`), nil
	}
	if raw[0] != '{' {
		return nil, scimerr.Invalid("", "%s must be a JSON object, not %s", field, jsonKind(raw[0]))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, scimerr.Invalid("", "%s is not valid JSON: %v", field, err)
	}
	if path := nulChar(v, field); path != "" {
		return nil, scimerr.Invalid("", "%s contains the character U+0000 (at %s), which cannot be stored", field, path)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, scimerr.Invalid("", "%s is not valid JSON: %v", field, err)
	}
	return buf.Bytes(), nil
}

func jsonKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 't' || b == 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// nulChar returns the path of the first string or key of v containing U+0000, else "".
func nulChar(v any, path string) string {
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return path
		}
	case map[string]any:
		for k, e := range v {
			p := path + "." + k
			if strings.ContainsRune(k, 0) {
				return p
			}
			if q := nulChar(e, p); q != "" {
				return q
			}
		}
	case []any:
		for i, e := range v {
			if q := nulChar(e, path+"["+strconv.Itoa(i)+"]"); q != "" {
				return q
			}
		}
	}
	return ""
}

// newItemID is a product data id: a version 7 UUID, so ids sort by creation.
func newItemID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}

// AddMeeting records a meeting of a user of the organization.
func (s *Service) AddMeeting(ctx context.Context, org, user string, in MeetingInput) (*Meeting, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if user, err = canonUser(org, user); err != nil {
		return nil, err
	}
	m := &Meeting{Type: TypeMeeting, UserID: user, Topic: in.Topic}
	if err := checkText("topic", in.Topic, MaxTopicLen); err != nil {
		return nil, err
	}
	started, err := parseTime("started_at", in.StartedAt, true)
	if err != nil {
		return nil, err
	}
	m.StartedAt = *started
	if m.EndedAt, err = parseTime("ended_at", in.EndedAt, false); err != nil {
		return nil, err
	}
	if m.EndedAt != nil && m.EndedAt.Before(m.StartedAt) {
		return nil, scimerr.Invalid("", "ended_at %s is before started_at %s",
			m.EndedAt.Format(time.RFC3339Nano), m.StartedAt.Format(time.RFC3339Nano))
	}
	if m.Details, err = jsonObject("details", in.Details); err != nil {
		return nil, err
	}
	if m.ID, err = newItemID(); err != nil {
		return nil, err
	}
	out, err := s.store.InsertMeeting(ctx, org, *m)
	return out, s.productDataErr(err, org, user)
}

// AddScheduledMeeting records a meeting a user of the organization scheduled.
func (s *Service) AddScheduledMeeting(ctx context.Context, org, user string, in ScheduledMeetingInput) (*ScheduledMeeting, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if user, err = canonUser(org, user); err != nil {
		return nil, err
	}
	m := &ScheduledMeeting{Type: TypeScheduledMeeting, UserID: user, Topic: in.Topic, DurationMin: DefaultDurationMin}
	if err := checkText("topic", in.Topic, MaxTopicLen); err != nil {
		return nil, err
	}
	starts, err := parseTime("starts_at", in.StartsAt, true)
	if err != nil {
		return nil, err
	}
	m.StartsAt = *starts
	if in.DurationMin != nil {
		if d := *in.DurationMin; d < 1 || d > MaxDurationMin {
			return nil, scimerr.Invalid("", "duration_min %d is out of range: give a whole number of minutes from 1 to %d", d, MaxDurationMin)
		}
		m.DurationMin = *in.DurationMin
	}
	if m.Details, err = jsonObject("details", in.Details); err != nil {
		return nil, err
	}
	if m.ID, err = newItemID(); err != nil {
		return nil, err
	}
	out, err := s.store.InsertScheduledMeeting(ctx, org, *m)
	return out, s.productDataErr(err, org, user)
}

var recordKind = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$`)

// AddProductRecord stores a product record of a user of the organization. The product must be
// a product name (it need not be licensed: a record may outlive the license).
func (s *Service) AddProductRecord(ctx context.Context, org, user string, in ProductRecordInput) (*ProductRecord, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if user, err = canonUser(org, user); err != nil {
		return nil, err
	}
	if in.Product == "" {
		return nil, scimerr.Invalid("", "product is required: the name of the product the record belongs to, such as \"meeting\"")
	}
	if _, err := NormalizeProduct(in.Product); err != nil {
		return nil, err
	}
	if in.Kind == "" {
		return nil, scimerr.Invalid("", "kind is required: what the record is, such as \"recording\"")
	}
	if !recordKind.MatchString(in.Kind) {
		return nil, scimerr.Invalid("", "kind %q is not valid: 1 to 100 letters, digits, '.', '_', ':' or '-', starting with a letter or digit", in.Kind)
	}
	r := &ProductRecord{Type: TypeRecord, UserID: user, Product: in.Product, Kind: in.Kind}
	if r.Payload, err = jsonObject("payload", in.Payload); err != nil {
		return nil, err
	}
	at, err := parseTime("recorded_at", in.RecordedAt, false)
	if err != nil {
		return nil, err
	}
	if at == nil {
		now := s.now().UTC().Truncate(time.Microsecond)
		at = &now
	}
	r.RecordedAt = *at
	if r.ID, err = newItemID(); err != nil {
		return nil, err
	}
	out, err := s.store.InsertProductRecord(ctx, org, *r)
	return out, s.productDataErr(err, org, user)
}

// ParseProductDataLimit parses a page size; "" is DefaultProductDataLimit.
func ParseProductDataLimit(v string) (int, error) {
	if v == "" {
		return DefaultProductDataLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxProductDataLimit {
		return 0, scimerr.Invalid("", "limit %q is not valid: give a whole number from 1 to %d", v, MaxProductDataLimit)
	}
	return n, nil
}

// EncodeProductDataCursor is the opaque form of c.
func EncodeProductDataCursor(c ProductDataCursor) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d_%s", c.At.UnixMicro(), c.ID))
}

// ParseProductDataCursor parses a cursor EncodeProductDataCursor made; "" is the first page.
func ParseProductDataCursor(v string) (ProductDataCursor, error) {
	if v == "" {
		return ProductDataCursor{}, nil
	}
	bad := scimerr.Invalid("", "cursor %q is not valid: pass the next_cursor of the previous page as it is", v)
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return ProductDataCursor{}, bad
	}
	at, id, ok := strings.Cut(string(raw), "_")
	if !ok {
		return ProductDataCursor{}, bad
	}
	micros, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return ProductDataCursor{}, bad
	}
	uid, err := uuid.Parse(id)
	if err != nil || uid.String() != id {
		return ProductDataCursor{}, bad
	}
	return ProductDataCursor{At: time.UnixMicro(micros).UTC(), ID: id}, nil
}

// ListProductData lists a user's product data of every kind, newest first (by the time each
// item is about, then by id), limit items from after the cursor.
func (s *Service) ListProductData(ctx context.Context, org, user string, limit int, cursor ProductDataCursor) (*ProductDataPage, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	if user, err = canonUser(org, user); err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxProductDataLimit {
		return nil, scimerr.Invalid("", "limit %d is not valid: give a whole number from 1 to %d", limit, MaxProductDataLimit)
	}
	items, err := s.store.ListProductData(ctx, org, user, cursor, limit+1)
	if err != nil {
		return nil, s.productDataErr(err, org, user)
	}
	page := &ProductDataPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1]
		page.NextCursor = EncodeProductDataCursor(ProductDataCursor{At: last.At(), ID: last.ItemID()})
	}
	if page.Items == nil {
		page.Items = []ProductData{}
	}
	return page, nil
}
