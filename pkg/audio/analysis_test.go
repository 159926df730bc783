package audio

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGoertzelNormalisation(t *testing.T) {
	tests := []struct {
		name string
		amp  float64
		freq float64
		at   float64
		want float64
	}{
		{"on frequency", 0.5, 1000, 1000, 0.125},
		{"full scale", 1, 400, 400, 0.5},
		{"grid neighbour is orthogonal", 0.5, 1000, 1100, 0},
		{"two bins away", 0.5, 1800, 1900, 0},
		{"out of range", 0.5, 1000, 4000, 0},
		{"zero freq", 0.5, 1000, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			frame := make([]int16, FrameSamples)
			NewTone(tc.freq, tc.amp).Read(frame)
			assert.InDelta(t, tc.want, Goertzel(frame, tc.at), 0.002)
		})
	}
	assert.Zero(t, Goertzel(nil, 1000))
}

func TestGoertzelShareOfEnergy(t *testing.T) {
	frame := make([]int16, FrameSamples)
	NewTone(2300, 0.2).Read(frame)
	share := Goertzel(frame, 2300) / (RMS(frame) * RMS(frame))
	assert.InDelta(t, 1, share, 0.01)
}

func TestRMSAndSilence(t *testing.T) {
	assert.Zero(t, RMS(nil))
	assert.True(t, IsSilent(nil))
	assert.True(t, math.IsInf(DBFS(make([]int16, 10)), -1))

	square := []int16{math.MaxInt16, math.MinInt16 + 1, math.MaxInt16, math.MinInt16 + 1}
	assert.InDelta(t, 1, RMS(square), 0.001)
	assert.InDelta(t, 0, DBFS(square), 0.01)

	// Threshold at -50 dBFS RMS: a sine of peak A has RMS A/√2.
	below := make([]int16, FrameSamples)
	NewTone(1000, math.Pow(10, -52.0/20)*math.Sqrt2).Read(below)
	assert.True(t, IsSilent(below))
	above := make([]int16, FrameSamples)
	NewTone(1000, math.Pow(10, -48.0/20)*math.Sqrt2).Read(above)
	assert.False(t, IsSilent(above))

	// G.711 idle codes are silent.
	idle := make([]int16, FrameSamples)
	DecodeAlaw(idle, bytesOf(0xD5, FrameSamples))
	assert.True(t, IsSilent(idle))
	DecodeUlaw(idle, bytesOf(0xFF, FrameSamples))
	assert.True(t, IsSilent(idle))
}

