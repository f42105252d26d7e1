package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/scimd/scimd/internal/webhook"
)

func TestSignVerify(t *testing.T) {
	t.Parallel()
	secret := "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
	body := []byte(`{"id": "e1", "type": "account.purged"}`)
	at := time.Unix(1_700_000_000, 0)
	header := webhook.Sign(secret, at, body)

	// The header is exactly t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("1700000000." + string(body)))
	require.Equal(t, "t=1700000000,v1="+hex.EncodeToString(m.Sum(nil)), header)

	require.NoError(t, webhook.Verify(secret, header, body, 5*time.Minute, at))
	require.NoError(t, webhook.Verify(secret, header, body, 5*time.Minute, at.Add(4*time.Minute)))
	require.NoError(t, webhook.Verify(secret, header, body, 5*time.Minute, at.Add(-4*time.Minute)))
	require.NoError(t, webhook.Verify(secret, header, body, 0, at.Add(1000*time.Hour)), "tolerance 0 skips the time check")

	require.ErrorIs(t, webhook.Verify(secret, header, body, 5*time.Minute, at.Add(6*time.Minute)), webhook.ErrTimestamp)
	require.ErrorIs(t, webhook.Verify(secret, header, body, 5*time.Minute, at.Add(-6*time.Minute)), webhook.ErrTimestamp)
	require.ErrorIs(t, webhook.Verify("other", header, body, 5*time.Minute, at), webhook.ErrSignatureMismatch)
	require.ErrorIs(t, webhook.Verify(secret, header, append(body, ' '), 5*time.Minute, at), webhook.ErrSignatureMismatch)

	// Another timestamp with the same signature does not pass: the timestamp is signed.
	forged := "t=" + strconv.FormatInt(at.Unix()+1, 10) + header[len("t=1700000000"):]
	require.ErrorIs(t, webhook.Verify(secret, forged, body, 5*time.Minute, at), webhook.ErrSignatureMismatch)

	// Several v1 values: any one matching is enough; unknown schemes are ignored.
	multi := "t=1700000000,v0=abc,v1=" + hex.EncodeToString(make([]byte, 32)) + "," + header[len("t=1700000000,"):]
	require.NoError(t, webhook.Verify(secret, multi, body, 5*time.Minute, at))

	for _, h := range []string{"", "garbage", "t=1700000000", "v1=" + header[len("t=1700000000,v1="):],
		"t=abc," + header[len("t=1700000000,"):], "t=1,t=2," + header[len("t=1700000000,"):]} {
		require.ErrorIs(t, webhook.Verify(secret, h, body, 5*time.Minute, at), webhook.ErrNoSignature, "header %q", h)
	}
}
