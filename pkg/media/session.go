package media

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

const (
	defaultMaxPacket = 1500
	maxMaxPacket     = 65535
	defaultClockRate = 8000
)

// Config configures a Session.
type Config struct {
	// Conn is the UDP socket; the Session owns it after NewSession (Close closes it). A *net.UDPConn gets the
	// allocation-free path; other PacketConns work but allocate an address per packet.
	Conn net.PacketConn
	// Remote is where packets go; the zero value means learn it from the first received packet.
	Remote netip.AddrPort
	// PayloadType is the payload type WriteFrame sends (0 PCMU, 8 PCMA).
	PayloadType uint8
	// ClockRate is the RTP clock in Hz; 0 means 8000.
	ClockRate uint32
	// SSRC of sent packets; 0 means random.
	SSRC uint32
	// Symmetric makes the session follow the source of received packets (symmetric RTP, RFC 4961), as a
	// media relay behind NAT must; without it the remote is only learned when none is known.
	Symmetric bool
	// SRTPSend and SRTPRecv enable SDES-SRTP per direction; nil means plain RTP.
	SRTPSend, SRTPRecv *SRTPKeys
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// MaxPacket is the largest datagram accepted (default 1500); larger ones are counted as dropped, and
	// WriteFrame refuses to build larger packets.
	MaxPacket int
}

// Session is one RTP stream pair over one UDP socket: it sends with its own SSRC, sequence and timestamp,
// and receives one stream whose statistics it keeps. Writes (WriteFrame, WriteEvent, AdvanceTimestamp) are
// serialised and may come from any goroutine; ReadPacket must have a single reader goroutine.
type Session struct {
	conn      net.PacketConn
	udp       *net.UDPConn
	log       *slog.Logger
	local     netip.AddrPort
	clockRate uint32
	maxPacket int
	symmetric bool
	ssrc      uint32

	remote  atomic.Pointer[netip.AddrPort]
	pt      atomic.Uint32
	eventPT atomic.Uint32

	// Each direction's SRTP context is used by one goroutine at a time (writes hold wmu, reads have one
	// reader); SetSRTP swaps in fresh contexts and never touches the old ones.
	sendSRTP atomic.Pointer[srtp.Context]
	recvSRTP atomic.Pointer[srtp.Context]

	wmu    sync.Mutex // guards seq, ts, wbuf, encHdr
	seq    uint16
	ts     uint32
	wbuf   []byte
	encHdr rtp.Header

	sentPackets, sentBytes atomic.Uint64
	dropped                atomic.Uint64
	recv                   Receiver

	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// NewSession validates cfg and returns a Session owning cfg.Conn. On error the Conn is not closed.
func NewSession(cfg Config) (*Session, error) {
	if cfg.Conn == nil {
		return nil, fmt.Errorf("%w: nil Conn", ErrInvalidConfig)
	}
	if cfg.PayloadType > 127 {
		return nil, fmt.Errorf("%w: payload type %d", ErrInvalidConfig, cfg.PayloadType)
	}
	if cfg.MaxPacket == 0 {
		cfg.MaxPacket = defaultMaxPacket
	}
	if cfg.MaxPacket < rtpHeaderSize || cfg.MaxPacket > maxMaxPacket {
		return nil, fmt.Errorf("%w: MaxPacket %d", ErrInvalidConfig, cfg.MaxPacket)
	}
	if cfg.ClockRate == 0 {
		cfg.ClockRate = defaultClockRate
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for cfg.SSRC == 0 {
		cfg.SSRC = rand.Uint32()
	}
	s := &Session{
		conn:      cfg.Conn,
		log:       cfg.Logger,
		clockRate: cfg.ClockRate,
		maxPacket: cfg.MaxPacket,
		symmetric: cfg.Symmetric,
		ssrc:      cfg.SSRC,
		// RFC 3550 5.1: random initial sequence number and timestamp.
		seq:  uint16(rand.Uint32()),
		ts:   rand.Uint32(),
		wbuf: make([]byte, cfg.MaxPacket+srtpMaxOverhead),
		done: make(chan struct{}),
	}
	s.udp, _ = cfg.Conn.(*net.UDPConn)
	if a, ok := cfg.Conn.LocalAddr().(*net.UDPAddr); ok {
		ap := a.AddrPort()
		s.local = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	s.pt.Store(uint32(cfg.PayloadType))
	s.eventPT.Store(DefaultEventPayloadType)
	if cfg.Remote.IsValid() {
		s.SetRemote(cfg.Remote)
	}
	if err := s.SetSRTP(cfg.SRTPSend, cfg.SRTPRecv); err != nil {
		return nil, err
	}
	s.log = s.log.With("component", "rtp", "local", s.local.String(), "ssrc", s.ssrc)
	return s, nil
}

// LocalAddr returns the socket's local address.
func (s *Session) LocalAddr() netip.AddrPort { return s.local }

// SSRC returns the SSRC of sent packets.
func (s *Session) SSRC() uint32 { return s.ssrc }

// ClockRate returns the RTP clock rate in Hz.
func (s *Session) ClockRate() uint32 { return s.clockRate }

// SetRemote changes where packets go (a re-INVITE that moved the peer's media). Safe at any time.
func (s *Session) SetRemote(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	s.remote.Store(&addr)
}

// Remote returns where packets go; the zero value when unknown.
func (s *Session) Remote() netip.AddrPort {
	if p := s.remote.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// SetPayloadType changes the payload type of following WriteFrame packets.
func (s *Session) SetPayloadType(pt uint8) { s.pt.Store(uint32(pt & 0x7f)) }

// PayloadType returns the payload type WriteFrame sends.
func (s *Session) PayloadType() uint8 { return uint8(s.pt.Load()) }

// SetEventPayloadType sets the telephone-event payload type used to send and recognise DTMF.
func (s *Session) SetEventPayloadType(pt uint8) { s.eventPT.Store(uint32(pt & 0x7f)) }

// EventPayloadType returns the telephone-event payload type (default 101).
func (s *Session) EventPayloadType() uint8 { return uint8(s.eventPT.Load()) }

// SetSRTP replaces the SRTP keys of both directions (nil means plain RTP for that direction), e.g. after a
// re-INVITE renegotiated a=crypto. Fresh contexts start with rollover counter 0.
func (s *Session) SetSRTP(send, recv *SRTPKeys) error {
	var sendCtx, recvCtx *srtp.Context
	var err error
	if send != nil {
		if sendCtx, err = send.newContext(); err != nil {
			return fmt.Errorf("media: send keys: %w", err)
		}
	}
	if recv != nil {
		if recvCtx, err = recv.newContext(); err != nil {
			return fmt.Errorf("media: receive keys: %w", err)
		}
	}
	s.sendSRTP.Store(sendCtx)
	s.recvSRTP.Store(recvCtx)
	return nil
}

// Stats returns the received stream's statistics, with Dropped also counting datagrams the session
// discarded (garbage, failed SRTP authentication, oversize).
func (s *Session) Stats() Stats {
	st := s.recv.Stats()
	st.Dropped += s.dropped.Load()
	return st
}

// DropCount returns how many datagrams the session discarded before they reached the stream statistics.
func (s *Session) DropCount() uint64 { return s.dropped.Load() }

// Sent returns the packets sent and their payload octets (the RTCP sender-report counters).
func (s *Session) Sent() (packets, bytes uint64) { return s.sentPackets.Load(), s.sentBytes.Load() }

// Close closes the socket, unblocking a pending ReadPacket; it is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		if err := s.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = err
		}
	})
	return s.closeErr
}
