package mediaserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// Sentinel errors.
var (
	ErrStarted = errors.New("mediaserver: already started")
	ErrClosed  = errors.New("mediaserver: closed")
	ErrConfig  = errors.New("mediaserver: invalid config")
)

// Option sets an injectable.
type Option func(*Server)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithTLS sets the TLS configs: server for the SIPS listener, client for
// TLS connections to recorders. Without it a self-signed lab certificate is
// made when a TLS listener is configured.
func WithTLS(server, client *tls.Config) Option {
	return func(s *Server) { s.tlsServer, s.tlsClient = server, client }
}

// Server is one media server: SIP UA for the media-control legs and the
// recording sessions, RTP relay and replication, local recording, HTTP.
type Server struct {
	cfg       Config
	log       *slog.Logger
	tlsServer *tls.Config
	tlsClient *tls.Config

	ua        *sipgo.UserAgent
	sipSrv    *sipgo.Server
	client    *sipgo.Client
	lis       *sipx.Server
	advertise netip.Addr
	ports     *portPool
	httpSrv   *http.Server
	httpAddr  netip.AddrPort

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	started atomic.Bool

	mu       sync.Mutex
	draining bool // set before wg.Wait: no goroutine may start after it
	confs    map[string]*conference
	legs     map[string]*leg        // by Call-ID
	rss      map[string]*recSession // by Call-ID
	closed   bool

	stats serverStats
}

// New validates cfg (after Defaults) and returns a Server; nothing is bound
// before Start.
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w:\n%w", ErrConfig, err)
	}
	s := &Server{
		cfg:   cfg,
		confs: map[string]*conference{},
		legs:  map[string]*leg{},
		rss:   map[string]*recSession{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.log = s.log.With("mediaserver", cfg.Name)
	return s, nil
}

// Config returns the effective configuration.
func (s *Server) Config() Config { return s.cfg }

// Start binds the SIP listeners and the HTTP API. The server runs until
// Close; ctx bounds nothing after Start returns.
func (s *Server) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrStarted
	}
	// SIPREC INVITEs exceed sipgo's 1300-byte UDP limit.
	sipx.RaiseUDPLimit()
	if s.cfg.SIP.TLS != "" && s.tlsServer == nil {
		srv, cli, err := sipx.SelfSigned()
		if err != nil {
			return err
		}
		s.tlsServer = srv
		if s.tlsClient == nil {
			s.tlsClient = cli
		}
	}
	first := firstListen(s.cfg.SIP)
	host, _, err := net.SplitHostPort(first)
	if err != nil {
		return fmt.Errorf("mediaserver: %w", err)
	}
	listenIP, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("mediaserver: listen address %q: %w", first, err)
	}
	s.advertise = listenIP
	if s.cfg.AdvertiseAddr != "" {
		s.advertise = netip.MustParseAddr(s.cfg.AdvertiseAddr) // validated
	}
	s.ports = newPortPool(listenIP, s.cfg.RTPPorts)

	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("arlab-mediaserver/" + s.cfg.Name),
		sipgo.WithUserAgentHostname(s.advertise.String()),
	}
	if s.tlsClient != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(s.tlsClient))
	}
	if s.ua, err = sipgo.NewUA(uaOpts...); err != nil {
		return fmt.Errorf("mediaserver: %w", err)
	}
	if s.sipSrv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(s.log)); err != nil {
		s.ua.Close()
		return fmt.Errorf("mediaserver: %w", err)
	}
	if s.client, err = sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.advertise.String()), sipgo.WithClientLogger(s.log)); err != nil {
		s.ua.Close()
		return fmt.Errorf("mediaserver: %w", err)
	}
	s.registerHandlers()

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.lis = sipx.NewServer(s.sipSrv, s.log)
	for _, l := range []struct{ network, addr string }{
		{"udp", s.cfg.SIP.UDP}, {"tcp", s.cfg.SIP.TCP}, {"tls", s.cfg.SIP.TLS},
	} {
		if l.addr == "" {
			continue
		}
		if _, err := s.lis.Listen(s.ctx, l.network, l.addr, s.tlsServer); err != nil {
			s.shutdown()
			return fmt.Errorf("mediaserver: %w", err)
		}
	}
	if s.cfg.HTTP != "" {
		if err := s.startHTTP(); err != nil {
			s.shutdown()
			return err
		}
	}
	s.log.Info("media server started", "sip", s.lis.Listeners(), "http", s.httpAddr.String(), "advertise", s.advertise.String())
	return nil
}

func firstListen(l Listen) string {
	for _, a := range []string{l.UDP, l.TCP, l.TLS} {
		if a != "" {
			return a
		}
	}
	return ""
}

// SIPAddr returns the bound SIP address of a transport ("udp", "tcp",
// "tls"), or the zero value.
func (s *Server) SIPAddr(network string) netip.AddrPort {
	if s.lis == nil {
		return netip.AddrPort{}
	}
	return s.lis.Addr(network)
}

// HTTPAddr returns the bound HTTP address, or the zero value.
func (s *Server) HTTPAddr() netip.AddrPort { return s.httpAddr }

// Close ends every conference (BYE to the recorders, local files
// finished), then closes the listeners. Legs are not sent BYE: the SIP
// Server owns them. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	confs := make([]*conference, 0, len(s.confs))
	for _, c := range s.confs {
		confs = append(confs, c)
	}
	s.mu.Unlock()
	if !s.started.Load() {
		return nil
	}
	var wg sync.WaitGroup
	for _, c := range confs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.end()
		}()
	}
	wg.Wait()
	return s.shutdown()
}

func (s *Server) shutdown() error {
	var errs []error
	if s.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		errs = append(errs, s.httpSrv.Shutdown(ctx))
		cancel()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.lis != nil {
		errs = append(errs, s.lis.Close())
	}
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.wg.Wait()
	if s.ua != nil {
		errs = append(errs, s.ua.Close())
	}
	return errors.Join(errs...)
}

// conference returns the conference id, creating it when create is set.
func (s *Server) conference(id string, create bool) (*conference, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if c, ok := s.confs[id]; ok {
		return c, nil
	}
	if !create {
		return nil, nil
	}
	if len(s.confs) >= s.cfg.MaxConferences {
		return nil, sipx.Status(503, "Service Unavailable", fmt.Errorf("%d conferences (max-conferences)", len(s.confs)))
	}
	c := newConference(s, id)
	s.confs[id] = c
	s.stats.conferences.Add(1)
	return c, nil
}

func (s *Server) dropConference(c *conference) {
	s.mu.Lock()
	if s.confs[c.id] == c {
		delete(s.confs, c.id)
	}
	s.mu.Unlock()
}

// conferences returns the live conferences.
func (s *Server) conferences() []*conference {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conference, 0, len(s.confs))
	for _, c := range s.confs {
		out = append(out, c)
	}
	return out
}

func (s *Server) findLeg(req *sip.Request) *leg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[sipx.CallID(req)]
}

func (s *Server) findRS(req *sip.Request) *recSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rss[sipx.CallID(req)]
}

// contact is the media server's Contact on a transport.
func (s *Server) contact(network string) sip.ContactHeader {
	port := s.SIPAddr(network).Port()
	u := sip.Uri{User: s.cfg.Name, Host: s.advertise.String(), Port: int(port)}
	if network != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", network)
	}
	return sip.ContactHeader{Address: u}
}

// spawn runs fn on a goroutine the server waits for on Close. It reports
// false, without running fn, once the server is shutting down.
func (s *Server) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}
