package tlib

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig configures a Client. Zero values take defaults.
type ClientConfig struct {
	AppName   string      // ApplicationName of RequestOpen; default "arlab-client"
	Password  string      // sent in RequestOpen when the server requires one
	TLS       *tls.Config // when set, connect with TLS (ServerName defaults to the dialled host)
	Reconnect bool        // redial, re-open and re-register after a connection loss

	ReconnectMin time.Duration // first redial delay; default 100ms
	ReconnectMax time.Duration // backoff cap; default 5s
	EventBuffer  int           // capacity of Events() and of each Subscribe channel; default 1024
	MaxLine      int           // max event line in bytes; default DefaultClientMaxLine
	Logger       *slog.Logger  // default slog.Default()
}

func (c *ClientConfig) defaults() {
	if c.AppName == "" {
		c.AppName = "arlab-client"
	}
	if c.ReconnectMin <= 0 {
		c.ReconnectMin = 100 * time.Millisecond
	}
	if c.ReconnectMax < c.ReconnectMin {
		c.ReconnectMax = max(5*time.Second, c.ReconnectMin)
	}
	if c.EventBuffer <= 0 {
		c.EventBuffer = 1024
	}
	if c.MaxLine <= 0 {
		c.MaxLine = DefaultClientMaxLine
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// requestTimeout bounds waits that have no caller deadline (open, writes,
// re-registration).
const requestTimeout = 10 * time.Second

// Client is a T-lib client. It is safe for concurrent use.
//
// Events: every event that is not the reply of a Request is delivered to
// Events() and to each matching Subscribe channel. Call events that answer
// a request (e.g. EventDialing for RequestMakeCall) are delivered there too;
// pure replies (EventACK, EventError with a ReferenceID being waited for,
// EventRegistered, EventUnregistered, EventServerInfo) go only to the
// waiting Request. Delivered *Message values are shared between channels:
// treat them as read-only.
//
// Drop policy: the channels are buffered (ClientConfig.EventBuffer). When a
// channel is full the newest event is dropped for that channel only, the
// drop is counted (Dropped) and logged once per run of drops; the reader
// never blocks, so replies and the other channels keep flowing.
type Client struct {
	cfg  ClientConfig
	addr string
	log  *slog.Logger

	ctx    context.Context // ends at Close; bounds redials
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup

	nextRef    atomic.Uint64
	serverInfo atomic.Pointer[Message]

	mu      sync.Mutex
	cur     *clientConn // nil while disconnected
	pending map[uint64]*pendingReq
	regs    map[string]string // registered DN → RegisterMode (MonitorAllDN for ModeMonitorAll)
	closed  bool

	evMu     sync.RWMutex
	events   *sink
	subs     map[*sink]struct{}
	evClosed bool
	dropped  atomic.Uint64
}

type pendingReq struct {
	ch  chan *Message // buffered 1; nil value = connection lost
	req *Message
}

// Dial connects to a T-lib server, sends RequestOpen and waits for
// EventServerInfo. A refused open returns the server's *Error (for example
// ErrUnauthorised). ctx bounds only the dial and open.
func Dial(ctx context.Context, addr string, cfg ClientConfig) (*Client, error) {
	cfg.defaults()
	c := &Client{
		cfg:     cfg,
		addr:    addr,
		log:     cfg.Logger.With("component", "tlib-client", "server", addr),
		done:    make(chan struct{}),
		pending: make(map[uint64]*pendingReq),
		regs:    make(map[string]string),
		events:  &sink{ch: make(chan *Message, cfg.EventBuffer)},
		subs:    make(map[*sink]struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	cc, info, err := c.connect(ctx)
	if err != nil {
		c.cancel()
		return nil, err
	}
	c.serverInfo.Store(info)
	c.cur = cc
	c.wg.Add(1)
	go c.readLoop(cc)
	return c, nil
}

// ServerInfo returns the EventServerInfo of the current (or last) connection.
func (c *Client) ServerInfo() *Message { return c.serverInfo.Load() }

// Request sends req (a copy, with a fresh ReferenceID) and waits for its
// reply: EventACK, or the first other event carrying the same ReferenceID
// (EventRegistered, EventServerInfo, EventDialing, EventPrivateInfo...).
// EventError is returned as *Error; an invalid req is refused locally with
// the same *Error the server would send. If ctx ends first, a late reply
// is delivered to Events().
func (c *Client) Request(ctx context.Context, req *Message) (*Message, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := *req
	m.ReferenceID = c.nextRef.Add(1)
	line, err := Encode(&m)
	if err != nil {
		return nil, err
	}
	p := &pendingReq{ch: make(chan *Message, 1), req: &m}

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClientClosed
	}
	cc := c.cur
	if cc == nil {
		c.mu.Unlock()
		return nil, ErrDisconnected
	}
	c.pending[m.ReferenceID] = p
	c.mu.Unlock()

	if err := cc.write(ctx, line); err != nil {
		c.forget(m.ReferenceID)
		// A failed or partial write leaves the stream unusable: drop the
		// connection so the reader reports the loss (and reconnects).
		_ = cc.nc.Close()
		return nil, fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	select {
	case rep := <-p.ch:
		if rep == nil {
			if c.isClosed() {
				return nil, ErrClientClosed
			}
			return nil, ErrDisconnected
		}
		if e := rep.Err(); e != nil {
			return nil, e
		}
		return rep, nil
	case <-ctx.Done():
		c.forget(m.ReferenceID)
		return nil, ctx.Err()
	}
}

func (c *Client) forget(ref uint64) {
	c.mu.Lock()
	delete(c.pending, ref)
	c.mu.Unlock()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Register registers dn in ModeShare. The registration is remembered and
// repeated after a reconnect.
func (c *Client) Register(ctx context.Context, dn string) error {
	_, err := c.Request(ctx, &Message{Name: RequestRegisterAddress, ThisDN: dn, RegisterMode: ModeShare})
	return err
}

// MonitorAll registers for the events of every DN (ModeMonitorAll).
func (c *Client) MonitorAll(ctx context.Context) error {
	_, err := c.Request(ctx, &Message{Name: RequestRegisterAddress, RegisterMode: ModeMonitorAll})
	return err
}

// Unregister removes the registration of dn; MonitorAllDN removes the
// ModeMonitorAll registration.
func (c *Client) Unregister(ctx context.Context, dn string) error {
	req := &Message{Name: RequestUnregisterAddress, ThisDN: dn}
	if dn == MonitorAllDN {
		req.ThisDN, req.RegisterMode = "", ModeMonitorAll
	}
	_, err := c.Request(ctx, req)
	return err
}

// Registrations returns the registrations the client holds (DN →
// RegisterMode; MonitorAllDN for ModeMonitorAll).
func (c *Client) Registrations() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.regs)
}

// Close disconnects, stops reconnecting, fails pending requests with
// ErrClientClosed and closes Events() and every subscription channel.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cc := c.cur
	c.cur = nil
	pend := c.pending
	c.pending = nil
	c.mu.Unlock()

	close(c.done)
	c.cancel()
	if cc != nil {
		_ = cc.nc.Close()
	}
	for _, p := range pend {
		p.ch <- nil
	}
	c.wg.Wait()

	c.evMu.Lock()
	c.evClosed = true
	c.events.close()
	for s := range c.subs {
		s.close()
	}
	c.subs = nil
	c.evMu.Unlock()
	return nil
}
