package tlib

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Handler performs call requests for the Server. The SIP Server implements it.
type Handler interface {
	// KnownDN reports whether a DN is configured; RequestRegisterAddress for
	// an unknown DN is refused with ErrUnknownDN.
	KnownDN(dn string) bool
	// HandleRequest performs a validated request from an opened client whose
	// ThisDN is registered by that client (or who registered
	// ModeMonitorAll). It is called on the client's reader goroutine, so the
	// requests of one client are handled one at a time and in order; a slow
	// handler delays only that client. ctx ends when the client disconnects
	// or the server closes.
	//
	// Returning nil makes the server answer EventACK, unless the handler has
	// already sent, before returning, an event carrying req.ReferenceID to
	// this client (Server.PublishReply or Server.SendTo). Returning an error
	// makes it answer EventError: an *Error or ErrorCode keeps its code, any
	// other error becomes ErrInternal.
	HandleRequest(ctx context.Context, c *ClientInfo, req *Message) error
}

// ClientObserver is optionally implemented by a Handler that needs to know
// when an opened client goes away (e.g. to cancel a supervisor's monitoring
// or to stop offering calls to a routing point's router). ClientClosed is
// called once per opened client, after its registrations are removed.
type ClientObserver interface {
	ClientClosed(c *ClientInfo)
}

// ClientID identifies one client connection for the life of the Server.
type ClientID uint64

// ClientInfo describes an opened client to the Handler.
type ClientInfo struct {
	ID         ClientID
	AppName    string
	RemoteAddr string
	// Registered reports whether the client registered dn, or registered
	// ModeMonitorAll (which covers every DN).
	Registered func(dn string) bool
	// MonitorsAll reports whether the client holds a ModeMonitorAll
	// registration.
	MonitorsAll func() bool
}

// ServerConfig holds the user knobs of a Server. Zero values take defaults.
type ServerConfig struct {
	Listen       string        // TCP address; default "127.0.0.1:0"
	Password     string        // required in RequestOpen when not empty
	MaxLine      int           // max request line in bytes; default DefaultMaxLine
	SendQueue    int           // per-client queue of outgoing events; default 1024
	ServerName   string        // Server attribute of EventServerInfo/EventACK/EventError; default "arlab"
	TLS          *tls.Config   // when set, clients must speak TLS
	OpenTimeout  time.Duration // a connection not opened by then is closed; default 30s
	WriteTimeout time.Duration // a write to a client stalled this long closes it; default 10s
	// SocketWriteBuffer is the kernel send buffer (SO_SNDBUF) of each client
	// socket; default 256 KiB, negative = leave it to the OS. Bounding it
	// keeps slow-client detection prompt: Linux otherwise autotunes it up to
	// 4 MiB, thousands of events silently parked in the kernel.
	SocketWriteBuffer int
}

func (c *ServerConfig) defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultMaxLine
	}
	if c.SendQueue <= 0 {
		c.SendQueue = 1024
	}
	if c.ServerName == "" {
		c.ServerName = "arlab"
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.SocketWriteBuffer == 0 {
		c.SocketWriteBuffer = 256 << 10
	}
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithListener makes Start serve on ln instead of listening on cfg.Listen.
// The Server takes ownership and closes ln.
func WithListener(ln net.Listener) Option { return func(s *Server) { s.ln = ln } }

// Server is a T-lib server: it owns client connections, RequestOpen and
// authentication, DN registrations, request correlation and event fan-out.
// Call requests go to the Handler.
type Server struct {
	cfg ServerConfig
	h   Handler
	log *slog.Logger

	ln      net.Listener
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool
	closed  chan struct{}
	once    sync.Once

	nextID atomic.Uint64

	mu         sync.RWMutex
	conns      map[ClientID]*conn
	byDN       map[string]map[ClientID]*conn
	monitorAll map[ClientID]*conn
}

// NewServer builds a Server. A nil h knows no DN, so only RequestOpen and
// ModeMonitorAll registrations succeed.
func NewServer(cfg ServerConfig, h Handler, opts ...Option) *Server {
	cfg.defaults()
	if h == nil {
		h = noHandler{}
	}
	s := &Server{
		cfg:        cfg,
		h:          h,
		log:        slog.Default(),
		closed:     make(chan struct{}),
		conns:      make(map[ClientID]*conn),
		byDN:       make(map[string]map[ClientID]*conn),
		monitorAll: make(map[ClientID]*conn),
	}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "tlib-server")
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Start listens (unless WithListener was given) and serves in the
// background until ctx ends or Close is called.
func (s *Server) Start(ctx context.Context) error {
	select {
	case <-s.closed:
		return ErrServerClosed
	default:
	}
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("tlib: server already started")
	}
	if s.ln == nil {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("tlib: listen %s: %w", s.cfg.Listen, err)
		}
		s.ln = ln
	}
	if s.cfg.TLS != nil {
		s.ln = tls.NewListener(s.ln, s.cfg.TLS)
	}
	s.log.Info("T-lib server listening", "addr", s.ln.Addr().String(), "tls", s.cfg.TLS != nil)
	s.wg.Add(1)
	go s.acceptLoop()
	// Not in wg: it may call Close, which waits for wg.
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.closed:
		}
	}()
	return nil
}

// Addr returns the listening address (zero before Start).
func (s *Server) Addr() netip.AddrPort {
	if s.ln == nil {
		return netip.AddrPort{}
	}
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(s.ln.Addr().String())
	return ap
}

// Close stops accepting, disconnects every client and waits for all
// goroutines. It is idempotent.
func (s *Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		if s.ln != nil {
			if e := s.ln.Close(); e != nil && !errors.Is(e, net.ErrClosed) {
				err = e
			}
		}
		// Sockets first, then the handlers' context: a handler cut short
		// by shutdown must not produce a misleading EventError.
		s.mu.RLock()
		for _, c := range s.conns {
			c.closeNow()
		}
		s.mu.RUnlock()
		s.cancel()
		s.wg.Wait()
	})
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary failure (e.g. EMFILE): back off instead of spinning.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-s.closed:
				return
			}
		}
		delay = 0
		if s.cfg.SocketWriteBuffer > 0 {
			setWriteBuffer(nc, s.cfg.SocketWriteBuffer)
		}
		c := s.newConn(nc)
		s.mu.Lock()
		select {
		case <-s.closed:
			s.mu.Unlock()
			_ = nc.Close()
			return
		default:
		}
		s.conns[c.id] = c
		s.wg.Add(2)
		s.mu.Unlock()
		go c.writeLoop()
		go c.serve()
	}
}

type noHandler struct{}

func (noHandler) KnownDN(string) bool { return false }

func (noHandler) HandleRequest(context.Context, *ClientInfo, *Message) error {
	return ErrUnknownRequest
}

// setWriteBuffer sets SO_SNDBUF on the TCP socket under nc (also under TLS).
func setWriteBuffer(nc net.Conn, size int) {
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(size)
	}
}

var _ Handler = noHandler{}
