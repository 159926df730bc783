package media

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtp"
)

// maxTransientErrors bounds how many consecutive non-fatal socket errors ReadPacket swallows before
// returning one, so a broken socket cannot spin a reader forever.
const maxTransientErrors = 64

// ReadPacket reads datagrams into buf until one is a valid RTP packet (decrypted in place when SRTP is on),
// unmarshals it into pkt (pkt.Payload aliases buf) and returns its source. Datagrams that are not RTP, fail
// SRTP authentication, or exceed MaxPacket are counted in DropCount and skipped. It returns an error only
// when the socket is closed or a read deadline passes (or, defensively, after 64 consecutive other socket
// errors, and ErrShortBuffer for a buf under 12 bytes). buf should hold MaxPacket+1 bytes: a datagram that
// fills buf is taken as oversize. Valid packets update Stats and, when the remote is unknown or the session
// is Symmetric, set the remote to their source. Not safe for concurrent readers. It does not allocate with a
// *net.UDPConn (except when the remote changes).
func (s *Session) ReadPacket(buf []byte, pkt *rtp.Packet) (from netip.AddrPort, err error) {
	limit := min(len(buf), s.maxPacket+1)
	if limit < rtpHeaderSize {
		return netip.AddrPort{}, ErrShortBuffer
	}
	buf = buf[:limit]
	transient := 0
	for {
		n, from, err := s.readFrom(buf)
		if err != nil {
			if fatalReadError(err) {
				return netip.AddrPort{}, err
			}
			if transient++; transient > maxTransientErrors {
				return netip.AddrPort{}, err
			}
			if s.debugEnabled() {
				s.log.Debug("rtp read error", "err", err)
			}
			continue
		}
		transient = 0
		if n >= limit {
			s.drop(errSize, from)
			continue
		}
		if err := s.decode(buf[:n], pkt); err != nil {
			s.drop(err, from)
			continue
		}
		s.recv.Observe(&pkt.Header, len(pkt.Payload), time.Now(), s.clockRate)
		s.learn(from)
		return from, nil
	}
}

func (s *Session) readFrom(b []byte) (int, netip.AddrPort, error) {
	if s.udp != nil {
		n, ap, err := s.udp.ReadFromUDPAddrPort(b)
		return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), err
	}
	n, addr, err := s.conn.ReadFrom(b)
	var ap netip.AddrPort
	if ua, ok := addr.(*net.UDPAddr); ok {
		ap = ua.AddrPort()
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return n, ap, err
}

// fatalReadError reports errors that end reading: a closed socket or an expired deadline.
func fatalReadError(err error) bool {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// decode validates, decrypts (in place) and unmarshals one datagram.
func (s *Session) decode(data []byte, pkt *rtp.Packet) error {
	if len(data) < rtpHeaderSize || data[0]>>6 != 2 {
		return errNotRTP
	}
	// RTCP multiplexed on the RTP port (RFC 5761): packet types 200-204 read as payload types 72-76.
	if pt := data[1] & 0x7f; pt >= 72 && pt <= 76 {
		return errRTCP
	}
	if ctx := s.recvSRTP.Load(); ctx != nil {
		out, err := ctx.DecryptRTP(data, data, &pkt.Header)
		if err != nil {
			return err
		}
		data = out
	}
	return pkt.Unmarshal(data)
}

// learn latches the remote onto a packet's source when none is known, or always when Symmetric.
func (s *Session) learn(from netip.AddrPort) {
	if !from.IsValid() {
		return
	}
	cur := s.remote.Load()
	if cur != nil && cur.IsValid() && (!s.symmetric || *cur == from) {
		return
	}
	addr := from
	if s.remote.CompareAndSwap(cur, &addr) {
		s.log.Debug("rtp remote learned", "remote", addr.String())
	}
}

func (s *Session) drop(reason error, from netip.AddrPort) {
	s.dropped.Add(1)
	if s.debugEnabled() {
		s.log.Debug("rtp datagram dropped", "reason", reason, "from", from.String())
	}
}

// debugEnabled guards debug logging on the read path, so arguments are only built when they are logged.
func (s *Session) debugEnabled() bool {
	return s.log.Enabled(context.Background(), slog.LevelDebug)
}
