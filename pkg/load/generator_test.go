package load

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// peer is a UDP socket standing for the far end of streams.
func peer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	require.NoError(t, err)
	_ = c.SetReadBuffer(socketBufBytes)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func readRTP(t *testing.T, c *net.UDPConn) (rtp.Packet, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2000)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	var p rtp.Packet
	require.NoError(t, p.Unmarshal(buf[:n]))
	p.Payload = append([]byte(nil), p.Payload...)
	return p, from
}

func TestGeneratorPacketsAndPacing(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{LocalIP: loopback, Sockets: 2, Logger: testLogger()})
	require.NoError(t, err)
	defer g.Close()
	payload := newTonePayloads(0).forFreq(1000)
	far := peer(t)

	st, err := g.NewStream(StreamConfig{Payload: payload, PayloadType: 0, SSRC: 0x01020304})
	require.NoError(t, err)
	assert.Equal(t, uint32(0x01020304), st.SSRC())
	start := time.Now()
	st.Start(addrOf(far))

	first, from := readRTP(t, far)
	assert.Equal(t, st.LocalPort(), int(from.Port()), "sent from the stream's shared socket")
	assert.True(t, first.Marker, "first packet has the marker bit")
	assert.Equal(t, uint8(2), first.Version)
	assert.Equal(t, uint32(0x01020304), first.SSRC)
	assert.Equal(t, payload, first.Payload)
	prev := first
	for range 24 {
		p, _ := readRTP(t, far)
		assert.False(t, p.Marker)
		assert.Equal(t, prev.SequenceNumber+1, p.SequenceNumber)
		assert.Equal(t, prev.Timestamp+160, p.Timestamp)
		prev = p
	}
	elapsed := time.Since(start)
	stats := st.Stop()
	// 25 packets are 480 ms of audio past the first: the pacing is real time.
	assert.GreaterOrEqual(t, elapsed, 470*time.Millisecond)
	assert.GreaterOrEqual(t, stats.Sent, uint64(25))
	assert.Zero(t, stats.SendErrors)
	// Nothing is sent after Stop: drain what is queued, then expect silence.
	for range int(stats.Sent) - 25 {
		readRTP(t, far)
	}
	require.NoError(t, far.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, _, err = far.ReadFromUDPAddrPort(make([]byte, 2000))
	require.Error(t, err, "a packet arrived after Stop")
	assert.Equal(t, stats, st.Stop(), "Stop is idempotent")
	gs := g.Stats()
	assert.Equal(t, 0, gs.Streams)
	assert.Equal(t, stats.Sent, gs.Sent)
	assert.Positive(t, gs.CPU, "the scheduler thread's CPU time")
}

func TestGeneratorStreamsAreIndependent(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{LocalIP: loopback, Sockets: 1, Logger: testLogger()})
	require.NoError(t, err)
	defer g.Close()
	far := peer(t)
	var streams []*Stream
	for i := range 3 {
		st, err := g.NewStream(StreamConfig{Payload: make([]byte, 160), PayloadType: 8, SSRC: uint32(100 + i)})
		require.NoError(t, err)
		st.Start(addrOf(far))
		streams = append(streams, st)
	}
	seqs := map[uint32][]uint16{}
	for len(seqs) < 3 || len(seqs[100]) < 5 || len(seqs[101]) < 5 || len(seqs[102]) < 5 {
		p, _ := readRTP(t, far)
		assert.Equal(t, uint8(8), p.PayloadType)
		seqs[p.SSRC] = append(seqs[p.SSRC], p.SequenceNumber)
	}
	for ssrc, s := range seqs {
		for i := 1; i < len(s); i++ {
			assert.Equal(t, s[i-1]+1, s[i], "ssrc %d has its own sequence", ssrc)
		}
	}
	assert.Equal(t, 3, g.Stats().Streams)
	for _, st := range streams {
		st.Stop()
	}
}

