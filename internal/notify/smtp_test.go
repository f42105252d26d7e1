package notify_test

import (
	"context"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/notify"
	"github.com/scimd/scimd/internal/notify/smtptest"
)

func TestParseSMTPURL(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]notify.SMTPConfig{
		"smtp://mail.example.com": {Host: "mail.example.com", Port: "587", StartTLS: notify.StartTLSOpportunistic},
		"smtp://u%40x:p%3Ass@mail.example.com:25?starttls=required": {Host: "mail.example.com", Port: "25",
			StartTLS: notify.StartTLSRequired, Username: "u@x", Password: "p:ss"},
		"smtp://user:pass@host:587?starttls=opportunistic": {Host: "host", Port: "587", StartTLS: notify.StartTLSOpportunistic,
			Username: "user", Password: "pass"},
		"smtps://user:pass@mail.example.com": {Host: "mail.example.com", Port: "465", ImplicitTLS: true,
			StartTLS: notify.StartTLSOpportunistic, Username: "user", Password: "pass"},
		"smtp://[::1]:2525": {Host: "::1", Port: "2525", StartTLS: notify.StartTLSOpportunistic},
	} {
		got, err := notify.ParseSMTPURL(raw)
		require.NoError(t, err, raw)
		require.Equal(t, want, got, raw)
	}
	for raw, fragment := range map[string]string{
		"http://mail.example.com": `scheme "http"`,
		"smtp://":                 "no host",
		"smtp://user:secret@host?starttls=always":    "starttls=always",
		"smtps://user:secret@host?starttls=required": "does not apply to smtps",
		"smtp://user:secret@host?tls=1":              `unknown parameter "tls"`,
		"smtp://user:secret@host/path":               "unexpected path",
		"::not a url":                                "not a URL",
	} {
		_, err := notify.ParseSMTPURL(raw)
		require.ErrorContains(t, err, fragment, raw)
		require.NotContains(t, err.Error(), "secret", "errors never repeat the password")
	}
	cfg, err := notify.ParseSMTPURL("smtps://user:secret@mail.example.com")
	require.NoError(t, err)
	require.Equal(t, "smtps://mail.example.com:465", cfg.Redacted())
}

func testMessage(id, to string) *notify.Message {
	return &notify.Message{ID: id, From: mail.Address{Address: "scimd@localhost"}, To: mail.Address{Name: "Zoë", Address: to},
		Subject: "Größe: ändert sich", Body: "line one\n.line starting with a dot\n" + strings.Repeat("long ", 40) + "\n",
		Language: "de", Date: time.Now()}
}

func sender(t *testing.T, url string, mutate func(*notify.SMTPConfig)) *notify.SMTPSender {
	t.Helper()
	cfg, err := notify.ParseSMTPURL(url)
	require.NoError(t, err)
	cfg.Timeout = 5 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	s := notify.NewSMTPSender(cfg)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// STARTTLS is used when offered, and AUTH PLAIN over it.
func TestSMTPStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := smtptest.Certificate(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Users: map[string]string{"scimd": "s3cret"}})
	ctx := context.Background()
	trust := func(c *notify.SMTPConfig) { c.TLSConfig = clientTLS }

	s := sender(t, srv.URL("scimd", "s3cret", "starttls=required"), trust)
	require.NoError(t, s.Send(ctx, testMessage("m1", "zoe@example.com")))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	m := msgs[0]
	require.True(t, m.TLS)
	require.Equal(t, "scimd", m.AuthUser)
	require.Equal(t, []string{"zoe@example.com"}, m.To)
	require.Equal(t, "Größe: ändert sich", m.Subject)
	require.Equal(t, "line one\n.line starting with a dot\n"+strings.Repeat("long ", 40)+"\n", m.Body)
	require.Equal(t, "<m1@localhost>", m.Header.Get("Message-ID"))
	to, err := m.Header.AddressList("To")
	require.NoError(t, err)
	require.Equal(t, []*mail.Address{{Name: "Zoë", Address: "zoe@example.com"}}, to)
	for _, line := range strings.Split(string(m.Raw), "\r\n") {
		require.LessOrEqual(t, len(line), 78, "lines are folded: %q", line)
	}

	// Wrong credentials, and a certificate the client does not trust, are refused.
	err = sender(t, srv.URL("scimd", "wrong", ""), trust).Send(ctx, testMessage("m2", "zoe@example.com"))
	require.ErrorContains(t, err, "AUTH")
	err = sender(t, srv.URL("scimd", "s3cret", ""), nil).Send(ctx, testMessage("m3", "zoe@example.com"))
	require.ErrorContains(t, err, "STARTTLS")
	require.Len(t, srv.Messages(), 1)
}

func TestSMTPImplicitTLS(t *testing.T) {
	t.Parallel()
	serverTLS, clientTLS := smtptest.Certificate(t)
	srv := smtptest.Start(t, smtptest.Options{TLS: serverTLS, Implicit: true, Users: map[string]string{"scimd": "pw"}})
	s := sender(t, srv.URL("scimd", "pw", ""), func(c *notify.SMTPConfig) { c.TLSConfig = clientTLS })
	require.NoError(t, s.Send(context.Background(), testMessage("m1", "a@example.com")))
	msgs := srv.Messages()
	require.Len(t, msgs, 1)
	require.True(t, msgs[0].TLS)
	require.Equal(t, "scimd", msgs[0].AuthUser)
}

// starttls=required refuses a server without STARTTLS; credentials refuse one without AUTH.
func TestSMTPRefusesWeakerServers(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	ctx := context.Background()
	err := sender(t, srv.URL("", "", "starttls=required"), nil).Send(ctx, testMessage("m1", "a@example.com"))
	require.ErrorContains(t, err, "does not offer STARTTLS")
	err = sender(t, srv.URL("user", "pw", ""), nil).Send(ctx, testMessage("m2", "a@example.com"))
	require.ErrorContains(t, err, "does not offer AUTH")
	require.Empty(t, srv.Messages())
	// Without either, the same server is fine.
	require.NoError(t, sender(t, srv.URL("", "", ""), nil).Send(ctx, testMessage("m3", "a@example.com")))
	require.Len(t, srv.Messages(), 1)
}

// One connection carries many messages; a connection the server dropped meanwhile is
// replaced without failing the message.
func TestSMTPReusesConnection(t *testing.T) {
	t.Parallel()
	srv := smtptest.Start(t, smtptest.Options{})
	ctx := context.Background()
	s := sender(t, srv.URL("", "", ""), nil)
	for _, id := range []string{"m1", "m2", "m3"} {
		require.NoError(t, s.Send(ctx, testMessage(id, "a@example.com")))
	}
	require.Equal(t, 1, srv.Sessions())
	srv.Stop()
	srv.Restart()
	require.NoError(t, s.Send(ctx, testMessage("m4", "a@example.com")))
	require.Len(t, srv.Messages(), 4)
	require.NoError(t, s.Close())
}
