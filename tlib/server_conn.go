package tlib

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// conn is one client connection. serve (the reader) owns the protocol state;
// writeLoop owns all writes to nc; anyone may enqueue encoded lines.
type conn struct {
	s   *Server
	id  ClientID
	nc  net.Conn
	log *slog.Logger

	out        chan []byte   // encoded lines; a nil entry means "flush then close"
	done       chan struct{} // closed by serve when it ends
	writerDone chan struct{}
	closeOnce  sync.Once
	overflow   atomic.Bool

	opened atomic.Bool
	info   ClientInfo // AppName set at open; read only by the reader goroutine

	// Registrations, guarded by s.mu.
	dns map[string]string // DN → RegisterMode
	all bool              // ModeMonitorAll

	// Reply tracking while the Handler runs (see Handler.HandleRequest).
	replyRef atomic.Uint64
	replied  atomic.Bool
}

func (s *Server) newConn(nc net.Conn) *conn {
	id := ClientID(s.nextID.Add(1))
	c := &conn{
		s:          s,
		id:         id,
		nc:         nc,
		log:        s.log.With("client", uint64(id), "remote", nc.RemoteAddr().String()),
		out:        make(chan []byte, s.cfg.SendQueue),
		done:       make(chan struct{}),
		writerDone: make(chan struct{}),
		dns:        make(map[string]string),
	}
	c.info = ClientInfo{
		ID:          id,
		RemoteAddr:  nc.RemoteAddr().String(),
		Registered:  c.registered,
		MonitorsAll: c.monitorsAll,
	}
	return c
}

func (c *conn) registered(dn string) bool {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	if c.all {
		return true
	}
	_, ok := c.dns[dn]
	return ok
}

func (c *conn) monitorsAll() bool {
	c.s.mu.RLock()
	defer c.s.mu.RUnlock()
	return c.all
}

// closeNow closes the socket, which unblocks both the reader and the writer.
func (c *conn) closeNow() {
	c.closeOnce.Do(func() { _ = c.nc.Close() })
}

// abort closes with an RST (SO_LINGER 0): a client dropped for being too
// slow gets no stale backlog, and the kernel frees the socket's send buffer
// at once instead of keeping an orphan that trickles data to a peer that
// does not read.
func (c *conn) abort() {
	nc := c.nc
	if u, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = u.NetConn()
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.closeNow()
}

// enqueue never blocks: a client whose queue is full is disconnected so a
// slow reader cannot delay the publisher or the other clients.
func (c *conn) enqueue(line []byte, ref uint64) {
	if ref != 0 && ref == c.replyRef.Load() {
		c.replied.Store(true)
	}
	select {
	case c.out <- line:
	default:
		if c.overflow.CompareAndSwap(false, true) {
			c.log.Warn("T-lib client too slow: send queue full, disconnecting", "queue", cap(c.out))
		}
		c.abort()
	}
}

// send stamps, encodes and queues a message for this client only.
func (c *conn) send(m *Message) {
	if m.Time.IsZero() {
		m.Time = now()
	}
	b, err := Encode(m)
	if err != nil {
		c.log.Error("cannot encode event", "err", err)
		return
	}
	c.enqueue(b, m.ReferenceID)
}

