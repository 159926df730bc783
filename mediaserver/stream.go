package mediaserver

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/arlab/arlab/pkg/audio"
)

// sink receives the packets of one input (a party's leg). The read goroutine
// of the input calls write for every packet; implementations must not block
// and must not allocate.
type sink interface {
	write(p *packet)
}

// epoch anchors nanotime, the monotonic clock of the hot path.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

// Stream modes.
const (
	modeActive  int32 = iota
	modePaused        // nothing is sent
	modeSilence       // audio is replaced by G.711 silence, events dropped
)

// outStream is one RTP stream the media server sends: to a party (the other
// party's audio) or to a recorder (one party's audio). It has its own SSRC
// and sequence space and rewrites every input packet into it, so the far end
// sees one continuous stream whatever happens upstream: the source changing
// SSRC after a re-INVITE, a pause, or a switch to mixed audio.
type outStream struct {
	conn *net.UDPConn // the socket packets leave from (not owned)
	ssrc uint32
	mode atomic.Int32

	mu  sync.Mutex
	dst netip.AddrPort
	law audio.Law // payload type of audio sent
	// eventPT is the negotiated telephone-event type; events are dropped
	// when the far end did not accept any (eventOK false).
	eventPT uint8
	eventOK bool
	srtp    *srtp.Context
	encHdr  rtp.Header

	// Rewriting state: out = in + offset per input SSRC; rebased when the
	// input changes (SSRC, big jump) or after a pause.
	started   bool
	rebase    bool
	inSSRC    uint32
	lastInSeq uint16
	seqOff    uint16
	tsOff     uint32
	lastSeq   uint16
	lastTS    uint32
	lastWall  int64
	buf       []byte

	packets, bytes, errors atomic.Uint64
}

func newOutStream(conn *net.UDPConn, law audio.Law) *outStream {
	var b [4]byte
	_, _ = rand.Read(b[:])
	o := &outStream{
		conn: conn,
		ssrc: binary.BigEndian.Uint32(b[:]) | 1, // never 0
		law:  law,
		buf:  make([]byte, maxPacket+srtpOverhead),
	}
	return o
}

// configure sets where the stream goes and what the far end accepted.
func (o *outStream) configure(dst netip.AddrPort, law audio.Law, eventPT uint8, eventOK bool) {
	o.mu.Lock()
	o.dst, o.law, o.eventPT, o.eventOK = dst, law, eventPT, eventOK
	o.mu.Unlock()
}

// setSRTP sets the SDES key the stream encrypts with (nil: plain RTP).
func (o *outStream) setSRTP(ctx *srtp.Context) {
	o.mu.Lock()
	o.srtp = ctx
	o.mu.Unlock()
}

// setMode changes the mode under the stream lock, so once it returns no
// packet of the old mode is still being sent: a pause really stops copying
// before it is signalled.
func (o *outStream) setMode(m int32) {
	o.mu.Lock()
	if old := o.mode.Swap(m); old == modePaused && m != modePaused {
		o.rebase = true
	}
	o.mu.Unlock()
}

func (o *outStream) write(p *packet) {
	if o.mode.Load() == modePaused {
		return
	}
	o.mu.Lock()
	o.writeLocked(p)
	o.mu.Unlock()
}

func (o *outStream) writeLocked(p *packet) {
	if !o.dst.IsValid() {
		return
	}
	silence := o.mode.Load() == modeSilence
	var pt uint8
	switch p.kind {
	case kindAudio:
		pt = o.law.PayloadType()
	case kindEvent:
		if !o.eventOK || silence {
			return
		}
		pt = o.eventPT
	default:
		return
	}
	n := len(p.payload)
	if rtpHeaderLen+n > maxPacket {
		o.errors.Add(1)
		return
	}
	marker := p.marker
	if !o.started || p.ssrc != o.inSSRC || o.rebase || jumped(o.lastInSeq, p.seq) {
		o.rebaseTo(p)
		marker = true
	}
	o.lastInSeq = p.seq
	seq := p.seq + o.seqOff
	ts := p.ts + o.tsOff
	putHeader(o.buf, marker, pt, seq, ts, o.ssrc)
	body := o.buf[rtpHeaderLen : rtpHeaderLen+n]
	switch {
	case silence:
		s := silenceByte(o.law)
		for i := range body {
			body[i] = s
		}
	case p.kind == kindAudio:
		convert(body, p.payload, p.law, o.law)
	default:
		copy(body, p.payload)
	}
	pkt := o.buf[:rtpHeaderLen+n]
	if o.srtp != nil {
		var err error
		// In place: buf has srtpOverhead spare bytes, so pion does not allocate.
		if pkt, err = o.srtp.EncryptRTP(pkt, pkt, &o.encHdr); err != nil {
			o.errors.Add(1)
			return
		}
	}
	// Sequence and timestamp state advance even if the send fails: the far
	// end must see the loss, not a compressed timeline.
	if seqNewer(seq, o.lastSeq) || !o.started {
		o.lastSeq = seq
	}
	o.lastTS, o.lastWall, o.started = ts, p.arrival, true
	if _, err := o.conn.WriteToUDPAddrPort(pkt, o.dst); err != nil {
		o.errors.Add(1)
		return
	}
	o.packets.Add(1)
	o.bytes.Add(uint64(n))
}

// rebaseTo starts a new input segment: the first packet continues our
// sequence, and its timestamp continues ours by the wall-clock time since
// our last packet, so a recorder's timeline keeps the gap's real length.
func (o *outStream) rebaseTo(p *packet) {
	if !o.started {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.seqOff = binary.BigEndian.Uint16(b[:2]) - p.seq
		o.tsOff = binary.BigEndian.Uint32(b[2:]) - p.ts
	} else {
		elapsed := (p.arrival - o.lastWall) * sampleRate / int64(time.Second)
		if elapsed < 1 {
			elapsed = 1
		}
		o.seqOff = o.lastSeq + 1 - p.seq
		o.tsOff = o.lastTS + uint32(elapsed) - p.ts
	}
	o.inSSRC = p.ssrc
	o.rebase = false
}

// jumped reports a sequence discontinuity within one SSRC that is no
// reordering or loss burst: the source restarted its numbering.
func jumped(last, cur uint16) bool {
	d := cur - last
	return d > 3000 && d < 65536-100
}

// seqNewer reports whether a is after b in sequence-number order.
func seqNewer(a, b uint16) bool { return a != b && a-b < 0x8000 }

// stats returns packets and payload bytes sent.
func (o *outStream) stats() (packets, bytes, errs uint64) {
	return o.packets.Load(), o.bytes.Load(), o.errors.Load()
}

// dest returns where the stream goes.
func (o *outStream) dest() netip.AddrPort {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dst
}
