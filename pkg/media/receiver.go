package media

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// RFC 3550 appendix A.1 constants.
const (
	maxDropout  = 3000    // forward jump still taken as loss rather than a restart
	maxMisorder = 100     // backward distance still taken as reordering/duplication
	seqMod      = 1 << 16 // sequence number space
	dupWindow   = 128     // bits in the duplicate-detection window (covers maxMisorder)
)

// Stats describes one received RTP stream.
type Stats struct {
	SSRC uint32
	// Packets counts accepted packets (in order or late, not duplicates); Bytes their payload octets.
	Packets, Bytes uint64
	// Lost is expected minus received packets per RFC 3550 A.3, cumulative over source restarts.
	Lost int64
	// OutOfOrder counts late (reordered) packets, Duplicates repeated ones, Dropped packets discarded: at
	// the Receiver, a sequence jump awaiting confirmation (RFC 3550 A.1 "bad sequence"); at a Session also
	// datagrams that are not valid RTP, fail SRTP authentication, or exceed MaxPacket.
	OutOfOrder, Duplicates, Dropped uint64
	// Jitter is the RFC 3550 A.8 interarrival jitter estimate, in milliseconds.
	Jitter float64
	// LastSeq is the highest sequence number received (modulo 2^16).
	LastSeq uint16
	// FirstPacket and LastPacket are the arrival times of the first and latest accepted packets.
	FirstPacket, LastPacket time.Time
}

// LossFraction returns Lost as a fraction of expected packets (0 when nothing was expected).
func (s Stats) LossFraction() float64 {
	expected := int64(s.Packets) + s.Lost
	if expected <= 0 || s.Lost <= 0 {
		return 0
	}
	return float64(s.Lost) / float64(expected)
}

// Receiver tracks sequence numbers and jitter of ONE received RTP stream (RFC 3550 A.1, A.3, A.8). It
// resets completely when the SSRC changes; a sequence jump of more than 3000 within the same SSRC is
// taken as a source restart once two consecutive packets confirm it. Duplicates are recognised within a
// 128-packet window behind the highest sequence number. Unlike A.1 there is no probation: the first packet
// is accepted, because lab streams start clean and tests want to count every packet.
//
// The zero value is ready to use. Methods are safe for concurrent use (one updater, any number of readers).
type Receiver struct {
	mu sync.Mutex
	st recvState
}

// recvState is the Receiver's state, kept apart from the mutex so a reset can overwrite it whole.
type recvState struct {
	started bool
	ssrc    uint32

	maxSeq  uint16
	cycles  int64 // sequence wraps, in units of seqMod
	baseExt int64 // extended sequence number of the first packet of the current run
	badSeq  uint32
	window  [2]uint64 // bit i set: extended seq (maxExt - i) was received

	runReceived int64 // packets counted in the current run
	lostBefore  int64 // loss of runs ended by a source restart

	packets, bytes     uint64
	ooo, dups, dropped uint64
	first, last        time.Time
	jitter             float64 // timestamp units
	prevArrival        time.Time
	prevTS             uint32
	havePrev           bool
	clockRate          uint32
}

// Update records a received packet header that arrived at arrival, for a stream clocked at clockRate Hz
// (0 means 8000). It does not know the payload size, so Stats.Bytes only grows through Observe. It does not
// allocate.
func (r *Receiver) Update(h *rtp.Header, arrival time.Time, clockRate uint32) {
	r.Observe(h, 0, arrival, clockRate)
}