// sendError answers req (nil for an undecodable line) with EventError.
func (c *conn) sendError(req *Message, e *Error) {
	ev := &Message{Name: EventError, ErrorCode: e.Code, ErrorMessage: e.Message, Server: c.s.cfg.ServerName}
	if ev.ErrorMessage == "" {
		ev.ErrorMessage = e.Code.Error()
	}
	if req != nil {
		ev.ReferenceID, ev.ThisDN, ev.ConnID = req.ReferenceID, req.ThisDN, req.ConnID
	}
	c.log.Debug("request failed", "req", req, "code", int(e.Code), "msg", e.Message)
	c.send(ev)
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	defer close(c.writerDone)
	bw := bufio.NewWriterSize(c.nc, 32<<10)
	timeout := c.s.cfg.WriteTimeout
	var refreshAt time.Time
	fail := func(err error) {
		if !errors.Is(err, net.ErrClosed) {
			c.log.Info("T-lib write failed, disconnecting", "err", err)
		}
		c.abort()
	}
	for {
		select {
		case line := <-c.out:
			// Re-arm the deadline at most every timeout/4 instead of per line.
			if t := time.Now(); t.After(refreshAt) {
				_ = c.nc.SetWriteDeadline(t.Add(timeout))
				refreshAt = t.Add(timeout / 4)
			}
			if line == nil {
				_ = bw.Flush()
				c.closeNow()
				return
			}
			if _, err := bw.Write(line); err != nil {
				fail(err)
				return
			}
			if len(c.out) == 0 {
				if err := bw.Flush(); err != nil {
					fail(err)
					return
				}
			}
		case <-c.done:
			return
		}
	}
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer c.teardown()
	ctx, cancel := context.WithCancel(c.s.ctx)
	defer cancel()
	_ = c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.OpenTimeout))
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			c.log.Info("TLS handshake failed", "err", err)
			return
		}
	}
	c.log.Debug("T-lib client connected")
	br := newLineReader(c.nc, c.s.cfg.MaxLine)
	for {
		line, err := readLine(br)
		if errors.Is(err, ErrTooLarge) {
			c.sendError(nil, Errorf(ErrTooLarge, "line exceeds %d bytes", c.s.cfg.MaxLine))
			continue
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				c.log.Info("T-lib connection ended", "err", err)
			}
			return
		}
		m, err := Decode(line)
		if err != nil {
			c.sendError(nil, asError(err))
			continue
		}
		if !c.handle(ctx, m) {
			return
		}
	}
}

func (c *conn) teardown() {
	s := c.s
	s.mu.Lock()
	for dn := range c.dns {
		if holders := s.byDN[dn]; holders != nil {
			delete(holders, c.id)
			if len(holders) == 0 {
				delete(s.byDN, dn)
			}
		}
	}
	delete(s.monitorAll, c.id)
	delete(s.conns, c.id)
	s.mu.Unlock()
	c.closeNow()
	close(c.done)
	<-c.writerDone
	c.log.Debug("T-lib client disconnected", "app", c.info.AppName)
	if o, ok := s.h.(ClientObserver); ok && c.opened.Load() {
		o.ClientClosed(&c.info)
	}
}

// handle processes one decoded message; false means close the connection.
func (c *conn) handle(ctx context.Context, m *Message) bool {
	c.log.Debug("T-lib request", "req", m)
	if !IsRequest(m.Name) {
		c.sendError(m, Errorf(ErrUnknownRequest, "%q is not a request", m.Name))
		return true
	}
	if !c.opened.Load() && m.Name != RequestOpen {
		c.sendError(m, Errorf(ErrNotOpen, "send %s first", RequestOpen))
		return true
	}
	if err := m.Validate(); err != nil {
		c.sendError(m, asError(err))
		return true
	}
	switch m.Name {
	case RequestOpen:
		return c.open(m)
	case RequestRegisterAddress:
		c.register(m)
	case RequestUnregisterAddress:
		c.unregister(m)
	default:
		c.perform(ctx, m)
	}
	return true
}

func (c *conn) open(m *Message) bool {
	if c.opened.Load() {
		c.sendError(m, Errorf(ErrInvalidState, "already opened"))
		return true
	}
	if pw := c.s.cfg.Password; pw != "" && subtle.ConstantTimeCompare([]byte(m.Password), []byte(pw)) != 1 {
		c.log.Warn("T-lib RequestOpen refused: wrong password", "app", m.ApplicationName)
		c.sendError(m, Errorf(ErrUnauthorised, "wrong password"))
		select {
		case c.out <- nil: // flush the error, then close
			select {
			case <-c.writerDone:
			case <-time.After(c.s.cfg.WriteTimeout):
			}
		default:
		}
		return false
	}
	c.info.AppName = m.ApplicationName
	c.opened.Store(true)
	_ = c.nc.SetReadDeadline(time.Time{})
	c.log.Info("T-lib client opened", "app", m.ApplicationName)
	c.send(&Message{
		Name:            EventServerInfo,
		ReferenceID:     m.ReferenceID,
		Server:          c.s.cfg.ServerName,
		ApplicationName: m.ApplicationName,
	})
	return true
}

