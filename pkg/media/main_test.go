package media

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// listen opens a UDP socket on a free loopback port.
func listen(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// newSession opens a session on a fresh socket; it is closed at test cleanup.
func newSession(t testing.TB, cfg Config) *Session {
	t.Helper()
	if cfg.Conn == nil {
		cfg.Conn = listen(t)
	}
	s, err := NewSession(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// pair returns two sessions sending to each other, configured by the callers' templates.
func pair(t testing.TB, a, b Config) (*Session, *Session) {
	t.Helper()
	ca, cb := listen(t), listen(t)
	a.Conn, b.Conn = ca, cb
	if !a.Remote.IsValid() {
		a.Remote = addrOf(cb)
	}
	if !b.Remote.IsValid() {
		b.Remote = addrOf(ca)
	}
	return newSession(t, a), newSession(t, b)
}

// received is one packet read by a reader goroutine, with its payload copied out of the read buffer.
type received struct {
	hdr     Header
	payload []byte
	from    netip.AddrPort
}

// Header is the subset of rtp.Header the tests compare.
type Header struct {
	PT     uint8
	Seq    uint16
	TS     uint32
	SSRC   uint32
	Marker bool
}

// reader reads s until it closes and delivers packets on the returned channel.
func reader(t testing.TB, s *Session) <-chan received {
	t.Helper()
	out := make(chan received, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(out)
		buf := make([]byte, 2048)
		var pkt rtp.Packet
		for {
			from, err := s.ReadPacket(buf, &pkt)
			if err != nil {
				return
			}
			out <- received{
				hdr: Header{
					PT: pkt.PayloadType, Seq: pkt.SequenceNumber, TS: pkt.Timestamp,
					SSRC: pkt.SSRC, Marker: pkt.Marker,
				},
				payload: append([]byte(nil), pkt.Payload...),
				from:    from,
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.Close()
		<-done
	})
	return out
}

// next waits for one packet.
func next(t testing.TB, ch <-chan received) received {
	t.Helper()
	select {
	case r, ok := <-ch:
		require.True(t, ok, "reader stopped")
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting for a packet")
		return received{}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, cond func() bool, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", msg)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
