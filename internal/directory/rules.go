package directory

import (
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
)

// checkLocales canonicalises locale and preferredLanguage, and gives a user without a locale
// the organization's default.
func checkLocales(org *Org, doc map[string]any) error {
	for _, attr := range []string{"locale", "preferredLanguage"} {
		v, ok := doc[attr].(string)
		if !ok {
			continue
		}
		c, err := locale.Canonical(attr, v)
		if err != nil {
			return err
		}
		doc[attr] = c
	}
	if _, ok := doc["locale"]; !ok {
		doc["locale"] = org.DefaultLocale
	}
	return nil
}

// addressedBy is what the sign-in address follows from.
func addressedBy(doc map[string]any) [2]any {
	return [2]any{doc["userName"], doc["emails"]}
}

// SignInAddress is a user's sign-in address: userName when it is an email
// address, else the primary email, else the first work email, else the first email; "" when
// the user has none. It is the only address scimd sends mail to, and the one the console
// matches a signed-in person by.
func SignInAddress(doc map[string]any) string {
	addr, _ := signIn(doc)
	return addr
}

// signIn is SignInAddress with the attribute it comes from, for error details.
func signIn(doc map[string]any) (addr, from string) {
	if name, _ := doc["userName"].(string); strings.Contains(name, "@") {
		return strings.TrimSpace(name), "userName"
	}
	list, _ := doc["emails"].([]any)
	var first, work string
	for _, e := range list {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if !strings.Contains(v, "@") {
			continue
		}
		v = strings.TrimSpace(v)
		if m["primary"] == true {
			return v, "the primary email"
		}
		if t, _ := m["type"].(string); work == "" && strings.EqualFold(t, "work") {
			work = v
		}
		if first == "" {
			first = v
		}
	}
	if work != "" {
		return work, "the first work email"
	}
	return first, "the first email"
}

// domainOf is the lower-cased domain of an email address.
func domainOf(addr string) string {
	return strings.ToLower(strings.TrimSpace(addr[strings.LastIndexByte(addr, '@')+1:]))
}

// verified reports whether an address is on one of the organization's verified domains.
func (o *Org) verified(addr string) bool {
	return addr != "" && slices.Contains(o.VerifiedDomains, domainOf(addr))
}

// checkSignIn enforces that the sign-in address, the only address mail goes to, is on a
// verified domain (a subdomain is another domain unless verified itself). Other addresses may
// be stored. It runs only when userName or emails change, so that a domain losing its
// verification does not block unrelated changes such as a suspension.
func checkSignIn(org *Org, doc map[string]any) error {
	addr, from := signIn(doc)
	if addr == "" || org.verified(addr) {
		return nil
	}
	verified := "none"
	if len(org.VerifiedDomains) > 0 {
		verified = strings.Join(org.VerifiedDomains, ", ")
	}
	attr := "emails"
	if from == "userName" {
		attr = "userName"
	}
	return scimerr.Invalid(scimerr.InvalidValue,
		"%s %q is the user's sign-in address and is on domain %q, which is not a verified domain of this organization (verified: %s)",
		from, addr, domainOf(addr), verified).On(attr)
}

// checkManager canonicalises the enterprise manager: an empty value (Entra's {"value": ""})
// clears it; otherwise it must name a user of the organization by id, stored lower-case. Its
// $ref and displayName are derived on reads, never kept from a client.
func (s *Service) checkManager(tx Tx, doc, prev map[string]any) error {
	ent, _ := doc[schema.EnterpriseUserURN].(map[string]any)
	m, ok := ent["manager"].(map[string]any)
	if !ok {
		return nil
	}
	v, _ := m["value"].(string)
	if strings.TrimSpace(v) == "" {
		delete(ent, "manager")
		if len(ent) == 0 {
			delete(doc, schema.EnterpriseUserURN)
		}
		return nil
	}
	id, ok := canonicalID(strings.TrimSpace(v))
	if !ok {
		return scimerr.Invalid(scimerr.InvalidValue, "manager %q is not a user id: the manager's value is the id of a User of this organization", v)
	}
	ent["manager"] = map[string]any{"value": id}
	if was, _ := s.manager.Get(prev).(map[string]any); was != nil && was["value"] == id {
		return nil
	}
	found, err := tx.ExistingUsers([]string{id})
	if err != nil {
		return err
	}
	if len(found) == 0 {
		return scimerr.Invalid(scimerr.InvalidValue, "manager %q is not a User of this organization", v)
	}
	return nil
}
