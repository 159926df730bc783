package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/audio"
)

// approx is a duration with a tolerance: 1s±200ms.
type approx struct {
	d, tol time.Duration
	set    bool
}

func (a approx) ok(d time.Duration) bool { return d >= a.d-a.tol && d <= a.d+a.tol }

func (a approx) String() string { return fmt.Sprintf("%s±%s", a.d, a.tol) }

// toneRef names a tone: a party's, a DN's lab tone, or a frequency.
type toneRef struct {
	party string
	dn    string
	hz    float64
	pos   Pos
}

// segSpec is one entry of an audio timeline: a tone or silence.
type segSpec struct {
	tone *toneRef
	dur  approx
}

type audioExpect struct {
	party, call string
	tone        *toneRef
	minTone     time.Duration
	maxOther    time.Duration
	silence     *approx
	timeline    []segSpec
}

func (c *audioExpect) kind() string           { return "audio" }
func (c *audioExpect) timeout() time.Duration { return 10 * time.Second }
func (c *audioExpect) capture() []string      { return nil }

// glitch is the longest run the timeline ignores: a frame or two at a
// boundary (packetisation, a re-INVITE) is not a segment a user writes.
const glitch = 60 * time.Millisecond

// run is one classified stretch of audio: silence (hz 0, silent), a
// candidate tone (hz), or anything else (hz 0, not silent).
type audioRun struct {
	hz     float64
	silent bool
	d      time.Duration
}

func (r audioRun) label() string {
	switch {
	case r.silent:
		return "silence"
	case r.hz > 0:
		return fmt.Sprintf("%.0f Hz", r.hz)
	}
	return "other"
}

func (r audioRun) same(o audioRun) bool { return r.silent == o.silent && r.hz == o.hz }

// runsOf classifies samples, merging equal neighbours and absorbing glitches.
func runsOf(samples []int16, cands []float64) []audioRun {
	var runs []audioRun
	for _, s := range audio.Segments(samples, cands) {
		runs = append(runs, audioRun{hz: s.Freq, silent: s.Silent, d: s.Duration()})
	}
	runs = merge(runs)
	var out []audioRun
	for _, r := range runs {
		if r.d <= glitch && len(runs) > 1 {
			continue
		}
		out = append(out, r)
	}
	return merge(out)
}

func merge(runs []audioRun) []audioRun {
	var out []audioRun
	for _, r := range runs {
		if n := len(out); n > 0 && out[n-1].same(r) {
			out[n-1].d += r.d
			continue
		}
		out = append(out, r)
	}
	return out
}

func describeRuns(runs []audioRun) string {
	parts := make([]string, len(runs))
	for i, r := range runs {
		parts[i] = fmt.Sprintf("%s %s", r.label(), r.d.Round(10*time.Millisecond))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (c *audioExpect) check(ctx context.Context, rn *run) error {
	call, err := rn.call(c.call)
	if err != nil {
		return err
	}
	leg, err := rn.leg(ctx, call, c.party)
	if err != nil {
		return err
	}
	samples := leg.Media().Received()
	if len(samples) == 0 {
		return fmt.Errorf("%s received no audio on %s", c.party, c.call)
	}
	var extra []float64
	var want float64
	if c.tone != nil {
		want = rn.toneHz(*c.tone)
		extra = append(extra, want)
	}
	tl := make([]float64, len(c.timeline))
	for i, s := range c.timeline {
		if s.tone != nil {
			tl[i] = rn.toneHz(*s.tone)
			extra = append(extra, tl[i])
		}
	}
	return c.verify(samples, rn.candidates(extra...), want, tl)
}

// verify checks samples; split from check so tests can drive it directly.
// tl holds the frequency of each timeline tone segment (0 for silence).
func (c *audioExpect) verify(samples []int16, cands []float64, want float64, tl []float64) error {
	heard := describeRuns(runsOf(samples, cands))
	var toneD, silence, other time.Duration
	for _, s := range audio.Segments(samples, cands) {
		switch {
		case s.Silent:
			silence += s.Duration()
		case want > 0 && s.Freq == want:
			toneD += s.Duration()
		default:
			other += s.Duration()
		}
	}
	if c.tone != nil {
		if toneD < c.minTone {
			return fmt.Errorf("%s heard the %.0f Hz tone for %s, expected at least %s; heard %s",
				c.party, want, toneD.Round(10*time.Millisecond), c.minTone, heard)
		}
		if other > c.maxOther {
			return fmt.Errorf("%s heard %s of audio that is not the %.0f Hz tone (max-other %s); heard %s",
				c.party, other.Round(10*time.Millisecond), want, c.maxOther, heard)
		}
	}
	if c.silence != nil && !c.silence.ok(silence) {
		return fmt.Errorf("%s heard %s of silence, expected %s; heard %s",
			c.party, silence.Round(10*time.Millisecond), c.silence, heard)
	}
	if len(c.timeline) > 0 {
		runs := runsOf(samples, cands)
		if len(runs) != len(c.timeline) {
			return fmt.Errorf("%s heard %d segments, the timeline expects %d; heard %s",
				c.party, len(runs), len(c.timeline), heard)
		}
		for i, s := range c.timeline {
			r := runs[i]
			if s.tone != nil {
				hz := tl[i]
				if r.silent || r.hz != hz {
					return fmt.Errorf("%s: timeline segment %d is %s, expected the %.0f Hz tone; heard %s",
						c.party, i+1, r.label(), hz, heard)
				}
			} else if !r.silent {
				return fmt.Errorf("%s: timeline segment %d is %s, expected silence; heard %s", c.party, i+1, r.label(), heard)
			}
			if s.dur.set && !s.dur.ok(r.d) {
				return fmt.Errorf("%s: timeline segment %d (%s) lasted %s, expected %s; heard %s",
					c.party, i+1, r.label(), r.d.Round(10*time.Millisecond), s.dur, heard)
			}
		}
	}
	return nil
}
