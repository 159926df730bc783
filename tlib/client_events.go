package tlib

import (
	"sync"
	"sync/atomic"
)

// sink is one consumer channel of a Client.
type sink struct {
	ch       chan *Message
	filter   func(*Message) bool // nil = everything
	dropping atomic.Bool
	once     sync.Once
}

func (s *sink) close() { s.once.Do(func() { close(s.ch) }) }

// Events returns the channel of all unsolicited events (see Client for the
// drop policy). It is closed by Close.
func (c *Client) Events() <-chan *Message { return c.events.ch }

// Subscribe returns a channel receiving the events for which filter returns
// true (all events when filter is nil), with the same buffering and drop
// policy as Events, and a function that cancels the subscription and closes
// the channel. filter runs on the reader goroutine: it must be quick and must
// not call Client methods.
func (c *Client) Subscribe(filter func(*Message) bool) (<-chan *Message, func()) {
	s := &sink{ch: make(chan *Message, c.cfg.EventBuffer), filter: filter}
	c.evMu.Lock()
	if c.evClosed {
		c.evMu.Unlock()
		s.close()
		return s.ch, func() {}
	}
	c.subs[s] = struct{}{}
	c.evMu.Unlock()
	return s.ch, func() {
		c.evMu.Lock()
		if _, ok := c.subs[s]; ok {
			delete(c.subs, s)
			s.close()
		}
		c.evMu.Unlock()
	}
}

// Dropped returns how many event deliveries were dropped because a channel
// was full (summed over Events and all subscriptions).
func (c *Client) Dropped() uint64 { return c.dropped.Load() }

func (c *Client) dispatch(m *Message) {
	c.evMu.RLock()
	defer c.evMu.RUnlock()
	if c.evClosed {
		return
	}
	c.offer(c.events, m)
	for s := range c.subs {
		if s.filter == nil || s.filter(m) {
			c.offer(s, m)
		}
	}
}

func (c *Client) offer(s *sink, m *Message) {
	select {
	case s.ch <- m:
		s.dropping.Store(false)
	default:
		c.dropped.Add(1)
		if s.dropping.CompareAndSwap(false, true) {
			c.log.Warn("T-lib event channel full, dropping events until it is read", "capacity", cap(s.ch), "event", m.Name)
		}
	}
}
