package phone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// Sentinel errors.
var (
	ErrClosed     = errors.New("phone closed")
	ErrNotStarted = errors.New("phone not started")
	ErrCallEnded  = errors.New("call ended")
	ErrBusy       = errors.New("too many calls")
)

// Phone is one SIP user agent with its calls.
type Phone struct {
	cfg       Config
	log       *slog.Logger
	tlsServer *tls.Config
	tlsClient *tls.Config

	ua     *sipgo.UserAgent
	client *sipgo.Client
	server *sipgo.Server
	lis    *sipx.Server

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	calls    map[string]*Call // key: Call-ID + local tag
	incoming chan *Call
	closed   bool

	regMu      sync.Mutex
	registered bool
	regCSeq    uint32
}

// New builds a phone; Start opens its socket.
func New(cfg Config, opts ...Option) (*Phone, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Phone{cfg: cfg, calls: map[string]*Call{}, incoming: make(chan *Call, 64)}
	for _, o := range opts {
		o(p)
	}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("dn", cfg.DN)
	if cfg.Transport == "tls" && p.tlsServer == nil {
		s, c, err := sipx.SelfSigned()
		if err != nil {
			return nil, err
		}
		p.tlsServer = s
		if p.tlsClient == nil {
			p.tlsClient = c
		}
	}
	return p, nil
}

// Start binds the SIP listener and, with a registrar, registers once before
// returning and keeps the registration fresh until Close.
func (p *Phone) Start(ctx context.Context) error {
	sipx.RaiseUDPLimit()
	uaOpts := []sipgo.UserAgentOption{
		sipgo.WithUserAgent(p.cfg.UserAgent),
		sipgo.WithUserAgentHostname(p.cfg.Host),
	}
	if p.tlsClient != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(p.tlsClient))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return fmt.Errorf("phone %s: %w", p.cfg.DN, err)
	}
	p.ua = ua
	p.server, err = sipgo.NewServer(ua, sipgo.WithServerLogger(p.log))
	if err != nil {
		ua.Close()
		return err
	}
	p.client, err = sipgo.NewClient(ua, sipgo.WithClientHostname(p.cfg.Host), sipgo.WithClientLogger(p.log))
	if err != nil {
		ua.Close()
		return err
	}
	p.server.OnInvite(sipx.Wrap(p.log, p.onInvite))
	p.server.OnAck(sipx.Wrap(p.log, p.onAck))
	p.server.OnBye(sipx.Wrap(p.log, p.onBye))
	p.server.OnCancel(sipx.Wrap(p.log, p.onCancel))
	p.server.OnInfo(sipx.Wrap(p.log, p.onInfo))
	p.server.OnOptions(sipx.Wrap(p.log, p.onOptions))
	p.server.OnNotify(sipx.Wrap(p.log, func(req *sip.Request, tx sip.ServerTransaction) error {
		return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))

	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.lis = sipx.NewServer(p.server, p.log)
	ln, err := p.lis.Listen(p.ctx, p.cfg.Transport, p.cfg.Listen, p.tlsServer)
	if err != nil {
		p.cancel()
		ua.Close()
		return fmt.Errorf("phone %s: %w", p.cfg.DN, err)
	}
	p.log.Debug("phone listening", "transport", p.cfg.Transport, "addr", ln.Addr.String())

	if p.cfg.Registrar != "" {
		if err := p.Register(ctx); err != nil {
			p.Close()
			return err
		}
		p.wg.Add(1)
		go p.refreshLoop()
	}
	return nil
}

// Addr is the bound SIP address (zero before Start).
func (p *Phone) Addr() netip.AddrPort {
	if p.lis == nil {
		return netip.AddrPort{}
	}
	return p.lis.Addr(p.cfg.Transport)
}

// DN is the phone's number.
func (p *Phone) DN() string { return p.cfg.DN }

// ToneHz is the tone the phone sends.
func (p *Phone) ToneHz() float64 { return p.cfg.ToneHz }

