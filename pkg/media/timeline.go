package media

import (
	"slices"
	"sync"
	"time"
)

// timeline places received audio by RTP timestamp: sample i of the timeline is timestamp origin+i of the
// current source, so lost packets and spans the peer did not send (hold) stay as zeros, and time is never
// compressed. A new SSRC (the peer's media moved, e.g. to a media server) is placed after the previous
// audio by wall-clock arrival time, since its timestamps bear no relation to the old ones.
type timeline struct {
	mu   sync.Mutex
	buf  []int16
	max  int     // cap in samples
	rate float64 // samples per second

	anchored    bool
	ssrc        uint32
	lastTS      uint32
	lastExt     int64 // extended timestamp of the newest packet
	origin      int64 // timeline position = extended timestamp - origin
	lastPos     int64 // position of the newest packet
	lastArrival time.Time
}

// place writes pcm (decoded from a packet of ssrc with timestamp ts, arrived at arrival) onto the timeline.
func (tl *timeline) place(ssrc, ts uint32, arrival time.Time, pcm []int16) {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	var ext int64
	switch {
	case !tl.anchored:
		ext = int64(ts)
		tl.origin = ext
		tl.anchored = true
		tl.ssrc, tl.lastTS, tl.lastExt = ssrc, ts, ext
	case ssrc != tl.ssrc:
		elapsed := int64(arrival.Sub(tl.lastArrival).Seconds() * tl.rate)
		ext = int64(ts)
		tl.origin = ext - (tl.lastPos + max(elapsed, 0))
		tl.ssrc, tl.lastTS, tl.lastExt = ssrc, ts, ext
	default:
		ext = tl.lastExt + int64(int32(ts-tl.lastTS))
	}
	newest := ext >= tl.lastExt
	if newest {
		tl.lastExt, tl.lastTS = ext, ts
	}
	pos := ext - tl.origin
	if pos < 0 || pos >= int64(tl.max) {
		return // before the first packet, or past the cap
	}
	if newest {
		tl.lastPos, tl.lastArrival = pos, arrival
	}
	n := min(int64(len(pcm)), int64(tl.max)-pos)
	end := int(pos + n)
	if end > len(tl.buf) {
		old := len(tl.buf)
		tl.buf = slices.Grow(tl.buf, end-old)[:end]
		clear(tl.buf[old:end])
	}
	copy(tl.buf[pos:end], pcm[:n])
}

// snapshot returns a copy of the timeline.
func (tl *timeline) snapshot() []int16 {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return slices.Clone(tl.buf)
}
