package media

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
)

func frameOf(b byte) []byte { return bytes.Repeat([]byte{b}, audio.FrameSamples) }

func TestNewSessionConfig(t *testing.T) {
	_, err := NewSession(Config{})
	require.ErrorIs(t, err, ErrInvalidConfig)

	c := listen(t)
	defer c.Close()
	for _, cfg := range []Config{
		{Conn: c, PayloadType: 128},
		{Conn: c, MaxPacket: 5},
		{Conn: c, MaxPacket: 70000},
	} {
		_, err := NewSession(cfg)
		assert.ErrorIs(t, err, ErrInvalidConfig)
	}
	_, err = NewSession(Config{Conn: c, SRTPSend: &SRTPKeys{Suite: "NOPE", Key: make([]byte, 30)}})
	assert.ErrorIs(t, err, ErrSRTPSuite)
	_, err = NewSession(Config{Conn: c, SRTPRecv: &SRTPKeys{Suite: SuiteAES128SHA1_80, Key: make([]byte, 29)}})
	assert.ErrorIs(t, err, ErrSRTPKey)

	s := newSession(t, Config{Conn: c, PayloadType: 8})
	assert.NotZero(t, s.SSRC(), "random SSRC")
	assert.Equal(t, uint32(8000), s.ClockRate())
	assert.Equal(t, uint8(8), s.PayloadType())
	assert.Equal(t, uint8(DefaultEventPayloadType), s.EventPayloadType())
	assert.Equal(t, addrOf(c), s.LocalAddr())
	assert.False(t, s.Remote().IsValid())
}

// TestFiveSecondsNoLoss sends 5 s worth of 20 ms frames over loopback (faster than real time, in bursts the
// socket buffer holds) and checks every packet arrives intact and in order.
func TestFiveSecondsNoLoss(t *testing.T) {
	const frames = 250
	a, b := pair(t, Config{SSRC: 0x1234}, Config{})
	ch := reader(t, b)

	seq0, ts0 := a.seq, a.ts
	for i := range frames {
		require.NoError(t, a.WriteFrame(frameOf(byte(i)), audio.FrameSamples, i == 0))
		if i%50 == 49 {
			eventually(t, func() bool { return len(ch) >= i+1 }, "receiver keeps up")
		}
	}
	for i := range frames {
		r := next(t, ch)
		assert.Equal(t, seq0+uint16(i), r.hdr.Seq)
		assert.Equal(t, ts0+uint32(i*audio.FrameSamples), r.hdr.TS)
		assert.Equal(t, uint32(0x1234), r.hdr.SSRC)
		assert.Equal(t, i == 0, r.hdr.Marker)
		assert.Equal(t, frameOf(byte(i)), r.payload)
		assert.Equal(t, a.LocalAddr(), r.from)
	}
	st := b.Stats()
	assert.Equal(t, uint64(frames), st.Packets)
	assert.Equal(t, uint64(frames*audio.FrameSamples), st.Bytes)
	assert.Zero(t, st.Lost)
	assert.Zero(t, st.Duplicates)
	assert.Zero(t, st.OutOfOrder)
	assert.Zero(t, st.Dropped)
	assert.Equal(t, uint32(0x1234), st.SSRC)
	assert.Equal(t, seq0+frames-1, st.LastSeq)
	assert.False(t, st.FirstPacket.IsZero())
	assert.False(t, st.LastPacket.Before(st.FirstPacket))
	pk, by := a.Sent()
	assert.Equal(t, uint64(frames), pk)
	assert.Equal(t, uint64(frames*audio.FrameSamples), by)
}

