package directory

import (
	"context"
	"encoding/json"
	"time"

	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
)

// Store keeps the directories of every organization. Every method is scoped to one
// organization and never reads or changes anything of another.
type Store interface {
	// Update runs fn in a transaction of org and commits what fn asked the Tx to write when fn
	// returns nil; on an error nothing is written. The store may run fn more than once, on a
	// fresh transaction each time, when a concurrent change made its attempt stale (a guarded
	// group update, a deadlock), so fn must start from what it reads.
	Update(ctx context.Context, org string, fn func(Tx) error) error

	// Reads outside a transaction, each one consistent on its own. What they return is the
	// caller's own: the directory turns users it reads into responses in place.
	Org(ctx context.Context, org string) (*Org, error)
	User(ctx context.Context, org, id string, pr schema.Projection) (*User, error)
	Users(ctx context.Context, org string, q Query) ([]*User, PageInfo, error)
	Group(ctx context.Context, org, id string) (*Resource, error)
	Groups(ctx context.Context, org string, q Query) ([]*Resource, PageInfo, error)
	// EachMember streams the members of groups, group by group in the order given.
	EachMember(ctx context.Context, org string, groups []string, fn func(group string, m Member) error) error
	// Memberships lists the groups a user is directly in, with what each maps to.
	Memberships(ctx context.Context, org, user string) ([]Membership, error)
	Mappings(ctx context.Context, org string) ([]Mapping, error)
	// Token finds a token by organization and id, with its issuer's current state.
	Token(ctx context.Context, org, id string) (*StoredToken, error)
	Tokens(ctx context.Context, org string) ([]Token, error)
	// TakenUserNames reports, for each name, whether a user of the organization has it
	// (compared as the uniqueness of userName compares, case-insensitively).
	TakenUserNames(ctx context.Context, org string, names []string) ([]bool, error)

	// The console's reads (console.go).
	ConsoleStore
}

// ConsoleStore reads and ends console sessions and reads the users tab.
type ConsoleStore interface {
	// ConsoleSession reads a session; ErrNotFound when the organization has no such session.
	ConsoleSession(ctx context.Context, org, id string) (*StoredSession, error)
	// TouchSession records the time of a session's latest request.
	TouchSession(ctx context.Context, org, id string, at time.Time) error
	// DeleteSession ends a session; ErrNotFound when there is no such session.
	DeleteSession(ctx context.Context, org, id string) error
	// BrowseUsers walks the organization's users in the order of lower(userName): forward from
	// after b.After (from the first when b.Before is empty too), or backward from before
	// b.Before; it keeps those whose sign-in address, userName, displayName, or given and
	// family name contain b.Text (case-insensitively), and with b.Role, when set, as effective
	// orgRole, and answers at most b.Limit of them in the order walked. partial tells that so
	// many users have the text that the store looked among only a part of them (Browsed.Partial).
	BrowseUsers(ctx context.Context, org string, b Browse) (users []*User, partial bool, err error)
}

// Tx is one transaction of one organization. Its methods carry the context Update was given.
// Writes may be queued and sent with the next read or the commit, so a write's outcome
// (a constraint it violates) can surface from a later call or from Update itself; reads always
// see the writes asked for before them.
type Tx interface {
	OrgTx
	UserTx
	GroupTx
	GrantTx
	TokenTx
	JournalTx
	ConsoleTx
}

// OrgTx reads the organization.
type OrgTx interface {
	// Org is the organization's settings as the transaction first read them.
	Org() (*Org, error)
	// LockOrg locks the organization until the transaction ends and returns its settings as
	// they are under the lock. It serialises the decisions that look across the organization:
	// whether an active admin is left, and changes of group nesting.
	LockOrg() (*Org, error)
	// NestedMemberships counts the groups that are members of groups.
	NestedMemberships() (int, error)
	SetNestedGroups(enabled bool) error
}

// UserTx reads and writes users.
type UserTx interface {
	// LockUser reads a user and locks it until the transaction ends; ErrNotFound when the
	// organization has no such user.
	LockUser(id string) (*User, error)
	// ExistingUsers returns those of ids that are users of the organization.
	ExistingUsers(ids []string) ([]string, error)
	// InsertUser creates u: its ID is set by the caller; Version, Created, LastModified and
	// AccountID are filled in once the write has been sent (at the latest when Update
	// returns). The store keeps no reference to u's document, which the directory then turns
	// into the response.
	InsertUser(u *User) error
	// UpdateUser stores u, which was read as before, bumping its version; Version and
	// LastModified are filled in once sent.
	UpdateUser(before, u *User) error
	// ClearManager removes manager references to a user, each a change of the referring user
	// (version bumped), and returns the users that referred to it.
	ClearManager(id string) ([]string, error)
	// PurgeUser deletes a user and every record of it: profile, memberships, grants, tokens
	// it issued, queued notifications, product data, first-welcome records; audit records
	// about or by it keep only p.Pseudonym in its place; a tombstone remains.
	PurgeUser(p Purge) error
}

