package recorder

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
	"github.com/arlab/arlab/tlib"
)

// Option configures a Recorder.
type Option func(*Recorder)

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(r *Recorder) { r.log = l } }

// WithTLS sets the TLS configurations: server for the SIP TLS listener, client for
// outgoing TLS (BYE towards the SRC over a new connection, T-lib over TLS). Without it a
// TLS listener uses a self-signed lab certificate.
func WithTLS(server, client *tls.Config) Option {
	return func(r *Recorder) { r.tlsServer, r.tlsClient = server, client }
}

// tickInterval is how often live timelines are written out.
const tickInterval = 20 * time.Millisecond

// Recorder is the SIPREC recording server. Create it with New, run it with Start, stop it
// with Close (which ends live recordings cleanly: BYE to the SRC, files finished).
type Recorder struct {
	cfg       Config
	log       *slog.Logger
	tlsServer *tls.Config
	tlsClient *tls.Config

	store     *Store
	ports     *portPool
	advertise netip.Addr

	ua  *sipgo.UserAgent
	srv *sipgo.Server
	cli *sipgo.Client
	lis *sipx.Server

	httpSrv *http.Server
	httpLn  net.Listener

	tl *tlib.Client // set by the T-lib goroutine once connected; guarded by mu

	mu          sync.Mutex
	sessions    map[string]*session // by dialog id
	pendingKeep map[string]time.Time
	calls       *callCache
	active      atomic.Int64
	closing     atomic.Bool
	metrics     metrics

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	started   bool
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg (after Defaults) and returns a Recorder. Nothing is bound before Start.
func New(cfg Config, opts ...Option) (*Recorder, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, sessions: map[string]*session{}, pendingKeep: map[string]time.Time{},
		calls: newCallCache(4096, 2*time.Hour)}
	for _, o := range opts {
		o(r)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("recorder", cfg.Name)
	return r, nil
}

// Config returns the effective configuration.
func (r *Recorder) Config() Config { return r.cfg }

// Start opens the store, repairs recordings left open by a crash, binds the SIP listeners,
// the HTTP API and connects to T-lib. The recorder runs until Close; ctx only bounds
// start-up (the T-lib dial).
func (r *Recorder) Start(ctx context.Context) (err error) {
	if r.started {
		return errors.New("recorder: already started")
	}
	r.started = true
	r.ctx, r.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			_ = r.Close()
		}
	}()
	if r.store, err = OpenStore(r.cfg.DataDir); err != nil {
		return err
	}
	n, err := recoverAll(ctx, r.store, r.log, time.Now(), r.cfg.PrerecordGrace)
	if err != nil {
		return fmt.Errorf("recorder: recovery: %w", err)
	}
	r.metrics.recovered.Add(int64(n))

	if err := r.startSIP(); err != nil {
		return err
	}
	if r.cfg.HTTP != "" {
		if err := r.startHTTP(); err != nil {
			return err
		}
	}
	if r.cfg.TLib.Addr != "" {
		r.startTLib()
	}
	r.wg.Add(1)
	go r.tickLoop()
	r.log.Info("recorder started", "sip_udp", r.SIPAddr("udp"), "sip_tcp", r.SIPAddr("tcp"),
		"sip_tls", r.SIPAddr("tls"), "http", r.HTTPAddr(), "data", r.cfg.DataDir, "recovered", n)
	return nil
}

func (r *Recorder) startSIP() error {
	sipx.RaiseUDPLimit()
	host := r.listenHost()
	if r.cfg.AdvertiseAddr != "" {
		r.advertise = netip.MustParseAddr(r.cfg.AdvertiseAddr)
	} else {
		r.advertise = host
		if host.IsUnspecified() {
			r.advertise = outboundIP()
		}
	}
	r.ports = newPortPool(host, r.cfg.RTPPorts.Min, r.cfg.RTPPorts.Max)
	if r.cfg.SIP.TLS != "" && r.tlsServer == nil {
		s, c, err := sipx.SelfSigned(r.advertise.String())
		if err != nil {
			return err
		}
		r.tlsServer = s
		if r.tlsClient == nil {
			r.tlsClient = c
		}
	}
	sipLog := r.log.With("component", "sip")
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent("arlab-recorder/" + r.cfg.Name),
		sipgo.WithUserAgentHostname(r.advertise.String()),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(sipLog)),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(sipLog))}
	if r.tlsClient != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(r.tlsClient))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	r.ua = ua
	if r.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(r.log)); err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	if r.cli, err = sipgo.NewClient(ua, sipgo.WithClientHostname(r.advertise.String()), sipgo.WithClientLogger(r.log)); err != nil {
		return fmt.Errorf("recorder: %w", err)
	}
	r.registerHandlers()
	r.lis = sipx.NewServer(r.srv, r.log)
	for _, l := range []struct{ network, addr string }{{"udp", r.cfg.SIP.UDP}, {"tcp", r.cfg.SIP.TCP}, {"tls", r.cfg.SIP.TLS}} {
		if l.addr == "" {
			continue
		}
		var tc *tls.Config
		if l.network == "tls" {
			tc = r.tlsServer
		}
		if _, err := r.lis.Listen(r.ctx, l.network, l.addr, tc); err != nil {
			return fmt.Errorf("recorder: sip.%s: %w", l.network, err)
		}
	}
	return nil
}

