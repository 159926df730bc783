package media

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// feed gives r packets with the listed sequence numbers, each with the timestamp and arrival time its
// sequence number implies (20 ms / 160 units apart, no jitter).
func feed(r *Receiver, ssrc uint32, seqs ...uint16) {
	for _, s := range seqs {
		h := rtp.Header{SSRC: ssrc, SequenceNumber: s, Timestamp: uint32(s) * 160}
		r.Observe(&h, 160, t0.Add(time.Duration(s)*20*time.Millisecond), 8000)
	}
}

func seqRange(from uint16, n int) []uint16 {
	out := make([]uint16, n)
	for i := range out {
		out[i] = from + uint16(i)
	}
	return out
}

func TestReceiverSequences(t *testing.T) {
	tests := []struct {
		name    string
		seqs    []uint16
		packets uint64
		lost    int64
		ooo     uint64
		dups    uint64
		dropped uint64
		lastSeq uint16
	}{
		{name: "in order", seqs: seqRange(1, 100), packets: 100, lastSeq: 100},
		{name: "loss", seqs: []uint16{1, 2, 3, 6, 7}, packets: 5, lost: 2, lastSeq: 7},
		{name: "reorder", seqs: []uint16{1, 2, 4, 3, 5}, packets: 5, ooo: 1, lastSeq: 5},
		{name: "reorder fills loss", seqs: []uint16{1, 3, 4, 5, 2}, packets: 5, ooo: 1, lastSeq: 5},
		{name: "duplicate of max", seqs: []uint16{1, 2, 2, 3}, packets: 3, dups: 1, lastSeq: 3},
		{name: "duplicate behind", seqs: []uint16{1, 2, 3, 4, 2, 3}, packets: 4, dups: 2, lastSeq: 4},
		{name: "late duplicate of reordered", seqs: []uint16{1, 3, 2, 2, 4}, packets: 4, ooo: 1, dups: 1, lastSeq: 4},
		{name: "wrap", seqs: seqRange(65530, 12), packets: 12, lastSeq: 5},
		{name: "loss across wrap", seqs: []uint16{65533, 65534, 1, 2}, packets: 4, lost: 2, lastSeq: 2},
		{name: "reorder across wrap", seqs: []uint16{65534, 0, 65535, 1}, packets: 4, ooo: 1, lastSeq: 1},
		{name: "late packet before first", seqs: []uint16{10, 11, 9, 12}, packets: 4, ooo: 1, lastSeq: 12},
		{name: "late packet before first across wrap", seqs: []uint16{0, 1, 65535, 2}, packets: 4, ooo: 1, lastSeq: 2},
		{name: "stray jump dropped", seqs: []uint16{1, 2, 30000, 3, 4}, packets: 4, dropped: 1, lastSeq: 4},
		{name: "big gap under dropout is loss", seqs: []uint16{1, 2999}, packets: 2, lost: 2997, lastSeq: 2999},
		{
			// Two consecutive packets after a jump mean the source restarted: the first is lost to
			// confirmation (dropped), then a new run begins without counting the jump as loss.
			name: "restart", seqs: []uint16{1, 2, 3, 40000, 40001, 40002},
			packets: 5, dropped: 1, lastSeq: 40002,
		},
		{name: "restart keeps earlier loss", seqs: []uint16{1, 3, 40000, 40001, 40003}, packets: 4, lost: 2, dropped: 1, lastSeq: 40003},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r Receiver
			feed(&r, 42, tc.seqs...)
			st := r.Stats()
			assert.Equal(t, uint32(42), st.SSRC)
			assert.Equal(t, tc.packets, st.Packets, "packets")
			assert.Equal(t, tc.lost, st.Lost, "lost")
			assert.Equal(t, tc.ooo, st.OutOfOrder, "out of order")
			assert.Equal(t, tc.dups, st.Duplicates, "duplicates")
			assert.Equal(t, tc.dropped, st.Dropped, "dropped")
			assert.Equal(t, tc.lastSeq, st.LastSeq, "last seq")
			assert.Equal(t, tc.packets*160, st.Bytes)
		})
	}
}

func TestReceiverLongRunWithWrapAndLoss(t *testing.T) {
	// 200000 packets starting near the top of the sequence space, every 1000th lost: three wraps.
	var r Receiver
	var lost int64
	seq := uint16(65000)
	for i := range 200000 {
		if i%1000 == 500 {
			lost++
		} else {
			feed(&r, 1, seq)
		}
		seq++
	}
	st := r.Stats()
	assert.Equal(t, lost, st.Lost)
	assert.Equal(t, uint64(200000-lost), st.Packets)
	assert.InDelta(t, float64(lost)/200000, st.LossFraction(), 1e-9)
}