// Observe is Update with the packet's payload size, counted in Stats.Bytes.
func (r *Receiver) Observe(h *rtp.Header, payloadBytes int, arrival time.Time, clockRate uint32) {
	if clockRate == 0 {
		clockRate = 8000
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st.observe(h, payloadBytes, arrival, clockRate)
}

func (r *recvState) observe(h *rtp.Header, payloadBytes int, arrival time.Time, clockRate uint32) {
	r.clockRate = clockRate
	if !r.started || h.SSRC != r.ssrc {
		*r = recvState{started: true, ssrc: h.SSRC, clockRate: clockRate}
		r.initSeq(h.SequenceNumber)
		r.accept(h, payloadBytes, arrival)
		return
	}

	seq := h.SequenceNumber
	udelta := seq - r.maxSeq
	switch {
	case udelta == 0:
		r.dups++
	case udelta < maxDropout:
		// In order, possibly with a gap.
		if seq < r.maxSeq {
			r.cycles++
		}
		r.shiftWindow(int(udelta))
		r.maxSeq = seq
		r.accept(h, payloadBytes, arrival)
	case uint32(udelta) <= seqMod-maxMisorder:
		// A very large jump: a restarted source, or a stray packet. Only two in a row mean restart.
		if uint32(seq) != r.badSeq {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			r.dropped++
			return
		}
		r.lostBefore += r.expected() - r.runReceived
		r.initSeq(seq)
		r.havePrev = false // the timestamp base jumped too: do not count it as jitter
		r.accept(h, payloadBytes, arrival)
	default:
		// Behind the highest sequence number by 1..maxMisorder-1: duplicate or late.
		back := int(r.maxSeq - seq)
		if r.testBit(back) {
			r.dups++
			return
		}
		r.setBit(back)
		r.ooo++
		if ext := r.maxExt() - int64(back); ext < r.baseExt {
			r.baseExt = ext // a packet from before the first one we saw: it was expected after all
		}
		r.accept(h, payloadBytes, arrival)
	}
}

// initSeq starts a sequence run at seq (RFC 3550 A.1 init_seq).
func (r *recvState) initSeq(seq uint16) {
	r.maxSeq = seq
	r.cycles = 0
	r.baseExt = int64(seq)
	r.badSeq = seqMod + 1 // matches no sequence number
	r.window = [2]uint64{1, 0}
	r.runReceived = 0
}

// accept counts a non-duplicate packet and updates jitter.
func (r *recvState) accept(h *rtp.Header, payloadBytes int, arrival time.Time) {
	r.runReceived++
	r.packets++
	if payloadBytes > 0 {
		r.bytes += uint64(payloadBytes)
	}
	if r.first.IsZero() {
		r.first = arrival
	}
	r.last = arrival
	if r.havePrev {
		// A.8: D(i,j) = (Rj - Ri) - (Sj - Si), in timestamp units; J += (|D| - J)/16.
		d := arrival.Sub(r.prevArrival).Seconds()*float64(r.clockRate) - float64(int32(h.Timestamp-r.prevTS))
		if d < 0 {
			d = -d
		}
		r.jitter += (d - r.jitter) / 16
	}
	r.prevArrival, r.prevTS, r.havePrev = arrival, h.Timestamp, true
}

func (r *recvState) maxExt() int64 { return r.cycles*seqMod + int64(r.maxSeq) }

func (r *recvState) expected() int64 { return r.maxExt() - r.baseExt + 1 }

// shiftWindow moves the duplicate window forward by n sequence numbers and marks the new maximum.
func (r *recvState) shiftWindow(n int) {
	lo, hi := r.window[0], r.window[1]
	switch {
	case n >= dupWindow:
		lo, hi = 0, 0
	case n >= 64:
		hi, lo = lo<<(n-64), 0
	default:
		hi = hi<<n | lo>>(64-n)
		lo <<= n
	}
	r.window = [2]uint64{lo | 1, hi}
}

func (r *recvState) testBit(i int) bool {
	if i >= dupWindow {
		return false
	}
	return r.window[i/64]&(1<<(i%64)) != 0
}

func (r *recvState) setBit(i int) {
	if i < dupWindow {
		r.window[i/64] |= 1 << (i % 64)
	}
}

// Stats returns a snapshot of the stream's statistics.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st.stats()
}

func (r *recvState) stats() Stats {
	if !r.started {
		return Stats{}
	}
	st := Stats{
		SSRC:        r.ssrc,
		Packets:     r.packets,
		Bytes:       r.bytes,
		Lost:        r.lostBefore + r.expected() - r.runReceived,
		OutOfOrder:  r.ooo,
		Duplicates:  r.dups,
		Dropped:     r.dropped,
		LastSeq:     r.maxSeq,
		FirstPacket: r.first,
		LastPacket:  r.last,
	}
	if r.clockRate > 0 {
		st.Jitter = r.jitter / float64(r.clockRate) * 1000
	}
	return st
}

// Reset forgets the stream; the next packet starts a new one.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.st = recvState{}
}
