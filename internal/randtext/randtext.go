// Package randtext makes random text for tests of length limits. Repeated characters compress,
// and PostgreSQL compresses index entries, so a test with "aaaa..." can pass where real text
// fails; random characters from several scripts do not compress.
package randtext

import (
	"math/rand/v2"
	"unicode/utf8"
)

// ranges are the characters drawn from: ASCII letters and digits (1 byte in UTF-8), Latin,
// Greek and Cyrillic letters (2 bytes), CJK ideographs (3 bytes) and emoji (4 bytes), and more
// often than the rest U+023A to U+023E, some of whose lower cases are longer than themselves
// ("Ⱥ" is 2 bytes, "ⱥ" 3), as the indexes on lower(...) see them. No quote, backslash, space or
// control character, so the text can go into a filter string as it is.
var ranges = [][2]rune{
	{'0', '9'}, {'A', 'Z'}, {'a', 'z'},
	{0x00C0, 0x024F}, {0x0391, 0x03C9}, {0x0410, 0x044F}, {0x023A, 0x023E},
	{0x4E00, 0x9FFF},
	{0x1F300, 0x1F5FF},
}

// String returns random text of exactly n bytes in UTF-8.
func String(n int) string {
	b := make([]byte, 0, n)
	for len(b) < n {
		r := ranges[rand.IntN(len(ranges))]
		c := r[0] + rand.Int32N(r[1]-r[0]+1)
		if utf8.RuneLen(c) <= n-len(b) {
			b = utf8.AppendRune(b, c)
		}
	}
	return string(b)
}
