package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/orgs"
)

// The group-mapping commands and "org set", registered in adminCommands (admin.go).

// commaList is a flag of comma-separated values, repeatable.
type commaList []string

func (l *commaList) String() string { return strings.Join(*l, ",") }
func (l *commaList) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// optBool is a boolean flag that tells whether it was given: its String is "" until set, so
// the required check of runAdmin applies to it.
type optBool struct {
	set, v bool
}

func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) String() string {
	if b == nil || !b.set {
		return ""
	}
	return strconv.FormatBool(b.v)
}
func (b *optBool) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("want true or false")
	}
	b.set, b.v = true, v
	return nil
}

func orDash(p *string) string {
	if p == nil {
		return "-"
	}
	return *p
}

func products(ps []string) string {
	if len(ps) == 0 {
		return "-"
	}
	return strings.Join(ps, ",")
}

func users(n int) string {
	if n == 1 {
		return "1 user"
	}
	return strconv.Itoa(n) + " users"
}

func groupMappingSetCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	group := fs.String("group", "", "SCIM id of a group of the organization (required)")
	var ps commaList
	fs.Var(&ps, "products", "comma-separated licensed products the group grants, e.g. meeting,webinar")
	orgRole := fs.String("org-role", "", "orgRole the group grants: admin, admin-readonly or user")
	accountRole := fs.String("account-role", "", "accountRole the group grants: admin or member")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		m, err := svc.dir.SetGroupMapping(ctx, a, *group, directory.MappingInput{OrgRole: *orgRole, AccountRole: *accountRole, Products: ps})
		if err != nil {
			return err
		}
		return c.print(m, func(w io.Writer) {
			fmt.Fprintf(w, "group %s (%s) of organization %s maps to orgRole %s, accountRole %s, products %s\n"+
				"effective grants of %s changed\n", m.GroupID, m.GroupName, c.org, orDash(m.OrgRole), orDash(m.AccountRole),
				products(m.Products), users(m.UsersChanged))
		})
	}
}

func groupMappingListCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		ms, err := svc.dir.ListGroupMappings(ctx, a)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"group_mappings": ms}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tNAME\tORG ROLE\tACCOUNT ROLE\tPRODUCTS")
			for _, m := range ms {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.GroupID, m.GroupName, orDash(m.OrgRole), orDash(m.AccountRole), products(m.Products))
			}
			tw.Flush()
		})
	}
}

func groupMappingRemoveCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	group := fs.String("group", "", "SCIM id of a group of the organization (required)")
	return func(ctx context.Context, svc *services) error {
		a, err := svc.operator()
		if err != nil {
			return err
		}
		m, err := svc.dir.RemoveGroupMapping(ctx, a, *group)
		if err != nil {
			return err
		}
		return c.print(m, func(w io.Writer) {
			fmt.Fprintf(w, "mapping of group %s removed from organization %s\neffective grants of %s changed\n",
				m.GroupID, c.org, users(m.UsersChanged))
		})
	}
}

func orgSetCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	var nested, notify optBool
	var name, defaultLocale optString
	fs.Var(&name, "name", "rename the organization")
	fs.Var(&defaultLocale, "default-locale", "default locale of users without one, and of mail to users whose languages scimd does not speak, e.g. fr-FR")
	fs.Var(&nested, "nested-groups", "allow groups as members of groups: true or false")
	fs.Var(&notify, "notify", "notify users of changes of their products and roles, suspensions and reactivations by default: true or false")
	return func(ctx context.Context, svc *services) error {
		if !nested.set && !notify.set && !name.set && !defaultLocale.set {
			return fmt.Errorf("org set: nothing to change: give --name, --default-locale, --nested-groups=true|false and/or --notify=true|false")
		}
		// Every value is checked first, and nested-groups applied first: it is the setting
		// that can be refused, and then nothing changes.
		ch, err := orgs.OrgChange{Name: name.ptr(), DefaultLocale: defaultLocale.ptr()}.Checked()
		if err != nil {
			return err
		}
		if nested.set {
			a, err := svc.operator()
			if err != nil {
				return err
			}
			if err := svc.dir.SetNestedGroups(ctx, a, nested.v); err != nil {
				return err
			}
		}
		if notify.set {
			if _, err := svc.orgs.SetNotify(ctx, c.org, notify.v); err != nil {
				return err
			}
		}
		if name.set || defaultLocale.set {
			if err := svc.orgs.ChangeOrg(ctx, c.org, ch); err != nil {
				return err
			}
		}
		o, err := svc.orgs.Settings(ctx, c.org)
		if err != nil {
			return err
		}
		return c.print(o, func(w io.Writer) {
			state, notifications := "disabled", "off"
			if o.NestedGroups {
				state = "enabled"
			}
			if o.Notify {
				notifications = "on"
			}
			fmt.Fprintf(w, "organization %s (%s, default locale %s): nested groups %s, notifications %s\n",
				o.ID, o.Name, o.DefaultLocale, state, notifications)
		})
	}
}

// optString is a string flag that tells whether it was given.
type optString struct {
	set bool
	v   string
}

func (s *optString) String() string {
	if s == nil {
		return ""
	}
	return s.v
}

func (s *optString) Set(v string) error {
	s.set, s.v = true, v
	return nil
}

// ptr is the value, nil when not given.
func (s *optString) ptr() *string {
	if !s.set {
		return nil
	}
	return &s.v
}
