package mediaserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/arlab/arlab/pkg/audio"
)

// tlPacket is a 20 ms µ-law packet of constant sample value v.
func tlPacket(ssrc uint32, seq uint16, ts uint32, arrival time.Duration, v int16) *packet {
	pcm := make([]int16, frameSamples)
	for i := range pcm {
		pcm[i] = v
	}
	payload := make([]byte, frameSamples)
	audio.Ulaw.Encode(payload, pcm)
	return &packet{ssrc: ssrc, seq: seq, ts: ts, kind: kindAudio, law: audio.Ulaw, payload: payload, arrival: int64(arrival)}
}

// level decodes what a constant µ-law sample of v comes back as.
func level(v int16) int16 {
	var b [1]byte
	audio.Ulaw.Encode(b[:], []int16{v})
	var out [1]int16
	audio.Ulaw.Decode(out[:], b[:])
	return out[0]
}

func TestTimelinePlacement(t *testing.T) {
	tl := newTimeline(0)
	// First packet placed by arrival (at 40 ms), the next by timestamp even
	// though it arrives late; a duplicate lands on the same spot.
	tl.write(tlPacket(1, 10, 1000, 40*time.Millisecond, 1000))
	tl.write(tlPacket(1, 12, 1320, 200*time.Millisecond, 2000))
	tl.write(tlPacket(1, 12, 1320, 210*time.Millisecond, 2000))
	// A new SSRC is re-anchored by its arrival (at 300 ms).
	tl.write(tlPacket(2, 500, 99999, 300*time.Millisecond, 3000))
	// Closed (paused): ignored.
	tl.closed = true
	tl.write(tlPacket(2, 501, 99999+160, 320*time.Millisecond, 4000))
	tl.closed = false

	got := make([]int16, 8000*400/1000)
	tl.take(got)
	at := func(ms int) int16 { return got[ms*8] }
	assert.Equal(t, int16(0), at(20), "silence before the first packet")
	assert.Equal(t, level(1000), at(45))
	assert.Equal(t, int16(0), at(65), "lost packet (seq 11) is silence")
	assert.Equal(t, level(2000), at(85), "seq 12 placed by its timestamp at 80 ms")
	assert.Equal(t, level(3000), at(305))
	assert.Equal(t, int16(0), at(325), "nothing taken in while closed")

	// Too late for the consumer (before what was taken): dropped, no panic.
	tl.write(tlPacket(2, 502, 99999+320, 340*time.Millisecond, 5000))
	next := make([]int16, 160)
	tl.take(next)
	assert.True(t, audio.IsSilent(next))
	// Far ahead of the ring: dropped rather than wrapped onto the ring.
	tl.write(tlPacket(2, 503, 99999+480+timelineSize*2, 360*time.Millisecond, 5000))
	rest := make([]int16, timelineSize)
	tl.take(rest)
	assert.True(t, audio.IsSilent(rest))
}