func TestGeneratorReceiveDemux(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{LocalIP: loopback, Sockets: 1, Logger: testLogger()})
	require.NoError(t, err)
	defer g.Close()
	a, b, stranger := peer(t), peer(t), peer(t)
	sa, err := g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.NoError(t, err)
	sb, err := g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.NoError(t, err)
	sa.Start(addrOf(a))
	sb.Start(addrOf(b))
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, uint16(sa.LocalPort())))
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	send := func(c *net.UDPConn, n int) {
		for i := range n {
			binary.BigEndian.PutUint16(pkt[2:], uint16(i))
			_, err := c.WriteToUDP(pkt, to)
			require.NoError(t, err)
		}
	}
	send(a, 3)
	send(b, 5)
	send(stranger, 2)
	_, err = stranger.WriteToUDP([]byte("not rtp"), to)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		s := g.Stats()
		return s.Received == 8 && s.Unmatched == 3
	}, 5*time.Second, 5*time.Millisecond)
	assert.Equal(t, uint64(3), sa.Stop().Received)
	assert.Equal(t, uint64(5), sb.Stop().Received)
}

func TestGeneratorCloseReleasesStreams(t *testing.T) {
	g, err := NewGenerator(GeneratorConfig{LocalIP: loopback, Logger: testLogger()})
	require.NoError(t, err)
	far := peer(t)
	st, err := g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.NoError(t, err)
	st.Start(addrOf(far))
	never, err := g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.NoError(t, err)
	readRTP(t, far)
	require.NoError(t, g.Close())
	require.NoError(t, g.Close())
	done := make(chan StreamStats)
	go func() { done <- st.Stop() }()
	select {
	case s := <-done:
		assert.NotZero(t, s.Sent)
	case <-time.After(5 * time.Second):
		t.Fatal("Stop blocked after Close")
	}
	assert.Zero(t, never.Stop().Sent)
	_, err = g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.ErrorIs(t, err, ErrGeneratorClosed)
}

func TestGeneratorTickMustDivideFrame(t *testing.T) {
	_, err := NewGenerator(GeneratorConfig{Tick: 3 * time.Millisecond})
	require.ErrorIs(t, err, ErrConfig)
}

// manualGenerator is a generator whose scheduler the test drives: n streams to
// sink, all started at time 0.
func manualGenerator(t testing.TB, n, sockets int, sink netip.AddrPort) *Generator {
	t.Helper()
	g, err := newGenerator(GeneratorConfig{LocalIP: loopback, Sockets: sockets, Logger: testLogger()})
	require.NoError(t, err)
	t.Cleanup(func() {
		close(g.done) // no scheduler goroutine: Close must not wait for one
		for _, s := range g.socks {
			_ = s.conn.Close()
		}
		g.readers.Wait()
	})
	payload := make([]byte, 160)
	for range n {
		st, err := g.NewStream(StreamConfig{Payload: payload})
		require.NoError(t, err)
		st.begun, st.dest, st.destAP = true, net.UDPAddrFromAddrPort(sink), sink
		g.ops = append(g.ops, genOp{st: st, start: true})
	}
	g.applyOps(0)
	g.emitDue(0)
	return g
}

func TestGeneratorEmitCatchesUpAndSpreadsSlots(t *testing.T) {
	sink := peer(t)
	g := manualGenerator(t, 10, 1, addrOf(sink))
	assert.Equal(t, uint64(10), g.sent.Load())
	// 100 ms late: every stream catches up its 5 due packets in one go.
	g.emitDue(int64(100 * time.Millisecond))
	assert.Equal(t, uint64(60), g.sent.Load())
	assert.Equal(t, int64(80*time.Millisecond), g.maxLag.Load(), "the packet due at 20 ms went out at 100 ms")
	// Streams started at different times land in different slots.
	st, err := g.NewStream(StreamConfig{Payload: make([]byte, 160)})
	require.NoError(t, err)
	st.begun, st.dest = true, net.UDPAddrFromAddrPort(addrOf(sink))
	g.ops = append(g.ops, genOp{st: st, start: true})
	now := int64(107 * time.Millisecond)
	g.applyOps(now)
	g.emitDue(now)
	assert.Equal(t, 3, st.slot)
	assert.Equal(t, uint64(61), g.sent.Load())
}

// TestGeneratorZeroAllocs: sending a tick's packets allocates nothing.
func TestGeneratorZeroAllocs(t *testing.T) {
	sink := peer(t)
	g := manualGenerator(t, 200, 2, addrOf(sink))
	now := int64(0)
	allocs := testing.AllocsPerRun(50, func() {
		now += int64(framePeriod)
		g.emitDue(now)
	})
	if raceEnabled {
		t.Skipf("allocations under -race: %.1f per tick (sync.Pool is disabled)", allocs)
	}
	assert.Zero(t, allocs, "allocations per tick of 200 packets")
}