// Contact is the phone's Contact URI, with its real port.
func (p *Phone) Contact() sip.Uri {
	u := sip.Uri{User: p.cfg.DN, Host: p.cfg.Host, Port: int(p.Addr().Port())}
	if p.cfg.Transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", p.cfg.Transport)
	}
	return u
}

func (p *Phone) contactHeader() sip.ContactHeader {
	return sip.ContactHeader{Address: p.Contact()}
}

// aor is the phone's address of record.
func (p *Phone) aor() sip.Uri {
	return sip.Uri{User: p.cfg.DN, Host: p.cfg.Domain}
}

// Incoming delivers calls that are not auto-answered; each must be answered
// or rejected.
func (p *Phone) Incoming() <-chan *Call { return p.incoming }

// Calls returns the live calls.
func (p *Phone) Calls() []*Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		out = append(out, c)
	}
	return out
}

func (p *Phone) addCall(c *Call) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	if len(p.calls) >= p.cfg.MaxCalls {
		return ErrBusy
	}
	p.calls[c.key] = c
	return nil
}

func (p *Phone) removeCall(c *Call) {
	p.mu.Lock()
	if p.calls[c.key] == c {
		delete(p.calls, c.key)
	}
	p.mu.Unlock()
}

// findCall locates the call an in-dialog request belongs to: our tag is in To.
func (p *Phone) findCall(req *sip.Request) *Call {
	callID := sipx.CallID(req)
	to := req.To()
	if to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls[callKey(callID, tag)]
}

func callKey(callID, localTag string) string { return callID + "|" + localTag }

// Close hangs up every call, unregisters and closes the sockets.
func (p *Phone) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	calls := make([]*Call, 0, len(p.calls))
	for _, c := range p.calls {
		calls = append(calls, c)
	}
	p.mu.Unlock()
	if p.ua == nil {
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.Hangup(ctx)
		}()
	}
	wg.Wait()
	if p.isRegistered() {
		_ = p.unregister(ctx)
	}
	p.cancel()
	p.wg.Wait()
	err := p.lis.Close()
	p.ua.Close()
	return err
}

func (p *Phone) onOptions(req *sip.Request, tx sip.ServerTransaction) error {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay"))
	return tx.Respond(res)
}

// destination resolves a dial target: a bare number goes to the proxy or the
// registrar; anything with a host goes there.
func (p *Phone) destination(target string) (sip.Uri, error) {
	if u, err := parseTarget(target); err == nil && hasHost(target) {
		return u, nil
	}
	via := p.cfg.Proxy
	if via == "" && p.cfg.Registrar != "" {
		r, err := parseTarget(p.cfg.Registrar)
		if err != nil {
			return sip.Uri{}, err
		}
		via = r.HostPort()
	}
	if via == "" {
		return sip.Uri{}, fmt.Errorf("phone: %q has no host and no proxy or registrar is configured", target)
	}
	host, port, err := sip.ParseAddr(via)
	if err != nil {
		return sip.Uri{}, fmt.Errorf("phone: proxy %q: %w", via, err)
	}
	return sip.Uri{User: target, Host: host, Port: port}, nil
}

func hasHost(target string) bool {
	for i := 0; i < len(target); i++ {
		if target[i] == '@' || target[i] == '.' || target[i] == ':' {
			return true
		}
	}
	return false
}

// newRequest makes a request sent on the phone's transport; over UDP it
// leaves from the listening socket (see sipx.UDPLaddr).
func (p *Phone) newRequest(method sip.RequestMethod, target sip.Uri) *sip.Request {
	req := sip.NewRequest(method, target)
	req.SetTransport(sipx.ViaTransport(p.cfg.Transport))
	if p.cfg.Transport == "udp" {
		if ap := p.Addr(); ap.IsValid() {
			req.Laddr = sipx.UDPLaddr(ap)
		}
	}
	return req
}

func (p *Phone) withTransport(u sip.Uri) sip.Uri {
	if p.cfg.Transport == "udp" {
		return u
	}
	if u.UriParams == nil {
		u.UriParams = sip.NewParams()
	}
	if !u.UriParams.Has("transport") {
		u.UriParams.Add("transport", p.cfg.Transport)
	}
	return u
}