// listenHost is the IP of the first SIP listen address (RTP binds there too).
func (r *Recorder) listenHost() netip.Addr {
	for _, a := range []string{r.cfg.SIP.UDP, r.cfg.SIP.TCP, r.cfg.SIP.TLS} {
		if ap, err := netip.ParseAddrPort(a); err == nil {
			return ap.Addr()
		}
	}
	return netip.IPv4Unspecified()
}

// outboundIP guesses the address other hosts reach us on (no packet is sent).
func outboundIP() netip.Addr {
	c, err := net.Dial("udp", "192.0.2.1:9")
	if err != nil {
		return netip.MustParseAddr("127.0.0.1")
	}
	defer c.Close()
	if ua, ok := c.LocalAddr().(*net.UDPAddr); ok {
		if a, ok := netip.AddrFromSlice(ua.IP); ok {
			return a.Unmap()
		}
	}
	return netip.MustParseAddr("127.0.0.1")
}

// SIPAddr returns the bound SIP address of a transport ("udp", "tcp", "tls"), or the zero
// value when there is none.
func (r *Recorder) SIPAddr(network string) netip.AddrPort {
	if r.lis == nil {
		return netip.AddrPort{}
	}
	return r.lis.Addr(network)
}

// HTTPAddr returns the bound HTTP API address, or the zero value.
func (r *Recorder) HTTPAddr() netip.AddrPort {
	if r.httpLn == nil {
		return netip.AddrPort{}
	}
	return r.httpLn.Addr().(*net.TCPAddr).AddrPort()
}

// Store returns the recording store (for tools and tests in the same process).
func (r *Recorder) Store() *Store { return r.store }

// Close ends every live recording (BYE to the SRC, files finished and saved), stops the
// listeners, the API and the T-lib client. It is idempotent.
func (r *Recorder) Close() error {
	r.closeOnce.Do(func() {
		if r.cancel == nil {
			return
		}
		var errs []error
		// Refuse new sessions, end the live ones while the listeners can still carry the
		// BYE transactions, then close the listeners.
		r.closing.Store(true)
		r.mu.Lock()
		live := make([]*session, 0, len(r.sessions))
		for _, s := range r.sessions {
			live = append(live, s)
		}
		r.mu.Unlock()
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, s := range live {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				s.hangup("recorder shut down")
			}()
		}
		wg.Wait()
		if r.lis != nil {
			errs = append(errs, r.lis.Close())
		}
		r.cancel()
		if r.httpSrv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			errs = append(errs, r.httpSrv.Shutdown(ctx))
			cancel()
		}
		r.mu.Lock()
		tl := r.tl
		r.mu.Unlock()
		if tl != nil {
			errs = append(errs, tl.Close())
		}
		r.wg.Wait()
		if r.ua != nil {
			errs = append(errs, r.ua.Close())
		}
		if r.store != nil {
			errs = append(errs, r.store.Close())
		}
		for _, e := range errs {
			if e != nil && !errors.Is(e, net.ErrClosed) && !errors.Is(e, http.ErrServerClosed) {
				r.closeErr = e
				break
			}
		}
	})
	return r.closeErr
}

// reserve takes one session slot; false when MaxSessions are active.
func (r *Recorder) reserve() bool {
	if r.active.Add(1) > int64(r.cfg.MaxSessions) {
		r.active.Add(-1)
		return false
	}
	return true
}

func (r *Recorder) release() { r.active.Add(-1) }

// addSession registers a live session; false when the recorder is closing (Close takes its
// list of sessions to end under the same lock, after setting closing).
func (r *Recorder) addSession(id string, s *session) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing.Load() {
		return false
	}
	r.sessions[id] = s
	return true
}

// sessionEnded is called by session.finish.
func (r *Recorder) sessionEnded(s *session, final *Recording) {
	r.mu.Lock()
	if s.ds != nil {
		if cur, ok := r.sessions[s.ds.ID]; ok && cur == s {
			delete(r.sessions, s.ds.ID)
			r.active.Add(-1)
		}
	}
	r.mu.Unlock()
	r.metrics.finished(final)
}

func (r *Recorder) liveSessions() []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	return out
}

// tickLoop writes live timelines out every tickInterval, flushes them every FlushInterval
// and deletes expired tentative recordings every second.
func (r *Recorder) tickLoop() {
	defer r.wg.Done()
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	var lastFlush, lastSweep time.Time
	var live []*session
	for {
		select {
		case <-r.ctx.Done():
			return
		case now := <-t.C:
			live = live[:0]
			r.mu.Lock()
			for _, s := range r.sessions {
				live = append(live, s)
			}
			r.mu.Unlock()
			flush := now.Sub(lastFlush) >= r.cfg.FlushInterval-tickInterval/2
			for _, s := range live {
				if err := s.tl.Advance(now); err != nil && !errors.Is(err, ErrFinished) {
					r.metrics.writeErrors.Add(1)
				}
				if flush {
					if err := s.tl.Flush(); err != nil {
						r.metrics.writeErrors.Add(1)
					}
				}
			}
			if flush {
				lastFlush = now
			}
			if now.Sub(lastSweep) >= time.Second {
				lastSweep = now
				r.sweepTentative(now)
			}
		}
	}
}

// ContactURI returns the SIP URI an SRC should send INVITEs to on a transport.
func (r *Recorder) ContactURI(network string) sip.Uri {
	return r.contactFor(network).Address
}
