package directory

import (
	"reflect"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/notify"
)

// What a change records besides itself: an audit record of every change with its actor, and the
// notification emails the change calls for, queued in the change's transaction.

// Change is one attribute's value before and after a change; nil means unassigned.
type Change struct {
	Before any `json:"before,omitempty"`
	After  any `json:"after,omitempty"`
}

// Secret stands for a secret's value in the audit log, which records that it changed but
// never what it is.
const Secret = "(changed)"

// Diff returns the attributes whose values differ between two documents. Extension attributes
// are keyed "urn:...:attribute". Attributes the server computes (meta, id, schemas, groups, the
// account ID and status) are not changes a request made and are left out.
func Diff(before, after map[string]any) map[string]Change {
	out := map[string]Change{}
	flat := func(doc map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range doc {
			switch k {
			case "id", "meta", "schemas", "groups":
				continue
			}
			if ext, ok := v.(map[string]any); ok && strings.HasPrefix(k, "urn:") {
				for ek, ev := range ext {
					if ek == "accountId" || ek == "status" {
						continue
					}
					m[k+":"+ek] = ev
				}
				continue
			}
			m[k] = v
		}
		return m
	}
	b, a := flat(before), flat(after)
	for k := range mergeKeys(b, a) {
		if !reflect.DeepEqual(b[k], a[k]) {
			out[k] = Change{Before: b[k], After: a[k]}
		}
	}
	return out
}

func mergeKeys(maps ...map[string]any) map[string]bool {
	keys := map[string]bool{}
	for _, m := range maps {
		for k := range m {
			keys[k] = true
		}
	}
	return keys
}

// Notification kinds: a change of products or roles, a suspension, a reactivation, and the
// first grant of a welcomed product.
const (
	KindGrants      = notify.KindGrants
	KindSuspended   = notify.KindSuspended
	KindReactivated = notify.KindReactivated
	KindWelcome     = notify.KindWelcome
)

// welcomed are the products whose first grant to a user sends a welcome, even when
// notifications are suppressed.
var welcomed = []string{"meeting", "webinar", "training", "openvoice"}

// subject is the user whose own write caused grant changes: its audit record is the write's,
// and its activity (a suspension or reactivation) is announced instead of a grants change.
type subject struct {
	user     *User
	activity string
	created  bool
}

// journal records what changes of effective grants mean: an audit record for each user whose
// grants changed through something other than their own write, a notification for each
// (unless the request or the organization suppresses them), the subject's activity, and a
// welcome for every product a user is granted for the first time ever (sent whatever the
// setting says). Mail goes only to a user's sign-in address, and only while its domain is
// verified, in the user's language.
func (s *Service) journal(tx Tx, a Actor, org *Org, changes []GrantChange, sub *subject) error {
	notifying := org.Notify
	if a.Notify != nil {
		notifying = *a.Notify
	}
	var notices []Notice
	var welcomes []Welcome
	onlySubject := true
	if sub != nil && sub.activity != "" && notifying {
		notices = append(notices, Notice{UserID: sub.user.ID, Kind: sub.activity, Data: map[string]any{}})
	}
	for _, c := range changes {
		added, removed := diffProducts(c.Before.Products, c.After.Products)
		for _, p := range added {
			if slices.Contains(welcomed, p) {
				welcomes = append(welcomes, Welcome{UserID: c.UserID, Product: p})
			}
		}
		data := map[string]any{}
		if len(added) > 0 {
			data["products_added"] = added
		}
		if len(removed) > 0 {
			data["products_removed"] = removed
		}
		if c.Before.OrgRole != c.After.OrgRole {
			data["org_role"] = Change{Before: c.Before.OrgRole, After: c.After.OrgRole}
		}
		if c.Before.AccountRole != c.After.AccountRole {
			data["account_role"] = Change{Before: c.Before.AccountRole, After: c.After.AccountRole}
		}
		own := sub != nil && c.UserID == sub.user.ID
		if !own {
			onlySubject = false
			tx.Audit(a.audit(ActionGrants, "User", c.UserID, data))
		}
		if notifying && (!own || sub.activity == "") {
			notices = append(notices, Notice{UserID: c.UserID, Kind: KindGrants, Data: data})
		}
	}
	if len(welcomes) > 0 {
		first, err := tx.FirstWelcomes(welcomes, sub != nil && sub.created && onlySubject)
		if err != nil {
			return err
		}
		for _, w := range first {
			notices = append(notices, Notice{UserID: w.UserID, Kind: KindWelcome, Data: map[string]any{"product": w.Product}})
		}
	}
	return s.address(tx, org, notices, sub)
}

// address gives each notice its recipient and language, drops those for users without a
// sign-in address on a verified domain, and queues the rest.
func (s *Service) address(tx Tx, org *Org, notices []Notice, sub *subject) error {
	if len(notices) == 0 {
		return nil
	}
	recipients := map[string]Recipient{}
	if sub != nil {
		recipients[sub.user.ID] = recipientOf(sub.user)
	}
	var others []string
	for _, n := range notices {
		if _, ok := recipients[n.UserID]; !ok && !slices.Contains(others, n.UserID) {
			others = append(others, n.UserID)
		}
	}
	if len(others) > 0 {
		list, err := tx.Recipients(others)
		if err != nil {
			return err
		}
		for _, r := range list {
			recipients[r.UserID] = r
		}
	}
	var out []Notice
	for _, n := range notices {
		r, ok := recipients[n.UserID]
		if !ok || !org.verified(r.SignIn) {
			continue
		}
		n.Recipient, n.RecipientName = r.SignIn, r.Name
		n.Language = locale.For(r.PreferredLanguage, r.Locale, org.DefaultLocale)
		out = append(out, n)
	}
	if len(out) > 0 {
		tx.Notify(out...)
	}
	return nil
}

// recipientOf is what notifying u needs, from its document.
func recipientOf(u *User) Recipient {
	str := func(v any) string { s, _ := v.(string); return s }
	name := str(u.Doc["displayName"])
	if name == "" {
		n, _ := u.Doc["name"].(map[string]any)
		name = strings.TrimSpace(str(n["givenName"]) + " " + str(n["familyName"]))
	}
	return Recipient{UserID: u.ID, SignIn: u.SignIn, Name: name,
		PreferredLanguage: str(u.Doc["preferredLanguage"]), Locale: str(u.Doc["locale"])}
}

func diffProducts(before, after []string) (added, removed []string) {
	for _, p := range after {
		if !slices.Contains(before, p) {
			added = append(added, p)
		}
	}
	for _, p := range before {
		if !slices.Contains(after, p) {
			removed = append(removed, p)
		}
	}
	return added, removed
}
