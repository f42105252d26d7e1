package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/scimerr"
	"github.com/scimd/scimd/schemas"
)

// The administration commands, "scimd NOUN VERB [flags]": each is a thin shell over
// internal/orgs, the same service the HTTP admin API calls, so rules and error details are
// the same whichever an operator uses. With --json each prints what the admin API answers.

const adminUsage = `usage: scimd NOUN VERB [flags]

administration commands:
  org create   --name NAME [--domain D ...] [--product P ...]   create an organization, print its operator token
  org list     [--limit N] [--cursor C]                         list organizations, oldest first
  org show     --org ID                                         show an organization, its domains and products
  org set      --org ID [--name N] [--default-locale L] [--nested-groups=true|false] [--notify=true|false]
                                                                rename; default locale; allow groups in groups; notify users of changes by default
  org delete   --org ID --yes                                   delete the organization and purge everything of it
  domain add   --org ID --domain D [--verified]                 add a domain, print the DNS TXT record to publish
  domain verify --org ID --domain D [--resolver HOST:PORT]      look the TXT record up and mark the domain verified
  domain list  --org ID
  domain remove --org ID --domain D
  product add|remove --org ID --product P
  product list --org ID
  token create --org ID --role admin|admin-readonly [--label NAME] [--expires DURATION]
                                                                issue a service token, print it once
  token create --org ID --issuer USER_ID [--label NAME] [--expires DURATION]
                                                                issue a token acting as an admin user, print it once
  token list   --org ID
  token revoke --org ID --id TOKEN_ID
  group-mapping set --org ID --group GROUP_ID [--org-role R] [--account-role R] [--products P,P]
                                                                map a group to grants (replacing its mapping)
  group-mapping list --org ID
  group-mapping remove --org ID --group GROUP_ID
  user list    --org ID [--filter F] [--start N] [--count N]    list users (SCIM filter syntax)
  user show    --org ID --id USER_ID
  user suspend|reactivate --org ID --id USER_ID [--notify=false]
                                                                suspend or reactivate a user, as SCIM active=false|true does
  user delete  --org ID --id USER_ID [--notify=false]            delete a user and purge the account's data
  console link --org ID --user USER_ID                          print a single-use console sign-in link (15 minutes) for an admin
  oidc set     --org ID --issuer URL --client-id ID [--client-secret S]
                                                                set the console's OpenID Connect sign-in (secret also from SCIMD_OIDC_CLIENT_SECRET)
  oidc show|remove --org ID                                     show (never the secret) or remove it; show prints the redirect URI to register
  webhook add  --org ID --url URL                               register an endpoint for account.purged events, print its secret once
  webhook list --org ID
  webhook remove --org ID --id WEBHOOK_ID

Each takes --database-url (DATABASE_URL) and --json.`

// adminCommand is one administration command.
type adminCommand struct {
	// flags registers the command's own flags; the returned function runs it.
	flags func(fs *flag.FlagSet, c *adminCtx) func(ctx context.Context, svc *services) error
	// noOrg is set for commands without --org.
	noOrg bool
	// required are the flags that must not be empty, besides --org.
	required []string
	// resolver is set for commands that look up DNS.
	resolver bool
}

