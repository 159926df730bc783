package sdp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// SDP is handled once per offer/answer, not per packet; these benchmarks
// only keep an eye on the cost of a typical call set-up.

func BenchmarkParse(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "freeswitch_srtp.sdp"))
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshal(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "freeswitch_srtp.sdp"))
	require.NoError(b, err)
	s, err := Parse(raw)
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Marshal()
	}
}

func BenchmarkAnswer(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "asterisk.sdp"))
	require.NoError(b, err)
	offer, err := Parse(raw)
	require.NoError(b, err)
	o := AnswerOptions{Addr: ourAddr, Port: 30000}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Answer(offer, o); err != nil {
			b.Fatal(err)
		}
	}
}
