package postgres

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// decodeMultiValued reads a user's multi_valued column (multiValued writes it) into the
// attributes it holds, as encoding/json would decode it into map[string][]any. Its shape is
// fixed, an object of arrays of flat objects whose values are strings or booleans, so a
// plain scan reads it at a fraction of encoding/json's cost (a tenth of a list page's CPU),
// its strings slicing one copy of the value. Anything else, an escaped string included, is
// left to encoding/json.
func decodeMultiValued(b []byte) (map[string][]any, error) {
	if m, ok := scanMultiValued(string(b)); ok {
		return m, nil
	}
	var m map[string][]any
	err := json.Unmarshal(b, &m)
	return m, err
}

// mvScanner reads the JSON text src; ok turns false at the first thing it does not handle.
type mvScanner struct {
	src string
	ok  bool
}

func scanMultiValued(src string) (map[string][]any, bool) {
	s := &mvScanner{src: src, ok: true}
	out := map[string][]any{}
	s.list('{', '}', func() {
		attr := s.str()
		s.byte(':')
		var elems []any
		s.list('[', ']', func() {
			el := map[string]any{}
			s.list('{', '}', func() {
				k := s.str()
				s.byte(':')
				el[k] = s.value()
			})
			elems = append(elems, el)
		})
		if elems == nil {
			elems = []any{}
		}
		out[attr] = elems
	})
	s.space()
	return out, s.ok && s.src == ""
}

// list reads open, items separated by commas (each read by item), and close.
func (s *mvScanner) list(open, close byte, item func()) {
	s.byte(open)
	if s.space(); s.ok && strings.HasPrefix(s.src, string(close)) {
		s.src = s.src[1:]
		return
	}
	for s.ok {
		item()
		if s.space(); s.ok && strings.HasPrefix(s.src, ",") {
			s.src = s.src[1:]
			continue
		}
		s.byte(close)
		return
	}
}

func (s *mvScanner) space() {
	s.src = strings.TrimLeft(s.src, " \t\r\n")
}

func (s *mvScanner) byte(c byte) {
	if s.space(); !s.ok || s.src == "" || s.src[0] != c {
		s.ok = false
		return
	}
	s.src = s.src[1:]
}

// str reads a string without escapes.
func (s *mvScanner) str() string {
	s.byte('"')
	if !s.ok {
		return ""
	}
	i := strings.IndexAny(s.src, "\"\\")
	if i < 0 || s.src[i] != '"' {
		s.ok = false
		return ""
	}
	v := s.src[:i]
	for j := 0; j < len(v); j++ {
		if v[j] < 0x20 {
			s.ok = false
			return ""
		}
	}
	if !utf8.ValidString(v) {
		s.ok = false
		return ""
	}
	s.src = s.src[i+1:]
	return v
}

// value reads a string or a boolean.
func (s *mvScanner) value() any {
	if s.space(); !s.ok {
		return nil
	}
	switch {
	case strings.HasPrefix(s.src, `"`):
		return s.str()
	case strings.HasPrefix(s.src, "true"):
		s.src = s.src[4:]
		return true
	case strings.HasPrefix(s.src, "false"):
		s.src = s.src[5:]
		return false
	}
	s.ok = false
	return nil
}
