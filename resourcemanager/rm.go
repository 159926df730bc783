package resourcemanager

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

// Errors of the RM's lifecycle.
var (
	ErrStarted = errors.New("resource manager already started")
	ErrClosed  = errors.New("resource manager closed")
)

// Option customises an RM.
type Option func(*RM)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(r *RM) {
		if l != nil {
			r.log = l
		}
	}
}

// WithTLS sets the TLS configurations: server for the SIP TLS listener,
// client for TLS connections to members. Both are needed when TLS is used.
func WithTLS(server, client *tls.Config) Option {
	return func(r *RM) {
		r.tlsServer, r.tlsClient = server, client
	}
}

// RM is the Resource Manager service: New, then Start, then Close.
type RM struct {
	cfg       Config
	log       *slog.Logger
	tlsServer *tls.Config
	tlsClient *tls.Config

	groups       []*group
	byName       map[string]*group
	memberByAddr map[string]*member // host:port → member, to pick a transport for in-dialog requests
	sessions     *sessionTable

	// Set by Start, read-only afterwards.
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	sipSrv    *sipx.Server
	host      string                    // advertised in Via and Record-Route
	udpLaddr  sip.Addr                  // the UDP listener, the source of UDP requests
	listeners map[string]netip.AddrPort // "udp", "tcp", "tls" → bound address
	ownHosts  map[string]bool
	ownPorts  map[int]bool
	httpSrv   *http.Server
	httpAddr  netip.AddrPort

	ctx    context.Context // ends at Close (or when Start's ctx ends)
	cancel context.CancelFunc
	ready  chan struct{} // closed when Start has set the fields above
	done   chan struct{} // closed when Close has finished
	// doneOnce closes done; teardownOnce runs release once for Close and a
	// failed Start.
	doneOnce     sync.Once
	teardownOnce sync.Once
	teardownErr  error
	// stopWatch unregisters the Close that Start's ctx ending triggers.
	stopWatch func() bool

	mu       sync.Mutex
	started  bool
	closed   bool
	handlers sync.WaitGroup // SIP handlers in flight
	bg       sync.WaitGroup // probers, reapers, janitor, HTTP server

	stats stats
}

// stats are process-wide counters for /metrics.
type stats struct {
	requests   atomic.Uint64 // requests received
	invites    atomic.Uint64 // initial INVITEs placed on a group
	inDialog   atomic.Uint64 // requests routed inside a dialog
	rejected   atomic.Uint64 // requests answered with an error by the RM itself
	strays     atomic.Uint64 // late 2xx from abandoned tries, ACKed and BYEd
	expired    atomic.Uint64 // sessions forgotten because their member went down or they aged out
	probeFails atomic.Uint64 // OPTIONS probes that failed
}

