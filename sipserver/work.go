package sipserver

// Media work of a call (anchoring on a media server, MSML requests,
// supervisor joins) blocks on SIP transactions, so it never runs in a SIP
// or T-lib handler. Each call has a FIFO queue of such work and at most one
// worker goroutine draining it: requests take effect in the order they were
// accepted (a START then a PAUSE sent at once reach the media server in that
// order), and the handlers only validate, answer and enqueue.

// enqueueLocked queues f for the call's worker, starting one when none runs.
// The worker holds a reference on the call until the queue is empty. When
// the server is closing the work is dropped: every call is being released.
func (c *call) enqueueLocked(f func()) {
	c.work = append(c.work, f)
	if c.working {
		return
	}
	c.working = true
	c.refs++
	if !c.s.trySpawn(c.runWork) {
		c.working = false
		c.work = nil
		c.refs--
	}
}

// runWork drains the call's queue. Work items check c.released themselves:
// release tears down what they built, they only stop building.
func (c *call) runWork() {
	for {
		c.mu.Lock()
		if len(c.work) == 0 {
			c.working = false
			c.unrefLocked()
			c.mu.Unlock()
			return
		}
		f := c.work[0]
		c.work[0] = nil
		c.work = c.work[1:]
		c.mu.Unlock()
		f()
	}
}

// trySpawn runs f on a goroutine owned by the server, or reports false when
// the server no longer takes new goroutines (Close is waiting for them).
// Unlike spawn it never runs f on the caller's goroutine, so it may be
// called with a call's lock held.
func (s *Server) trySpawn(f func()) bool {
	s.mu.Lock()
	if s.closed && !s.draining {
		s.mu.Unlock()
		return false
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}
