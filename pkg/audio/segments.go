package audio

import (
	"math"
	"time"
)

// Classification thresholds of a non-silent frame. A frame is the candidate tone f when
//   - f holds at least toneShareMin of the frame's energy (so broadband noise, speech or a mix of tones is
//     not mistaken for a tone: white noise puts about 1/80 of its energy in one 20 ms Goertzel bin), and
//   - f's power is at least toneMarginMin times the runner-up candidate's (10 dB clear of any other).
//
// A grid tone after G.711 scores a share of about 0.99 and a margin of more than 30 dB.
const (
	toneShareMin  = 0.5
	toneMarginMin = 10.0
)

// Segment is a run of equally classified 20 ms frames: silent, a candidate tone (Freq), or neither (not
// silent, Freq 0: noise, speech, a mix, or a tone not among the candidates).
type Segment struct {
	Start, End time.Duration
	Silent     bool
	Freq       float64 // dominant candidate tone, 0 if none or silent
}

// Duration returns End - Start.
func (s Segment) Duration() time.Duration { return s.End - s.Start }

// classifier classifies frames against a fixed candidate list.
type classifier struct {
	freqs  []float64
	coeffs []float64
}

func newClassifier(candidates []float64) classifier {
	c := classifier{freqs: make([]float64, 0, len(candidates)), coeffs: make([]float64, 0, len(candidates))}
	for _, f := range candidates {
		if f > 0 && f < SampleRate/2 {
			c.freqs = append(c.freqs, f)
			c.coeffs = append(c.coeffs, 2*math.Cos(2*math.Pi*f/SampleRate))
		}
	}
	return c
}

// classify returns whether frame is silent, and otherwise the dominant candidate (0 if none dominates).
// Candidates should be distinct: two equal candidates never clear the margin over each other.
func (c classifier) classify(frame []int16) (silent bool, freq float64) {
	ms := meanSquare(frame)
	if math.Sqrt(ms) < silenceRMS {
		return true, 0
	}
	best, second := -1.0, 0.0
	bestIdx := -1
	for i, coeff := range c.coeffs {
		p := goertzel(frame, coeff)
		switch {
		case p > best:
			second = max(best, 0)
			best, bestIdx = p, i
		case p > second:
			second = p
		}
	}
	if bestIdx < 0 || best < toneShareMin*ms || best < toneMarginMin*second {
		return false, 0
	}
	return false, c.freqs[bestIdx]
}

// samplesToDuration converts a sample count at SampleRate to a duration.
func samplesToDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / SampleRate
}

// Segments splits samples into runs at frame (20 ms, FrameSamples) granularity, classifying each frame as
// silent (below SilenceThresholdDBFS), as the candidate tone that clearly dominates it, or as unknown (Freq
// 0, not silent). Adjacent frames with the same class merge into one Segment. A trailing partial frame is
// classified on its own samples. Boundaries are therefore accurate to one frame; a frame straddling a change
// may be classified either way or as unknown.
func Segments(samples []int16, candidates []float64) []Segment {
	c := newClassifier(candidates)
	var segs []Segment
	for off := 0; off < len(samples); off += FrameSamples {
		end := min(off+FrameSamples, len(samples))
		silent, freq := c.classify(samples[off:end])
		start, stop := samplesToDuration(off), samplesToDuration(end)
		if n := len(segs); n > 0 && segs[n-1].Silent == silent && segs[n-1].Freq == freq {
			segs[n-1].End = stop
			continue
		}
		segs = append(segs, Segment{Start: start, End: stop, Silent: silent, Freq: freq})
	}
	return segs
}

// DominantTone returns the candidate that dominates samples: the candidate tone of the most frames, provided
// it is the tone of more than half of the non-silent frames (silent frames, e.g. a held span, do not count
// against it). ok is false when samples are silent, or no candidate has such a majority (noise, a mix, an
// unexpected tone).
func DominantTone(samples []int16, candidates []float64) (freq float64, ok bool) {
	c := newClassifier(candidates)
	counts := make([]int, len(c.freqs))
	nonSilent := 0
	for off := 0; off < len(samples); off += FrameSamples {
		end := min(off+FrameSamples, len(samples))
		silent, f := c.classify(samples[off:end])
		if silent {
			continue
		}
		nonSilent++
		if f == 0 {
			continue
		}
		for i, cf := range c.freqs {
			if cf == f {
				counts[i]++
				break
			}
		}
	}
	bestIdx := -1
	for i, n := range counts {
		if n > 0 && (bestIdx < 0 || n > counts[bestIdx]) {
			bestIdx = i
		}
	}
	if bestIdx < 0 || 2*counts[bestIdx] <= nonSilent {
		return 0, false
	}
	return c.freqs[bestIdx], true
}
