package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// The webhook commands, registered in adminCommands (admin.go): the endpoints that receive an
// organization's account.purged events.

func webhookAddCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	url := fs.String("url", "", "http or https URL events are POSTed to (required)")
	return func(ctx context.Context, svc *services) error {
		wh, err := svc.orgs.AddWebhook(ctx, c.org, *url)
		if err != nil {
			return err
		}
		return c.print(wh, func(w io.Writer) {
			fmt.Fprintf(w, "webhook %s added to organization %s: %s\nsigning secret (shown once): %s\n",
				wh.ID, c.org, wh.URL, wh.Secret)
		})
	}
}

func webhookListCmd(_ *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	return func(ctx context.Context, svc *services) error {
		ws, err := svc.orgs.ListWebhooks(ctx, c.org)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"webhooks": ws}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tURL")
			for _, wh := range ws {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", wh.ID, wh.Created.Format(time.RFC3339), wh.URL)
			}
			tw.Flush()
		})
	}
}

func webhookRemoveCmd(fs *flag.FlagSet, c *adminCtx) func(context.Context, *services) error {
	id := fs.String("id", "", "webhook id (required)")
	return func(ctx context.Context, svc *services) error {
		if err := svc.orgs.RemoveWebhook(ctx, c.org, *id); err != nil {
			return err
		}
		return c.print(map[string]any{"webhook": *id, "removed": true}, func(w io.Writer) {
			fmt.Fprintf(w, "webhook %s removed from organization %s\n", *id, c.org)
		})
	}
}
