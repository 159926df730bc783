package sipserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// Sentinel errors of the Server's life cycle.
var (
	ErrStarted = errors.New("sipserver: already started")
	ErrClosed  = errors.New("sipserver: closed")
)

// serverName is the Server attribute of T-lib replies.
const serverName = "arlab-sipserver"

// closeTimeout bounds how long Close waits for the calls it hangs up.
const closeTimeout = 5 * time.Second

// Option sets an injectable of the Server.
type Option func(*Server)

// WithLogger sets the logger; default slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) {
		if l != nil {
			s.log = l
		}
	}
}

// WithTLS sets the TLS configurations: server for the SIP TLS listener,
// client for TLS connections the SIP Server opens to phones. Without it a
// configured TLS listener gets a self-signed lab certificate.
func WithTLS(server, client *tls.Config) Option {
	return func(s *Server) { s.tlsServer, s.tlsClient = server, client }
}

// WithTLibListener makes the T-lib server accept on ln (which the Server
// then owns) instead of listening on the configured address: a caller that
// must hand the address to others before the Server starts (recorders in a
// test lab) binds it first.
func WithTLibListener(ln net.Listener) Option {
	return func(s *Server) { s.tlibLn = ln }
}

// Server is the SIP Server: a B2BUA for the communication sessions, the DN
// registrar, routing points, the T-lib server and an HTTP status API.
// New, then Start, then Close.
type Server struct {
	cfg       Config
	log       *slog.Logger
	tlsServer *tls.Config
	tlsClient *tls.Config
	tlibLn    net.Listener

	dns  map[string]DN
	host string // advertised in Contact, Via and From/To hosts

	ua       *sipgo.UserAgent
	sipSrv   *sipgo.Server
	sipCli   *sipgo.Client
	lis      *sipx.Server
	tsrv     *tlib.Server
	http     *http.Server
	httpLn   net.Listener
	httpDone chan struct{} // closed when the HTTP serve goroutine ends

	reg     *registrar
	ids     *idGen
	metrics *metrics
	routeRR atomic.Uint64 // round robin over the routers of a routing point

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // teardown and make-call goroutines

	mu      sync.Mutex
	calls   map[string]*call // by ConnID, until every leg is gone
	legs    map[string]*leg  // dialog index: SIP Call-ID + our tag
	started bool
	closed  bool
	// draining is true while Close hangs up the calls: their teardown
	// goroutines may still be added to wg then, and no more after it.
	draining bool
	// monitors are the pending and active monitorings, by agent DN;
	// ended the released calls whose pre-recording may still be kept;
	// probing the media servers whose keepalive probe runs.
	monitors map[string]*monitoring
	ended    map[string]*endedPrerecord
	probing  map[string]bool

	fnHost   string        // {host} of GSIP_REC_FN
	loopStop chan struct{} // ends the media loop
	loopDone chan struct{}
}

// New validates cfg and builds a Server; Start opens its sockets.
func New(cfg Config, opts ...Option) (*Server, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      slog.Default(),
		dns:      make(map[string]DN, len(cfg.DNs)),
		reg:      newRegistrar(cfg.RegisterMaxExpires),
		ids:      newIDGen(),
		metrics:  newMetrics(),
		calls:    map[string]*call{},
		legs:     map[string]*leg{},
		monitors: map[string]*monitoring{},
		ended:    map[string]*endedPrerecord{},
		probing:  map[string]bool{},
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "arlab"
	}
	s.fnHost = strings.ReplaceAll(host, ".", "-dot-")
	for _, o := range opts {
		o(s)
	}
	for _, d := range cfg.DNs {
		s.dns[d.Number] = d
	}
	s.host = cfg.Host
	if s.host == "" {
		s.host = advertisedHost(cfg.SIP)
	}
	if (cfg.SIP.TLS != "" || cfg.TLibTLS) && s.tlsServer == nil {
		srv, cli, err := sipx.SelfSigned(s.host)
		if err != nil {
			return nil, fmt.Errorf("sipserver: %w", err)
		}
		s.tlsServer = srv
		if s.tlsClient == nil {
			s.tlsClient = cli
		}
	}
	return s, nil
}