func bytesOf(b byte, n int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// throughG711 returns pcm after encoding and decoding with law.
func throughG711(t *testing.T, law Law, pcm []int16) []int16 {
	t.Helper()
	enc := make([]byte, len(pcm))
	require.Equal(t, len(pcm), law.Encode(enc, pcm))
	out := make([]int16, len(pcm))
	require.Equal(t, len(pcm), law.Decode(out, enc))
	return out
}

func defaultCandidates() []float64 {
	c := make([]float64, 0, len(defaultDNs))
	for _, dn := range defaultDNs {
		c = append(c, ToneForDN(dn))
	}
	return c
}

func TestDefaultTonesSurviveG711(t *testing.T) {
	candidates := defaultCandidates()
	for _, law := range []Law{Ulaw, Alaw} {
		for _, dn := range defaultDNs {
			t.Run(law.String()+"/"+dn, func(t *testing.T) {
				want := ToneForDN(dn)
				pcm := make([]int16, SampleRate/2) // 500 ms
				NewTone(want, 0).Read(pcm)
				got := throughG711(t, law, pcm)

				f, ok := DominantTone(got, candidates)
				require.True(t, ok)
				assert.InDelta(t, want, f, 0)

				// Every single frame is this tone, and no other candidate comes close.
				segs := Segments(got, candidates)
				require.Len(t, segs, 1)
				assert.InDelta(t, want, segs[0].Freq, 0)
				assert.False(t, segs[0].Silent)
				assert.Equal(t, 500*time.Millisecond, segs[0].End)
				frame := got[FrameSamples : 2*FrameSamples]
				own := Goertzel(frame, want)
				for _, other := range candidates {
					if other != want {
						assert.Less(t, Goertzel(frame, other)*1000, own, "%v leaks into %v", want, other)
					}
				}
			})
		}
	}
}

func TestToneSilenceToneSegments(t *testing.T) {
	const (
		toneA   = 1800.0
		toneB   = 500.0
		lenA    = 3130 // deliberately not frame aligned: 391.25 ms
		lenGap  = 2450 // 306.25 ms
		lenB    = 4000 // 500 ms
		maxSkew = 20 * time.Millisecond
	)
	pcm := make([]int16, lenA+lenGap+lenB)
	NewTone(toneA, 0).Read(pcm[:lenA])
	NewTone(toneB, 0.5).Read(pcm[lenA+lenGap:])
	for _, law := range []Law{Ulaw, Alaw} {
		t.Run(law.String(), func(t *testing.T) {
			got := throughG711(t, law, pcm)
			segs := Segments(got, defaultCandidates())
			// Frames straddling a boundary may come out as a short unknown run: drop runs under one frame
			// of unknown before counting.
			var main []Segment
			for _, s := range segs {
				if !s.Silent && s.Freq == 0 && s.Duration() <= 20*time.Millisecond {
					continue
				}
				main = append(main, s)
			}
			require.Len(t, main, 3, "%+v", segs)
			assert.InDelta(t, toneA, main[0].Freq, 0)
			assert.True(t, main[1].Silent)
			assert.InDelta(t, toneB, main[2].Freq, 0)

			wantGapStart := samplesToDuration(lenA)
			wantGapEnd := samplesToDuration(lenA + lenGap)
			assert.InDelta(t, float64(wantGapStart), float64(main[1].Start), float64(maxSkew))
			assert.InDelta(t, float64(wantGapEnd), float64(main[1].End), float64(maxSkew))
			assert.Equal(t, samplesToDuration(len(pcm)), segs[len(segs)-1].End)
		})
	}
}

func TestSilenceSegments(t *testing.T) {
	pcm := make([]int16, 1000) // 125 ms, last frame partial
	segs := Segments(pcm, defaultCandidates())
	require.Len(t, segs, 1)
	assert.True(t, segs[0].Silent)
	assert.Zero(t, segs[0].Freq)
	assert.Equal(t, 125*time.Millisecond, segs[0].End)
	_, ok := DominantTone(pcm, defaultCandidates())
	assert.False(t, ok)
	assert.Empty(t, Segments(nil, defaultCandidates()))
}

func TestNoiseIsUnknown(t *testing.T) {
	pcm := make([]int16, SampleRate)
	NewNoise(42, 0.3).Read(pcm)
	got := throughG711(t, Ulaw, pcm)
	segs := Segments(got, defaultCandidates())
	require.Len(t, segs, 1, "%+v", segs)
	assert.False(t, segs[0].Silent)
	assert.Zero(t, segs[0].Freq)
	_, ok := DominantTone(got, defaultCandidates())
	assert.False(t, ok)
}

func TestMixIsUnknownAndUnlistedToneIsUnknown(t *testing.T) {
	a := make([]int16, SampleRate/4)
	b := make([]int16, SampleRate/4)
	NewTone(1800, 0.3).Read(a)
	NewTone(1900, 0.3).Read(b)
	for i := range a {
		a[i] += b[i]
	}
	_, ok := DominantTone(a, defaultCandidates())
	assert.False(t, ok, "an equal mix of two parties has no dominant tone")

	// A louder party over a quiet one still dominates with 10 dB of margin.
	NewTone(1800, 0.5).Read(a)
	NewTone(1900, 0.05).Read(b)
	for i := range a {
		a[i] += b[i]
	}
	f, ok := DominantTone(a, defaultCandidates())
	require.True(t, ok)
	assert.InDelta(t, 1800.0, f, 0)

	NewTone(1234, 0.3).Read(a)
	_, ok = DominantTone(a, defaultCandidates())
	assert.False(t, ok, "a tone that is not a candidate is unknown")
}

func TestDominantToneIgnoresSilence(t *testing.T) {
	pcm := make([]int16, SampleRate)
	NewTone(600, 0).Read(pcm[:SampleRate/5]) // 200 ms tone, 800 ms silence
	f, ok := DominantTone(pcm, defaultCandidates())
	require.True(t, ok)
	assert.InDelta(t, 600.0, f, 0)
}

func FuzzSegments(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3}, 1800.0)
	f.Add(make([]byte, 400), 0.0)
	f.Fuzz(func(t *testing.T, raw []byte, extra float64) {
		pcm := make([]int16, len(raw)/2)
		for i := range pcm {
			pcm[i] = int16(uint16(raw[2*i]) | uint16(raw[2*i+1])<<8)
		}
		cands := append(defaultCandidates(), extra)
		segs := Segments(pcm, cands)
		// Segments tile the input exactly, without gaps or overlaps, and never merge equal neighbours apart.
		var at time.Duration
		for i, s := range segs {
			require.Equal(t, at, s.Start)
			require.Greater(t, s.End, s.Start)
			if s.Silent {
				require.Zero(t, s.Freq)
			}
			if i > 0 {
				prev := segs[i-1]
				require.False(t, prev.Silent == s.Silent && prev.Freq == s.Freq)
			}
			at = s.End
		}
		require.Equal(t, samplesToDuration(len(pcm)), at)
		_, _ = DominantTone(pcm, cands)
	})
}
