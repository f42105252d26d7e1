package directory

import (
	"context"
	"slices"
	"strings"

	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/locale"
	"github.com/scimd/scimd/internal/scimerr"
)

// Actor is who makes a request: the organization its token belongs to and, for a token an admin
// user issued, that user (empty for the organization's operator token).
type Actor struct {
	Org      string
	IssuerID string
}

// Org is what the provisioning rules need to know about an organization.
type Org struct {
	DefaultLocale   string
	VerifiedDomains []string // lower-case
	Products        []string // licensed
}

// OrgStore reads organizations.
type OrgStore interface {
	Org(ctx context.Context, id string) (*Org, error)
}

func forbidden(format string, args ...any) error {
	return scimerr.New(scimerr.KindForbidden, "", format, args...)
}

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

// addressedBy is what the verified-domain rule looks at.
func addressedBy(doc map[string]any) [2]any {
	return [2]any{doc["userName"], doc["emails"]}
}

// checkDomains enforces that userName, when it is an email address, and the primary (else first
// work) email are on verified domains. It runs only when they change, so that a domain losing
// its verification does not block unrelated changes such as a suspension.
func checkDomains(org *Org, doc map[string]any) error {
	check := func(what, addr string) error {
		at := strings.LastIndexByte(addr, '@')
		if at < 0 {
			return nil
		}
		domain := strings.ToLower(strings.TrimSpace(addr[at+1:]))
		if slices.Contains(org.VerifiedDomains, domain) {
			return nil
		}
		verified := "none"
		if len(org.VerifiedDomains) > 0 {
			verified = strings.Join(org.VerifiedDomains, ", ")
		}
		return scimerr.Invalid(scimerr.InvalidValue,
			"%s is on domain %q, which is not a verified domain of this organization (verified: %s)", what, domain, verified)
	}
	if name, ok := doc["userName"].(string); ok {
		if err := check("userName", name); err != nil {
			return err
		}
	}
	if email := mainEmail(doc); email != "" {
		return check("the primary email", email)
	}
	return nil
}

// mainEmail is the primary email, else the first work email.
func mainEmail(doc map[string]any) string {
	list, _ := doc["emails"].([]any)
	var work string
	for _, e := range list {
		m, _ := e.(map[string]any)
		v, _ := m["value"].(string)
		if m["primary"] == true {
			return v
		}
		if t, _ := m["type"].(string); work == "" && strings.EqualFold(t, "work") {
			work = v
		}
	}
	return work
}

// checkSelf refuses the changes an admin may not make to their own user: their roles and their
// suspension.
func checkSelf(prev, doc map[string]any) error {
	if prev["active"] != false && doc["active"] == false {
		return forbidden("you cannot suspend yourself: the token you use was issued by this user")
	}
	was, is := grants.FromExtension(prev), grants.FromExtension(doc)
	if was.OrgRole != is.OrgRole || was.AccountRole != is.AccountRole {
		return forbidden("you cannot change your own orgRole or accountRole: the token you use was issued by this user")
	}
	return nil
}