// GroupTx reads and writes groups and their members. Each membership change touches only the
// rows it names, whatever the group's size.
type GroupTx interface {
	// Group reads a group without its members; with lock, the group is locked until the
	// transaction ends. ErrNotFound when the organization has no such group.
	Group(id string, lock bool) (*Resource, error)
	InsertGroup(g *Resource) error
	// UpdateGroup stores g's attributes and bumps its version. With guard, only when the
	// version is still g.Version: otherwise the whole attempt is stale and Update runs fn
	// again.
	UpdateGroup(g *Resource, guard bool) error
	DeleteGroup(id string) error
	// AddUsers adds the ids as user members unless some are not users of the organization:
	// then it adds none and returns those. Members present already are left as they are;
	// added are the ones added.
	AddUsers(group string, ids []string) (added []Member, notUsers []string, err error)
	// ClassifyMembers splits ids into the users and the groups of the organization; the
	// others are neither.
	ClassifyMembers(ids []string) (users, groups []string, err error)
	// AddMembers adds members of both kinds, ignoring those present, and returns the ones
	// added.
	AddMembers(group string, users, groups []string) ([]Member, error)
	// RemoveMembers removes the members among ids and returns them.
	RemoveMembers(group string, ids []string) ([]Member, error)
	// RemoveMembersWhere removes the members a value filter (members[...]) matches.
	RemoveMembersWhere(group string, f filter.Expr) ([]Member, error)
	// RemoveMembersExcept removes every member not in ids.
	RemoveMembersExcept(group string, ids []string) ([]Member, error)
	// Contains returns the first of groups that is target or contains it, directly or
	// through nested groups ("" when none).
	Contains(groups []string, target string) (string, error)
}

// GrantTx reads what effective grants are computed from and writes them.
type GrantTx interface {
	// Mapped reports whether group, or a group containing it, maps to grants.
	Mapped(group string) (bool, error)
	// UsersIn returns the users in groups, directly or through nested groups.
	UsersIn(groups []string) ([]string, error)
	// GrantInputs locks users (in id order, so concurrent refreshes cannot deadlock) and reads
	// what their effective grants follow from.
	GrantInputs(users []string) ([]GrantInput, error)
	SetEffective(changes []GrantChange) error
	// AnyActiveAdmin reports whether an active user holds the admin orgRole.
	AnyActiveAdmin() (bool, error)
	// LockGroupTree locks a group and every group nested in it, so that no membership in
	// them changes until the transaction ends, and returns the group's displayName.
	LockGroupTree(group string) (string, error)
	// PutMapping stores a group's mapping, replacing the one it had; created tells whether it
	// is new.
	PutMapping(m *Mapping) (created bool, err error)
	// DeleteMapping removes a group's mapping; ErrNotFound when it has none.
	DeleteMapping(group string) error
}

// TokenTx writes tokens.
type TokenTx interface {
	InsertToken(t *Token, hash []byte) error
	// RevokeToken sets a token's revocation time unless it is set already; ErrNotFound when
	// the organization has no such token.
	RevokeToken(id string, at time.Time) (*Token, error)
	// RevokeTokens revokes every token the users issued.
	RevokeTokens(issuers []string, at time.Time) error
}

// ConsoleTx writes console sign-ins: identities bound to users, sessions and sign-in links.
type ConsoleTx interface {
	// IdentityUser returns the user an identity is bound to; ErrNotFound when none.
	IdentityUser(issuer, subject string) (string, error)
	// UsersBySignIn returns the users whose sign-in address is addr, compared
	// case-insensitively.
	UsersBySignIn(addr string) ([]string, error)
	// HasIdentity reports whether an identity of issuer is bound to user.
	HasIdentity(user, issuer string) (bool, error)
	BindIdentity(b Binding) error
	InsertSession(s *Session, hash []byte) error
	// PruneSessions deletes the user's sessions last seen before idleBefore or created before
	// createdBefore: expired ones that were never used again.
	PruneSessions(user string, idleBefore, createdBefore time.Time) error
	// EndSessions deletes every session of users.
	EndSessions(users []string) error
	InsertLink(l *Link, hash []byte) error
	// PruneLinks deletes the user's links used already or expired at now.
	PruneLinks(user string, now time.Time) error
	// LockLink reads a link and locks it until the transaction ends; ErrNotFound when the
	// organization has no such link.
	LockLink(id string) (*StoredLink, error)
	// UseLink records that a link was used.
	UseLink(id string, at time.Time) error
}

