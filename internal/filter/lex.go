package filter

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// vpMarker starts the attribute name normalize puts in place of a lifted value filter: `$vp0 pr`
// stands for p.lifted[0]. filter-parser's value-filter grammar allows only two terms and no
// parentheses, so value filters are parsed on their own as full filters instead. normalize
// rejects user-written top-level names starting with "$", so a marker cannot be forged.
const vpMarker = "$vp"

var (
	// attrRE is filter-parser's attribute path grammar: [uri:]name[.sub].
	attrRE = regexp.MustCompile(`^(?:[A-Za-z0-9.]+:)*\$?[A-Za-z][A-Za-z0-9_-]*(?:\.\$?[A-Za-z][A-Za-z0-9_-]*)?$`)
	// numberRE is a JSON number.
	numberRE = regexp.MustCompile(`^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$`)

	operators = map[string]bool{"eq": true, "ne": true, "co": true, "sw": true, "ew": true,
		"gt": true, "ge": true, "lt": true, "le": true, "pr": true}
)

type tokKind int

const (
	tWord    tokKind = iota // anything up to a space, parenthesis, bracket or quote
	tString                 // a "string", raw: quotes and escapes included
	tOpen                   // (
	tClose                  // )
	tBracket                // [...]: text holds what is between the brackets
)

type token struct {
	kind tokKind
	text string
}

func (t token) String() string {
	if t.kind == tBracket {
		return strconv.Quote("[" + t.text + "]")
	}
	return strconv.Quote(t.text)
}

// lex splits s into tokens. Whitespace only separates tokens, so any amount of it is accepted.
func (p *parser) lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r':
			i++
		case '(', ')':
			kind := tOpen
			if c == ')' {
				kind = tClose
			}
			toks = append(toks, token{kind, s[i : i+1]})
			i++
		case '"':
			j, err := p.stringEnd(s, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{tString, s[i:j]})
			i = j
		case '[':
			j := i + 1
			for j < len(s) && s[j] != ']' {
				switch s[j] {
				case '[':
					return nil, p.errorf("value filters cannot be nested")
				case '"':
					var err error
					if j, err = p.stringEnd(s, j); err != nil {
						return nil, err
					}
				default:
					j++
				}
			}
			if j == len(s) {
				return nil, p.errorf(`missing "]"`)
			}
			toks = append(toks, token{tBracket, s[i+1 : j]})
			i = j + 1
		case ']':
			return nil, p.errorf(`unexpected "]"`)
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()[]\"", rune(s[j])) {
				j++
			}
			toks = append(toks, token{tWord, s[i:j]})
			i = j
		}
	}
	return toks, nil
}

// stringEnd returns the index just past the closing quote of the string starting at s[i].
func (p *parser) stringEnd(s string, i int) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, p.errorf("unterminated string %s", s[i:])
}

// What normalize expects next.
const (
	sOperand  = iota // an attribute path, "not" or "("
	sNotParen        // "(" after "not"
	sOp              // an operator after an attribute path
	sValue           // the value after an operator
	sAfter           // "and", "or", ")" or the end
)