func TestSRTPRoundTripBothDirections(t *testing.T) {
	for _, suite := range []string{SuiteAES128SHA1_80, SuiteAES128SHA1_32, SuiteAES256SHA1_80, SuiteAES256SHA1_32} {
		t.Run(suite, func(t *testing.T) {
			kAB, err := NewSRTPKeys(suite)
			require.NoError(t, err)
			kBA, err := NewSRTPKeys(suite)
			require.NoError(t, err)
			a, b := pair(t,
				Config{SRTPSend: kAB, SRTPRecv: kBA},
				Config{SRTPSend: kBA, SRTPRecv: kAB})
			chA, chB := reader(t, a), reader(t, b)
			for i := range 20 {
				require.NoError(t, a.WriteFrame(frameOf(byte(i)), 160, false))
				require.NoError(t, b.WriteFrame(frameOf(byte(100+i)), 160, false))
			}
			for i := range 20 {
				assert.Equal(t, frameOf(byte(i)), next(t, chB).payload)
				assert.Equal(t, frameOf(byte(100+i)), next(t, chA).payload)
			}
			assert.Zero(t, a.DropCount())
			assert.Zero(t, b.DropCount())
			assert.Equal(t, uint64(20), b.Stats().Packets)
		})
	}
}

func TestSRTPIsEncryptedOnTheWire(t *testing.T) {
	k, err := NewSRTPKeys(SuiteAES128SHA1_80)
	require.NoError(t, err)
	plainRecv := listen(t)
	defer plainRecv.Close()
	a := newSession(t, Config{Remote: addrOf(plainRecv), SRTPSend: k})
	payload := frameOf(0x55)
	require.NoError(t, a.WriteFrame(payload, 160, false))
	buf := make([]byte, 2048)
	require.NoError(t, plainRecv.SetReadDeadline(time.Now().Add(5*time.Second)))
	n, _, err := plainRecv.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	assert.Equal(t, 12+160+10, n, "header + payload + 80-bit tag")
	assert.False(t, bytes.Contains(buf[:n], payload[:16]), "payload must not travel in clear")
}

func TestSRTPWrongKeyIsCountedDropThenHotSwap(t *testing.T) {
	good, err := NewSRTPKeys(SuiteAES128SHA1_80)
	require.NoError(t, err)
	wrong, err := NewSRTPKeys(SuiteAES128SHA1_80)
	require.NoError(t, err)
	a, b := pair(t, Config{SRTPSend: good}, Config{SRTPRecv: wrong})
	ch := reader(t, b)
	for range 5 {
		require.NoError(t, a.WriteFrame(frameOf(1), 160, false))
	}
	eventually(t, func() bool { return b.DropCount() == 5 }, "5 auth failures counted")
	assert.Empty(t, ch)
	assert.Equal(t, uint64(5), b.Stats().Dropped)
	assert.Zero(t, b.Stats().Packets)

	// Plain RTP to an SRTP receiver is dropped too.
	require.NoError(t, a.SetSRTP(nil, nil))
	require.NoError(t, a.WriteFrame(frameOf(2), 160, false))
	eventually(t, func() bool { return b.DropCount() == 6 }, "plain packet dropped")

	// Re-keyed as after a re-INVITE: both sides swap, traffic flows.
	require.NoError(t, a.SetSRTP(good, nil))
	require.NoError(t, b.SetSRTP(nil, good))
	require.NoError(t, a.WriteFrame(frameOf(3), 160, false))
	assert.Equal(t, frameOf(3), next(t, ch).payload)
	assert.Equal(t, uint64(6), b.DropCount())
}

