package recclient

import (
	"fmt"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
)

// ChannelCheck is what one channel of a lab recording contains.
type ChannelCheck struct {
	Index     int
	Party     string  // the DN (AOR user part) recorded on the channel
	WantHz    float64 // the party's tone
	ToneTime  time.Duration
	Silence   time.Duration
	OtherTime time.Duration // audio that is neither silence nor the party's tone
	// PausedAudio is audio found inside the recording's pause spans.
	PausedAudio time.Duration
	Problems    []string
}

// OK reports whether the channel passed.
func (c ChannelCheck) OK() bool { return len(c.Problems) == 0 }

// Verification is the verdict on a recording made in the lab, where every
// party sends the tone of its DN.
type Verification struct {
	Recording recorder.Recording
	Duration  time.Duration
	Channels  []ChannelCheck
}

// OK reports whether every channel passed.
func (v Verification) OK() bool {
	for _, c := range v.Channels {
		if !c.OK() {
			return false
		}
	}
	return len(v.Channels) > 0
}

// Problems lists every channel's problems, prefixed with the channel.
func (v Verification) Problems() []string {
	var out []string
	if len(v.Channels) == 0 {
		out = append(out, "the recording has no channels")
	}
	for _, c := range v.Channels {
		for _, p := range c.Problems {
			out = append(out, fmt.Sprintf("channel %d (%s): %s", c.Index, c.Party, p))
		}
	}
	return out
}

// Tolerance is how much foreign audio or missing tone a channel may have:
// the edges of pauses and of the call are quantised to 20 ms frames.
const Tolerance = 60 * time.Millisecond

// VerifyTones checks a lab recording: each channel carries its party's tone
// and nothing else, and every pause span is silent on every channel.
func VerifyTones(rec recorder.Recording, f *wav.File) Verification {
	v := Verification{Recording: rec, Duration: f.Duration()}
	parties := make([]string, len(f.Samples))
	var candidates []float64
	for i := range f.Samples {
		parties[i] = channelParty(rec, i)
		if parties[i] != "" {
			candidates = append(candidates, audio.ToneForDN(parties[i]))
		}
	}
	for i, samples := range f.Samples {
		c := ChannelCheck{Index: i, Party: parties[i]}
		if c.Party == "" {
			c.Problems = append(c.Problems, "no party is known for this channel")
			v.Channels = append(v.Channels, c)
			continue
		}
		c.WantHz = audio.ToneForDN(c.Party)
		for _, s := range audio.Segments(samples, candidates) {
			d := s.End - s.Start
			switch {
			case s.Silent:
				c.Silence += d
			case s.Freq == c.WantHz:
				c.ToneTime += d
			default:
				c.OtherTime += d
			}
			for _, p := range rec.Pauses {
				ps, pe := time.Duration(p.StartMs)*time.Millisecond, time.Duration(p.EndMs)*time.Millisecond
				if !s.Silent {
					c.PausedAudio += overlap(s.Start, s.End, ps, pe)
				}
			}
		}
		if c.ToneTime < 200*time.Millisecond {
			c.Problems = append(c.Problems, fmt.Sprintf("the party's %.0f Hz tone is missing (heard for %v)", c.WantHz, c.ToneTime))
		}
		if c.OtherTime > Tolerance {
			c.Problems = append(c.Problems, fmt.Sprintf("%v of audio that is not the party's tone", c.OtherTime))
		}
		if c.PausedAudio > Tolerance {
			c.Problems = append(c.Problems, fmt.Sprintf("%v of audio inside paused spans", c.PausedAudio))
		}
		v.Channels = append(v.Channels, c)
	}
	return v
}

// channelParty is the DN recorded on channel i: the user part of its AOR.
func channelParty(rec recorder.Recording, i int) string {
	for _, ch := range rec.Channels {
		if ch.Index == i {
			return aorUser(ch.AOR)
		}
	}
	return ""
}

func aorUser(aor string) string {
	s := strings.TrimSpace(aor)
	s = strings.TrimPrefix(strings.TrimSuffix(s, ">"), "<")
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		s = strings.TrimPrefix(s, scheme)
	}
	if i := strings.IndexAny(s, "@;"); i >= 0 {
		s = s[:i]
	}
	return s
}

func overlap(a0, a1, b0, b1 time.Duration) time.Duration {
	lo, hi := max(a0, b0), min(a1, b1)
	if hi > lo {
		return hi - lo
	}
	return 0
}
