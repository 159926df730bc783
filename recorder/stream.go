package recorder

import (
	"math"

	"github.com/pion/rtp"
)

// codecKind is what the timeline does with a payload type.
type codecKind uint8

const (
	kindUnknown codecKind = iota // dropped and counted
	kindPCMU
	kindPCMA
	kindEvent // RFC 4733 telephone-event: analysed, not written as audio
	kindCN    // comfort noise: nothing written (the gap stays silence)
)

// Sequence tracking constants (RFC 3550 A.1 uses the same idea).
const (
	maxDropout  = 3000 // a forward jump larger than this is a sequence restart
	maxMisorder = 100  // a backward jump larger than this is a sequence restart
)

// seqTracker detects duplicates and reordering over the last 64 sequence numbers and
// counts loss as expected-minus-received (RFC 3550 A.3).
type seqTracker struct {
	init     bool
	maxSeq   uint16
	bits     uint64 // bit i set: maxSeq-i was received
	cycles   int64
	baseExt  int64
	received int64
}

type seqResult uint8

const (
	seqNew seqResult = iota
	seqReordered
	seqDuplicate
	seqRestart // tracker was reset; the packet is accepted as the first of a new sequence
)

func (s *seqTracker) reset() { *s = seqTracker{} }

func (s *seqTracker) ext() int64 { return s.cycles + int64(s.maxSeq) }

func (s *seqTracker) update(seq uint16) seqResult {
	if !s.init {
		s.init = true
		s.maxSeq = seq
		s.bits = 1
		s.baseExt = int64(seq)
		s.received = 1
		return seqNew
	}
	diff := int16(seq - s.maxSeq)
	switch {
	case diff == 0:
		return seqDuplicate
	case diff > 0 && int(diff) <= maxDropout:
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		if diff >= 64 {
			s.bits = 0
		} else {
			s.bits <<= uint(diff)
		}
		s.bits |= 1
		s.maxSeq = seq
		s.received++
		return seqNew
	case diff < 0 && -int(diff) <= maxMisorder:
		back := uint(-int(diff))
		if back < 64 {
			if s.bits&(1<<back) != 0 {
				return seqDuplicate
			}
			s.bits |= 1 << back
		}
		s.received++
		return seqReordered
	default:
		// Restart: keep the loss count of the old run by folding it into baseExt.
		lost := s.lost()
		s.init = true
		s.maxSeq = seq
		s.bits = 1
		s.cycles = 0
		s.baseExt = int64(seq) - lost
		s.received = 1
		return seqRestart
	}
}

func (s *seqTracker) lost() int64 {
	if !s.init {
		return 0
	}
	return s.ext() - s.baseExt + 1 - s.received
}

// channelStream is the RTP state of the stream recorded on one channel: which payload types
// it carries, how its RTP timestamps map onto the recording's timeline, and its statistics.
type channelStream struct {
	codecs [128]codecKind
	active bool // direction lets media flow to us (not inactive)

	haveSSRC bool
	ssrc     uint32
	lastPT   uint8
	havePT   bool
	seq      seqTracker

	// Timestamp mapping: timeline position = offset + ext(ts), ext relative to the anchor.
	anchored bool
	reanchor bool // codec or clock change: re-anchor unless still continuous
	resumed  bool // resumed from inactive: always re-anchor at the next packet
	offset   int64
	lastTS   uint32
	lastExt  int64

	// Drift tracking: the smallest arrival-minus-position lag of in-order packets since
	// epochStart (timeline position).
	minLag     int64
	epochStart int64

	// Interarrival jitter (RFC 3550 A.8) in timestamp units.
	jitter      float64
	prevTransit int64
	haveTransit bool

	stats StreamStats
	// lostBase accumulates loss of previous SSRCs.
	lostBase int64

	// DTMF state: the RTP timestamp of the event being reported, and whether it ended.
	dtmfTS    uint32
	dtmfSeen  bool
	dtmfEnded bool
}

// extTS returns the unwrapped timestamp of ts relative to the anchor and records it as the
// newest when it is.
func (c *channelStream) extTS(ts uint32) int64 {
	ext := c.lastExt + int64(int32(ts-c.lastTS))
	if ext > c.lastExt {
		c.lastExt = ext
		c.lastTS = ts
	}
	return ext
}

func (c *channelStream) anchor(ts uint32, pos int64) {
	c.anchored = true
	c.reanchor = false
	c.resumed = false
	c.lastTS = ts
	c.lastExt = 0
	c.offset = pos
}

func (c *channelStream) resetDrift(pos int64) {
	c.minLag = math.MaxInt64
	c.epochStart = pos
}

func (c *channelStream) noteSSRC(h *rtp.Header) {
	if c.haveSSRC && c.ssrc == h.SSRC {
		return
	}
	if c.haveSSRC {
		c.lostBase += c.seq.lost()
		c.seq.reset()
		c.haveTransit = false
		if c.anchored {
			c.reanchor = true
		}
	}
	c.haveSSRC = true
	c.ssrc = h.SSRC
	if len(c.stats.SSRCs) < 16 { // bounded: a stream cycling SSRCs must not grow without limit
		c.stats.SSRCs = append(c.stats.SSRCs, h.SSRC)
	}
}

func (c *channelStream) updateJitter(ts uint32, arrivalSamples int64) {
	transit := arrivalSamples - int64(ts)
	if c.haveTransit {
		d := transit - c.prevTransit
		if d < 0 {
			d = -d
		}
		c.jitter += (float64(d) - c.jitter) / 16
	}
	c.prevTransit = transit
	c.haveTransit = true
}

func (c *channelStream) snapshot() StreamStats {
	st := c.stats
	st.Lost = c.lostBase + c.seq.lost()
	st.JitterMs = c.jitter / 8 // 8 samples per ms at 8 kHz
	st.SSRCs = append([]uint32(nil), c.stats.SSRCs...)
	st.Codecs = append([]string(nil), c.stats.Codecs...)
	return st
}

// dtmfDigit maps an RFC 4733 event code to its digit.
func dtmfDigit(ev uint8) string {
	const digits = "0123456789*#ABCD"
	if int(ev) < len(digits) {
		return digits[ev : ev+1]
	}
	if ev == 16 {
		return "flash"
	}
	return ""
}
