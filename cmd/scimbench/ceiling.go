package main

// The ceiling server: the least a Go service has to do to answer a SCIM-like read or write of
// one user over HTTP from scimd's own tables. scimbench reports every scimd scenario as a
// fraction of what this program reaches on the same machine, with the same load generator
// and the same number of clients, in the same run. It is deliberately minimal and honest:
// net/http, a pgxpool, one prepared statement per request, encoding/json into a fixed struct;
// no authentication, no validation beyond a userName being present, no logging, no sleeps.
//
// It runs as a separate process (`scimbench ceiling ...`, started by scimbench itself) rather
// than on a listener inside scimbench: scimd is a separate process with its own Go runtime,
// scheduler and garbage collector, and the ceiling must be measured the same way. In-process,
// the load generator's goroutines and allocations would share the server's runtime (a
// handicap scimd does not have, or a help, depending on the moment), and the CPU report could
// not tell the server's CPU from the load generator's.
//
// Routes, all for the organization in the path:
//
//	GET  /orgs/{org}/users/{id}          one users row by primary key
//	GET  /orgs/{org}/users?userName=U    one users row by (org_id, lower(user_name)), the unique index
//	POST /orgs/{org}/users               one INSERT of a users row from a SCIM User body; 201
//
// This file uses nothing else of scimbench, so it can be read, and judged, on its own.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ceilingUser is the fixed struct a user is read into and written out from: the users row's
// columns a SCIM User response is made of.
type ceilingUser struct {
	ID           string    `json:"id"`
	UserName     string    `json:"userName"`
	ExternalID   *string   `json:"externalId,omitempty"`
	Active       bool      `json:"active"`
	DisplayName  *string   `json:"displayName,omitempty"`
	Locale       *string   `json:"locale,omitempty"`
	Name         nameParts `json:"name"`
	Department   *string   `json:"department,omitempty"`
	Version      int64     `json:"version"`
	Created      time.Time `json:"created"`
	LastModified time.Time `json:"lastModified"`
}

type nameParts struct {
	Formatted  *string `json:"formatted,omitempty"`
	FamilyName *string `json:"familyName,omitempty"`
	GivenName  *string `json:"givenName,omitempty"`
}

// ceilingNewUser is what the write route reads of a SCIM User body; other members are skipped.
type ceilingNewUser struct {
	UserName    string    `json:"userName"`
	ExternalID  *string   `json:"externalId"`
	Active      *bool     `json:"active"`
	DisplayName *string   `json:"displayName"`
	Locale      *string   `json:"locale"`
	Name        nameParts `json:"name"`
	Enterprise  struct {
		Department *string `json:"department"`
	} `json:"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`
}

const ceilingColumns = `id::text, user_name, external_id, active, display_name, locale,
	name_formatted, family_name, given_name, department, version, created_at, last_modified`

// The three statements, prepared once on every connection of the pool.
var ceilingStatements = map[string]string{
	"user_by_id":   `SELECT ` + ceilingColumns + ` FROM users WHERE org_id = $1 AND id = $2`,
	"user_by_name": `SELECT ` + ceilingColumns + ` FROM users WHERE org_id = $1 AND lower(user_name) = lower($2)`,
	"insert_user": `INSERT INTO users (org_id, id, user_name, external_id, active, display_name, locale,
		name_formatted, family_name, given_name, department)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		RETURNING version, created_at, last_modified`,
}

// runCeiling serves until SIGINT or SIGTERM. It prints "ceiling listening on http://ADDR" once
// it accepts requests.
func runCeiling(args []string) error {
	fs := flag.NewFlagSet("scimbench ceiling", flag.ContinueOnError)
	dbURL := fs.String("database-url", "", "scimd's database")
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	conns := fs.Int("conns", 8, "database connections: one per concurrent client, so that no request waits for one")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	cfg, err := pgxpool.ParseConfig(*dbURL)
	if err != nil {
		return err
	}
	// One connection per client, opened up front. Fewer make requests queue for a connection:
	// with 8 clients on this 2-core machine, 4 connections (pgxpool's default here) answered
	// about 15% fewer reads than 8, and the ceiling is the best this program does.
	cfg.MaxConns, cfg.MinConns = int32(*conns), int32(*conns)
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		for name, sql := range ceilingStatements {
			if _, err := c.Prepare(ctx, name, sql); err != nil {
				return fmt.Errorf("prepare %s: %w", name, err)
			}
		}
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orgs/{org}/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		ceilingRead(w, pool.QueryRow(r.Context(), "user_by_id", r.PathValue("org"), r.PathValue("id")))
	})
	mux.HandleFunc("GET /orgs/{org}/users", func(w http.ResponseWriter, r *http.Request) {
		ceilingRead(w, pool.QueryRow(r.Context(), "user_by_name", r.PathValue("org"), r.URL.Query().Get("userName")))
	})
	mux.HandleFunc("POST /orgs/{org}/users", func(w http.ResponseWriter, r *http.Request) {
		var in ceilingNewUser
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.UserName == "" {
			http.Error(w, "a JSON body with a userName is required", http.StatusBadRequest)
			return
		}
		u := ceilingUser{ID: uuidV7(), UserName: in.UserName, ExternalID: in.ExternalID, Active: in.Active == nil || *in.Active,
			DisplayName: in.DisplayName, Locale: in.Locale, Name: in.Name, Department: in.Enterprise.Department}
		err := pool.QueryRow(r.Context(), "insert_user", r.PathValue("org"), u.ID, u.UserName, u.ExternalID, u.Active,
			u.DisplayName, u.Locale, u.Name.Formatted, u.Name.FamilyName, u.Name.GivenName, u.Department).
			Scan(&u.Version, &u.Created, &u.LastModified)
		if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "23505" {
			http.Error(w, "userName taken", http.StatusConflict)
			return
		} else if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Location", "/orgs/"+r.PathValue("org")+"/users/"+u.ID)
		ceilingJSON(w, http.StatusCreated, &u)
	})

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	fmt.Printf("ceiling listening on http://%s\n", ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ceilingRead answers a read: the row as JSON, or 404.
func ceilingRead(w http.ResponseWriter, row pgx.Row) {
	var u ceilingUser
	err := row.Scan(&u.ID, &u.UserName, &u.ExternalID, &u.Active, &u.DisplayName, &u.Locale,
		&u.Name.Formatted, &u.Name.FamilyName, &u.Name.GivenName, &u.Department, &u.Version, &u.Created, &u.LastModified)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		http.Error(w, "no such user", http.StatusNotFound)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		ceilingJSON(w, http.StatusOK, &u)
	}
}

func ceilingJSON(w http.ResponseWriter, status int, u *ceilingUser) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(u)
}

// uuidV7 returns a time-ordered UUID (version 7, RFC 9562), the kind scimd gives its
// resources, so that inserts land at the right end of the primary key as scimd's do.
func uuidV7() string {
	var b [16]byte
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint64(b[:8], ms<<16|uint64(binary.BigEndian.Uint16(b[6:8])))
	b[6] = 0x70 | b[6]&0x0f
	b[8] = 0x80 | b[8]&0x3f
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