func (c *conn) register(m *Message) {
	s := c.s
	mode := m.RegisterMode
	if mode == "" {
		mode = ModeShare
	}
	if mode == ModeMonitorAll {
		s.mu.Lock()
		c.all = true
		s.monitorAll[c.id] = c
		s.mu.Unlock()
		c.send(&Message{Name: EventRegistered, ReferenceID: m.ReferenceID, ThisDN: MonitorAllDN, RegisterMode: ModeMonitorAll})
		return
	}
	dn := m.ThisDN
	if !s.h.KnownDN(dn) { // outside s.mu: Handler code never runs under our locks
		c.sendError(m, Errorf(ErrUnknownDN, "%s", dn))
		return
	}
	s.mu.Lock()
	holders := s.byDN[dn]
	for id, other := range holders {
		if id != c.id && (mode == ModePrivate || other.dns[dn] == ModePrivate) {
			s.mu.Unlock()
			c.sendError(m, Errorf(ErrDNInUse, "%s is registered privately or by another client", dn))
			return
		}
	}
	if holders == nil {
		holders = make(map[ClientID]*conn)
		s.byDN[dn] = holders
	}
	holders[c.id] = c
	c.dns[dn] = mode
	s.mu.Unlock()
	c.send(&Message{Name: EventRegistered, ReferenceID: m.ReferenceID, ThisDN: dn, RegisterMode: mode})
}

func (c *conn) unregister(m *Message) {
	s := c.s
	s.mu.Lock()
	if m.RegisterMode == ModeMonitorAll {
		if !c.all {
			s.mu.Unlock()
			c.sendError(m, Errorf(ErrDNNotRegistered, "no %s registration", ModeMonitorAll))
			return
		}
		c.all = false
		delete(s.monitorAll, c.id)
		s.mu.Unlock()
		c.send(&Message{Name: EventUnregistered, ReferenceID: m.ReferenceID, ThisDN: MonitorAllDN, RegisterMode: ModeMonitorAll})
		return
	}
	dn := m.ThisDN
	if _, ok := c.dns[dn]; !ok {
		s.mu.Unlock()
		c.sendError(m, Errorf(ErrDNNotRegistered, "%s", dn))
		return
	}
	delete(c.dns, dn)
	if holders := s.byDN[dn]; holders != nil {
		delete(holders, c.id)
		if len(holders) == 0 {
			delete(s.byDN, dn)
		}
	}
	s.mu.Unlock()
	c.send(&Message{Name: EventUnregistered, ReferenceID: m.ReferenceID, ThisDN: dn})
}

func (c *conn) perform(ctx context.Context, m *Message) {
	if !c.registered(m.ThisDN) {
		c.sendError(m, Errorf(ErrDNNotRegistered, "%s", m.ThisDN))
		return
	}
	c.replied.Store(false)
	c.replyRef.Store(m.ReferenceID)
	err := c.callHandler(ctx, m)
	c.replyRef.Store(0)
	if ctx.Err() != nil {
		return // the client is gone or the server is closing: nobody to answer
	}
	if err != nil {
		c.sendError(m, asError(err))
		return
	}
	if m.ReferenceID != 0 && c.replied.Load() {
		return
	}
	c.send(&Message{
		Name:         EventACK,
		ReferenceID:  m.ReferenceID,
		ThisDN:       m.ThisDN,
		ConnID:       m.ConnID,
		PrivateMsgID: m.PrivateMsgID,
		Server:       c.s.cfg.ServerName,
	})
}

// callHandler turns a Handler panic into ErrInternal so one bad request
// cannot take the whole SIP Server down.
func (c *conn) callHandler(ctx context.Context, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.Error("T-lib handler panic", "req", m, "panic", r)
			err = Errorf(ErrInternal, "handler panic")
		}
	}()
	return c.s.h.HandleRequest(ctx, &c.info, m)
}
