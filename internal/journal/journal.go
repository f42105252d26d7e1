// Package journal describes what the audit log and the notification outbox record about a
// change: who asked for it (carried in the request's context) and what changed, attribute by
// attribute. The postgres store writes both in the transaction of the change.
package journal

import (
	"context"
	"reflect"
)

// Request is who made a request and how: the token, the admin user who issued it (empty for
// an organization's operator token), the request id, and the request's notification override.
type Request struct {
	TokenID   string
	UserID    string
	RequestID string
	// Notify overrides the organization's notification setting for this request when set.
	Notify *bool
}

type ctxKey struct{}

// WithRequest returns ctx carrying r.
func WithRequest(ctx context.Context, r Request) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// From returns the Request ctx carries; the zero Request for work no request asked for.
func From(ctx context.Context) Request {
	r, _ := ctx.Value(ctxKey{}).(Request)
	return r
}

// Change is one attribute's value before and after a change; nil means unassigned.
type Change struct {
	Before any `json:"before,omitempty"`
	After  any `json:"after,omitempty"`
}

// Secret stands for a secret's value in the audit log, which records that it changed but
// never what it is.
const Secret = "(changed)"

// Diff returns the attributes whose values differ between two canonical documents. Extension
// attributes are keyed "urn:...:attribute". Attributes the server computes (meta, id,
// schemas, groups) are not changes the request made and are left out.
func Diff(before, after map[string]any) map[string]Change {
	out := map[string]Change{}
	flat := func(doc map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range doc {
			switch k {
			case "id", "meta", "schemas", "groups":
				continue
			}
			if ext, ok := v.(map[string]any); ok && isURN(k) {
				for ek, ev := range ext {
					if ek == "accountId" || ek == "status" {
						continue
					}
					m[k+":"+ek] = ev
				}
				continue
			}
			m[k] = v
		}
		return m
	}
	b, a := flat(before), flat(after)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range a {
		keys[k] = true
	}
	for k := range keys {
		if !reflect.DeepEqual(b[k], a[k]) {
			out[k] = Change{Before: b[k], After: a[k]}
		}
	}
	return out
}

func isURN(k string) bool { return len(k) > 4 && k[:4] == "urn:" }
