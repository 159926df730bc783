package audio

import (
	"math"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// defaultDNs are the lab's default parties (ARCHITECTURE.md "Defaults"): agents, supervisor, routing point,
// and customers dialling in from +1555…
var defaultDNs = []string{
	"7001", "7002", "7003", "7004", "7005", "7100", "5000",
	"+15551230000", "+15551230001", "+15551230002", "+15551234567",
}

func TestToneForDNDocumentedMapping(t *testing.T) {
	tests := []struct {
		dn   string
		freq float64
	}{
		{"7001", 1800}, {"7002", 1900}, {"7003", 2000}, {"7004", 400}, {"7005", 500},
		{"7100", 1500}, {"5000", 600},
		{"+15551230000", 2100}, {"+15551230009", 3000}, {"+15551234567", 2800},
		{"15551230003", 2400}, // 7+ digits is external even without '+'
		{" 7001 ", 1800},
	}
	for _, tc := range tests {
		assert.InDelta(t, tc.freq, ToneForDN(tc.dn), 0, tc.dn)
	}
}

func TestToneForDNDistinctDefaults(t *testing.T) {
	seen := map[float64]string{}
	for _, dn := range defaultDNs {
		f := ToneForDN(dn)
		if other, dup := seen[f]; dup {
			// Customers sharing a last digit are allowed to collide; the defaults used here must not.
			t.Fatalf("%s and %s share %v Hz", dn, other, f)
		}
		seen[f] = dn
		assert.GreaterOrEqual(t, f, 400.0, dn)
		assert.LessOrEqual(t, f, 3000.0, dn)
	}
	// Customers never share a tone with an internal DN.
	for i := range 10 {
		cust := ToneForDN("+155500000" + string(rune('0'+i)))
		assert.GreaterOrEqual(t, cust, 2100.0)
	}
	// 17 consecutive extensions are all distinct.
	agents := map[float64]bool{}
	for n := 7001; n < 7018; n++ {
		agents[ToneForDN(strconv.Itoa(n))] = true
	}
	assert.Len(t, agents, 17)
}

func TestToneForDNDeterministicWithoutDigits(t *testing.T) {
	a := ToneForDN("alice")
	assert.InDelta(t, a, ToneForDN("alice"), 0)
	assert.GreaterOrEqual(t, a, 400.0)
	assert.LessOrEqual(t, a, 3000.0)
	assert.InDelta(t, 0, math.Mod(a, 100), 0)
}

func TestToneForIndex(t *testing.T) {
	assert.InDelta(t, 400.0, ToneForIndex(0), 0)
	assert.InDelta(t, 3000.0, ToneForIndex(26), 0)
	assert.InDelta(t, 400.0, ToneForIndex(27), 0)
	assert.InDelta(t, 3000.0, ToneForIndex(-1), 0)
	seen := map[float64]bool{}
	for i := range 27 {
		seen[ToneForIndex(i)] = true
	}
	assert.Len(t, seen, 27)
}

func TestToneContinuousPhase(t *testing.T) {
	one := make([]int16, 2*FrameSamples)
	NewTone(1800, 0.5).Read(one)

	split := make([]int16, 2*FrameSamples)
	tone := NewTone(1800, 0.5)
	tone.Read(split[:37])
	tone.Read(split[37:FrameSamples])
	tone.Read(split[FrameSamples:])
	for i := range one {
		// Phase accumulates identically; allow 1 LSB for float rounding.
		assert.InDelta(t, float64(one[i]), float64(split[i]), 1, "sample %d", i)
	}
}

func TestToneLevel(t *testing.T) {
	frame := make([]int16, 8000)
	NewTone(1000, 0).Read(frame)
	// A sine of peak 0.3 has RMS 0.3/√2.
	assert.InDelta(t, DefaultAmplitude/math.Sqrt2, RMS(frame), 0.001)

	NewTone(1000, 5).Read(frame) // clipped to full scale, no int16 overflow
	assert.InDelta(t, 1/math.Sqrt2, RMS(frame), 0.001)

	NewTone(0, 0.5).Read(frame)
	assert.True(t, IsSilent(frame), "0 Hz is silence")
	NewTone(5000, 0.5).Read(frame)
	assert.True(t, IsSilent(frame), "above Nyquist is silence")
	assert.InDelta(t, 1000.0, NewTone(1000, 0).Freq(), 0)
}

func TestSourcesZeroAllocs(t *testing.T) {
	frame := make([]int16, FrameSamples)
	tone := NewTone(1000, 0)
	noise := NewNoise(1, 0)
	allocs := testing.AllocsPerRun(100, func() {
		tone.Read(frame)
		noise.Read(frame)
		Silence{}.Read(frame)
	})
	assert.Zero(t, allocs)
	require.True(t, IsSilent(frame))
}

func BenchmarkToneRead(b *testing.B) {
	frame := make([]int16, FrameSamples)
	tone := NewTone(1800, 0)
	b.ReportAllocs()
	for b.Loop() {
		tone.Read(frame)
	}
}