func TestGarbageAndOversizeDatagramsAreDropped(t *testing.T) {
	b := newSession(t, Config{})
	ch := reader(t, b)
	raw := listen(t)
	defer raw.Close()
	send := func(p []byte) {
		_, err := raw.WriteToUDPAddrPort(p, b.LocalAddr())
		require.NoError(t, err)
	}
	valid := func(seq uint16) []byte {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq, SSRC: 7}, Payload: frameOf(9)}
		out, err := p.Marshal()
		require.NoError(t, err)
		return out
	}
	rtcpSR := []byte{0x80, 200, 0, 6, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	truncatedCSRC := []byte{0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7} // claims 15 CSRCs
	badExt := []byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 7, 0xbe, 0xde, 0, 9}
	badPadding := append(valid(1)[:12:12], 0, 0, 0xff)
	badPadding[0] |= 0x20
	garbage := [][]byte{
		{},
		{1, 2, 3},
		bytes.Repeat([]byte{0xff}, 40), // version 3
		bytes.Repeat([]byte{0x00}, 40), // version 0
		rtcpSR,
		truncatedCSRC,
		badExt,
		badPadding,
		append([]byte{0x80, 0}, make([]byte, 8998)...), // 9000-byte datagram
		append(valid(2), make([]byte, 1400)...),        // 1584 bytes > 1500
	}
	for _, g := range garbage {
		send(g)
	}
	send(valid(3))
	r := next(t, ch)
	assert.Equal(t, uint16(3), r.hdr.Seq)
	assert.Equal(t, uint64(len(garbage)), b.DropCount())
	st := b.Stats()
	assert.Equal(t, uint64(len(garbage)), st.Dropped)
	assert.Equal(t, uint64(1), st.Packets)
}

func TestMaxPacketSend(t *testing.T) {
	a, _ := pair(t, Config{MaxPacket: 200}, Config{})
	require.NoError(t, a.WriteFrame(make([]byte, 188), 160, false))
	require.ErrorIs(t, a.WriteFrame(make([]byte, 189), 160, false), ErrPayloadTooLarge)
}

func TestSetRemoteMovesPackets(t *testing.T) {
	a, b := pair(t, Config{}, Config{})
	c := newSession(t, Config{})
	chB, chC := reader(t, b), reader(t, c)

	require.NoError(t, a.WriteFrame(frameOf(1), 160, false))
	assert.Equal(t, frameOf(1), next(t, chB).payload)

	a.SetRemote(c.LocalAddr())
	assert.Equal(t, c.LocalAddr(), a.Remote())
	require.NoError(t, a.WriteFrame(frameOf(2), 160, false))
	assert.Equal(t, frameOf(2), next(t, chC).payload)

	// Mapped IPv4 addresses are stored unmapped, so they compare equal to what reads report.
	a.SetRemote(netip.AddrPortFrom(netip.AddrFrom16(b.LocalAddr().Addr().As16()), b.LocalAddr().Port()))
	assert.Equal(t, b.LocalAddr(), a.Remote())
	require.NoError(t, a.WriteFrame(frameOf(3), 160, false))
	assert.Equal(t, frameOf(3), next(t, chB).payload)
	assert.Empty(t, chC)
}

func TestNoRemote(t *testing.T) {
	a := newSession(t, Config{})
	seq, ts := a.seq, a.ts
	require.ErrorIs(t, a.WriteFrame(frameOf(1), 160, false), ErrNoRemote)
	assert.Equal(t, seq, a.seq, "no packet, no sequence number")
	assert.Equal(t, ts+160, a.ts, "time still passed")
}

func TestLearnRemoteFromFirstPacket(t *testing.T) {
	a := newSession(t, Config{}) // no remote, not symmetric
	chA := reader(t, a)
	b := newSession(t, Config{Remote: a.LocalAddr()})
	chB := reader(t, b)
	c := newSession(t, Config{Remote: a.LocalAddr()})

	require.NoError(t, b.WriteFrame(frameOf(1), 160, false))
	next(t, chA)
	assert.Equal(t, b.LocalAddr(), a.Remote())
	require.NoError(t, a.WriteFrame(frameOf(2), 160, false))
	assert.Equal(t, frameOf(2), next(t, chB).payload)

	// Not symmetric: a packet from elsewhere does not move the remote.
	require.NoError(t, c.WriteFrame(frameOf(3), 160, false))
	next(t, chA)
	assert.Equal(t, b.LocalAddr(), a.Remote())
}

