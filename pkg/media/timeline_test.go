package media

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func ramp(from int16, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = from + int16(i)
	}
	return out
}

func TestTimelinePlacement(t *testing.T) {
	tl := timeline{max: 8000, rate: 8000}
	now := time.Now()
	base := uint32(math.MaxUint32 - 15) // wraps inside the test
	tl.place(1, base, now, ramp(1, 10))
	tl.place(1, base+20, now, ramp(100, 10)) // gap of 10 samples: zeros
	tl.place(1, base+10, now, ramp(50, 5))   // late packet fills part of the gap
	tl.place(1, base-5, now, ramp(7, 5))     // before the first packet: dropped
	buf := tl.snapshot()
	assert.Len(t, buf, 30)
	assert.Equal(t, ramp(1, 10), buf[:10])
	assert.Equal(t, ramp(50, 5), buf[10:15])
	assert.Equal(t, make([]int16, 5), buf[15:20])
	assert.Equal(t, ramp(100, 10), buf[20:30])
}

func TestTimelineCap(t *testing.T) {
	tl := timeline{max: 25, rate: 8000}
	now := time.Now()
	tl.place(1, 0, now, ramp(1, 10))
	tl.place(1, 20, now, ramp(1, 10)) // truncated at the cap
	tl.place(1, 40, now, ramp(1, 10)) // entirely past it
	assert.Len(t, tl.snapshot(), 25)
}

func TestTimelineNewSSRCPlacedByWallClock(t *testing.T) {
	tl := timeline{max: 80000, rate: 8000}
	now := time.Now()
	tl.place(1, 1000, now, ramp(1, 160))
	tl.place(1, 1160, now.Add(20*time.Millisecond), ramp(1, 160))
	// The media moved: new SSRC with unrelated timestamps, arriving 100 ms after the last packet.
	tl.place(2, 555555, now.Add(120*time.Millisecond), ramp(1, 160))
	tl.place(2, 555555+160, now.Add(140*time.Millisecond), ramp(1, 160))
	buf := tl.snapshot()
	// Last old packet at position 160 (20 ms), new one 100 ms = 800 samples later.
	assert.Len(t, buf, 160+800+320)
	assert.Equal(t, ramp(1, 160), buf[960:1120])
	assert.Equal(t, make([]int16, 800-160), buf[320:960])
}
