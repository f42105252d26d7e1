package directory

import (
	"errors"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/scimd/scimd/internal/patch"
	"github.com/scimd/scimd/internal/scimerr"
)

// Passwords are accepted write-only and stored as bcrypt hashes. Hashing costs tens of
// milliseconds of CPU, so it is done before a write's transaction begins, never while it holds
// a connection and row locks: hashPasswords hashes the cleartexts a request may set, and the
// transaction looks them up.

func bcryptHash(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.DefaultCost)
	if errors.Is(err, bcrypt.ErrPasswordTooLong) {
		return "", scimerr.Invalid(scimerr.InvalidValue, "password must be at most 72 bytes")
	}
	return string(h), err
}

// hashPasswords hashes every string among values.
func (s *Service) hashPasswords(values ...any) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range values {
		pw, ok := v.(string)
		if !ok {
			continue
		}
		if _, done := out[pw]; done {
			continue
		}
		h, err := s.hash(pw)
		if err != nil {
			return nil, err
		}
		out[pw] = h
	}
	return out, nil
}

// hashed is pw's hash from hashes, else computed now (a PATCH that set the password by a path
// patchedPasswords did not foresee).
func (s *Service) hashed(hashes map[string]string, pw string) (string, error) {
	if h, ok := hashes[pw]; ok {
		return h, nil
	}
	return s.hash(pw)
}

// patchedPasswords are the values PATCH operations may set the password to: the value of an
// operation on path "password", and a "password" key of a path-less operation's value.
func patchedPasswords(ops []patch.Operation) []any {
	var out []any
	for _, op := range ops {
		if strings.EqualFold(strings.TrimSpace(op.Path), "password") {
			out = append(out, op.Value)
		}
		if m, ok := op.Value.(map[string]any); ok && op.Path == "" {
			for k, v := range m {
				if strings.EqualFold(k, "password") {
					out = append(out, v)
				}
			}
		}
	}
	return out
}
