// Package orgs is the organizations' own administration: creating organizations, their
// verified email domains (DNS TXT challenge), their licensed products, settings, webhook
// endpoints, product data and the audit log. What happens inside an organization's directory
// (users, groups, grants, group mappings, tokens) is decided by internal/directory. The command
// line (cmd/scimd) and the HTTP admin API (internal/server) both call this one Service, so the
// rules and the error details are the same whichever interface an operator uses.
//
// Every error a caller should see is a *scimerr.Error: KindInvalid for input that is wrong,
// KindNotFound for an organization, domain, product or token that does not exist (or belongs
// to another organization), KindConflict for a request the stored state refuses, and
// KindUnavailable when the DNS server cannot be asked.
package orgs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/scimd/scimd/internal/auth"
	"github.com/scimd/scimd/internal/scimerr"
)

// DefaultProducts are licensed to an organization created without a list of products.
var DefaultProducts = []string{"meeting", "webinar", "training", "openvoice", "connect"}

// DefaultLocale is a new organization's default locale.
const DefaultLocale = "en-US"

// ChallengePrefix is the label prepended to a domain to name its verification TXT record, and
// ChallengeValuePrefix starts the value published there.
const (
	ChallengePrefix      = "_scimd-challenge."
	ChallengeValuePrefix = "scimd-verify="
)

// Org is an organization as the admin interface shows it.
type Org struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	DefaultLocale string    `json:"default_locale"`
	Created       time.Time `json:"created"`
	Domains       []Domain  `json:"domains"`
	Products      []string  `json:"products"`
}

// CreatedOrg is a new organization with its operator token, shown once.
type CreatedOrg struct {
	Org
	Token string `json:"token"`
}

// Domain is one of an organization's email domains.
type Domain struct {
	Domain     string     `json:"domain"`
	Verified   bool       `json:"verified"`
	VerifiedAt *time.Time `json:"verified_at"`
	// TXT is the record to publish for DNS verification; nil for a domain an operator marked
	// verified without a challenge.
	TXT     *TXTRecord `json:"txt_record,omitempty"`
	Created time.Time  `json:"created"`
}

// TXTRecord is a DNS TXT record: its owner name and value.
type TXTRecord struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// NewOrg is what a store needs to create an organization.
type NewOrg struct {
	ID            string
	Name          string
	DefaultLocale string
	// Domains are created verified.
	Domains  []string
	Products []string
	// Operator is the organization's operator token (no issuing user).
	Operator auth.Issued
}

// Errors a Store returns; the Service turns them into client-facing *scimerr.Error values.
var (
	// ErrNoOrg: the organization does not exist.
	ErrNoOrg = errors.New("organization not found")
	// ErrNotFound: the domain, product or token named does not exist in the organization.
	ErrNotFound = errors.New("not found")
	// ErrExists: the domain or product is already there.
	ErrExists = errors.New("already exists")
)

// InUseError is a Store's refusal to remove a product still granted to users.
type InUseError struct {
	Users int
}

func (e *InUseError) Error() string { return fmt.Sprintf("granted to %d users", e.Users) }

// Store persists organizations. Every method that takes an organization id answers ErrNoOrg
// when it does not exist, and never reads or changes anything of another organization.
type Store interface {
	InsertOrg(ctx context.Context, o NewOrg) error
	GetOrg(ctx context.Context, org string) (*Org, error)
	// ListOrgs returns up to limit organizations after the cursor (all from the first when
	// nil), oldest first.
	ListOrgs(ctx context.Context, after *OrgCursor, limit int) ([]OrgSummary, error)
	// UpdateOrg stores what ch changes.
	UpdateOrg(ctx context.Context, org string, ch OrgChange) error
	// DeleteOrg purges the organization, leaving a tombstone and p's event queued to each
	// endpoint it had.
	DeleteOrg(ctx context.Context, org string, p OrgPurge) error

	ListDomains(ctx context.Context, org string) ([]Domain, error)
	GetDomain(ctx context.Context, org, domain string) (*Domain, error)
	// InsertDomain answers ErrExists when the organization has the domain already.
	InsertDomain(ctx context.Context, org string, d Domain) error
	// MarkDomainVerified sets verified_at to at unless it is set already.
	MarkDomainVerified(ctx context.Context, org, domain string, at time.Time) (*Domain, error)
	DeleteDomain(ctx context.Context, org, domain string) error

	ListProducts(ctx context.Context, org string) ([]string, error)
	InsertProduct(ctx context.Context, org, product string) error
	// DeleteProduct answers *InUseError while the product is granted.
	DeleteProduct(ctx context.Context, org, product string) error

	// Settings reads the organization's settings; SetNotify stores the notification default.
	Settings(ctx context.Context, org string) (Settings, error)
	SetNotify(ctx context.Context, org string, notify bool) error
	// ListAudit returns at most q.Limit records matching q, newest first (by time, then id).
	ListAudit(ctx context.Context, org string, q AuditQuery) ([]AuditEntry, error)

	// Webhook endpoints (webhooks.go). InsertWebhook answers *WebhookExistsError when the
	// organization has an endpoint with the URL already; DeleteWebhook answers ErrNotFound
	// for an id not of the organization.
	InsertWebhook(ctx context.Context, org string, w Webhook, secret string) (*Webhook, error)
	ListWebhooks(ctx context.Context, org string) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, org, id string) error

	// Product data (productdata.go). Each answers ErrNotFound when the user is not one of the
	// organization's.
	InsertMeeting(ctx context.Context, org string, m Meeting) (*Meeting, error)
	InsertScheduledMeeting(ctx context.Context, org string, m ScheduledMeeting) (*ScheduledMeeting, error)
	InsertProductRecord(ctx context.Context, org string, r ProductRecord) (*ProductRecord, error)
	// ListProductData returns up to limit items of the user after cursor, by At then id,
	// descending.
	ListProductData(ctx context.Context, org, user string, cursor ProductDataCursor, limit int) ([]ProductData, error)

	// OpenID Connect settings for the console's sign-in (oidc.go).
	OIDCStore
}

