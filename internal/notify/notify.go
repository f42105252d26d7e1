// Package notify delivers the notification emails that provisioning queues: a change of a
// user's products or roles, a suspension, a reactivation, and the welcome to a product. The
// provisioning transaction inserts a row into the notifications table (a transactional
// outbox); a Worker claims due rows, renders each in the user's language from the templates
// in templates/, sends it over SMTP and marks it sent, or records the failure and retries it
// later with exponential backoff. A notification is never dropped: it stays queued until a
// send succeeds.
//
// Delivery is at-least-once. A worker holds the row lock of the notifications it claimed while
// it sends them and commits their sent mark after the SMTP server accepted them, so several
// workers, in one process or many, never send the same notification twice while the database
// and the worker stay up. If the worker's process or its database connection dies after the
// SMTP server accepted a message and before the sent mark commits, the lock is released with
// the mark undone and the notification is sent again. SMTP offers no way to close that window:
// the server's acceptance and the database commit cannot be made one atomic step, and
// marking before sending would turn the same crash into a lost email. The Message-ID of every
// attempt is the same (derived from the notification's id), so a receiving system can tell a
// resend from a new message.
package notify

import (
	"context"
	"encoding/json"
	"time"
)

// Kinds of notification (the CHECK on notifications.kind).
const (
	KindGrants      = "grants"
	KindSuspended   = "suspended"
	KindReactivated = "reactivated"
	KindWelcome     = "welcome"
)

// Kinds lists every kind of notification.
var Kinds = []string{KindGrants, KindSuspended, KindReactivated, KindWelcome}

// Notification is one queued notification as a worker claims it.
type Notification struct {
	OrgID string
	ID    string
	// OrgName is the organization's name, for the text.
	OrgName string
	UserID  string
	// Recipient is the email address the notification goes to; RecipientName the user's name
	// for the greeting and the To header ("" when unknown).
	Recipient     string
	RecipientName string
	// Language is the language to write in, one of locale.Languages() (locale.For chooses it);
	// a notification in another one is written in locale.Default.
	Language string
	Kind     string
	// Data is what changed, as JSON; see Data.
	Data json.RawMessage
	// Attempts counts the sends tried so far.
	Attempts  int
	CreatedAt time.Time
}

// Data is the notifications.data a producer writes, by kind:
//
//	grants:      {"products_added": ["meeting"], "products_removed": ["webinar"],
//	              "org_role": {"before": "user", "after": "admin"},
//	              "account_role": {"before": "member", "after": "admin"}}
//	             (every key optional; a role appears only when it changed)
//	suspended:   {} (the grants keys may be added; the text then lists them)
//	reactivated: {} (likewise)
//	welcome:     {"product": "meeting"}
type Data struct {
	ProductsAdded   []string    `json:"products_added"`
	ProductsRemoved []string    `json:"products_removed"`
	OrgRole         *RoleChange `json:"org_role"`
	AccountRole     *RoleChange `json:"account_role"`
	Product         string      `json:"product"`
}

// RoleChange is a role before and after a change.
type RoleChange struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// Queue is the notifications table as workers use it.
type Queue interface {
	// Claim begins a transaction and locks up to limit due notifications (not sent, next
	// attempt due), oldest due first, skipping those other workers hold. The batch holds the
	// locks until Commit or Rollback.
	Claim(ctx context.Context, limit int) (Batch, error)
}

// Batch is a set of claimed notifications and the transaction that locks them.
type Batch interface {
	Items() []Notification
	// Sent marks a notification sent.
	Sent(ctx context.Context, n *Notification) error
	// Failed counts a failed attempt, records lastError (free of personal data) and makes
	// the notification due again after retryIn.
	Failed(ctx context.Context, n *Notification, lastError string, retryIn time.Duration) error
	// Commit stores the marks and releases the locks.
	Commit(ctx context.Context) error
	// Rollback undoes the marks and releases the locks; after Commit it does nothing.
	Rollback(ctx context.Context) error
}