// JournalTx records what a change means besides itself: the audit log, notifications and
// webhook events, committed with the change.
type JournalTx interface {
	Audit(entries ...AuditEntry)
	// Recipients reads what notifying users needs.
	Recipients(users []string) ([]Recipient, error)
	// FirstWelcomes records that users were welcomed to products and returns the (user,
	// product) pairs never welcomed before; with known, the caller knows they are all new
	// (a user being created) and nothing is read back.
	FirstWelcomes(welcomes []Welcome, known bool) ([]Welcome, error)
	Notify(notices ...Notice)
	// QueueEvent queues a webhook event for every endpoint of the organization.
	QueueEvent(e Event)
}

// Org is what the rules need to know about an organization.
type Org struct {
	ID              string
	Name            string
	DefaultLocale   string
	VerifiedDomains []string // lower-case
	Products        []string // licensed
	// Notify is the default of notifying users of changes; a request may override it.
	Notify bool
	// NestedGroups allows groups as members of groups.
	NestedGroups bool
}

// GrantInput is what one user's effective grants follow from.
type GrantInput struct {
	UserID    string
	Active    bool
	Direct    grants.Grants
	Effective grants.Grants // as stored now
	// Mapped are the mappings of every group the user is in, directly or nested.
	Mapped []grants.Mapping
}

// Membership is a group a user is directly in, and what it maps to (nil when nothing).
type Membership struct {
	GroupID   string
	GroupName string
	Mapping   *grants.Mapping
}

// Mapping is what a group maps its users to. A nil role maps none: the users
// keep the role they have otherwise.
type Mapping struct {
	GroupID     string    `json:"group_id"`
	GroupName   string    `json:"group_name"`
	OrgRole     *string   `json:"org_role"`
	AccountRole *string   `json:"account_role"`
	Products    []string  `json:"products"`
	Updated     time.Time `json:"updated"`
}

// Grants is the mapping as grants.Effective takes it.
func (m *Mapping) Grants() grants.Mapping {
	g := grants.Mapping{Products: m.Products}
	if m.OrgRole != nil {
		g.OrgRole = *m.OrgRole
	}
	if m.AccountRole != nil {
		g.AccountRole = *m.AccountRole
	}
	return g
}

// Recipient is what notifying a user needs.
type Recipient struct {
	UserID            string
	SignIn            string
	Name              string
	PreferredLanguage string
	Locale            string
}

// AuditEntry is one record of the audit log.
type AuditEntry struct {
	Action       string
	ResourceType string
	ResourceID   string
	// Changes are attribute-level changes, {"attr": {"before": ..., "after": ...}}.
	Changes     any
	TokenID     string
	ActorUserID string
	RequestID   string
}

// Audit actions.
const (
	ActionCreate     = "create"
	ActionUpdate     = "update"
	ActionSuspend    = "suspend"
	ActionReactivate = "reactivate"
	ActionDelete     = "delete"
	ActionGrants     = "grants"
)

// Notice is a notification to queue: one email to one user.
type Notice struct {
	UserID        string
	Kind          string // notify.Kind*
	Data          map[string]any
	Recipient     string
	RecipientName string
	Language      string
}

// Welcome is a user's first grant of a product.
type Welcome struct {
	UserID  string
	Product string
}

// Event is a webhook event, delivered at least once to every endpoint of the organization.
type Event struct {
	ID      string
	Type    string
	Payload json.RawMessage
}

// Purge is what PurgeUser deletes and what it leaves.
type Purge struct {
	UserID    string
	Pseudonym string
	// Who deleted it, for the tombstone.
	TokenID     string
	ActorUserID string
	RequestID   string
}

// Token is a provisioning token as listed: never its secret or hash.
type Token struct {
	ID string `json:"id"`
	// IssuerUserID is the user the token acts as; empty for a service token, which has a Role
	// of its own.
	IssuerUserID string     `json:"issuer_user_id"`
	Role         string     `json:"role"`
	Label        string     `json:"label"`
	Created      time.Time  `json:"created"`
	ExpiresAt    *time.Time `json:"expires_at"`
	RevokedAt    *time.Time `json:"revoked_at"`
}

// StoredToken is what the store holds for a token, with its issuer's current state.
type StoredToken struct {
	Token
	Hash []byte
	// IssuerFound tells whether the issuer still exists; IssuerActive and IssuerRole are
	// their state now.
	IssuerFound  bool
	IssuerActive bool
	IssuerRole   string
}
