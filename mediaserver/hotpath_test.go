package mediaserver

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
)

// hotLeg builds a leg with its fan-out (the other party, n recorder streams,
// optionally SRTP on the first recorder stream, and a local-file channel)
// without SIP, sending to one unread sink socket.
func hotLeg(tb testing.TB, recorders int, srtpRecorder bool) (*leg, []byte) {
	tb.Helper()
	sinkConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = sinkConn.Close() })
	// A large receive buffer is not needed: packets the sink cannot hold are
	// dropped by the kernel after the send cost was paid.
	sinkAddr := sinkConn.LocalAddr().(*net.UDPAddr).AddrPort()
	out, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = out.Close() })

	l := &leg{done: make(chan struct{})}
	l.rx.Store(&rxParams{audioPT: 0, law: audio.Ulaw, eventPT: 101, eventOK: true})
	peer := newOutStream(out, audio.Ulaw)
	peer.configure(sinkAddr, audio.Ulaw, 101, true)
	sinks := []sink{peer}
	for i := range recorders {
		o := newOutStream(out, audio.Ulaw)
		o.configure(sinkAddr, audio.Ulaw, 101, true)
		if i == 0 && srtpRecorder {
			c, err := sdp.NewCrypto(1, sdp.SuiteAES128SHA1_80)
			require.NoError(tb, err)
			ctx, err := newSRTPContext(c)
			require.NoError(tb, err)
			o.setSRTP(ctx)
		}
		sinks = append(sinks, o)
	}
	sinks = append(sinks, newTimeline(nanotime()))
	l.setSinks(sinks)

	pkt := make([]byte, rtpHeaderLen+frameSamples)
	putHeader(pkt, false, 0, 1, 160, 0xABCDEF)
	for i := rtpHeaderLen; i < len(pkt); i++ {
		pkt[i] = 0x55
	}
	return l, pkt
}

// step advances the packet's sequence number and timestamp by one frame.
func step(pkt []byte) {
	seq := uint16(pkt[2])<<8 | uint16(pkt[3]) + 1
	pkt[2], pkt[3] = byte(seq>>8), byte(seq)
	ts := uint32(pkt[4])<<24 | uint32(pkt[5])<<16 | uint32(pkt[6])<<8 | uint32(pkt[7]) + frameSamples
	pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
}

// TestHotPathAllocatesNothing: one received packet, written to the other
// party, three recorders (one with SRTP) and a local-file timeline, costs
// zero allocations.
func TestHotPathAllocatesNothing(t *testing.T) {
	l, pkt := hotLeg(t, 3, true)
	buf := make([]byte, len(pkt))
	allocs := testing.AllocsPerRun(2000, func() {
		copy(buf, pkt)
		l.handle(buf, &l.pkt)
		step(pkt)
	})
	require.Zero(t, allocs)
	require.EqualValues(t, 2001, l.rxPackets.Load())
	for _, s := range *l.sinks.Load() {
		if o, ok := s.(*outStream); ok {
			p, _, e := o.stats()
			require.Zero(t, e)
			require.EqualValues(t, 2001, p)
		}
	}
}

// BenchmarkRelay measures one received packet fanned out to the other party
// and N recorders (real sendto on loopback), with and without SRTP towards
// the first recorder.
func BenchmarkRelay(b *testing.B) {
	for _, tc := range []struct {
		recorders int
		srtp      bool
	}{{1, false}, {2, false}, {4, false}, {1, true}} {
		name := fmt.Sprintf("recorders=%d", tc.recorders)
		if tc.srtp {
			name += "/srtp"
		}
		b.Run(name, func(b *testing.B) {
			l, pkt := hotLeg(b, tc.recorders, tc.srtp)
			buf := make([]byte, len(pkt))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				copy(buf, pkt)
				l.handle(buf, &l.pkt)
				step(pkt)
			}
			b.ReportMetric(float64(b.N*(1+tc.recorders))/b.Elapsed().Seconds(), "sent/s")
		})
	}
}

// BenchmarkParseRTP is the header parse alone.
func BenchmarkParseRTP(b *testing.B) {
	pkt := make([]byte, rtpHeaderLen+frameSamples)
	putHeader(pkt, true, 0, 7, 1600, 42)
	var p packet
	b.ReportAllocs()
	for b.Loop() {
		if !parseRTP(pkt, &p) {
			b.Fatal("not parsed")
		}
	}
}