// New checks cfg and builds an RM. It opens no socket; Start does.
func New(cfg Config, opts ...Option) (*RM, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &RM{
		cfg:          cfg,
		log:          slog.Default(),
		byName:       map[string]*group{},
		memberByAddr: map[string]*member{},
		sessions:     newSessionTable(),
		ready:        make(chan struct{}),
		done:         make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	r.log = r.log.With("service", "resourcemanager")
	if cfg.SIP.TLS != "" && r.tlsServer == nil {
		return nil, errors.New("resourcemanager.sip.tls: needs a TLS server configuration (WithTLS)")
	}
	for _, gc := range cfg.Groups {
		g, err := newGroup(gc)
		if err != nil {
			return nil, err
		}
		r.groups = append(r.groups, g)
		r.byName[g.name] = g
		for _, m := range g.members {
			if _, ok := r.memberByAddr[m.addr]; !ok {
				r.memberByAddr[m.addr] = m
			}
		}
	}
	return r, nil
}

// Start opens the SIP and HTTP listeners and starts the health checks. The
// RM runs until ctx ends or Close is called; either way Close tears it down
// (pending INVITEs get 503 first). A failed Start leaves nothing running and
// the RM closed.
func (r *RM) Start(ctx context.Context) (err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	if r.started {
		r.mu.Unlock()
		return ErrStarted
	}
	r.started = true
	// r.ctx is the RM's own: Close cancels it first and closes the sockets
	// last, after pending INVITEs were answered. Start's ctx ending is a
	// Close.
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.stopWatch = context.AfterFunc(ctx, func() { _ = r.Close() })
	r.mu.Unlock()
	defer func() {
		if err != nil {
			// A failed Start is final: undo it, and Close has nothing left.
			r.mu.Lock()
			r.closed = true
			r.mu.Unlock()
			r.stopWatch()
			r.cancel()
			close(r.ready)
			_ = r.teardown()
			r.doneOnce.Do(func() { close(r.done) })
		}
	}()

	sipx.RaiseUDPLimit()
	r.host = r.cfg.Hostname
	if r.host == "" {
		r.host = defaultHost(r.cfg.SIP)
	}
	sipLog := r.log.With("component", "sipgo")
	r.ua, err = sipgo.NewUA(
		sipgo.WithUserAgent("arlab-rm"),
		sipgo.WithUserAgentHostname(r.host),
		sipgo.WithUserAgenTLSConfig(r.tlsClient),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipLog),
			sip.WithTransactionLayerUnhandledResponseHandler(r.onStrayResponse),
			// A TCP/TLS member that dies mid-INVITE fails the try at once
			// (transport error) instead of after invite-timeout.
			sip.WithTransactionLayerTerminateOnConnClose(),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
	)
	if err != nil {
		return fmt.Errorf("resourcemanager: sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(r.ua, sipgo.WithServerLogger(sipLog))
	if err != nil {
		return fmt.Errorf("resourcemanager: sip server: %w", err)
	}
	r.cli, err = sipgo.NewClient(r.ua, sipgo.WithClientHostname(r.host), sipgo.WithClientLogger(sipLog))
	if err != nil {
		return fmt.Errorf("resourcemanager: sip client: %w", err)
	}
	r.registerHandlers(srv)

	r.sipSrv = sipx.NewServer(srv, r.log)
	r.listeners = map[string]netip.AddrPort{}
	for _, l := range []struct{ network, addr string }{{"udp", r.cfg.SIP.UDP}, {"tcp", r.cfg.SIP.TCP}, {"tls", r.cfg.SIP.TLS}} {
		if l.addr == "" {
			continue
		}
		ln, err := r.sipSrv.Listen(context.Background(), l.network, l.addr, r.tlsServer)
		if err != nil {
			return fmt.Errorf("resourcemanager.sip.%s: %w", l.network, err)
		}
		r.listeners[l.network] = ln.Addr
	}
	r.ownHosts, r.ownPorts = ownAddresses(r.host, r.listeners)
	if ap, ok := r.listeners["udp"]; ok {
		r.udpLaddr = sipx.UDPLaddr(ap)
	}

	if r.cfg.HTTP != "" {
		if err := r.startHTTP(); err != nil {
			return err
		}
	}
	r.startHealth()
	r.goBG(r.janitor)
	close(r.ready) // handlers waiting in guard may now read the fields set above
	r.log.Info("resource manager started", "sip", r.listeners, "http", r.httpAddr, "host", r.host, "groups", len(r.groups))
	return nil
}

// SIPAddr returns the bound address of the "udp", "tcp" or "tls" listener, or
// the zero value when that transport is off or the RM is not started.
func (r *RM) SIPAddr(network string) netip.AddrPort {
	if !r.isReady() {
		return netip.AddrPort{}
	}
	return r.listeners[network]
}

// HTTPAddr returns the bound address of the HTTP API, or the zero value.
func (r *RM) HTTPAddr() netip.AddrPort {
	if !r.isReady() {
		return netip.AddrPort{}
	}
	return r.httpAddr
}

func (r *RM) isReady() bool {
	select {
	case <-r.ready:
		return true
	default:
		return false
	}
}

// Close stops the RM: pending INVITEs are answered 503, sockets closed, every
// goroutine ended. Idempotent.
func (r *RM) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		<-r.done
		return nil
	}
	r.closed = true
	started := r.started
	r.mu.Unlock()
	defer r.doneOnce.Do(func() { close(r.done) })
	if !started {
		return nil
	}
	// Close may run while Start still builds (Start's ctx ended early):
	// wait until Start is done either way.
	<-r.ready
	r.stopWatch()
	r.cancel()
	return r.teardown()
}

