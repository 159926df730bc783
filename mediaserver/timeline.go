package mediaserver

import (
	"sync"
	"time"
)

// timelineSize is the ring of decoded audio one timeline holds: 2 s, far more
// than the consumer's lag, so late packets still land in place.
const timelineSize = 1 << 14 // 16384 samples = 2.048 s

// timeline places one party's decoded audio on a sample clock that starts at
// a wall-clock instant: the first packet is placed by its arrival time, later
// ones by their RTP timestamps (so jitter does not move audio around), and a
// new source (SSRC change, sequence restart) is re-anchored by arrival time.
// A consumer (the local file writer, the supervisor mixer) takes samples in
// order; positions nobody wrote are silence. Gaps (pause, hold, loss) thus
// come out as silence of the right length.
type timeline struct {
	start int64 // nanotime of sample 0

	mu       sync.Mutex
	closed   bool // paused: packets are not taken in
	ring     [timelineSize]int16
	taken    int64 // samples before this index were consumed
	anchored bool
	ssrc     uint32
	lastSeq  uint16
	baseTS   uint32
	basePos  int64
	pcm      [maxPacket]int16
}

func newTimeline(start int64) *timeline { return &timeline{start: start} }

// samplesAt converts a nanotime to a sample index of the timeline.
func (t *timeline) samplesAt(ns int64) int64 {
	return (ns - t.start) * sampleRate / int64(time.Second)
}

// write implements sink for G.711 audio packets.
func (t *timeline) write(p *packet) {
	if p.kind != kindAudio {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if !t.anchored || p.ssrc != t.ssrc || jumped(t.lastSeq, p.seq) {
		t.anchored, t.ssrc = true, p.ssrc
		t.baseTS, t.basePos = p.ts, t.samplesAt(p.arrival)
	}
	t.lastSeq = p.seq
	pos := t.basePos + int64(int32(p.ts-t.baseTS))
	n := p.law.Decode(t.pcm[:], p.payload)
	samples := t.pcm[:n]
	if pos < t.taken { // partly too late
		skip := t.taken - pos
		if skip >= int64(len(samples)) {
			return
		}
		samples, pos = samples[skip:], t.taken
	}
	if pos+int64(len(samples)) > t.taken+timelineSize { // too far ahead: a clock gone wild
		return
	}
	for i, s := range samples {
		t.ring[(pos+int64(i))&(timelineSize-1)] = s
	}
}

// take fills dst with the next len(dst) samples (silence where nothing was
// written) and advances.
func (t *timeline) take(dst []int16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range dst {
		idx := (t.taken + int64(i)) & (timelineSize - 1)
		dst[i] = t.ring[idx]
		t.ring[idx] = 0
	}
	t.taken += int64(len(dst))
}
