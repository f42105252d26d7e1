// Package directory is scimd's provisioning logic: what creating, replacing, patching, deleting
// and listing resources means, whatever the transport. It validates and normalises documents
// against the schemas, enforces preconditions, and leaves persistence to a Store.
package directory

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// Resource is one stored resource: its canonical attribute document (without id, meta and
// schemas, which the transport adds) and its metadata.
type Resource struct {
	ID           string
	Doc          map[string]any
	Version      int64
	Created      time.Time
	LastModified time.Time
	// PasswordHash, when not empty on a write, replaces the stored password hash. It is never
	// read back.
	PasswordHash string
	// Direct are the grants given to the user itself. Doc shows the effective grants: these
	// united with those mapped from the user's groups.
	Direct grants.Grants
	// Changes are the changes of effective grants a write caused.
	Changes []GrantChange
	// Guard, set by an update function, makes the update conditional on the version it read
	// being still current: for changes that must not be based on a stale read (the
	// resource's own attributes, a request's precondition).
	Guard bool
}

// ETag is the resource's entity tag, also its meta.version.
func (r *Resource) ETag() string {
	return `W/"` + strconv.FormatInt(r.Version, 10) + `"`
}

// GrantChange is a change of a user's effective grants, which a write caused directly or
// through groups.
type GrantChange struct {
	UserID        string
	Before, After grants.Grants
}

// MaxPageSize is the most resources one list response returns; a larger count is lowered to it
// (RFC 7644 §3.4.2.4 lets the server return fewer than asked).
const MaxPageSize = 1000

// Query selects a page of resources.
type Query struct {
	Filter     filter.Expr // nil selects everything
	SortBy     *schema.Path
	Descending bool
	StartIndex int // 1-based
	Count      int // 0 asks only for the total
	// Projection lets the store skip reading attributes the response will not carry.
	Projection schema.Projection
}

// Page is one page of a list.
type Page struct {
	Total     int
	Resources []*Resource
}

// Store persists resources of one organization at a time. Every method is scoped to org and
// must never read or change anything of another organization.
type Store interface {
	CreateUser(ctx context.Context, org string, u *Resource) error
	GetUser(ctx context.Context, org, id string, pr schema.Projection) (*Resource, error)
	// UpdateUser runs fn on the current user inside a transaction holding the user's row
	// lock, then stores what fn left in the resource with the version incremented, unless fn
	// returns ErrUnchanged. It returns the stored resource.
	UpdateUser(ctx context.Context, org, id string, fn func(*Resource) error) (*Resource, error)
	// DeleteUser deletes the user after check accepts its current version.
	DeleteUser(ctx context.Context, org, id string, check func(version int64) error) error
	ListUsers(ctx context.Context, org string, q Query) (*Page, error)
}

// ErrUnchanged, returned by an update function, ends the update without writing: the request
// changed nothing, so the version stays.
var ErrUnchanged = &scimerr.Error{Detail: "unchanged"}

// Precondition carries a request's If-Match and If-None-Match headers (RFC 7232 weak
// comparison; "*" matches any existing resource).
type Precondition struct {
	IfMatch     string
	IfNoneMatch string
}

// Check answers whether a write may proceed against a resource at version.
func (p Precondition) Check(version int64) error {
	etag := `W/"` + strconv.FormatInt(version, 10) + `"`
	if p.IfMatch != "" && !etagMatches(p.IfMatch, etag) {
		return scimerr.New(scimerr.KindPreconditionFailed, "",
			"If-Match %s does not match the current version %s", p.IfMatch, etag)
	}
	if p.IfNoneMatch != "" && etagMatches(p.IfNoneMatch, etag) {
		return scimerr.New(scimerr.KindPreconditionFailed, "",
			"If-None-Match %s matches the current version %s", p.IfNoneMatch, etag)
	}
	return nil
}

// NotModified reports whether a GET with this precondition may answer 304.
func (p Precondition) NotModified(r *Resource) bool {
	return p.IfNoneMatch != "" && etagMatches(p.IfNoneMatch, r.ETag())
}

func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}

// MemberRef names a member in a write: the id of a user (or of a group, where nesting is on).
type MemberRef struct {
	Value string
}

// Member is a group member as read back.
type Member struct {
	Value   string
	Type    string // "User" or "Group"
	Display string
}

// MemberChanges changes one group's members inside its update transaction. Each call touches
// only the rows it names, whatever the group's size.
type MemberChanges interface {
	// Add adds members, ignoring those already present. Ids that are not users of the
	// organization refuse the whole request.
	Add(refs []MemberRef) error
	// Remove removes members; ids that are not members are ignored.
	Remove(refs []MemberRef) error
	// RemoveWhere removes the members matching a value filter (members[...]).
	RemoveWhere(f filter.Expr) error
	// Clear removes every member.
	Clear() error
	// Replace makes refs the member list, touching only the rows that differ.
	Replace(refs []MemberRef) error
}

// GroupStore persists groups of one organization at a time, like Store for users.
type GroupStore interface {
	CreateGroup(ctx context.Context, org string, g *Resource, members []MemberRef) error
	// GetGroup reads a group without its members.
	GetGroup(ctx context.Context, org, id string) (*Resource, error)
	// EachMember streams the members of groups, group by group in the order given.
	EachMember(ctx context.Context, org string, groups []string, fn func(group string, m Member) error) error
	UpdateGroup(ctx context.Context, org, id string, fn func(*Resource, MemberChanges) error) (*Resource, error)
	DeleteGroup(ctx context.Context, org, id string, check func(version int64) error) error
	// ListGroups lists groups without their members.
	ListGroups(ctx context.Context, org string, q Query) (*Page, error)
}