// teardown releases what Start built (once), in dependency order: handlers first
// (they answer upstream), then the RM's own goroutines (probes, reapers; they
// send through the SIP stack), then the listeners, then the SIP stack. A
// request sent after its listener closed would make sipgo bind the port anew.
func (r *RM) teardown() error {
	r.teardownOnce.Do(func() { r.teardownErr = r.release() })
	return r.teardownErr
}

func (r *RM) release() error {
	r.handlers.Wait()
	var errs []error
	if r.httpSrv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := r.httpSrv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errs = append(errs, fmt.Errorf("resourcemanager http: %w", err))
		}
		cancel()
	}
	r.bg.Wait()
	if r.sipSrv != nil {
		if err := r.sipSrv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if r.ua != nil {
		if err := r.ua.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("resourcemanager sip: %w", err))
		}
	}
	return errors.Join(errs...)
}

// enter admits a SIP handler unless the RM is closing; leave must follow.
func (r *RM) enter() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.ctx.Err() != nil {
		return false
	}
	r.handlers.Add(1)
	return true
}

func (r *RM) leave() { r.handlers.Done() }

// goBG runs f as a background goroutine owned by the RM (ended by r.ctx).
func (r *RM) goBG(f func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx == nil || r.ctx.Err() != nil {
		return false
	}
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		f()
	}()
	return true
}

// janitor forgets sessions older than session-ttl: their BYE did not pass
// through the RM (or was lost), and they must not hold capacity forever.
func (r *RM) janitor() {
	every := min(r.cfg.SessionTTL/4, time.Minute)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			old := r.sessions.removeIf(func(s *session) bool { return now.Sub(s.created) > r.cfg.SessionTTL })
			for _, s := range old {
				s.g.release(s.m, s.confID)
				r.stats.expired.Add(1)
			}
			if len(old) > 0 {
				r.log.Info("expired sessions without BYE", "count", len(old), "ttl", r.cfg.SessionTTL)
			}
		}
	}
}

// defaultHost is the address to advertise when no hostname is configured:
// the IP of the first listener, or the host's outbound IP when it listens on
// every interface.
func defaultHost(l Listen) string {
	for _, a := range []string{l.UDP, l.TCP, l.TLS} {
		if a == "" {
			continue
		}
		ap, err := netip.ParseAddrPort(a)
		if err != nil {
			continue
		}
		if !ap.Addr().IsUnspecified() {
			return ap.Addr().String()
		}
	}
	// The kernel picks the source address of a route; nothing is sent.
	if c, err := net.Dial("udp", "192.0.2.1:9"); err == nil {
		defer c.Close()
		if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
			return ua.IP.String()
		}
	}
	return "127.0.0.1"
}

// ownAddresses lists the hosts and ports a Route or Request-URI may use to
// name this RM.
func ownAddresses(host string, ls map[string]netip.AddrPort) (map[string]bool, map[int]bool) {
	hosts := map[string]bool{host: true}
	ports := map[int]bool{}
	anyIP := false
	for _, ap := range ls {
		ports[int(ap.Port())] = true
		if ap.Addr().IsUnspecified() {
			anyIP = true
		} else {
			hosts[ap.Addr().String()] = true
		}
	}
	if anyIP {
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					hosts[ipn.IP.String()] = true
				}
			}
		}
	}
	return hosts, ports
}
