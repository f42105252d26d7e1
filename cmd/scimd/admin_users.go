package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/filter"
	"github.com/scimd/scimd/internal/grants"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/schemas"
)

// The organization's lifecycle ("org list", "org delete") and the user commands for support
// staff ("user list|show|suspend|reactivate|delete"), registered in adminCommands (admin.go).
// The user commands go through the directory as the operator: the same rules as SCIM.

func orgListCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	limit := fs.String("limit", "", "organizations per page (default 100, at most 1000)")
	cursor := fs.String("cursor", "", "next_cursor of the previous page")
	return func(ctx context.Context, svc *services) error {
		p, err := svc.orgs.ListOrgs(ctx, *limit, *cursor)
		if err != nil {
			return err
		}
		return c.print(p, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tDEFAULT LOCALE\tCREATED")
			for _, o := range p.Orgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", o.ID, o.Name, o.DefaultLocale, o.Created.Format(time.RFC3339))
			}
			tw.Flush()
			if p.NextCursor != nil {
				fmt.Fprintf(w, "more: --cursor %s\n", *p.NextCursor)
			}
		})
	}
}

func orgDeleteCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	yes := fs.Bool("yes", false, "confirm: the organization and everything of it (users, their data, groups, tokens, audit log) is purged for good")
	return func(ctx context.Context, svc *services) error {
		if !*yes {
			return fmt.Errorf("org delete purges organization %s and everything of it for good; run it again with --yes to confirm", c.org)
		}
		if err := svc.orgs.DeleteOrg(ctx, c.org, "operator (command line)", ""); err != nil {
			return err
		}
		return c.print(map[string]any{"org": c.org, "deleted": true}, func(w io.Writer) {
			fmt.Fprintf(w, "organization %s deleted and purged\n", c.org)
		})
	}
}

// userCmd is a command on one user, given by --id.
func userCmd(fs *flag.FlagSet, c *adminCtx, fn func(ctx context.Context, svc *services, a directory.Actor, id string) (*directory.Resource, error)) func(context.Context, *services) error {
	id := fs.String("id", "", "the user's id (required)")
	notify := &optBool{}
	fs.Var(notify, "notify", "override the organization's notification setting for this change: true or false")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		if notify.set {
			a.Notify = &notify.v
		}
		u, err := fn(ctx, svc, a, *id)
		if err != nil {
			return err
		}
		if u == nil {
			return c.print(map[string]any{"user": *id, "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "user %s deleted and purged\n", *id)
			})
		}
		return c.print(u.Doc, func(w io.Writer) { printUser(w, u) })
	}
}

func printUser(w io.Writer, u *directory.Resource) {
	e, _ := u.Doc[grants.ExtURN].(map[string]any)
	g := grants.FromExtension(u.Doc)
	fmt.Fprintf(w, "user %s\nuserName: %v\nstatus: %v\norgRole: %s\naccountRole: %s\nproducts: %s\nversion: %s\n",
		u.ID, u.Doc["userName"], e["status"], g.OrgRole, g.AccountRole, products(g.Products), u.ETag())
}

func userShowCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return userCmd(fs, c, func(ctx context.Context, svc *services, a directory.Actor, id string) (*directory.Resource, error) {
		return svc.dir.GetUser(ctx, a, id, schema.Projection{})
	})
}

func userSuspendCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return userCmd(fs, c, func(ctx context.Context, svc *services, a directory.Actor, id string) (*directory.Resource, error) {
		return svc.dir.SetActive(ctx, a, id, false)
	})
}

func userReactivateCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return userCmd(fs, c, func(ctx context.Context, svc *services, a directory.Actor, id string) (*directory.Resource, error) {
		return svc.dir.SetActive(ctx, a, id, true)
	})
}

func userDeleteCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return userCmd(fs, c, func(ctx context.Context, svc *services, a directory.Actor, id string) (*directory.Resource, error) {
		return nil, svc.dir.DeleteUser(ctx, a, id, directory.Precondition{})
	})
}

func userListCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	f := fs.String("filter", "", `SCIM filter, e.g. 'userName sw "ada"' or 'active eq false'`)
	start := fs.Int("start", 1, "1-based index of the first user")
	count := fs.Int("count", 100, "users per page (at most 1000)")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		reg, err := schema.Load(schemas.Files)
		if err != nil {
			return err
		}
		q := directory.Query{StartIndex: max(*start, 1), Count: min(max(*count, 1), directory.MaxPageSize)}
		if strings.TrimSpace(*f) != "" {
			if q.Filter, err = filter.Parse(reg.User, *f); err != nil {
				return err
			}
		}
		page, err := svc.dir.ListUsers(ctx, a, q)
		if err != nil {
			return err
		}
		docs := make([]any, len(page.Resources))
		for i, u := range page.Resources {
			u.Doc["id"] = u.ID
			docs[i] = u.Doc
		}
		return c.print(map[string]any{"total_results": page.Total, "start_index": q.StartIndex, "users": docs}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tUSERNAME\tSTATUS\tORG ROLE\tACCOUNT ROLE\tPRODUCTS")
			for _, u := range page.Resources {
				e, _ := u.Doc[grants.ExtURN].(map[string]any)
				g := grants.FromExtension(u.Doc)
				fmt.Fprintf(tw, "%s\t%v\t%v\t%s\t%s\t%s\n", u.ID, u.Doc["userName"], e["status"], g.OrgRole, g.AccountRole, products(g.Products))
			}
			tw.Flush()
			fmt.Fprintf(w, "%d of %d users from %d\n", len(page.Resources), page.Total, q.StartIndex)
		})
	}
}