// advertisedHost picks the IP of the first SIP listen address, or loopback
// when it is unspecified or a name.
func advertisedHost(l Listen) string {
	for _, a := range []string{l.UDP, l.TCP, l.TLS} {
		if a == "" {
			continue
		}
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
			return ip.String()
		}
		break
	}
	return "127.0.0.1"
}

// Start binds the SIP listeners, the T-lib server and the HTTP API, and serves
// them until ctx ends or Close is called.
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return ErrClosed
	case s.started:
		s.mu.Unlock()
		return ErrStarted
	}
	s.started = true
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.Close()
		}
	}()

	sipx.RaiseUDPLimit()
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent("arlab-sipserver"),
		sipgo.WithUserAgentHostname(s.host),
	}
	if s.tlsClient != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(s.tlsClient))
	}
	if s.ua, err = sipgo.NewUA(uaOpts...); err != nil {
		return fmt.Errorf("sipserver: %w", err)
	}
	if s.sipSrv, err = sipgo.NewServer(s.ua, sipgo.WithServerLogger(s.log)); err != nil {
		return fmt.Errorf("sipserver: %w", err)
	}
	if s.sipCli, err = sipgo.NewClient(s.ua, sipgo.WithClientHostname(s.host), sipgo.WithClientLogger(s.log)); err != nil {
		return fmt.Errorf("sipserver: %w", err)
	}
	s.registerHandlers()

	s.lis = sipx.NewServer(s.sipSrv, s.log)
	for _, l := range []struct{ network, addr string }{
		{"udp", s.cfg.SIP.UDP}, {"tcp", s.cfg.SIP.TCP}, {"tls", s.cfg.SIP.TLS},
	} {
		if l.addr == "" {
			continue
		}
		if _, err := s.lis.Listen(s.ctx, l.network, l.addr, s.tlsServer); err != nil {
			return fmt.Errorf("sipserver: %w", err)
		}
	}

	tcfg := tlib.ServerConfig{
		Listen:     s.cfg.TLib,
		Password:   s.cfg.TLibPassword,
		ServerName: serverName,
	}
	if s.cfg.TLibTLS {
		tcfg.TLS = s.tlsServer
	}
	topts := []tlib.Option{tlib.WithLogger(s.log.With("component", "tlib"))}
	if s.tlibLn != nil {
		topts = append(topts, tlib.WithListener(s.tlibLn))
	}
	s.tsrv = tlib.NewServer(tcfg, &tlibHandler{s: s}, topts...)
	if err := s.tsrv.Start(s.ctx); err != nil {
		return fmt.Errorf("sipserver: t-lib: %w", err)
	}

	if s.cfg.HTTP != "" {
		if err := s.startHTTP(); err != nil {
			return err
		}
	}
	s.loopStop, s.loopDone = make(chan struct{}), make(chan struct{})
	go s.runMediaLoop(s.loopStop, s.loopDone)
	s.log.Info("SIP Server started", "udp", s.SIPAddr("udp"), "tcp", s.SIPAddr("tcp"),
		"tls", s.SIPAddr("tls"), "tlib", s.TLibAddr(), "http", s.HTTPAddr(), "dns", len(s.dns))
	return nil
}

func (s *Server) registerHandlers() {
	w := func(h sipx.HandlerFunc) sipgo.RequestHandler { return sipx.Wrap(s.log, h) }
	s.sipSrv.OnRegister(w(s.onRegister))
	s.sipSrv.OnInvite(w(s.onInvite))
	s.sipSrv.OnAck(w(s.onAck))
	s.sipSrv.OnBye(w(s.onBye))
	s.sipSrv.OnCancel(w(s.onCancel))
	s.sipSrv.OnInfo(w(s.onInfo))
	s.sipSrv.OnOptions(w(s.onOptions))
	s.sipSrv.OnRefer(w(s.onRefer))
}