func TestSymmetricFollowsSource(t *testing.T) {
	a := newSession(t, Config{Symmetric: true, Remote: netip.MustParseAddrPort("127.0.0.1:9")})
	chA := reader(t, a)
	b := newSession(t, Config{Remote: a.LocalAddr()})
	chB := reader(t, b)
	c := newSession(t, Config{Remote: a.LocalAddr()})
	chC := reader(t, c)

	require.NoError(t, b.WriteFrame(frameOf(1), 160, false))
	next(t, chA)
	assert.Equal(t, b.LocalAddr(), a.Remote(), "latched onto the real source")
	require.NoError(t, a.WriteFrame(frameOf(2), 160, false))
	assert.Equal(t, frameOf(2), next(t, chB).payload)

	require.NoError(t, c.WriteFrame(frameOf(3), 160, false))
	next(t, chA)
	assert.Equal(t, c.LocalAddr(), a.Remote(), "followed the new source")
	require.NoError(t, a.WriteFrame(frameOf(4), 160, false))
	assert.Equal(t, frameOf(4), next(t, chC).payload)

	// Garbage from a third address does not hijack the stream.
	raw := listen(t)
	defer raw.Close()
	_, err := raw.WriteToUDPAddrPort([]byte("not rtp at all"), a.LocalAddr())
	require.NoError(t, err)
	eventually(t, func() bool { return a.DropCount() == 1 }, "garbage dropped")
	assert.Equal(t, c.LocalAddr(), a.Remote())
}

func TestReadPacketEndsOnCloseAndDeadline(t *testing.T) {
	s := newSession(t, Config{})
	var pkt rtp.Packet
	buf := make([]byte, 1501)

	require.NoError(t, s.conn.SetReadDeadline(time.Now().Add(10*time.Millisecond)))
	_, err := s.ReadPacket(buf, &pkt)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)

	_, err = s.ReadPacket(make([]byte, 4), &pkt)
	require.ErrorIs(t, err, ErrShortBuffer)

	require.NoError(t, s.conn.SetReadDeadline(time.Time{}))
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadPacket(buf, &pkt)
		errc <- err
	}()
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "idempotent")
	select {
	case err := <-errc:
		require.ErrorIs(t, err, net.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadPacket did not return on Close")
	}
}

// TestWriteEventPackets checks the RFC 4733 packet train of Session.WriteEvent.
func TestWriteEventPackets(t *testing.T) {
	a, b := pair(t, Config{}, Config{})
	a.SetEventPayloadType(96)
	ch := reader(t, b)
	ts0 := a.ts
	start := time.Now()
	require.NoError(t, a.WriteEvent(DTMFEvent{Digit: '#', Duration: 50 * time.Millisecond, Volume: 10}))
	elapsed := time.Since(start)
	// 50 ms rounds up to 3 intervals of 20 ms, plus 2 retransmissions of the end.
	assert.GreaterOrEqual(t, elapsed, 100*time.Millisecond)

	want := []eventPayload{
		{code: 11, volume: 10, duration: 160},
		{code: 11, volume: 10, duration: 320},
		{code: 11, volume: 10, duration: 480, end: true},
		{code: 11, volume: 10, duration: 480, end: true},
		{code: 11, volume: 10, duration: 480, end: true},
	}
	var seq uint16
	for i, w := range want {
		r := next(t, ch)
		assert.Equal(t, uint8(96), r.hdr.PT)
		assert.Equal(t, ts0, r.hdr.TS, "all packets carry the event start")
		assert.Equal(t, i == 0, r.hdr.Marker)
		if i > 0 {
			assert.Equal(t, seq+1, r.hdr.Seq)
		}
		seq = r.hdr.Seq
		p, ok := parseEventPayload(r.payload)
		require.True(t, ok)
		assert.Equal(t, w, p, "packet %d", i)
	}
	// Audio continues after the event's 5 intervals.
	require.NoError(t, a.WriteFrame(frameOf(1), 160, false))
	assert.Equal(t, ts0+5*160, next(t, ch).hdr.TS)

	assert.ErrorIs(t, a.WriteEvent(DTMFEvent{Digit: 'x'}), ErrInvalidDigit)
}

