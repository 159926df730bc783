package sdp

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestParseRtpmap(t *testing.T) {
	tests := []struct {
		in   string
		want Codec
		ok   bool
	}{
		{"0 PCMU/8000", PCMU, true},
		{"96 opus/48000/2", Codec{96, "opus", 48000, 2, ""}, true},
		{"101  telephone-event/8000/1", Codec{101, "telephone-event", 8000, 1, ""}, true},
		{"127 X/4294967295", Codec{127, "X", 4294967295, 1, ""}, true},
		{"128 X/8000", Codec{}, false},
		{"-1 X/8000", Codec{}, false},
		{"+9 X/8000", Codec{}, false},
		{"96", Codec{}, false},
		{"96 X", Codec{}, false},
		{"96 /8000", Codec{}, false},
		{"96 X/", Codec{}, false},
		{"96 X/4294967296", Codec{}, false},
		{"96 X/8000/0", Codec{}, false},
		{"96 X/8000/256", Codec{}, false},
		{"96 X/8000/2/1", Codec{}, false},
		{"96 X/8000 extra", Codec{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, ok := parseRtpmap(tc.in)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, got)
			if ok {
				back, ok := parseRtpmap(got.rtpmapValue())
				assert.True(t, ok)
				assert.Equal(t, got, back)
			}
		})
	}
}

func TestParseFmtp(t *testing.T) {
	tests := []struct {
		in     string
		pt     uint8
		params string
		ok     bool
	}{
		{"101 0-16", 101, "0-16", true},
		{"96 \tmode=20; x=1", 96, "mode=20; x=1", true},
		{"96", 0, "", false},
		{"96 ", 0, "", false},
		{"x 0-16", 0, "", false},
		{"200 0-16", 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			pt, params, ok := parseFmtp(tc.in)
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.pt, pt)
			assert.Equal(t, tc.params, params)
		})
	}
}
