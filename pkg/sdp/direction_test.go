package sdp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDirection(t *testing.T) {
	tests := []struct {
		d              Direction
		reverse        Direction
		sends, receive bool
		valid          bool
	}{
		{SendRecv, SendRecv, true, true, true},
		{SendOnly, RecvOnly, true, false, true},
		{RecvOnly, SendOnly, false, true, true},
		{Inactive, Inactive, false, false, true},
		{"", SendRecv, true, true, false},
		{"bogus", "bogus", false, false, false},
	}
	for _, tc := range tests {
		t.Run(string(tc.d), func(t *testing.T) {
			assert.Equal(t, tc.reverse, tc.d.Reverse())
			assert.Equal(t, tc.sends, tc.d.Sends())
			assert.Equal(t, tc.receive, tc.d.Receives())
			assert.Equal(t, tc.valid, tc.d.Valid())
		})
	}
}

func TestDirectionIntersect(t *testing.T) {
	all := []Direction{SendRecv, SendOnly, RecvOnly, Inactive}
	for _, a := range all {
		for _, b := range all {
			got := a.Intersect(b)
			assert.Equal(t, a.Sends() && b.Sends(), got.Sends(), "%s ∩ %s", a, b)
			assert.Equal(t, a.Receives() && b.Receives(), got.Receives(), "%s ∩ %s", a, b)
			assert.Equal(t, got, b.Intersect(a), "commutative")
		}
	}
	assert.Equal(t, Inactive, SendOnly.Intersect(RecvOnly))
	assert.Equal(t, SendOnly, SendRecv.Intersect(SendOnly))
}
