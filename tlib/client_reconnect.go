package tlib

import (
	"context"
	"errors"
	"maps"
	"time"
)

// reconnectLoop redials with exponential backoff until it succeeds or the
// client closes, then re-registers every DN and announces EventLinkConnected.
func (c *Client) reconnectLoop() {
	defer c.wg.Done()
	delay := c.cfg.ReconnectMin
	t := time.NewTimer(delay)
	defer t.Stop()
	for attempt := 1; ; attempt++ {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, requestTimeout)
		cc, info, err := c.connect(ctx)
		cancel()
		if err != nil {
			delay = min(2*delay, c.cfg.ReconnectMax)
			c.log.Info("T-lib reconnect failed", "attempt", attempt, "err", err, "retry_in", delay)
			t.Reset(delay)
			continue
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			_ = cc.nc.Close()
			return
		}
		c.cur = cc
		regs := maps.Clone(c.regs)
		c.mu.Unlock()
		c.serverInfo.Store(info)
		c.wg.Add(1)
		go c.readLoop(cc)

		if !c.reregister(regs) {
			return // lost again (a new loop runs) or closed
		}
		c.mu.Lock()
		current := c.cur == cc
		c.mu.Unlock()
		if current {
			c.log.Info("T-lib reconnected", "attempt", attempt, "registrations", len(regs))
			c.dispatch(&Message{Name: EventLinkConnected, Server: info.Server, Time: now()})
		}
		return
	}
}

// reregister repeats the registrations; a refusal (e.g. the DN is no longer
// configured) is delivered to Events as the server's EventError and the DN
// is forgotten. It reports false if the connection dropped meanwhile.
func (c *Client) reregister(regs map[string]string) bool {
	for dn, mode := range regs {
		req := &Message{Name: RequestRegisterAddress, ThisDN: dn, RegisterMode: mode}
		if mode == ModeMonitorAll {
			req.ThisDN = ""
		}
		ctx, cancel := context.WithTimeout(c.ctx, requestTimeout)
		_, err := c.Request(ctx, req)
		cancel()
		var te *Error
		switch {
		case err == nil:
		case errors.As(err, &te):
			c.log.Warn("T-lib re-registration refused", "dn", dn, "err", err)
			c.dispatch(&Message{Name: EventError, ThisDN: dn, RegisterMode: mode,
				ErrorCode: te.Code, ErrorMessage: te.Message, Time: now()})
		default:
			c.log.Info("T-lib re-registration interrupted", "dn", dn, "err", err)
			return false
		}
	}
	return true
}
