package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Signatures: Scimd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>.
// The key is the endpoint's secret as shown when it was added (its ASCII bytes, not
// base64-decoded); the signed message is the timestamp, a dot and the raw request body.
// Receivers accept a header with several v1 values if any one matches, so that scimd could
// sign with two secrets while one replaces the other.

// Header names of a delivery.
const (
	HeaderEventID   = "Scimd-Event-Id"
	HeaderEventType = "Scimd-Event-Type"
	HeaderSignature = "Scimd-Signature"
)

// Errors of Verify.
var (
	// ErrNoSignature: the header is empty, malformed, or carries no v1 signature.
	ErrNoSignature = errors.New("webhook: no valid Scimd-Signature header")
	// ErrSignatureMismatch: no v1 signature matches the body and secret.
	ErrSignatureMismatch = errors.New("webhook: signature does not match")
	// ErrTimestamp: the signature's timestamp is further from now than the tolerance.
	ErrTimestamp = errors.New("webhook: signature timestamp outside the tolerance")
)

// mac is the hex HMAC-SHA256 of "<t>.<body>" under secret.
func mac(secret string, t int64, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(t, 10)))
	h.Write([]byte{'.'})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// Sign returns the Scimd-Signature header value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + mac(secret, ts, body)
}

// Verify checks a Scimd-Signature header against the raw request body: one of its v1
// signatures must be the HMAC-SHA256 of "<t>.<body>" under secret, and t must be within
// tolerance of now (in either direction; tolerance <= 0 skips that check, which only a
// receiver that remembers every event id it has seen should do). The comparison is
// constant-time. Receivers deduplicate by the Scimd-Event-Id header: delivery is at least
// once, and a redelivery carries the same event id with a fresh signature.
func Verify(secret string, header string, body []byte, tolerance time.Duration, now time.Time) error {
	var ts int64
	haveT := false
	var sigs []string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveT {
				return fmt.Errorf("%w: bad timestamp", ErrNoSignature)
			}
			ts, haveT = n, true
		case "v1":
			sigs = append(sigs, v)
		}
	}
	if !haveT || len(sigs) == 0 {
		return ErrNoSignature
	}
	want := []byte(mac(secret, ts, body))
	match := false
	for _, s := range sigs {
		if hmac.Equal([]byte(strings.ToLower(s)), want) {
			match = true
		}
	}
	if !match {
		return ErrSignatureMismatch
	}
	if tolerance > 0 {
		d := now.Sub(time.Unix(ts, 0))
		if d > tolerance || d < -tolerance {
			return fmt.Errorf("%w: signed at %s, %s from now", ErrTimestamp, time.Unix(ts, 0).UTC().Format(time.RFC3339), d.Round(time.Second))
		}
	}
	return nil
}
