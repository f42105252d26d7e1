package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/scimd/scimd/internal/console"
	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
	"github.com/scimd/scimd/internal/scimerr"
)

// The Organization Center's administration: single-use sign-in links for first setup and
// break-glass, and each organization's OpenID Connect settings. Links and redirect URIs are
// absolute: their origin is that of SCIMD_BASE_URL when set, else http:// and SCIMD_ADDR, as
// "scimd serve" would serve them.

// publicRoot is the public URL scimd's console is reached at, from the environment.
func publicRoot(getenv func(string) string) string {
	if base := getenv("SCIMD_BASE_URL"); base != "" {
		return console.PublicRoot(base)
	}
	return "http://" + envOr(getenv, "SCIMD_ADDR", defaultAddr)
}

func consoleLinkCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	user := fs.String("user", "", "id of the user the link signs in: an active admin or admin-readonly user (required)")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		l, err := svc.dir.IssueLink(ctx, a, *user, time.Now())
		if err != nil {
			return err
		}
		u := console.LinkURL(publicRoot(c.getenv), l.Value)
		return c.print(map[string]any{"url": u, "user_id": l.UserID, "expires_at": l.ExpiresAt}, func(w io.Writer) {
			fmt.Fprintln(w, u)
		})
	}
}

// oidcOutput is the settings as printed: the admin API's answer, with the redirect URI.
type oidcOutput struct {
	*orgs.OIDCSettings
	RedirectURI string `json:"redirect_uri"`
}

func (c *adminCtx) printOIDC(set *orgs.OIDCSettings) error {
	out := oidcOutput{set, console.RedirectURI(publicRoot(c.getenv))}
	return c.print(out, func(w io.Writer) {
		secret := "not set"
		if set.ClientSecretSet {
			secret = "set (never shown)"
		}
		fmt.Fprintf(w, "issuer: %s\nclient id: %s\nclient secret: %s\nupdated: %s\nredirect URI to register at the provider: %s\n",
			set.Issuer, set.ClientID, secret, set.Updated.Format(time.RFC3339), out.RedirectURI)
	})
}

func oidcSetCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	var in orgs.OIDCInput
	fs.StringVar(&in.Issuer, "issuer", "", "the provider's issuer URL, e.g. https://login.microsoftonline.com/<tenant id>/v2.0 (required)")
	fs.StringVar(&in.ClientID, "client-id", "", "the client (application) id the provider gave scimd (required)")
	secret := fs.String("client-secret", "", "the client secret; prefer SCIMD_OIDC_CLIENT_SECRET, flags show in ps; kept when neither is given")
	return func(ctx context.Context, svc *services) error {
		if v := *secret; v != "" {
			in.ClientSecret = &v
		} else if v := c.getenv("SCIMD_OIDC_CLIENT_SECRET"); v != "" {
			in.ClientSecret = &v
		}
		set, _, err := svc.orgs.SetOIDC(ctx, c.org, in)
		if err != nil {
			return err
		}
		return c.printOIDC(set)
	}
}

func oidcShowCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		set, err := svc.orgs.OIDC(ctx, c.org)
		if err != nil {
			return err
		}
		return c.printOIDC(set)
	}
}

func oidcRemoveCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		if err := svc.orgs.RemoveOIDC(ctx, c.org); err != nil {
			return err
		}
		return c.print(map[string]any{"oidc": c.org, "removed": true}, func(w io.Writer) {
			fmt.Fprintf(w, "OpenID Connect settings of organization %s removed\n", c.org)
		})
	}
}

// demoAdminName is the demo organization's admin, whom "scimd serve --demo" prints a sign-in
// link for.
const demoAdminName = "admin@example.com"

// demoLink returns a console sign-in link for the demo organization's admin, creating the
// admin when missing.
func demoLink(ctx context.Context, dir *directory.Service, root string) (string, error) {
	op := directory.Operator(demoOrgID)
	id := ""
	u, err := dir.CreateUser(ctx, op, map[string]any{"userName": demoAdminName,
		"name": map[string]any{"givenName": "Demo", "familyName": "Admin"}, "urn:scimd:schemas:extension:2.0:User": map[string]any{"orgRole": "admin"}})
	switch e := scimerr.As(err); {
	case err == nil:
		id = u.ID
	case e != nil && e.ScimType == scimerr.Uniqueness:
		page, err := dir.BrowseUsers(ctx, op, directory.Browse{Text: demoAdminName, Limit: 10})
		if err != nil {
			return "", err
		}
		for _, r := range page.Users {
			if strings.EqualFold(r.Doc["userName"].(string), demoAdminName) {
				id = r.ID
			}
		}
	default:
		return "", err
	}
	if id == "" {
		return "", errors.New("the demo admin was deleted while it was looked for")
	}
	l, err := dir.IssueLink(ctx, op, id, time.Now())
	if err != nil {
		return "", err
	}
	return console.LinkURL(root, l.Value), nil
}