func TestWriteEventEndsOnClose(t *testing.T) {
	a, _ := pair(t, Config{}, Config{})
	errc := make(chan error, 1)
	go func() { errc <- a.WriteEvent(DTMFEvent{Digit: '1', Duration: 5 * time.Second}) }()
	require.NoError(t, a.Close())
	select {
	case err := <-errc:
		assert.True(t, errors.Is(err, ErrClosed) || errors.Is(err, net.ErrClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("WriteEvent did not return on Close")
	}
}

func TestHotPathZeroAllocs(t *testing.T) {
	for _, withSRTP := range []bool{false, true} {
		name := "plain"
		var send, recv *SRTPKeys
		if withSRTP {
			name = "srtp"
			k, err := NewSRTPKeys(SuiteAES128SHA1_80)
			require.NoError(t, err)
			send, recv = k, k
		}
		t.Run(name, func(t *testing.T) {
			a, b := pair(t, Config{SRTPSend: send}, Config{SRTPRecv: recv})
			payload := frameOf(7)
			buf := make([]byte, 1501)
			var pkt rtp.Packet
			// Warm up: the first packet latches nothing new but creates SRTP per-SSRC state.
			require.NoError(t, a.WriteFrame(payload, 160, false))
			_, err := b.ReadPacket(buf, &pkt)
			require.NoError(t, err)

			allocs := testing.AllocsPerRun(200, func() {
				if err := a.WriteFrame(payload, 160, false); err != nil {
					t.Fatal(err)
				}
				if _, err := b.ReadPacket(buf, &pkt); err != nil {
					t.Fatal(err)
				}
			})
			if withSRTP && raceEnabled {
				t.Logf("race detector: sync.Pool drops items, %.1f allocs/packet not asserted", allocs)
			} else {
				assert.Zero(t, allocs, "WriteFrame+ReadPacket allocations per packet")
			}
			assert.Equal(t, payload, pkt.Payload)
			assert.Zero(t, b.Stats().Lost)
		})
	}
}

func TestReceiverZeroAllocs(t *testing.T) {
	var r Receiver
	h := rtp.Header{SSRC: 1}
	now := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		h.SequenceNumber++
		h.Timestamp += 160
		now = now.Add(20 * time.Millisecond)
		r.Update(&h, now, 8000)
	})
	assert.Zero(t, allocs)
}

func benchPair(b *testing.B, withSRTP bool) (*Session, *Session) {
	var send, recv *SRTPKeys
	if withSRTP {
		k, err := NewSRTPKeys(SuiteAES128SHA1_80)
		require.NoError(b, err)
		send, recv = k, k
	}
	return pair(b, Config{SRTPSend: send}, Config{SRTPRecv: recv})
}

func benchmarkWriteFrame(b *testing.B, withSRTP bool) {
	a, _ := benchPair(b, withSRTP)
	payload := frameOf(7)
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if err := a.WriteFrame(payload, 160, false); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteFrame(b *testing.B)     { benchmarkWriteFrame(b, false) }
func BenchmarkWriteFrameSRTP(b *testing.B) { benchmarkWriteFrame(b, true) }

// benchmarkReadPacket measures ReadPacket; the peer writes one packet per read so the socket never
// overflows, and the write is excluded from the timer.
func benchmarkReadPacket(b *testing.B, withSRTP bool) {
	a, r := benchPair(b, withSRTP)
	payload := frameOf(7)
	buf := make([]byte, 1501)
	var pkt rtp.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		b.StopTimer()
		if err := a.WriteFrame(payload, 160, false); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := r.ReadPacket(buf, &pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadPacket(b *testing.B)     { benchmarkReadPacket(b, false) }
func BenchmarkReadPacketSRTP(b *testing.B) { benchmarkReadPacket(b, true) }
