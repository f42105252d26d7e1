package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scimd/scimd/internal/directory"
	"github.com/scimd/scimd/internal/postgres"
	"github.com/scimd/scimd/internal/schema"
	"github.com/scimd/scimd/internal/server"
	"github.com/scimd/scimd/schemas"
)

const usage = `usage: scimd <command> [flags]

commands:
  serve        serve SCIM 2.0 (migrates the database first)
  migrate      apply database migrations and exit
  org create   create an organization and print its operator token

Run "scimd <command> -h" for a command's flags.`

const defaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/scimd?sslmode=disable"

// demoOrgID is fixed so that "scimd serve --demo" finds the demo organization it created on an
// earlier run instead of creating another.
const demoOrgID = "00000000-0000-4000-8000-00000000de30"

// run is scimd's whole program; main only supplies the process's context, arguments,
// environment and output, so tests can run scimd in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		return errors.New(usage)
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return serve(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return migrate(ctx, rest, getenv, stdout)
	case "org":
		if len(rest) == 0 || rest[0] != "create" {
			return errors.New("usage: scimd org create --name NAME --domain D [--domain D ...] [--json]")
		}
		return orgCreate(ctx, rest[1:], getenv, stdout)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// openDB connects to the database, creating it if needed, and applies migrations.
func openDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pool, err := postgres.Connect(ctx, url)
	if err != nil {
		return nil, err
	}
	if err := postgres.Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pool, err := openDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	pool.Close()
	fmt.Fprintln(stdout, "migrations applied")
	return nil
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func orgCreate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("org create", flag.ContinueOnError)
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	name := fs.String("name", "", "organization name (required)")
	asJSON := fs.Bool("json", false, `print {"org_id": ..., "token": ...}`)
	var domains stringList
	fs.Var(&domains, "domain", "verified email domain (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return errors.New("org create: --name is required")
	}
	pool, err := openDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	tok, err := postgres.NewOrgs(pool).CreateOrg(ctx, "", *name, domains)
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(map[string]string{"org_id": tok.OrgID, "token": tok.Token})
	}
	fmt.Fprintf(stdout, "organization %s created\ntoken (shown once): %s\n", tok.OrgID, tok.Token)
	return nil
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", envOr(getenv, "SCIMD_ADDR", "127.0.0.1:8080"), "listen address (SCIMD_ADDR)")
	dbURL := fs.String("database-url", envOr(getenv, "DATABASE_URL", defaultDatabaseURL), "PostgreSQL URL (DATABASE_URL)")
	baseURL := fs.String("base-url", getenv("SCIMD_BASE_URL"), "public SCIM base URL, if not http://ADDR/scim/v2 (SCIMD_BASE_URL)")
	demo := fs.Bool("demo", false, "create the demo organization (verified domain example.com) if missing and print a token for it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	pool, err := openDB(ctx, *dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	reg, err := schema.Load(schemas.Files)
	if err != nil {
		return err
	}
	users, err := postgres.NewUsers(pool, reg.User)
	if err != nil {
		return err
	}
	orgs := postgres.NewOrgs(pool)
	dir, err := directory.New(users, postgres.NewGroups(pool, reg.Group), orgs, reg)
	if err != nil {
		return err
	}
	handler := server.NewServer(server.Deps{
		Directory:    dir,
		Schemas:      reg,
		LookupToken:  orgs.LookupToken,
		Ready:        pool.Ping,
		Logger:       logger,
		BaseURL:      *baseURL,
		MaxBodyBytes: 1 << 20,
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String() + "/scim/v2"
	if *baseURL != "" {
		base = *baseURL
	}
	fmt.Fprintf(stdout, "SCIM base URL: %s\n", base)
	if *demo {
		tok, err := orgs.CreateOrg(ctx, demoOrgID, "Demo Organization", []string{"example.com"})
		if err != nil {
			ln.Close()
			return err
		}
		fmt.Fprintf(stdout, "demo organization %s, token: %s\n", tok.OrgID, tok.Token)
	}

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Finish in-flight requests before closing the pool they use.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	logger.Info("shutting down")
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return nil
}