// SIPAddr returns the bound address of the udp, tcp or tls listener (zero if
// that transport is off or before Start).
func (s *Server) SIPAddr(network string) netip.AddrPort {
	if s.lis == nil {
		return netip.AddrPort{}
	}
	return s.lis.Addr(network)
}

// TLibAddr returns the T-lib listen address (zero before Start).
func (s *Server) TLibAddr() netip.AddrPort {
	if s.tsrv == nil {
		return netip.AddrPort{}
	}
	return s.tsrv.Addr()
}

// HTTPAddr returns the HTTP API address (zero when off or before Start).
func (s *Server) HTTPAddr() netip.AddrPort {
	if s.httpLn == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(s.httpLn.Addr().String())
	return ap
}

// Close hangs up every call, then closes the listeners and waits for the
// goroutines. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.draining = true
	started := s.started
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	if !started {
		if s.tlibLn != nil {
			_ = s.tlibLn.Close()
		}
		return nil
	}
	if s.loopStop != nil {
		close(s.loopStop)
		<-s.loopDone
	}
	for _, c := range calls {
		c.release(releaseCause{code: 503, reason: "server shutting down", cause: "shutdown", callState: tlib.CallStateOK})
	}
	s.mu.Lock()
	s.draining = false
	s.mu.Unlock()
	// Teardown goroutines are bounded by closeTimeout; the setup goroutines
	// (INVITE handlers) end with their calls.
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeTimeout):
		s.log.Warn("calls still hanging up at close")
	}
	s.cancel()
	var errs []error
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		errs = append(errs, s.http.Shutdown(ctx))
		cancel()
		<-s.httpDone
	}
	if s.tsrv != nil {
		errs = append(errs, s.tsrv.Close())
	} else if s.tlibLn != nil {
		_ = s.tlibLn.Close()
	}
	if s.lis != nil {
		errs = append(errs, s.lis.Close())
	}
	<-done
	if s.ua != nil {
		errs = append(errs, s.ua.Close())
	}
	return errors.Join(errs...)
}

// contact is our Contact for a leg on the given transport.
func (s *Server) contact(transport string) sip.ContactHeader {
	network := transportNetwork(transport)
	ap := s.SIPAddr(network)
	u := sip.Uri{Scheme: "sip", Host: s.host, Port: int(ap.Port())}
	if network != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", network)
	}
	return sip.ContactHeader{Address: u}
}

func (s *Server) dialogUA(transport string) *sipgo.DialogUA {
	return &sipgo.DialogUA{Client: s.sipCli, ContactHDR: s.contact(transport)}
}

// newRequest creates a request we send on transport. Over UDP it leaves from
// the listening socket: sipgo would otherwise open a pooled socket per
// destination, whose reference counting can close it while a transaction
// still waits for its responses (seen under load as INVITEs timing out
// although the far end answered); and the far end sees one address for us.
func (s *Server) newRequest(method sip.RequestMethod, target sip.Uri, transport string) *sip.Request {
	req := sip.NewRequest(method, target)
	req.SetTransport(sipx.ViaTransport(transportNetwork(transport)))
	if transportNetwork(transport) == "udp" {
		if ap := s.SIPAddr("udp"); ap.IsValid() && !ap.Addr().IsUnspecified() {
			req.Laddr = sip.Addr{IP: ap.Addr().AsSlice(), Port: int(ap.Port())}
		}
	}
	return req
}

// transportNetwork maps a Via/URI transport token to a listener network.
func transportNetwork(t string) string {
	switch t {
	case "TCP", "tcp":
		return "tcp"
	case "TLS", "tls":
		return "tls"
	}
	return "udp"
}

// spawn runs f on a goroutine owned by the server. Once Close has started
// waiting, f runs on the caller's goroutine instead, so wg is never added to
// while it is being waited on.
func (s *Server) spawn(f func()) {
	s.mu.Lock()
	if s.closed && !s.draining {
		s.mu.Unlock()
		f()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// enter counts an INVITE handler in wg; false when the server is closing.
func (s *Server) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}
