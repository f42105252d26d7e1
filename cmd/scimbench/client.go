package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// api is a SCIM client for one organization.
type api struct {
	base string
	auth string
	c    *http.Client
}

func newAPI(base, token string, conns int) *api {
	tr := &http.Transport{
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// Enough idle connections for every client: otherwise connections are closed and
		// reopened under load and the benchmark measures TCP handshakes.
		MaxIdleConns:        2 * conns,
		MaxIdleConnsPerHost: 2 * conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	// The timeout only stops a hung request; a late delta sync page may legitimately take a minute.
	return &api{base: base, auth: "Bearer " + token, c: &http.Client{Transport: tr, Timeout: 5 * time.Minute}}
}

// reply is what the benchmark keeps of a response.
type reply struct {
	status   int
	body     []byte
	location string
}

func (r reply) ok() bool { return r.status >= 200 && r.status < 300 }

// do sends one request to base+path and reads the whole response, so that the connection is
// reused and the time measured includes the body.
func (a *api) do(ctx context.Context, method, path string, body []byte) (reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	req.Header.Set("Authorization", a.auth)
	req.Header.Set("Accept", "application/scim+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/scim+json")
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, body: b, location: resp.Header.Get("Location")}, nil
}
