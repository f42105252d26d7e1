package main

import (
	"context"
	"fmt"
	"net/url"
)

// ceilingKind is the ceiling a scenario is compared with: the closest single read or write
// that the ceiling server (ceiling.go) does.
type ceilingKind int

const (
	readByID ceilingKind = iota + 1 // the zero value is no ceiling
	readByName
	writeCeiling
)

func (k ceilingKind) String() string {
	switch k {
	case readByID:
		return "read ceiling: GET one users row by id"
	case readByName:
		return "read ceiling: GET one users row by userName"
	case writeCeiling:
		return "write ceiling: POST one users row"
	}
	return "none"
}

// setupCeiling creates the organization the write ceiling inserts into (its own, so that its
// rows never show in what scimd reads) and starts the ceiling server.
func (b *bench) setupCeiling(ctx context.Context) error {
	if b.env.orgID == "" {
		logf("the token does not name its organization: the ceiling servers are skipped")
		return nil
	}
	b.ceilingOrg = uuidV7()
	if _, err := b.env.db.Exec(ctx, "INSERT INTO organizations (id, name) VALUES ($1, 'scimbench write ceiling')", b.ceilingOrg); err != nil {
		return err
	}
	if err := b.env.startCeiling(ctx, b.cfg.concurrency); err != nil {
		return err
	}
	// The same client as scimd's, token included: the ceiling ignores it, but the requests on
	// the wire are the same size.
	b.ceiling = newAPI(b.env.ceilingURL, b.env.token, b.cfg.concurrency)
	logf("ceiling server pid %d at %s", b.env.ceilingPID, b.env.ceilingURL)
	return nil
}

// ceilingOp is the load generator's side of ceiling k, picking its users the way the scimd
// scenarios do: reads a random directory user of the benchmarked organization, writes a new
// user with a body made like the create scenario's. nil when there is no ceiling server.
func (b *bench) ceilingOp(k ceilingKind) op {
	if b.ceiling == nil {
		return nil
	}
	n := len(b.ids)
	users := "/orgs/" + b.env.orgID + "/users"
	switch k {
	case readByID:
		return func(ctx context.Context, c *client) error {
			c.call(ctx, 0, b.ceiling, "GET", users+"/"+b.ids[c.rng.IntN(n)], nil, nil)
			return nil
		}
	case readByName:
		return func(ctx context.Context, c *client) error {
			c.call(ctx, 0, b.ceiling, "GET", users+"?userName="+url.QueryEscape(b.userName(c.rng.IntN(n))), nil, nil)
			return nil
		}
	case writeCeiling:
		return func(ctx context.Context, c *client) error {
			k := int(b.ceilingSeq.Add(1))
			body := userDoc(fmt.Sprintf("%sceiling-%08d@example.com", b.prefix, k), fmt.Sprintf("%sceiling-ext-%08d", b.prefix, k), k)
			c.call(ctx, 0, b.ceiling, "POST", "/orgs/"+b.ceilingOrg+"/users", body, nil)
			return nil
		}
	}
	return nil
}
