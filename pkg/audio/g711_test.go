package audio

import (
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// ITU-T G.711 digital milliwatt: this 8-byte µ-law sequence, repeated, is a 1 kHz sine at 0 dBm0.
var ulawDigitalMilliwatt = []byte{0x1E, 0x0B, 0x0B, 0x1E, 0x9E, 0x8B, 0x8B, 0x9E}

func TestUlawDigitalMilliwatt(t *testing.T) {
	src := make([]byte, 0, FrameSamples)
	for len(src) < FrameSamples {
		src = append(src, ulawDigitalMilliwatt...)
	}
	pcm := make([]int16, FrameSamples)
	require.Equal(t, FrameSamples, DecodeUlaw(pcm, src))

	// 0 dBm0 in µ-law is 3.17 dBm below the clipping level: about -3.17 dBFS peak, -6.2 dBFS RMS.
	assert.InDelta(t, -6.2, DBFS(pcm), 0.3)
	f, ok := DominantTone(pcm, []float64{400, 1000, 1800})
	require.True(t, ok)
	assert.InDelta(t, 1000.0, f, 0)

	// Decoded G.711 values are exact code points: re-encoding gives the same bytes.
	re := make([]byte, FrameSamples)
	require.Equal(t, FrameSamples, EncodeUlaw(re, pcm))
	assert.Equal(t, src, re)
}

func TestG711RoundTripError(t *testing.T) {
	// G.711 keeps a relative error of at most 1/16 (4 mantissa bits) above the linear segment.
	tests := []struct {
		name string
		law  Law
		abs  float64 // absolute error allowed for small samples
	}{
		{"ulaw", Ulaw, 4},
		{"alaw", Alaw, 16},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pcm := make([]int16, 0, 65536)
			for v := -32768; v <= 32767; v++ {
				pcm = append(pcm, int16(v))
			}
			enc := make([]byte, len(pcm))
			dec := make([]int16, len(pcm))
			require.Equal(t, len(pcm), tc.law.Encode(enc, pcm))
			require.Equal(t, len(pcm), tc.law.Decode(dec, enc))
			for i, v := range pcm {
				diff := float64(v) - float64(dec[i])
				if diff < 0 {
					diff = -diff
				}
				limit := max(tc.abs, float64(abs(int(v)))/16+tc.abs)
				if diff > limit {
					t.Fatalf("%s: sample %d decoded to %d (error %.0f > %.0f)", tc.name, v, dec[i], diff, limit)
				}
			}
		})
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestG711ShortBuffers(t *testing.T) {
	pcm := []int16{1000, -1000, 2000}
	dst := make([]byte, 2)
	assert.Equal(t, 2, EncodeUlaw(dst, pcm))
	assert.Equal(t, 2, EncodeAlaw(dst, pcm))
	out := make([]int16, 1)
	assert.Equal(t, 1, DecodeUlaw(out, dst))
	assert.Equal(t, 1, DecodeAlaw(out, dst))
	assert.Equal(t, 0, EncodeUlaw(nil, pcm))
	assert.Equal(t, 0, DecodeAlaw(out, nil))
}

func TestLaw(t *testing.T) {
	tests := []struct {
		pt    uint8
		ok    bool
		law   Law
		name  string
		valid bool
	}{
		{0, true, Ulaw, "PCMU", true},
		{8, true, Alaw, "PCMA", true},
		{9, false, 0, "", false},
		{101, false, 0, "", false},
	}
	for _, tc := range tests {
		law, ok := LawForPayloadType(tc.pt)
		assert.Equal(t, tc.ok, ok, "pt %d", tc.pt)
		if !ok {
			assert.False(t, Law(tc.pt).Valid())
			assert.Equal(t, 0, Law(tc.pt).Encode(make([]byte, 4), []int16{1, 2, 3, 4}))
			assert.Equal(t, 0, Law(tc.pt).Decode(make([]int16, 4), []byte{1, 2, 3, 4}))
			assert.Contains(t, Law(tc.pt).String(), "Law(")
			continue
		}
		assert.Equal(t, tc.law, law)
		assert.Equal(t, tc.pt, law.PayloadType())
		assert.Equal(t, tc.name, law.String())
		assert.True(t, law.Valid())
	}
	// Ulaw and Alaw really differ on the wire.
	pcm := []int16{1234}
	u, a := make([]byte, 1), make([]byte, 1)
	Ulaw.Encode(u, pcm)
	Alaw.Encode(a, pcm)
	assert.NotEqual(t, u, a)
}

// TestG711Golden pins the bytes of 20 ms of agent 7001's tone in both laws, so a change in the tone
// generator or the codec wrappers shows up as a diff (refresh with go test -run Golden -update).
func TestG711Golden(t *testing.T) {
	for _, law := range []Law{Ulaw, Alaw} {
		t.Run(law.String(), func(t *testing.T) {
			pcm := make([]int16, FrameSamples)
			NewTone(ToneForDN("7001"), 0).Read(pcm)
			enc := make([]byte, FrameSamples)
			require.Equal(t, FrameSamples, law.Encode(enc, pcm))
			got := hexLines(enc)
			path := filepath.Join("testdata", "tone7001_"+strings.ToLower(law.String())+".hex")
			if *update {
				require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func hexLines(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(16, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

func TestG711ZeroAllocs(t *testing.T) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 0).Read(pcm)
	enc := make([]byte, FrameSamples)
	for _, law := range []Law{Ulaw, Alaw} {
		allocs := testing.AllocsPerRun(100, func() {
			law.Encode(enc, pcm)
			law.Decode(pcm, enc)
		})
		assert.Zero(t, allocs, law.String())
	}
}

func BenchmarkDecodeUlaw(b *testing.B) {
	src := make([]byte, FrameSamples)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		DecodeUlaw(dst, src)
	}
}

func BenchmarkEncodeUlaw(b *testing.B) {
	pcm := make([]int16, FrameSamples)
	NewTone(1000, 0).Read(pcm)
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		EncodeUlaw(dst, pcm)
	}
}

func BenchmarkDecodeAlaw(b *testing.B) {
	src := make([]byte, FrameSamples)
	for i := range src {
		src[i] = byte(i)
	}
	dst := make([]int16, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		DecodeAlaw(dst, src)
	}
}