// Config configures a Service.
type Config struct {
	// Resolver is the DNS server (host:port) asked for verification TXT records; empty means
	// the system resolver.
	Resolver string
	// DNSTimeout bounds one verification lookup; 0 means 10 seconds.
	DNSTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service is organization administration over a Store.
type Service struct {
	store      Store
	resolver   *net.Resolver
	dnsTimeout time.Duration
	now        func() time.Time
}

// New returns the service over store. It fails only on a malformed resolver address.
func New(store Store, cfg Config) (*Service, error) {
	s := &Service{store: store, resolver: net.DefaultResolver, dnsTimeout: cfg.DNSTimeout, now: cfg.Now}
	if s.dnsTimeout <= 0 {
		s.dnsTimeout = 10 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.Resolver != "" {
		host, port, err := net.SplitHostPort(cfg.Resolver)
		if err != nil || host == "" || port == "" {
			return nil, fmt.Errorf("DNS resolver %q: want HOST:PORT", cfg.Resolver)
		}
		addr := cfg.Resolver
		s.resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		}
	}
	return s, nil
}

// CreateOrgInput describes a new organization.
type CreateOrgInput struct {
	Name string `json:"name"`
	// Domains are verified at once: the operator vouches for them.
	Domains []string `json:"domains"`
	// Products are licensed; DefaultProducts when empty.
	Products []string `json:"products"`
}

// CreateOrg creates an organization with its verified domains and licensed products, and
// issues its operator token.
func (s *Service) CreateOrg(ctx context.Context, in CreateOrgInput) (*CreatedOrg, error) {
	name, err := checkName(in.Name)
	if err != nil {
		return nil, err
	}
	domains, err := normalizeAll(in.Domains, NormalizeDomain)
	if err != nil {
		return nil, err
	}
	products := DefaultProducts
	if len(in.Products) > 0 {
		if products, err = normalizeAll(in.Products, NormalizeProduct); err != nil {
			return nil, err
		}
	}
	id := uuid.NewString()
	tok, err := auth.Generate(id)
	if err != nil {
		return nil, err
	}
	if err := s.store.InsertOrg(ctx, NewOrg{ID: id, Name: name, DefaultLocale: DefaultLocale,
		Domains: domains, Products: products, Operator: tok}); err != nil {
		return nil, err
	}
	o, err := s.store.GetOrg(ctx, id)
	if err != nil {
		return nil, err
	}
	return &CreatedOrg{Org: *o, Token: tok.Token}, nil
}

// normalizeAll normalizes every value and drops duplicates, keeping the first occurrence's
// place.
func normalizeAll(in []string, norm func(string) (string, error)) ([]string, error) {
	out := []string{}
	for _, v := range in {
		n, err := norm(v)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// GetOrg returns an organization with its domains and products.
func (s *Service) GetOrg(ctx context.Context, org string) (*Org, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	o, err := s.store.GetOrg(ctx, org)
	return o, s.orgErr(err, org)
}

// canonOrg returns an organization id in its canonical form; an id that is not a UUID names no
// organization.
func canonOrg(org string) (string, error) {
	id, err := uuid.Parse(org)
	if err != nil {
		return "", orgNotFound(org)
	}
	return id.String(), nil
}

func orgNotFound(org string) error {
	return scimerr.NotFound("there is no organization %q", org)
}

// orgErr turns ErrNoOrg into the client-facing not-found error.
func (s *Service) orgErr(err error, org string) error {
	if errors.Is(err, ErrNoOrg) {
		return orgNotFound(org)
	}
	return err
}

var domainLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// NormalizeDomain lowercases and checks an email domain: ASCII labels of letters, digits and
// hyphens (internationalized names in their xn-- form), at least two of them, at most 253
// characters, and a top-level label that is not all digits.
func NormalizeDomain(d string) (string, error) {
	in := d
	d = strings.ToLower(strings.TrimSpace(d))
	switch {
	case d == "":
		return "", scimerr.Invalid("", "a domain is required")
	case strings.Contains(d, "@"):
		return "", scimerr.Invalid("", "%q is not a domain: give the part after the @ of an email address", in)
	case strings.ContainsFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return "", scimerr.Invalid("", "%q is not a domain: it contains spaces or control characters", in)
	case strings.ContainsFunc(d, func(r rune) bool { return r > 0x7f }):
		return "", scimerr.Invalid("", "%q is not a domain: write internationalized names in their ASCII (xn--) form", in)
	case len(d) > 253:
		return "", scimerr.Invalid("", "%q is not a domain: it is longer than 253 characters", in)
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return "", scimerr.Invalid("", "%q is not a domain: it needs at least two labels, like example.com", in)
	}
	for _, l := range labels {
		if !domainLabel.MatchString(l) {
			return "", scimerr.Invalid("", "%q is not a domain: each dot-separated label must be 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen", in)
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", scimerr.Invalid("", "%q is not a domain: its last label is a number (IP addresses are not domains)", in)
	}
	return d, nil
}

var productName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// NormalizeProduct checks a product name: a lowercase letter, then up to 62 lowercase letters,
// digits or hyphens (the CHECK on org_products.product).
func NormalizeProduct(p string) (string, error) {
	if !productName.MatchString(p) {
		return "", scimerr.Invalid("", "%q is not a product name: it must be a lowercase letter followed by up to 62 lowercase letters, digits or hyphens", p)
	}
	return p, nil
}

// Challenge is the TXT record name that verifies domain.
func Challenge(domain string) string { return ChallengePrefix + domain }

// AddDomain adds a domain to an organization. Unless verified is set (an operator vouching for
// it), the domain starts unverified and the result carries the TXT record to publish. Adding
// with verified a domain that is there unverified marks it verified; anything else already
// there is a conflict. created tells whether the domain is new.
func (s *Service) AddDomain(ctx context.Context, org, domain string, verified bool) (d *Domain, created bool, err error) {
	org, err = canonOrg(org)
	if err != nil {
		return nil, false, err
	}
	name, err := NormalizeDomain(domain)
	if err != nil {
		return nil, false, err
	}
	nd := Domain{Domain: name}
	if verified {
		at := s.now()
		nd.Verified, nd.VerifiedAt = true, &at
	} else {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, false, err
		}
		nd.TXT = &TXTRecord{Name: Challenge(name), Value: ChallengeValuePrefix + hex.EncodeToString(b)}
	}
	err = s.store.InsertDomain(ctx, org, nd)
	if errors.Is(err, ErrExists) {
		old, gerr := s.store.GetDomain(ctx, org, name)
		if gerr != nil {
			return nil, false, s.domainErr(gerr, org, name)
		}
		switch {
		case old.Verified:
			return nil, false, scimerr.New(scimerr.KindConflict, "",
				"the domain %s is already verified for organization %s", name, org)
		case verified:
			d, err := s.store.MarkDomainVerified(ctx, org, name, s.now())
			return d, false, s.domainErr(err, org, name)
		default:
			return nil, false, scimerr.New(scimerr.KindConflict, "",
				"the domain %s is already added to organization %s and not verified yet: publish the TXT record %s with the value %q, then verify it",
				name, org, old.txtName(), old.txtValue())
		}
	}
	if err != nil {
		return nil, false, s.orgErr(err, org)
	}
	d, err = s.store.GetDomain(ctx, org, name)
	return d, true, s.domainErr(err, org, name)
}

func (d *Domain) txtName() string {
	if d.TXT == nil {
		return Challenge(d.Domain)
	}
	return d.TXT.Name
}

func (d *Domain) txtValue() string {
	if d.TXT == nil {
		return ""
	}
	return d.TXT.Value
}

func (s *Service) domainErr(err error, org, domain string) error {
	if errors.Is(err, ErrNotFound) {
		return scimerr.NotFound("organization %s has no domain %s", org, domain)
	}
	return s.orgErr(err, org)
}

// ListDomains lists an organization's domains by name.
func (s *Service) ListDomains(ctx context.Context, org string) ([]Domain, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	ds, err := s.store.ListDomains(ctx, org)
	return ds, s.orgErr(err, org)
}

// lookupName normalizes a domain named in a request for a lookup: a malformed name cannot be
// stored, so it is simply not found.
func lookupName(org, domain string) (string, error) {
	name, err := NormalizeDomain(domain)
	if err != nil {
		return "", scimerr.NotFound("organization %s has no domain %q", org, domain)
	}
	return name, nil
}

// VerifyDomain looks up the domain's TXT record and marks the domain verified when one of the
// values found is exactly the one the organization was given. A domain verified already is
// returned as it is, without a lookup.
func (s *Service) VerifyDomain(ctx context.Context, org, domain string) (*Domain, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	name, err := lookupName(org, domain)
	if err != nil {
		return nil, err
	}
	d, err := s.store.GetDomain(ctx, org, name)
	if err != nil {
		return nil, s.domainErr(err, org, name)
	}
	if d.Verified {
		return d, nil
	}
	if d.TXT == nil || d.TXT.Value == "" {
		return nil, scimerr.New(scimerr.KindConflict, "",
			"the domain %s has no verification value; remove it and add it again", name)
	}
	lctx, cancel := context.WithTimeout(ctx, s.dnsTimeout)
	defer cancel()
	values, err := s.resolver.LookupTXT(lctx, d.TXT.Name+".")
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return nil, scimerr.New(scimerr.KindConflict, "",
			"the domain %s is not verified: DNS has no TXT record at %s (the name does not exist or has no TXT record); publish a TXT record there with the value %q and verify again",
			name, d.TXT.Name, d.TXT.Value)
	case err != nil:
		return nil, scimerr.New(scimerr.KindUnavailable, "",
			"the domain %s could not be verified: looking up the TXT record at %s failed: %v", name, d.TXT.Name, err)
	}
	if !slices.Contains(values, d.TXT.Value) {
		quoted := make([]string, len(values))
		for i, v := range values {
			quoted[i] = fmt.Sprintf("%q", v)
		}
		found := "no TXT value"
		if len(values) > 0 {
			found = "the TXT values " + strings.Join(quoted, ", ")
		}
		return nil, scimerr.New(scimerr.KindConflict, "",
			"the domain %s is not verified: DNS has %s at %s, not the expected %q",
			name, found, d.TXT.Name, d.TXT.Value)
	}
	d, err = s.store.MarkDomainVerified(ctx, org, name, s.now())
	return d, s.domainErr(err, org, name)
}

// RemoveDomain removes a domain from an organization. Users already on it stay; new writes
// can no longer use it.
func (s *Service) RemoveDomain(ctx context.Context, org, domain string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	name, err := lookupName(org, domain)
	if err != nil {
		return err
	}
	return s.domainErr(s.store.DeleteDomain(ctx, org, name), org, name)
}

// ListProducts lists an organization's licensed products by name.
func (s *Service) ListProducts(ctx context.Context, org string) ([]string, error) {
	org, err := canonOrg(org)
	if err != nil {
		return nil, err
	}
	ps, err := s.store.ListProducts(ctx, org)
	return ps, s.orgErr(err, org)
}

// AddProduct licenses a product to an organization.
func (s *Service) AddProduct(ctx context.Context, org, product string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	p, err := NormalizeProduct(product)
	if err != nil {
		return err
	}
	err = s.store.InsertProduct(ctx, org, p)
	if errors.Is(err, ErrExists) {
		return scimerr.New(scimerr.KindConflict, "", "organization %s already licenses the product %s", org, p)
	}
	return s.orgErr(err, org)
}

// RemoveProduct withdraws a licensed product; it is refused while the product is granted.
func (s *Service) RemoveProduct(ctx context.Context, org, product string) error {
	org, err := canonOrg(org)
	if err != nil {
		return err
	}
	if _, err := NormalizeProduct(product); err != nil {
		return scimerr.NotFound("organization %s does not license a product %q", org, product)
	}
	err = s.store.DeleteProduct(ctx, org, product)
	var inUse *InUseError
	switch {
	case errors.Is(err, ErrNotFound):
		return scimerr.NotFound("organization %s does not license a product %q", org, product)
	case errors.As(err, &inUse) && inUse.Users > 0:
		return scimerr.New(scimerr.KindConflict, "",
			"the product %s is still granted to %d users of organization %s; remove it from them first", product, inUse.Users, org)
	case errors.As(err, &inUse):
		return scimerr.New(scimerr.KindConflict, "",
			"the product %s is still granted in organization %s (to users or through groups); remove those grants first", product, org)
	}
	return s.orgErr(err, org)
}
