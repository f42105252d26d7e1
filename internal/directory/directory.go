// Package directory is scimd's decision layer: every rule of an organization's directory of
// users and groups is written here once, whatever path a change arrives by:
// SCIM Users, Groups, /Me and Bulk, the admin API, the command line and the console.
//
// The Service decides; the Store executes. A write runs inside Store.Update, which hands the
// Service a transaction (Tx) offering the reads a rule needs (the organization's settings, the
// locked user, what a user's groups map to, whether an active admin is left) and the writes
// that carry a decision out. The Service calls back into nothing: it reads, decides, and tells
// the transaction what to write, including the audit records and notifications the change
// calls for, so that everything a change means is committed with it or not at all.
//
// docs/rules.md lists each rule and the function that enforces it.
package directory

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Resource is a resource as clients see it: its canonical attribute document (without id, meta
// and schemas, which the transport adds) and its metadata.
type Resource struct {
	ID           string
	Doc          map[string]any
	Version      int64
	Created      time.Time
	LastModified time.Time
}

// ETag is the resource's entity tag, also its meta.version.
func (r *Resource) ETag() string {
	return etag(r.Version)
}

func etag(version int64) string {
	return `W/"` + strconv.FormatInt(version, 10) + `"`
}

// User is a user as the store keeps it. Doc holds the attributes a client wrote, except the
// grants: roles holds only the roles that are not grants (an identity provider's own app roles),
// and the extension holds none of scimd's grant attributes; present adds the grant views and the
// computed attributes.
type User struct {
	Resource
	AccountID int64
	// Direct are the grants given to the user itself. While the user is suspended they are the
	// pending grants: what the user gets back when reactivated.
	Direct grants.Grants
	// Effective are the grants the user holds (grants.Effective), kept by the store so that
	// reads, filters and token checks need no computation.
	Effective grants.Grants
	// SignIn is the user's sign-in address (SignInAddress), "" when the user has none.
	SignIn string
	// PasswordHash, when not empty on a write, replaces the stored password hash. It is never
	// read back.
	PasswordHash string
}

// Active reports whether the user is not suspended.
func (u *User) Active() bool { return u.Doc["active"] != false }

// GrantChange is a change of a user's effective grants.
type GrantChange struct {
	UserID        string
	Before, After grants.Grants
}

// MaxPageSize is the most resources one list response returns; a larger count is lowered to it
// (RFC 7644 §3.4.2.4 lets the server return fewer than asked).
const MaxPageSize = 1000

// DefaultPageSize is the count of a list request that names none.
const DefaultPageSize = 100

// CursorTimeout is how long a list cursor (RFC 9865) stays valid after the page that gave it.
// A cursor needs nothing kept on the server, so the limit is not about memory: it bounds how
// long a cursor, which carries (sealed) the sort key of a resource that may since have been
// deleted and purged, remains usable.
const CursorTimeout = time.Hour

// Query selects a page of resources.
type Query struct {
	Filter     filter.Expr // nil selects everything
	SortBy     *schema.Path
	Descending bool
	StartIndex int // 1-based
	Count      int // 0 asks only for the total
	// Projection lets the store skip reading attributes the response will not carry.
	Projection schema.Projection
	// ByCursor asks for cursor pagination (RFC 9865) instead of StartIndex. Cursor is then the
	// NextCursor or PreviousCursor of an earlier page of the same query, "" for the first page.
	ByCursor bool
	Cursor   string
}

// Uncounted is PageInfo.Total when the list's size was not counted: on the pages after the first
// of a filtered list read by cursor (RFC 9865 §2 lets such a response omit totalResults).
const Uncounted = -1

// PageInfo is what a store tells of a page besides its resources.
type PageInfo struct {
	// Total is how many resources the query selects, or Uncounted.
	Total int
	// NextCursor and PreviousCursor, in cursor pagination, read the pages after and before
	// this one; "" when there is none (no NextCursor: this is the last page).
	NextCursor, PreviousCursor string
}

// Page is one page of a list.
type Page struct {
	PageInfo
	Resources []*Resource
}

// Precondition carries a request's If-Match and If-None-Match headers (RFC 7232 weak
// comparison; "*" matches any existing resource).
type Precondition struct {
	IfMatch     string
	IfNoneMatch string
}

// Check answers whether a write may proceed against a resource at version.
func (p Precondition) Check(version int64) error {
	tag := etag(version)
	if p.IfMatch != "" && !etagMatches(p.IfMatch, tag) {
		return scimerr.New(scimerr.KindPreconditionFailed, "",
			"If-Match %s does not match the current version %s", p.IfMatch, tag)
	}
	if p.IfNoneMatch != "" && etagMatches(p.IfNoneMatch, tag) {
		return scimerr.New(scimerr.KindPreconditionFailed, "",
			"If-None-Match %s matches the current version %s", p.IfNoneMatch, tag)
	}
	return nil
}

// NotModified reports whether a GET with this precondition may answer 304.
func (p Precondition) NotModified(r *Resource) bool {
	return p.IfNoneMatch != "" && etagMatches(p.IfNoneMatch, r.ETag())
}

func etagMatches(header, tag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(tag, "W/") {
			return true
		}
	}
	return false
}

// Member kinds.
const (
	MemberUser  = "User"
	MemberGroup = "Group"
)

// Member is a group member: a user, or a group where nesting is on.
type Member struct {
	Value   string // the member's id
	Type    string // MemberUser or MemberGroup
	Display string // as read back: the user's displayName (else userName) or the group's
}

// Errors a Store returns for the Service to explain; the Service turns them into the
// client-facing *scimerr.Error of the operation at hand.
var (
	// ErrNotFound: the user, group, mapping or token named is not the organization's.
	ErrNotFound = errors.New("not found")
	// ErrNoOrg: the organization does not exist.
	ErrNoOrg = errors.New("organization not found")
	// ErrUserNameTaken: another user of the organization has the userName (case-insensitive).
	ErrUserNameTaken = errors.New("userName taken")
	// ErrDisplayNameTaken: another group of the organization has the displayName.
	ErrDisplayNameTaken = errors.New("displayName taken")
	// ErrNotLicensed: a product granted or mapped was withdrawn from the organization's
	// licence while the change ran.
	ErrNotLicensed = errors.New("product not licensed")
	// ErrGone: a user or group a write refers to (a member, a manager) was deleted while the
	// change ran.
	ErrGone = errors.New("referenced resource gone")
	// ErrBound: the identity, or an identity of its issuer for the user, was bound while the
	// sign-in ran.
	ErrBound = errors.New("identity bound concurrently")
)

// errUnchanged ends an update function that changed nothing: nothing is written and the
// version stays.
var errUnchanged = errors.New("unchanged")

// ErrContended is what a store answers when concurrent changes kept making a change stale and
// it gave up running it again.
var ErrContended = scimerr.New(scimerr.KindConflict, "", "the resource changed concurrently too many times in a row; retry the request")
