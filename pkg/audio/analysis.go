package audio

import "math"

// SilenceThresholdDBFS is the level below which a span counts as silent: -50 dBFS RMS. G.711 idle channels
// (µ-law 0xFF decodes to 0, A-law 0xD5 to ±8, about -72 dBFS) are well below it, and the quietest lab tone
// (DefaultAmplitude, about -13.5 dBFS RMS) is far above it.
const SilenceThresholdDBFS = -50.0

// silenceRMS is SilenceThresholdDBFS as a linear full-scale RMS.
var silenceRMS = math.Pow(10, SilenceThresholdDBFS/20)

// fullScale converts int16 samples to [-1, 1).
const fullScale = 32768.0

// meanSquare returns the mean of the squared samples, full scale 1.0.
func meanSquare(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var sum float64
	for _, s := range samples {
		v := float64(s)
		sum += v * v
	}
	return sum / float64(len(samples)) / (fullScale * fullScale)
}

// RMS returns the root-mean-square level of samples as a fraction of full scale (a full-scale square wave is
// 1.0, a full-scale sine about 0.707). Empty input is 0.
func RMS(samples []int16) float64 { return math.Sqrt(meanSquare(samples)) }

// DBFS returns the RMS level of samples in dB relative to full scale; digital silence is -Inf.
func DBFS(samples []int16) float64 {
	r := RMS(samples)
	if r == 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(r)
}

// IsSilent reports whether samples are below SilenceThresholdDBFS. Empty input is silent.
func IsSilent(samples []int16) bool { return RMS(samples) < silenceRMS }

// Goertzel returns the normalised power of samples at freq Hz: the mean-square power of the sinusoidal
// component at freq, full scale 1.0. A sine of amplitude A (fraction of full scale) exactly at freq over a
// whole number of cycles gives A²/2, the same units as RMS(samples)², so Goertzel(x, f)/RMS(x)² is the share
// of the signal's energy that sits at f. Empty input or freq outside (0, Nyquist) gives 0.
func Goertzel(samples []int16, freq float64) float64 {
	if len(samples) == 0 || !(freq > 0 && freq < SampleRate/2) {
		return 0
	}
	return goertzel(samples, 2*math.Cos(2*math.Pi*freq/SampleRate))
}

// goertzel runs the Goertzel recurrence with a precomputed coefficient 2cos(ω).
func goertzel(samples []int16, coeff float64) float64 {
	var s1, s2 float64
	for _, x := range samples {
		s0 := float64(x)/fullScale + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	// |X(ω)|² of the DTFT at ω, exact for any ω (no bin rounding).
	power := s1*s1 + s2*s2 - coeff*s1*s2
	n := float64(len(samples))
	return 2 * power / (n * n)
}
