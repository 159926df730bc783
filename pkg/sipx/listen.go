package sipx

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// ErrUnknownNetwork is returned for a transport other than udp, tcp or tls.
var ErrUnknownNetwork = errors.New("unknown SIP transport (want udp, tcp or tls)")

// Listener is one bound SIP socket.
type Listener struct {
	Network string // "udp", "tcp" or "tls"
	Addr    netip.AddrPort
}

// Server owns the listeners of one sipgo.Server and the goroutines serving them.
type Server struct {
	srv *sipgo.Server
	log *slog.Logger

	mu        sync.Mutex
	listeners []Listener
	closers   []io.Closer
	wg        sync.WaitGroup
	closed    bool
}

// NewServer wraps srv. Register handlers on srv before the first Listen.
func NewServer(srv *sipgo.Server, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	return &Server{srv: srv, log: log}
}

// Listen binds one socket (addr may use port 0) and serves it until ctx ends or
// Close. It returns the bound address.
func (s *Server) Listen(ctx context.Context, network, addr string, tlsConf *tls.Config) (Listener, error) {
	network = strings.ToLower(network)
	var (
		closer io.Closer
		local  net.Addr
		serve  func() error
	)
	switch network {
	case "udp":
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return Listener{}, fmt.Errorf("sip udp listen %s: %w", addr, err)
		}
		growUDPBuffers(pc, s.log)
		closer, local = pc, pc.LocalAddr()
		serve = func() error { return s.srv.ServeUDP(pc) }
	case "tcp":
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return Listener{}, fmt.Errorf("sip tcp listen %s: %w", addr, err)
		}
		closer, local = l, l.Addr()
		serve = func() error { return s.srv.ServeTCP(l) }
	case "tls":
		if tlsConf == nil {
			return Listener{}, fmt.Errorf("sip tls listen %s: no TLS configuration", addr)
		}
		l, err := tls.Listen("tcp", addr, tlsConf)
		if err != nil {
			return Listener{}, fmt.Errorf("sip tls listen %s: %w", addr, err)
		}
		closer, local = l, l.Addr()
		serve = func() error { return s.srv.ServeTLS(l) }
	default:
		return Listener{}, fmt.Errorf("%w: %q", ErrUnknownNetwork, network)
	}
	ap, err := netip.ParseAddrPort(local.String())
	if err != nil {
		closer.Close()
		return Listener{}, fmt.Errorf("sip listen: local address %s: %w", local, err)
	}
	ln := Listener{Network: network, Addr: ap}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		closer.Close()
		return Listener{}, net.ErrClosed
	}
	s.listeners = append(s.listeners, ln)
	s.closers = append(s.closers, closer)
	stop := make(chan struct{})
	s.wg.Add(2)
	s.mu.Unlock()

	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			closer.Close()
		case <-stop:
		}
	}()
	go func() {
		defer s.wg.Done()
		defer close(stop)
		if err := serve(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.log.Warn("sip listener stopped", "network", network, "addr", ap.String(), "error", err)
		}
	}()
	if network == "udp" {
		if err := s.waitUDPServing(ap); err != nil {
			return Listener{}, err
		}
	}
	s.log.Debug("sip listening", "network", network, "addr", ap.String())
	return ln, nil
}

// waitUDPServing waits until sipgo has registered the UDP socket in its
// connection pool. Its serve goroutine does that; a request sent from the
// listener address (Laddr) before then would make sipgo bind the port a
// second time and fail.
func (s *Server) waitUDPServing(ap netip.AddrPort) error {
	laddr := ap.String()
	deadline := time.Now().Add(2 * time.Second)
	for {
		if c, err := s.srv.TransportLayer().GetConnection("udp", laddr); err == nil {
			c.TryClose() // GetConnection took a reference
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sip udp listener %s: not serving after 2s", ap)
		}
		time.Sleep(time.Millisecond)
	}
}

// UDPBufferSize is what UDP listeners ask the kernel for: every call crosses
// a server's one SIP socket many times, and at a few thousand calls per
// second a burst overflows the default ~200 KB receive buffer and costs a
// 500 ms retransmission. The kernel caps it at net.core.rmem_max/wmem_max.
const UDPBufferSize = 4 << 20

func growUDPBuffers(pc net.PacketConn, log *slog.Logger) {
	uc, ok := pc.(*net.UDPConn)
	if !ok {
		return
	}
	if err := uc.SetReadBuffer(UDPBufferSize); err != nil {
		log.Debug("udp read buffer", "error", err)
	}
	if err := uc.SetWriteBuffer(UDPBufferSize); err != nil {
		log.Debug("udp write buffer", "error", err)
	}
}

// UDPLaddr is the sip.Addr of a UDP listener, for req.Laddr: requests sent
// over UDP should leave from the listening socket. Otherwise sipgo opens a
// pooled socket per destination whose reference counting can close it while
// a transaction still waits for responses, and the far end sees an address
// that is not in our Via or Contact.
func UDPLaddr(ap netip.AddrPort) sip.Addr {
	return sip.Addr{IP: net.IP(ap.Addr().AsSlice()), Port: int(ap.Port())}
}

// Listeners returns the bound listeners in the order they were opened.
func (s *Server) Listeners() []Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Listener(nil), s.listeners...)
}

// Addr returns the address of the first listener of the network, or the zero value.
func (s *Server) Addr(network string) netip.AddrPort {
	for _, l := range s.Listeners() {
		if l.Network == network {
			return l.Addr
		}
	}
	return netip.AddrPort{}
}

// Close closes every socket and waits for the serve goroutines. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	closers := s.closers
	s.mu.Unlock()
	var errs []error
	for _, c := range closers {
		if err := c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

var raiseOnce sync.Once

// RaiseUDPLimit lifts sipgo's UDP message limit (1300 bytes by default) to the
// largest UDP datagram, because SIPREC INVITEs (SDP plus metadata) exceed it,
// and the read buffer with it. Call it once at start-up, before any listener.
func RaiseUDPLimit() {
	raiseOnce.Do(func() {
		sip.UDPMTUSize = 65535
		sip.TransportBufferReadSize = 65535
	})
}

// ViaTransport maps a listener network to the Via transport token.
func ViaTransport(network string) string {
	switch strings.ToLower(network) {
	case "tcp":
		return "TCP"
	case "tls":
		return "TLS"
	case "ws":
		return "WS"
	case "wss":
		return "WSS"
	}
	return "UDP"
}

// ListenConfig is the `sip:` block of every service's config: where it
// listens per transport ("" = that transport is off).
type ListenConfig struct {
	UDP string `yaml:"udp"`
	TCP string `yaml:"tcp"`
	TLS string `yaml:"tls"`
}

// Networks returns the configured transports with their addresses, in the
// order udp, tcp, tls.
func (l ListenConfig) Networks() [][2]string {
	var out [][2]string
	for _, n := range [][2]string{{"udp", l.UDP}, {"tcp", l.TCP}, {"tls", l.TLS}} {
		if n[1] != "" {
			out = append(out, n)
		}
	}
	return out
}