// normalize checks the token sequence of a filter, which gives far better error details than
// filter-parser, and writes it in the strict syntax filter-parser accepts: operators and keywords
// lower-case, unquoted values quoted, strings re-escaped, value filters lifted out (see vpMarker).
// inner says the tokens are the inside of a value filter, depth is the nesting level they start at.
func (p *parser) normalize(toks []token, inner bool, depth int) (string, error) {
	var b strings.Builder
	emit := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	state, level, prev := sOperand, depth, ""
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch state {
		case sOperand, sNotParen:
			switch {
			case t.kind == tOpen:
				if level++; level > maxDepth {
					return "", p.errorf("nested deeper than %d levels", maxDepth)
				}
				emit("(")
				state = sOperand
			case state == sNotParen:
				return "", p.errorf(`"not" must be followed by "(", not %s`, t)
			case t.kind != tWord:
				return "", p.errorf(`expected an attribute name, "not" or "(" but got %s`, t)
			case strings.EqualFold(t.text, "not"):
				emit("not")
				state = sNotParen
			case !attrRE.MatchString(t.text) || !inner && dollarName(t.text):
				return "", p.errorf("unknown attribute %q", t.text)
			case i+1 < len(toks) && toks[i+1].kind == tBracket:
				n, err := p.lift(toks[i:], level)
				if err != nil {
					return "", err
				}
				emit(fmt.Sprintf("%s%d pr", vpMarker, len(p.lifted)-1))
				i += n
				state = sAfter
			default:
				emit(t.text)
				state = sOp
			}
		case sOp:
			op := strings.ToLower(t.text)
			if t.kind != tWord || !operators[op] {
				return "", p.errorf("expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) after %q, not %s", prev, t)
			}
			emit(op)
			state = sValue
			if op == "pr" {
				state = sAfter
			}
		case sValue:
			v, err := p.value(t, prev)
			if err != nil {
				return "", err
			}
			emit(v)
			state = sAfter
		case sAfter:
			switch {
			case t.kind == tClose && level > depth:
				level--
				emit(")")
			case t.kind == tWord && (strings.EqualFold(t.text, "and") || strings.EqualFold(t.text, "or")):
				emit(strings.ToLower(t.text))
				state = sOperand
			default:
				return "", p.errorf(`expected "and", "or" or ")" after %q, not %s`, prev, t)
			}
		}
		prev = t.text
	}
	switch {
	case state == sOp:
		return "", p.errorf("missing operator after %q", prev)
	case state == sValue:
		return "", p.errorf("missing value after %q", prev)
	case state != sAfter && prev == "" && inner:
		return "", p.errorf("empty value filter")
	case state != sAfter && prev == "":
		return "", p.errorf("the filter is empty")
	case state != sAfter:
		return "", p.errorf("incomplete: missing expression after %q", prev)
	case level > depth:
		return "", p.errorf(`missing ")"`)
	}
	return b.String(), nil
}

// dollarName reports whether the attribute name in path (after any URN) starts with "$". No
// top-level attribute does, and such names are reserved for value filter markers.
func dollarName(path string) bool {
	return strings.HasPrefix(path[strings.LastIndexByte(path, ':')+1:], "$")
}

// lift takes the value filter `attr [filter]` at the start of toks out of the filter, together
// with a following `.sub op value` (Entra's `emails[type eq "work"].value eq "x"`), which is
// rewritten to the equivalent `emails[(type eq "work") and value eq "x"]`. It returns how many
// tokens after toks[0] it consumed.
func (p *parser) lift(toks []token, depth int) (int, error) {
	inner, err := p.lex(toks[1].text)
	if err != nil {
		return 0, err
	}
	n := 1
	if len(toks) > 2 && toks[2].kind == tWord && strings.HasPrefix(toks[2].text, ".") {
		rest := toks[3:min(len(toks), 5)] // op, value; normalize reports anything missing
		if len(rest) > 0 && strings.EqualFold(rest[0].text, "pr") {
			rest = rest[:1]
		}
		n += 1 + len(rest)
		inner = append(append([]token{{tOpen, "("}}, inner...), token{tClose, ")"}, token{tWord, "and"})
		inner = append(append(inner, token{tWord, toks[2].text[1:]}), rest...)
	}
	f, err := p.normalize(inner, true, depth+1)
	if err != nil {
		return 0, err
	}
	p.lifted = append(p.lifted, lifted{attr: toks[0].text, filter: f})
	return n, nil
}

// value normalises a compare value: strings are checked and re-escaped, true/false/null and
// numbers pass, and any other bare word is taken as a string (Entra's `externalId eq jyoung`).
func (p *parser) value(t token, op string) (string, error) {
	switch t.kind {
	case tString:
		var s string
		if err := json.Unmarshal([]byte(t.text), &s); err != nil {
			return "", p.errorf("invalid string %s: %v", t.text, err)
		}
		return p.placeholder(s)
	case tWord:
		switch l := strings.ToLower(t.text); {
		case l == "true" || l == "false" || l == "null":
			return l, nil
		case numberRE.MatchString(t.text):
			return t.text, nil
		}
		return p.placeholder(t.text)
	}
	return "", p.errorf("missing value after %q", op)
}

// placeholder keeps string value s aside and returns the string that stands for it in the
// normalised text ("$0", "$1", ...). Filters that differ only in their strings then normalise
// to the same text, whose filter-parser tree is cached (see parseStrict): identity providers
// send the same few filter shapes with ever different values. A value holding NUL is refused:
// no attribute can hold one, and PostgreSQL cannot take one as a parameter.
func (p *parser) placeholder(s string) (string, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return "", p.errorf("a value contains the NUL character (\\u0000), which no attribute can hold")
	}
	p.values = append(p.values, s)
	return `"$` + strconv.Itoa(len(p.values)-1) + `"`, nil
}
