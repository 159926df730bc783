package audio

import (
	"hash/fnv"
	"math"
	"strings"
)

// The tone grid: 27 frequencies from 400 Hz to 3000 Hz in 100 Hz steps. Every grid frequency is a multiple of
// 50 Hz, i.e. a whole number of cycles in one 160-sample frame, so the Goertzel power of one grid tone at any
// other grid frequency is zero over a frame whatever the frame's alignment: tones are separable frame by frame
// after G.711 (whose quantisation noise sits ~35 dB below the tone), even 100 Hz apart.
const (
	gridLow   = 400.0
	gridStep  = 100.0
	gridSlots = 27

	// internalSlots is how many grid slots (from the bottom: 400..2000 Hz) internal DNs share; the rest
	// (2100..3000 Hz) belong to external numbers, so a customer never sounds like an agent.
	internalSlots = 17
	externalSlots = gridSlots - internalSlots
)

// DefaultAmplitude is the tone amplitude (fraction of full scale) used when NewTone gets none: -13.5 dBFS
// peak, loud enough to stand far above G.711 noise and quiet enough that a mix of two parties never clips.
const DefaultAmplitude = 0.3

// ToneForIndex returns grid tone i: 400 + 100*(i mod 27) Hz (negative i wraps too). Index 0..26 covers
// 400..3000 Hz; any two indexes that differ mod 27 give tones the analyser separates.
func ToneForIndex(i int) float64 {
	slot := i % gridSlots
	if slot < 0 {
		slot += gridSlots
	}
	return gridLow + gridStep*float64(slot)
}

// ToneForDN returns the tone a party with directory number dn sends, so a test can tell every party apart
// by ear and by Goertzel. The mapping is deterministic:
//
//   - internal DNs (no leading '+', fewer than 7 digits): slot = number mod 17, i.e. 400..2000 Hz;
//   - external numbers (leading '+' or 7+ digits, e.g. +1555…): slot = 17 + last digit, i.e. 2100..3000 Hz;
//   - a DN without digits: FNV-1a hash of the string mod 27 (anywhere on the grid).
//
// With the lab defaults this gives: 7001 → 1800 Hz, 7002 → 1900, 7003 → 2000, 7004 → 400, 7005 → 500,
// 7100 (supervisor) → 1500, 5000 (routing point) → 600, +1555…0 → 2100 … +1555…9 → 3000 Hz. Internal DNs
// that differ mod 17 (e.g. any 17 consecutive extensions) and external numbers that differ in the last digit
// never collide.
func ToneForDN(dn string) float64 {
	dn = strings.TrimSpace(dn)
	var digits int
	var mod17, last int
	for i := 0; i < len(dn); i++ {
		c := dn[i]
		if c < '0' || c > '9' {
			continue
		}
		d := int(c - '0')
		digits++
		mod17 = (mod17*10 + d) % internalSlots
		last = d
	}
	switch {
	case digits == 0:
		h := fnv.New32a()
		_, _ = h.Write([]byte(dn))
		return ToneForIndex(int(h.Sum32() % gridSlots))
	case strings.HasPrefix(dn, "+") || digits >= 7:
		return ToneForIndex(internalSlots + last%externalSlots)
	default:
		return ToneForIndex(mod17)
	}
}

// Tone is a continuous sine generator. It keeps its phase between Read calls, so consecutive frames join
// without clicks, which the analyser would otherwise see as broadband energy. A Tone is not safe for
// concurrent use; give each stream its own.
type Tone struct {
	freq  float64
	amp   float64 // peak, in int16 units
	phase float64 // radians, in [0, 2π)
	step  float64 // radians per sample
}

// NewTone returns a tone of freq Hz at amplitude (fraction of full scale, 0..1). An amplitude <= 0 means
// DefaultAmplitude; above 1 is clipped to 1. A freq outside (0, Nyquist) gives silence rather than aliasing.
func NewTone(freq, amplitude float64) *Tone {
	if amplitude <= 0 || math.IsNaN(amplitude) {
		amplitude = DefaultAmplitude
	}
	amplitude = min(amplitude, 1)
	t := &Tone{freq: freq, amp: amplitude * math.MaxInt16}
	if freq > 0 && freq < SampleRate/2 {
		t.step = 2 * math.Pi * freq / SampleRate
	} else {
		t.amp = 0
	}
	return t
}

// Freq returns the tone's frequency in Hz.
func (t *Tone) Freq() float64 { return t.freq }

// Read fills frame with the next len(frame) samples. It does not allocate.
func (t *Tone) Read(frame []int16) {
	const twoPi = 2 * math.Pi
	for i := range frame {
		frame[i] = int16(math.Round(t.amp * math.Sin(t.phase)))
		t.phase += t.step
		if t.phase >= twoPi {
			t.phase -= twoPi
		}
	}
}

// Silence is a Source of digital silence.
type Silence struct{}

// Read fills frame with zeros.
func (Silence) Read(frame []int16) { clear(frame) }

// Noise is a deterministic pseudo-random white-noise generator (xorshift32), useful as a party that is
// clearly not silent and clearly not any tone. Not safe for concurrent use.
type Noise struct {
	state uint32
	amp   float64
}

// NewNoise returns white noise with the given seed (0 is replaced by a fixed non-zero seed) and peak
// amplitude as a fraction of full scale (<= 0 means DefaultAmplitude).
func NewNoise(seed uint32, amplitude float64) *Noise {
	if seed == 0 {
		seed = 0x9E3779B9
	}
	if amplitude <= 0 || math.IsNaN(amplitude) {
		amplitude = DefaultAmplitude
	}
	return &Noise{state: seed, amp: min(amplitude, 1) * math.MaxInt16}
}

// Read fills frame with the next noise samples, uniformly distributed in [-amp, amp]. It does not allocate.
func (n *Noise) Read(frame []int16) {
	for i := range frame {
		x := n.state
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		n.state = x
		u := float64(x)/math.MaxUint32*2 - 1
		frame[i] = int16(u * n.amp)
	}
}
