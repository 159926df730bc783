package tlib

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// clientConn is one connection of a Client; the Client replaces it on
// reconnect.
type clientConn struct {
	nc  net.Conn
	br  *bufio.Reader
	wmu sync.Mutex // one writer at a time keeps lines whole
}

func (cc *clientConn) write(ctx context.Context, line []byte) error {
	deadline := time.Now().Add(requestTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	_ = cc.nc.SetWriteDeadline(deadline)
	_, err := cc.nc.Write(line)
	return err
}

// connect dials, performs the TLS handshake when configured, and opens the
// session. The connection is returned with no reader running.
func (c *Client) connect(ctx context.Context) (*clientConn, *Message, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("tlib: dial %s: %w", c.addr, err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = nc.Close()
		}
	}()
	// Any blocking I/O below ends when ctx does or after requestTimeout.
	_ = nc.SetDeadline(time.Now().Add(requestTimeout))
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	if c.cfg.TLS != nil {
		cfg := c.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			if host, _, err := net.SplitHostPort(c.addr); err == nil {
				cfg.ServerName = host
			}
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, fmt.Errorf("tlib: TLS handshake with %s: %w", c.addr, err)
		}
		nc = tc
	}
	cc := &clientConn{nc: nc, br: newLineReader(nc, c.cfg.MaxLine)}
	ref := c.nextRef.Add(1)
	open, err := Encode(&Message{Name: RequestOpen, ReferenceID: ref, ApplicationName: c.cfg.AppName, Password: c.cfg.Password})
	if err != nil {
		return nil, nil, err
	}
	if err := cc.write(ctx, open); err != nil {
		return nil, nil, fmt.Errorf("tlib: open %s: %w", c.addr, ctxErr(ctx, err))
	}
	for {
		line, err := readLine(cc.br)
		if errors.Is(err, ErrTooLarge) {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tlib: open %s: %w", c.addr, ctxErr(ctx, err))
		}
		m, err := Decode(line)
		if err != nil || m.ReferenceID != ref {
			continue // nothing else is expected before the open reply
		}
		if e := m.Err(); e != nil {
			return nil, nil, e
		}
		if m.Name != EventServerInfo {
			return nil, nil, fmt.Errorf("tlib: open %s: unexpected %s", c.addr, m.Name)
		}
		if !stop() { // ctx ended and may have poisoned the deadline
			return nil, nil, ctx.Err()
		}
		_ = nc.SetDeadline(time.Time{})
		ok = true
		return cc, m, nil
	}
}

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (c *Client) readLoop(cc *clientConn) {
	defer c.wg.Done()
	for {
		line, err := readLine(cc.br)
		if errors.Is(err, ErrTooLarge) {
			c.log.Warn("T-lib event line too long, skipped", "max", c.cfg.MaxLine)
			continue
		}
		if err != nil {
			c.connLost(cc, err)
			return
		}
		m, err := Decode(line)
		if err != nil {
			c.log.Warn("T-lib undecodable line skipped", "err", err)
			continue
		}
		c.deliver(m)
	}
}

// replyOnly names the events that only answer a request and are therefore
// not also delivered to Events().
func replyOnly(name string) bool {
	switch name {
	case EventACK, EventError, EventRegistered, EventUnregistered, EventServerInfo:
		return true
	}
	return false
}

func (c *Client) deliver(m *Message) {
	if m.ReferenceID != 0 {
		c.mu.Lock()
		p := c.pending[m.ReferenceID]
		if p != nil {
			delete(c.pending, m.ReferenceID)
			c.track(p.req, m)
		}
		c.mu.Unlock()
		if p != nil {
			p.ch <- m
			if replyOnly(m.Name) {
				return
			}
		}
	}
	c.dispatch(m)
}

// track keeps the registration set in step with the server; called with
// c.mu held, in the reader, so a reply and a connection loss are ordered.
func (c *Client) track(req, rep *Message) {
	key := req.ThisDN
	if req.RegisterMode == ModeMonitorAll {
		key = MonitorAllDN
	}
	switch req.Name {
	case RequestRegisterAddress:
		if rep.Name == EventError {
			delete(c.regs, key)
			return
		}
		mode := req.RegisterMode
		if mode == "" {
			mode = ModeShare
		}
		c.regs[key] = mode
	case RequestUnregisterAddress:
		if rep.Name != EventError || rep.ErrorCode == ErrDNNotRegistered {
			delete(c.regs, key)
		}
	}
}

func (c *Client) connLost(cc *clientConn, cause error) {
	_ = cc.nc.Close()
	c.mu.Lock()
	if c.cur != cc || c.closed {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	pend := c.pending
	c.pending = make(map[uint64]*pendingReq)
	c.mu.Unlock()
	for _, p := range pend {
		p.ch <- nil
	}
	reason := "connection closed by server"
	if !errors.Is(cause, io.EOF) {
		reason = cause.Error()
	}
	c.log.Warn("T-lib connection lost", "err", reason, "reconnect", c.cfg.Reconnect)
	c.dispatch(&Message{Name: EventLinkDisconnected, ErrorMessage: reason, Time: now()})
	if c.cfg.Reconnect {
		c.wg.Add(1)
		go c.reconnectLoop()
	}
}
