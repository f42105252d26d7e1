package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"time"
)

// Message is one email.
type Message struct {
	// ID is the notification's id; the Message-ID derives from it, so a resend carries the
	// same Message-ID as the first attempt.
	ID       string
	From     mail.Address
	To       mail.Address
	Subject  string
	Body     string
	Language string
	Date     time.Time
}

// Bytes is the message in RFC 5322 form: UTF-8 plain text, quoted-printable, CRLF line ends.
func (m *Message) Bytes() []byte {
	var b bytes.Buffer
	domain := "scimd.invalid"
	if _, d, ok := strings.Cut(m.From.Address, "@"); ok && d != "" {
		domain = d
	}
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", m.From.String())
	header("To", m.To.String())
	header("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	header("Date", m.Date.Format(time.RFC1123Z))
	header("Message-ID", "<"+m.ID+"@"+domain+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	if m.Language != "" {
		header("Content-Language", m.Language)
	}
	// RFC 3834: automatic responders must not answer.
	header("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// Sender sends messages. A Sender is used by one goroutine at a time; it may keep a
// connection open between Send calls until Close.
type Sender interface {
	Send(ctx context.Context, m *Message) error
	Close() error
}

// STARTTLS policies of an smtp:// URL.
const (
	// StartTLSOpportunistic upgrades the connection when the server offers STARTTLS.
	StartTLSOpportunistic = "opportunistic"
	// StartTLSRequired fails unless the server offers STARTTLS.
	StartTLSRequired = "required"
)

// SMTPConfig says how to reach the SMTP server.
type SMTPConfig struct {
	// Host and Port of the server.
	Host string
	Port string
	// ImplicitTLS is set for smtps://: TLS from the first byte.
	ImplicitTLS bool
	// StartTLS is StartTLSOpportunistic or StartTLSRequired; it does not apply to ImplicitTLS.
	StartTLS string
	// Username and Password, when Username is set, authenticate with AUTH PLAIN, which
	// net/smtp sends only over TLS or to a server on localhost.
	Username string
	Password string
	// TLSConfig, when set, is used for TLS (its ServerName defaults to Host); tests give
	// their own certificate authority here.
	TLSConfig *tls.Config
	// LocalName is the name given in EHLO; default the host name.
	LocalName string
	// Timeout bounds connecting and each message's exchange; default 30 seconds.
	Timeout time.Duration
}

// ParseSMTPURL reads an SMTP_URL: smtp://[user:password@]host[:port][?starttls=required] (port
// 587, STARTTLS when the server offers it, or always with starttls=required) or
// smtps://[user:password@]host[:port] (port 465, implicit TLS). Errors never repeat the
// password.
func ParseSMTPURL(raw string) (SMTPConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SMTPConfig{}, errors.New("SMTP URL: not a URL; want smtp://user:password@host:587 or smtps://host:465")
	}
	var c SMTPConfig
	switch u.Scheme {
	case "smtp":
		c.Port = "587"
	case "smtps":
		c.Port, c.ImplicitTLS = "465", true
	default:
		return SMTPConfig{}, fmt.Errorf("SMTP URL: scheme %q; want smtp:// or smtps://", u.Scheme)
	}
	c.Host = u.Hostname()
	if c.Host == "" {
		return SMTPConfig{}, errors.New("SMTP URL: no host")
	}
	if p := u.Port(); p != "" {
		c.Port = p
	}
	if u.Path != "" && u.Path != "/" {
		return SMTPConfig{}, fmt.Errorf("SMTP URL: unexpected path %q", u.Path)
	}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	c.StartTLS = StartTLSOpportunistic
	for k, v := range u.Query() {
		switch {
		case k == "starttls" && !c.ImplicitTLS && len(v) == 1 && (v[0] == StartTLSRequired || v[0] == StartTLSOpportunistic):
			c.StartTLS = v[0]
		case k == "starttls" && c.ImplicitTLS:
			return SMTPConfig{}, errors.New("SMTP URL: starttls does not apply to smtps://, which uses TLS from the start")
		case k == "starttls":
			return SMTPConfig{}, fmt.Errorf("SMTP URL: starttls=%s; want starttls=required or starttls=opportunistic", strings.Join(v, ","))
		default:
			return SMTPConfig{}, fmt.Errorf("SMTP URL: unknown parameter %q (the one known is starttls)", k)
		}
	}
	return c, nil
}

// Redacted is the URL's server part without credentials, for logs.
func (c SMTPConfig) Redacted() string {
	scheme := "smtp"
	if c.ImplicitTLS {
		scheme = "smtps"
	}
	return scheme + "://" + net.JoinHostPort(c.Host, c.Port)
}

// SMTPSender sends over SMTP with net/smtp, keeping one connection open across Send calls
// until Close or a failure.
type SMTPSender struct {
	cfg    SMTPConfig
	conn   net.Conn
	client *smtp.Client
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender returns a sender to the server cfg names; it connects on the first Send.
func NewSMTPSender(cfg SMTPConfig) *SMTPSender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.StartTLS == "" {
		cfg.StartTLS = StartTLSOpportunistic
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			cfg.LocalName = h
		}
	}
	return &SMTPSender{cfg: cfg}
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cfg.TLSConfig != nil {
		c = s.cfg.TLSConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = s.cfg.Host
	}
	return c
}

// Send implements Sender. When a connection kept from an earlier Send fails before the
// message's data went out without the server having answered (it may have closed the idle
// connection), the message is tried once more on a new connection: nothing can have been
// delivered.
func (s *SMTPSender) Send(ctx context.Context, m *Message) error {
	reused := s.client != nil
	delivering, err := s.send(ctx, m)
	var reply *textproto.Error
	if err != nil && reused && !delivering && !errors.As(err, &reply) {
		_, err = s.send(ctx, m)
	}
	return err
}

// send delivers m; delivering reports whether the DATA command had been accepted when it
// failed.
func (s *SMTPSender) send(ctx context.Context, m *Message) (delivering bool, err error) {
	defer func() {
		if err != nil {
			s.drop()
		}
	}()
	if s.client == nil {
		if err := s.connect(ctx); err != nil {
			return false, err
		}
	}
	deadline := time.Now().Add(s.cfg.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := s.conn.SetDeadline(deadline); err != nil {
		return false, err
	}
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := s.client.Mail(m.From.Address); err != nil {
		return false, fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := s.client.Rcpt(m.To.Address); err != nil {
		return false, fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := s.client.Data()
	if err != nil {
		return false, fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(m.Bytes()); err != nil {
		return true, fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return true, fmt.Errorf("smtp DATA: %w", err)
	}
	return true, nil
}

// connect opens the connection: TLS first for smtps://, else STARTTLS as configured, then
// AUTH PLAIN when there are credentials.
func (s *SMTPSender) connect(ctx context.Context) error {
	addr := net.JoinHostPort(s.cfg.Host, s.cfg.Port)
	dctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	d := net.Dialer{}
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp connect: %w", err)
	}
	if err := conn.SetDeadline(time.Now().Add(s.cfg.Timeout)); err != nil {
		conn.Close()
		return err
	}
	if s.cfg.ImplicitTLS {
		tc := tls.Client(conn, s.tlsConfig())
		if err := tc.HandshakeContext(dctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp TLS: %w", err)
		}
		conn = tc
	}
	c, err := smtp.NewClient(conn, s.cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("smtp greeting: %w", err)
	}
	fail := func(stage string, err error) error {
		c.Close()
		return fmt.Errorf("smtp %s: %w", stage, err)
	}
	if err := c.Hello(s.cfg.LocalName); err != nil {
		return fail("EHLO", err)
	}
	if !s.cfg.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig()); err != nil {
				return fail("STARTTLS", err)
			}
		} else if s.cfg.StartTLS == StartTLSRequired {
			return fail("STARTTLS", errors.New("the server does not offer STARTTLS, which starttls=required insists on"))
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fail("AUTH", errors.New("credentials are configured but the server does not offer AUTH"))
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.cfg.Host)); err != nil {
			return fail("AUTH", err)
		}
	}
	s.conn, s.client = conn, c
	return nil
}

// drop closes the connection without the courtesy of QUIT: it is in an unknown state.
func (s *SMTPSender) drop() {
	if s.client != nil {
		s.client.Close()
	}
	s.conn, s.client = nil, nil
}

// Close implements Sender: it ends the session with QUIT.
func (s *SMTPSender) Close() error {
	if s.client == nil {
		return nil
	}
	_ = s.conn.SetDeadline(time.Now().Add(s.cfg.Timeout))
	err := s.client.Quit()
	s.drop()
	return err
}
