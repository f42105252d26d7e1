package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckList(t *testing.T) {
	compact := []byte(`{"Resources":[{"id":"a","userName":"\"totalResults\":5,"}],"itemsPerPage":100,"schemas":[],"startIndex":1,"totalResults":20000}`)
	require.Equal(t, "", checkList(compact, 20000, 100), "totalResults last: decoded")
	require.Equal(t, "totalResults 20000, want 5", checkList(compact, 5, -1), "a userName holding the text is not the member")
	require.Equal(t, "itemsPerPage 100, want 99", checkList(compact, 20000, 99))

	fast := []byte(`{"totalResults":1,"itemsPerPage":1,"Resources":[{}]}`)
	require.Equal(t, "", checkList(fast, 1, 1))
	require.Equal(t, "totalResults 1, want 10", checkList(fast, 10, -1), "1 is not a prefix match of 10")

	spaced := []byte(`{ "totalResults": 3, "itemsPerPage": 3 }`)
	require.Equal(t, "", checkList(spaced, 3, 3), "not compact: decoded")
	require.Equal(t, "totalResults missing, want 0", checkList([]byte(`{}`), 0, -1))
	require.Equal(t, "invalid JSON", checkList([]byte(`<html>`), 0, -1))
}
