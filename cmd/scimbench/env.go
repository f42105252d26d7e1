package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// environment is what the benchmark runs against: a scimd, its organization and token, and a
// pool on scimd's database for the raw baseline.
type environment struct {
	baseURL string
	token   string
	orgID   string
	pid     int           // scimd's process id, 0 if unknown (memory is then not reported)
	db      *pgxpool.Pool // nil when no database is available for the baseline
	dbURL   string
	fresh   bool // the database was created by this run

	ceilingURL string // the ceiling server, "" when there is no database for it
	ceilingPID int

	scimd, ceiling child
	adminURL       string
	keep           bool
}

// setup starts scimd on a fresh database, or connects to the one given with -url.
func setup(ctx context.Context, cfg config) (*environment, error) {
	env := &environment{keep: cfg.keep}
	if cfg.url != "" {
		env.baseURL, env.token, env.pid, env.dbURL = cfg.url, cfg.token, cfg.pid, cfg.databaseURL
		env.orgID = orgFromToken(cfg.token)
		if db, err := openPool(ctx, cfg.databaseURL, cfg.concurrency+2); err == nil {
			env.db = db
		} else {
			logf("database %s not usable for the baseline: %v", redact(cfg.databaseURL), err)
		}
		return env, nil
	}

	u, err := url.Parse(cfg.databaseURL)
	if err != nil || u.Scheme == "" {
		return nil, fmt.Errorf("-database-url must be a postgres:// URL: %q", redact(cfg.databaseURL))
	}
	name := "scimbench_" + strconv.Itoa(os.Getpid())
	u.Path = "/" + name
	env.dbURL = u.String()
	u.Path = "/postgres"
	env.adminURL = u.String()
	// A database of this name can only be a leftover of an earlier run that had this pid.
	if err := dropDatabase(ctx, env.adminURL, name); err != nil {
		return nil, err
	}
	env.fresh = true

	if err := env.startScimd(ctx, cfg.scimdBin); err != nil {
		return env, err
	}
	out, err := exec.CommandContext(ctx, cfg.scimdBin, "org", "create", "--name", "scimbench",
		"--domain", "example.com", "--json", "--database-url", env.dbURL).Output()
	if err != nil {
		return env, fmt.Errorf("scimd org create: %w", err)
	}
	var org struct {
		OrgID string `json:"org_id"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &org); err != nil {
		return env, fmt.Errorf("scimd org create printed %q: %w", out, err)
	}
	env.orgID, env.token = org.OrgID, org.Token
	if env.db, err = openPool(ctx, env.dbURL, cfg.concurrency+2); err != nil {
		return env, err
	}
	logf("scimd pid %d at %s, database %s", env.pid, env.baseURL, name)
	return env, nil
}

// startScimd runs scimd serve on a free loopback port and waits for its base URL.
func (env *environment) startScimd(ctx context.Context, bin string) error {
	// No rate limit: the benchmark measures throughput, and it uses one token.
	cmd, log, url, err := startChild(ctx, bin, []string{"serve", "--create-database", "--addr", "127.0.0.1:0",
		"--database-url", env.dbURL, "--rate-limit", "0"}, "SCIM base URL: ")
	env.scimd = child{cmd: cmd, log: log}
	if cmd != nil {
		env.pid = cmd.Process.Pid
	}
	env.baseURL = url
	if err != nil {
		return fmt.Errorf("%s (run `make build` first): %w", bin, err)
	}
	return nil
}

// startCeiling runs the ceiling server (this same binary, `scimbench ceiling`) on a free
// loopback port with one database connection per client, and waits for its URL.
func (env *environment) startCeiling(ctx context.Context, conns int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd, log, url, err := startChild(ctx, exe, []string{"ceiling", "-database-url", env.dbURL,
		"-conns", strconv.Itoa(conns)}, "ceiling listening on ")
	env.ceiling = child{cmd: cmd, log: log}
	if cmd != nil {
		env.ceilingPID = cmd.Process.Pid
	}
	env.ceilingURL = url
	return err
}

// child is a process scimbench started, with the end of its log.
type child struct {
	cmd *exec.Cmd
	log *logFile
}

// startChild starts bin with args and waits until it prints a line starting with prefix on
// stdout, and returns the rest of that line. The child gets SIGTERM if scimbench dies.
func startChild(ctx context.Context, bin string, args []string, prefix string) (*exec.Cmd, *logFile, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// scimd logs every request. The log goes to a file the child writes itself: through a
	// pipe, scimbench would spend its own CPU, the load generator's, reading every line, a cost
	// the ceiling server (which logs nothing) does not put on it.
	log, err := newLogFile()
	if err != nil {
		return nil, nil, "", err
	}
	cmd.Stderr = log.f
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, log, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, log, "", err
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				found <- strings.TrimSpace(rest)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case url := <-found:
		return cmd, log, url, nil
	case <-time.After(60 * time.Second):
		return cmd, log, "", fmt.Errorf("%s printed no %q within 60s; its log ends:\n%s", bin, prefix, log)
	case <-ctx.Done():
		return cmd, log, "", ctx.Err()
	}
}

// stop sends SIGTERM and waits for the process to end, killing it after 25 seconds, and
// removes its log.
func (c child) stop() {
	defer c.log.remove()
	if c.cmd == nil {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// close stops scimd and the ceiling server and drops the fresh database unless -keep. It uses its own context, since
// the run's may be cancelled already.
func (env *environment) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if env.db != nil {
		env.db.Close()
	}
	env.ceiling.stop()
	env.scimd.stop()
	if !env.fresh {
		return
	}
	if env.keep {
		logf("kept database: %s", redact(env.dbURL))
		return
	}
	name := strings.TrimPrefix(mustURL(env.dbURL).Path, "/")
	if err := dropDatabase(ctx, env.adminURL, name); err != nil {
		logf("could not drop database %s: %v", name, err)
		return
	}
	logf("dropped database %s", name)
}

func dropDatabase(ctx context.Context, adminURL, name string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

func openPool(ctx context.Context, dbURL string, conns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, err
	}
	// One connection per client, opened up front, so the baseline never waits for a connection
	// or measures a connect.
	cfg.MaxConns, cfg.MinConns = int32(conns), int32(conns)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass('users') IS NOT NULL").Scan(&ok); err != nil || !ok {
		pool.Close()
		if err == nil {
			err = errors.New("no users table (is this scimd's database?)")
		}
		return nil, err
	}
	return pool, nil
}

// orgFromToken reads the organization id that a scimd token carries ("scimd_" + 32 hex).
func orgFromToken(tok string) string {
	rest, ok := strings.CutPrefix(tok, "scimd_")
	if !ok || len(rest) < 32 {
		return ""
	}
	b, err := hex.DecodeString(rest[:32])
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func mustURL(s string) *url.URL {
	u, _ := url.Parse(s)
	if u == nil {
		return &url.URL{}
	}
	return u
}

// redact hides a password in a database URL before it is printed.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxx")
	}
	return u.String()
}

// logFile is a child's log, in a temporary file removed when the child stops.
type logFile struct{ f *os.File }

func newLogFile() (*logFile, error) {
	f, err := os.CreateTemp("", "scimbench-*.log")
	if err != nil {
		return nil, fmt.Errorf("a file for a child's log: %w", err)
	}
	return &logFile{f: f}, nil
}

// String returns the log's last 64 KiB, to explain a failure.
func (l *logFile) String() string {
	if l == nil {
		return ""
	}
	fi, err := l.f.Stat()
	if err != nil {
		return err.Error()
	}
	b := make([]byte, min(fi.Size(), 64<<10))
	n, _ := l.f.ReadAt(b, fi.Size()-int64(len(b)))
	return string(b[:n])
}

func (l *logFile) remove() {
	if l != nil {
		_ = l.f.Close()
		_ = os.Remove(l.f.Name())
	}
}

// memory reads a process's peak (VmHWM) and current (VmRSS) resident memory in bytes.
func memory(pid int) (peak, rss int64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmHWM":
			peak = n << 10
		case "VmRSS":
			rss = n << 10
		}
	}
	return peak, rss, nil
}
