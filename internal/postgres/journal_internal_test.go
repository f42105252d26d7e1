package postgres

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// uuidsIn finds what the regular expression it replaced found, lowercased.
func TestUUIDsInMatchesTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	for _, in := range []string{
		``,
		`{"manager":{"before":null,"after":"01A231C0-7896-7601-ACDB-F014CDF6FE2C"}}`,
		`x01a231c0-7896-7601-acdb-f014cdf6fe2c01a231c0-7896-7601-acdb-f014cdf6fe2cz`,
		`0a231c0-7896-7601-acdb-f014cdf6fe2c`,                      // one digit short
		`001a231c0-7896-7601-acdb-f014cdf6fe2c`,                    // a leading extra digit
		`01a231c0-7896-7601-acdb-f014cdf6fe2c-7896-7601-acdb-f014`, // overlapping shapes
		`["01a231c0-7896-7601-acdb-f014cdf6fe2g","01a231c0_7896-7601-acdb-f014cdf6fe2c"]`,
		`{"members":["0191e0c0-0000-7000-8000-000000000001","0191e0c0-0000-7000-8000-000000000002"]}`,
	} {
		want := re.FindAllString(in, -1)
		for i := range want {
			want[i] = strings.ToLower(want[i])
		}
		require.Equal(t, want, uuidsIn([]byte(in)), "%q", in)
	}
}
