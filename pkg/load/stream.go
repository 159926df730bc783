package load

import (
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// StreamConfig describes one sent stream.
type StreamConfig struct {
	// Payload is one 20 ms frame, sent in every packet (a lab tone frame
	// repeats exactly). Not copied: it must not change.
	Payload     []byte
	PayloadType uint8
	// SSRC is the stream's synchronisation source; 0 picks a random one.
	SSRC uint32
}

// Stream is one RTP stream of a Generator.
type Stream struct {
	g       *Generator
	sock    *rtpSocket
	ssrc    uint32
	pt      uint8
	payload []byte
	samples uint32

	stopOnce sync.Once
	stopped  chan struct{}
	startMu  sync.Mutex
	begun    bool
	dest     *net.UDPAddr
	destAP   netip.AddrPort

	// Owned by the scheduler goroutine; read by Stop after stopped closed.
	seq      uint16
	ts       uint32
	next     int64
	slot     int
	idx      int
	marker   bool
	sent     uint64
	sendErrs uint64

	recv atomic.Uint64
}

// StreamStats are one stream's counts once stopped.
type StreamStats struct {
	SSRC       uint32
	Sent       uint64
	SendErrors uint64
	Received   uint64
}

// NewStream creates a stream on the next shared socket. It sends nothing
// before Start.
func (g *Generator) NewStream(cfg StreamConfig) (*Stream, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrGeneratorClosed
	}
	sock := g.socks[g.rr%len(g.socks)]
	g.rr++
	ssrc := cfg.SSRC
	for ssrc == 0 {
		ssrc = rand.Uint32()
	}
	return &Stream{
		g: g, sock: sock, ssrc: ssrc, pt: cfg.PayloadType & 0x7f, payload: cfg.Payload,
		samples: uint32(len(cfg.Payload)), // G.711: one sample per byte
		stopped: make(chan struct{}),
		seq:     uint16(rand.Uint32()), ts: rand.Uint32(), marker: true,
	}, nil
}

// LocalPort is the port of the socket the stream sends from (for the SDP offer).
func (st *Stream) LocalPort() int { return st.sock.port }

// SSRC returns the stream's SSRC.
func (st *Stream) SSRC() uint32 { return st.ssrc }

// Start begins sending to dest: the first packet goes out at once, then one
// every 20 ms. Packets received from dest are counted for the stream.
func (st *Stream) Start(dest netip.AddrPort) {
	st.startMu.Lock()
	defer st.startMu.Unlock()
	if st.begun {
		return
	}
	st.begun = true
	dest = netip.AddrPortFrom(dest.Addr().Unmap(), dest.Port())
	st.dest, st.destAP = net.UDPAddrFromAddrPort(dest), dest
	g := st.g
	g.recvMu.Lock()
	g.byRemote[dest] = st
	g.recvMu.Unlock()
	g.enqueue(genOp{st: st, start: true})
}

// Stop ends the stream and returns its counts; after it returns no packet of
// the stream is sent. Safe to call more than once and on a stream never started.
// It waits for the scheduler's next tick: stop many streams with StopAll.
func (st *Stream) Stop() StreamStats {
	st.requestStop()
	return st.wait()
}

// StopAll stops streams together (one scheduler tick for all) and returns
// their counts in order.
func StopAll(streams ...*Stream) []StreamStats {
	for _, st := range streams {
		st.requestStop()
	}
	out := make([]StreamStats, len(streams))
	for i, st := range streams {
		out[i] = st.wait()
	}
	return out
}

func (st *Stream) requestStop() {
	st.startMu.Lock()
	begun := st.begun
	st.begun = true // a Start after Stop is a no-op
	st.startMu.Unlock()
	g := st.g
	st.stopOnce.Do(func() {
		if !begun {
			close(st.stopped)
			return
		}
		g.recvMu.Lock()
		if g.byRemote[st.destAP] == st {
			delete(g.byRemote, st.destAP)
		}
		g.recvMu.Unlock()
		// Once closed, the scheduler has released every stream: wait sees g.done.
		g.enqueue(genOp{st: st})
	})
}

func (st *Stream) wait() StreamStats {
	select {
	case <-st.stopped:
	case <-st.g.done:
	}
	return StreamStats{SSRC: st.ssrc, Sent: st.sent, SendErrors: st.sendErrs, Received: st.recv.Load()}
}