var adminCommands = map[string]adminCommand{
	"org create":     {flags: orgCreateCmd, noOrg: true, required: []string{"name"}},
	"org list":       {flags: orgListCmd, noOrg: true},
	"org show":       {flags: orgShowCmd},
	"org delete":     {flags: orgDeleteCmd},
	"domain add":     {flags: domainAddCmd, required: []string{"domain"}},
	"domain verify":  {flags: domainVerifyCmd, required: []string{"domain"}, resolver: true},
	"domain list":    {flags: domainListCmd},
	"domain remove":  {flags: domainRemoveCmd, required: []string{"domain"}},
	"product add":    {flags: productAddCmd, required: []string{"product"}},
	"product list":   {flags: productListCmd},
	"product remove": {flags: productRemoveCmd, required: []string{"product"}},
	"token create":   {flags: tokenCreateCmd},
	"token list":     {flags: tokenListCmd},
	"token revoke":   {flags: tokenRevokeCmd, required: []string{"id"}},

	// Group-to-grant mappings and organization settings (admin_mappings.go).
	"org set":              {flags: orgSetCmd},
	"group-mapping set":    {flags: groupMappingSetCmd, required: []string{"group"}},
	"group-mapping list":   {flags: groupMappingListCmd},
	"group-mapping remove": {flags: groupMappingRemoveCmd, required: []string{"group"}},

	// Users, for support staff (admin_users.go).
	"user list":       {flags: userListCmd},
	"user show":       {flags: userShowCmd, required: []string{"id"}},
	"user suspend":    {flags: userSuspendCmd, required: []string{"id"}},
	"user reactivate": {flags: userReactivateCmd, required: []string{"id"}},
	"user delete":     {flags: userDeleteCmd, required: []string{"id"}},

	// The Organization Center: sign-in links and OpenID Connect settings (admin_console.go).
	"console link": {flags: consoleLinkCmd, required: []string{"user"}},
	"oidc set":     {flags: oidcSetCmd, required: []string{"issuer", "client-id"}},
	"oidc show":    {flags: oidcShowCmd},
	"oidc remove":  {flags: oidcRemoveCmd},

	// Webhook endpoints (admin_webhooks.go).
	"webhook add":    {flags: webhookAddCmd, required: []string{"url"}},
	"webhook list":   {flags: webhookListCmd},
	"webhook remove": {flags: webhookRemoveCmd, required: []string{"id"}},
}

// adminCtx is what every administration command shares.
type adminCtx struct {
	org    string
	asJSON bool
	stdout io.Writer
	getenv func(string) string
}

// print writes v as JSON with --json, else calls text.
func (c *adminCtx) print(v any, text func(w io.Writer)) error {
	if c.asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(c.stdout)
	return nil
}

// runAdmin runs "scimd NOUN VERB [flags]".
func runAdmin(ctx context.Context, noun string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	verb := ""
	if len(args) > 0 {
		verb, args = args[0], args[1:]
	}
	name := noun + " " + verb
	cmd, ok := adminCommands[name]
	if !ok {
		return fmt.Errorf("unknown command %q\n%s", strings.TrimSpace(name), adminUsage)
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	c := &adminCtx{stdout: stdout, getenv: getenv}
	fs.BoolVar(&c.asJSON, "json", false, "print JSON, as the admin API answers")
	if !cmd.noOrg {
		fs.StringVar(&c.org, "org", "", "organization id (required)")
	}
	var resolver *string
	if cmd.resolver {
		resolver = fs.String("resolver", getenv("SCIMD_DNS_RESOLVER"), "DNS server HOST:PORT to ask; default the system resolver (SCIMD_DNS_RESOLVER)")
	}
	fn := cmd.flags(fs, c)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	required := cmd.required
	if !cmd.noOrg {
		required = append([]string{"org"}, required...)
	}
	for _, f := range required {
		if strings.TrimSpace(fs.Lookup(f).Value.String()) == "" {
			return fmt.Errorf("%s: --%s is required", name, f)
		}
	}
	cfg := orgs.Config{}
	if resolver != nil {
		cfg.Resolver = *resolver
	}
	pool, err := openDB(ctx, *dbURL, false)
	if err != nil {
		return err
	}
	defer pool.Close()
	svc := &services{org: c.org}
	if svc.orgs, err = orgs.New(postgres.NewOrgs(pool), cfg); err != nil {
		return err
	}
	if svc.dir, err = newDirectory(pool); err != nil {
		return err
	}
	return fn(ctx, svc)
}

// services are what the administration commands call: the organizations' administration and
// the directory of the organization --org names, acted on as the operator.
type services struct {
	orgs *orgs.Service
	dir  *directory.Service
	org  string
}

// operator is the operator acting in the directory of the organization --org names.
func (s *services) operator() (directory.Actor, error) {
	id, err := uuid.Parse(s.org)
	if err != nil {
		return directory.Actor{}, scimerr.NotFound("there is no organization %q", s.org)
	}
	return directory.Operator(id.String()), nil
}

// newDirectory is the directory over the database of pool.
func newDirectory(pool *pgxpool.Pool) (*directory.Service, error) {
	reg, err := schema.Load(schemas.Files)
	if err != nil {
		return nil, err
	}
	store, err := postgres.NewStore(pool, reg)
	if err != nil {
		return nil, err
	}
	return directory.New(store, reg)
}

// orgService is the organization administration that "scimd serve" gives the admin API.
func orgService(store *postgres.Orgs, resolver string) (*orgs.Service, error) {
	return orgs.New(store, orgs.Config{Resolver: resolver})
}

func orgCreateCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	name := fs.String("name", "", "organization name (required)")
	var domains, products stringList
	fs.Var(&domains, "domain", "verified email domain (repeatable)")
	fs.Var(&products, "product", "licensed product (repeatable; default: "+strings.Join(orgs.DefaultProducts, ", ")+")")
	return func(ctx context.Context, svc *services) error {
		o, err := svc.orgs.CreateOrg(ctx, orgs.CreateOrgInput{Name: *name, Domains: domains, Products: products})
		if err != nil {
			return err
		}
		// The JSON output predates the admin API and stays as it is.
		return c.print(map[string]string{"org_id": o.ID, "token": o.Token}, func(w io.Writer) {
			fmt.Fprintf(w, "organization %s created\ntoken (shown once): %s\n", o.ID, o.Token)
		})
	}
}

func orgShowCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		o, err := svc.orgs.GetOrg(ctx, c.org)
		if err != nil {
			return err
		}
		return c.print(o, func(w io.Writer) {
			fmt.Fprintf(w, "organization %s\nname: %s\ndefault locale: %s\ncreated: %s\nproducts: %s\ndomains:\n",
				o.ID, o.Name, o.DefaultLocale, o.Created.Format(time.RFC3339), strings.Join(o.Products, ", "))
			printDomains(w, o.Domains)
		})
	}
}

func printDomains(w io.Writer, ds []orgs.Domain) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  DOMAIN\tVERIFIED\tTXT RECORD")
	for _, d := range ds {
		verified, txt := "no", "-"
		if d.Verified {
			verified = d.VerifiedAt.Format(time.RFC3339)
		}
		if d.TXT != nil && !d.Verified {
			txt = d.TXT.Name + ` "` + d.TXT.Value + `"`
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", d.Domain, verified, txt)
	}
	tw.Flush()
}

func domainAddCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	domain := fs.String("domain", "", "email domain (required)")
	verified := fs.Bool("verified", false, "mark the domain verified without a DNS check (the operator vouches for it)")
	return func(ctx context.Context, svc *services) error {
		d, _, err := svc.orgs.AddDomain(ctx, c.org, *domain, *verified)
		if err != nil {
			return err
		}
		return c.print(d, func(w io.Writer) {
			if d.Verified {
				fmt.Fprintf(w, "domain %s of organization %s is verified\n", d.Domain, c.org)
				return
			}
			fmt.Fprintf(w, "domain %s added to organization %s, not verified yet.\n"+
				"Publish this DNS TXT record, then run: scimd domain verify --org %s --domain %s\n"+
				"  name:  %s\n  value: %s\n", d.Domain, c.org, c.org, d.Domain, d.TXT.Name, d.TXT.Value)
		})
	}
}

func domainVerifyCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	domain := fs.String("domain", "", "email domain (required)")
	return func(ctx context.Context, svc *services) error {
		d, err := svc.orgs.VerifyDomain(ctx, c.org, *domain)
		if err != nil {
			return err
		}
		return c.print(d, func(w io.Writer) {
			fmt.Fprintf(w, "domain %s of organization %s is verified (since %s)\n", d.Domain, c.org, d.VerifiedAt.Format(time.RFC3339))
		})
	}
}

func domainListCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		ds, err := svc.orgs.ListDomains(ctx, c.org)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"domains": ds}, func(w io.Writer) { printDomains(w, ds) })
	}
}

func domainRemoveCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	domain := fs.String("domain", "", "email domain (required)")
	return func(ctx context.Context, svc *services) error {
		if err := svc.orgs.RemoveDomain(ctx, c.org, *domain); err != nil {
			return err
		}
		name, _ := orgs.NormalizeDomain(*domain)
		return c.print(map[string]any{"domain": name, "removed": true}, func(w io.Writer) {
			fmt.Fprintf(w, "domain %s removed from organization %s\n", name, c.org)
		})
	}
}

func productAddCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	product := fs.String("product", "", "product name (required)")
	return func(ctx context.Context, svc *services) error {
		if err := svc.orgs.AddProduct(ctx, c.org, *product); err != nil {
			return err
		}
		return c.print(map[string]string{"product": *product}, func(w io.Writer) {
			fmt.Fprintf(w, "organization %s now licenses %s\n", c.org, *product)
		})
	}
}

func productListCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		ps, err := svc.orgs.ListProducts(ctx, c.org)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"products": ps}, func(w io.Writer) {
			for _, p := range ps {
				fmt.Fprintln(w, p)
			}
		})
	}
}

func productRemoveCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	product := fs.String("product", "", "product name (required)")
	return func(ctx context.Context, svc *services) error {
		if err := svc.orgs.RemoveProduct(ctx, c.org, *product); err != nil {
			return err
		}
		return c.print(map[string]any{"product": *product, "removed": true}, func(w io.Writer) {
			fmt.Fprintf(w, "organization %s no longer licenses %s\n", c.org, *product)
		})
	}
}

func tokenCreateCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	var in directory.TokenInput
	fs.StringVar(&in.Role, "role", "", "role of a service token, not tied to a person: admin or admin-readonly")
	fs.StringVar(&in.Label, "label", "", "label that tells the token apart in lists, e.g. \"Entra ID provisioning\"")
	fs.StringVar(&in.IssuerUserID, "issuer", "", "instead of --role: id of the user the token acts as, an active admin or admin-readonly user")
	fs.DurationVar(&in.ExpiresIn, "expires", 0, "lifetime, e.g. 720h; default: the token does not expire")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		t, err := svc.dir.CreateToken(ctx, a, in, time.Now())
		if err != nil {
			return err
		}
		return c.print(t, func(w io.Writer) {
			what := "service token " + t.ID
			if t.Label != "" {
				what += fmt.Sprintf(" %q", t.Label)
			}
			if t.IssuerUserID != "" {
				what = strings.Replace(what, "service token", "token", 1) + " issued by " + t.IssuerUserID
			} else {
				what += " with role " + t.Role
			}
			fmt.Fprintf(w, "%s, expires %s\ntoken (shown once): %s\n", what, timeOr(t.ExpiresAt, "never"), t.Value)
		})
	}
}

func timeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}

func tokenListCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		ts, err := svc.dir.ListTokens(ctx, a)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"tokens": ts}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tLABEL\tACTS AS\tCREATED\tEXPIRES\tREVOKED")
			for _, t := range ts {
				actsAs := "role " + t.Role
				if t.IssuerUserID != "" {
					actsAs = "user " + t.IssuerUserID
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Label, actsAs, t.Created.Format(time.RFC3339),
					timeOr(t.ExpiresAt, "never"), timeOr(t.RevokedAt, "-"))
			}
			tw.Flush()
		})
	}
}

func tokenRevokeCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	id := fs.String("id", "", "token id (required)")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		t, err := svc.dir.RevokeToken(ctx, a, *id, time.Now())
		if err != nil {
			return err
		}
		return c.print(t, func(w io.Writer) {
			fmt.Fprintf(w, "token %s revoked at %s\n", t.ID, timeOr(t.RevokedAt, "-"))
		})
	}
}

// minAdminTokenLen is the shortest admin token "scimd serve" accepts.
const minAdminTokenLen = 16