func TestReceiverDuplicateWindow(t *testing.T) {
	// The window spans 128 sequence numbers; RFC 3550 treats anything 100+ behind as a jump anyway.
	var r Receiver
	feed(&r, 1, seqRange(1, 200)...)
	feed(&r, 1, 200-99) // 99 behind: known duplicate
	assert.Equal(t, uint64(1), r.Stats().Duplicates)

	// A gap inside the window: the missing one arrives late exactly once.
	var g Receiver
	seqs := append(seqRange(1, 10), seqRange(12, 90)...)
	feed(&g, 1, seqs...)
	feed(&g, 1, 11, 11)
	st := g.Stats()
	assert.Equal(t, uint64(1), st.OutOfOrder)
	assert.Equal(t, uint64(1), st.Duplicates)
	assert.Zero(t, st.Lost)

	// A forward jump larger than the window clears it: old numbers are no longer known.
	var j Receiver
	feed(&j, 1, 1, 2, 3)
	feed(&j, 1, 2003)
	feed(&j, 1, 1950) // 53 behind, never seen: late, not a duplicate
	st = j.Stats()
	assert.Equal(t, uint64(1), st.OutOfOrder)
	assert.Zero(t, st.Duplicates)
}

func TestReceiverSSRCChangeResets(t *testing.T) {
	var r Receiver
	feed(&r, 1, 1, 2, 5)
	require.Equal(t, int64(2), r.Stats().Lost)
	feed(&r, 2, 1000, 1001)
	st := r.Stats()
	assert.Equal(t, uint32(2), st.SSRC)
	assert.Equal(t, uint64(2), st.Packets)
	assert.Zero(t, st.Lost)
	assert.Equal(t, uint16(1001), st.LastSeq)
	assert.Equal(t, t0.Add(1000*20*time.Millisecond), st.FirstPacket)

	r.Reset()
	assert.Equal(t, Stats{}, r.Stats())
}

// referenceJitter is RFC 3550 A.8 written out directly, in timestamp units.
func referenceJitter(arrivals []time.Duration, ts []uint32, rate float64) float64 {
	var j float64
	for i := 1; i < len(arrivals); i++ {
		d := (arrivals[i]-arrivals[i-1]).Seconds()*rate - float64(int64(ts[i])-int64(ts[i-1]))
		j += (math.Abs(d) - j) / 16
	}
	return j
}

func TestReceiverJitter(t *testing.T) {
	t.Run("constant transit is zero", func(t *testing.T) {
		var r Receiver
		feed(&r, 1, seqRange(1, 500)...)
		assert.InDelta(t, 0, r.Stats().Jitter, 1e-9)
	})
	t.Run("alternating 10 ms delay converges to 10 ms", func(t *testing.T) {
		var r Receiver
		var arr []time.Duration
		var tss []uint32
		for i := range 400 {
			a := time.Duration(i) * 20 * time.Millisecond
			if i%2 == 1 {
				a += 10 * time.Millisecond
			}
			ts := uint32(i) * 160
			arr, tss = append(arr, a), append(tss, ts)
			h := rtp.Header{SSRC: 1, SequenceNumber: uint16(i), Timestamp: ts}
			r.Update(&h, t0.Add(a), 8000)
		}
		st := r.Stats()
		assert.InDelta(t, 10.0, st.Jitter, 0.01)
		assert.InDelta(t, referenceJitter(arr, tss, 8000)/8, st.Jitter, 1e-9)
		assert.Zero(t, st.Bytes, "Update does not know payload sizes")
	})
	t.Run("timestamp wrap", func(t *testing.T) {
		var r Receiver
		var arr []time.Duration
		var tss []uint32
		ts := uint32(math.MaxUint32 - 160*5)
		for i := range 20 {
			a := time.Duration(i)*20*time.Millisecond + time.Duration(i%3)*time.Millisecond
			arr = append(arr, a)
			h := rtp.Header{SSRC: 1, SequenceNumber: uint16(i), Timestamp: ts}
			r.Update(&h, t0.Add(a), 0) // 0 means 8000
			tss = append(tss, ts)
			ts += 160
		}
		// The reference unwraps by hand.
		for i := range tss {
			tss[i] = uint32(i) * 160
		}
		assert.InDelta(t, referenceJitter(arr, tss, 8000)/8, r.Stats().Jitter, 1e-9)
		assert.Less(t, r.Stats().Jitter, 2.0)
	})
}

func FuzzReceiver(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 2, 0, 1, 255, 255, 0, 0})
	f.Add([]byte{0x80, 0, 0x80, 1, 0, 5, 0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Receiver
		var sinceReset uint64
		var ssrc uint32
		for i := 0; i+1 < len(data); i += 2 {
			seq := binary.BigEndian.Uint16(data[i:])
			s := uint32(data[i] >> 7) // occasionally switch SSRC
			if i == 0 || s != ssrc {
				sinceReset = 0
			}
			ssrc = s
			h := rtp.Header{SSRC: s, SequenceNumber: seq, Timestamp: uint32(seq) * 160}
			r.Update(&h, t0.Add(time.Duration(i)*time.Millisecond), 8000)
			sinceReset++
			st := r.Stats()
			// Every update is accounted exactly once.
			require.Equal(t, sinceReset, st.Packets+st.Duplicates+st.Dropped)
			require.False(t, math.IsNaN(st.Jitter))
			require.GreaterOrEqual(t, st.Jitter, 0.0)
			// Distinct accepted packets never exceed the span they were expected over.
			require.GreaterOrEqual(t, st.Lost, int64(0))
		}
	})
}
