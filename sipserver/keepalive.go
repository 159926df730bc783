package sipserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"
)

// A media server that dies under its calls sends nothing: the SIP Server
// notices by probing. Every keepalive interval one in-dialog OPTIONS goes
// to each media server that anchors calls (on a leg of one of its calls,
// through the Resource Manager). No answer, 408 or a 5xx (the Resource
// Manager's verdict on a dead next hop) means the media server is gone, and
// every call it anchored is re-anchored on another one; 481 means only that
// call's dialog is gone. A media server ending a leg with BYE has the same
// effect for its call (onExtraBye).

// runMediaLoop probes the media servers and sweeps the ended
// pre-recordings until stop is closed.
func (s *Server) runMediaLoop(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	ka := s.cfg.MediaControl.Keepalive
	tick := time.Second
	if ka > 0 && ka < tick {
		tick = ka
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	last := time.Now()
	for {
		var now time.Time
		select {
		case <-stop:
			return
		case now = <-t.C:
		}
		s.mu.Lock()
		s.sweepEndedLocked(now, false)
		s.mu.Unlock()
		if ka > 0 && s.mediaOn() && now.Sub(last) >= ka-tick/2 {
			last = now
			s.probeMediaServers()
		}
	}
}

// probeTarget is one anchored call as the keepalive sees it.
type probeTarget struct {
	c   *call
	gen int
	l   *leg
}

// probeMediaServers starts one probe per media server anchoring calls,
// unless the previous probe of that server is still running.
func (s *Server) probeMediaServers() {
	groups := map[string][]probeTarget{}
	for _, c := range s.liveCalls() {
		c.mu.Lock()
		if m := c.media; !c.released && m != nil {
			if l := m.legs[sideOrigin]; l != nil && l.state == legConfirmed {
				groups[m.msKey] = append(groups[m.msKey], probeTarget{c: c, gen: m.gen, l: l})
			}
		}
		c.mu.Unlock()
	}
	for key, targets := range groups {
		s.mu.Lock()
		busy := s.probing[key]
		if !busy {
			s.probing[key] = true
		}
		s.mu.Unlock()
		if busy {
			continue
		}
		if !s.trySpawn(func() { s.probe(key, targets) }) {
			s.mu.Lock()
			delete(s.probing, key)
			s.mu.Unlock()
		}
	}
}

// probe sends one OPTIONS on the first target's media leg and re-anchors
// the calls of a media server found dead.
func (s *Server) probe(key string, targets []probeTarget) {
	defer func() {
		s.mu.Lock()
		delete(s.probing, key)
		s.mu.Unlock()
	}()
	t := targets[0]
	timeout := min(s.cfg.MediaControl.Keepalive, s.cfg.MediaControl.Timeout)
	ctx, cancel := context.WithTimeout(t.c.ctx, timeout)
	defer cancel()
	res, err := t.l.do(ctx, t.l.newRequest(sip.OPTIONS, t.l.ackTarget()))
	if t.c.ctx.Err() != nil {
		return // that call ended meanwhile: the next round probes another
	}
	switch {
	case err == nil && res.StatusCode == 481:
		targets = targets[:1]
		s.log.Warn("media server forgot a call's leg", "ms", key, "conn_id", t.c.connID)
	case err == nil && res.StatusCode != 408 && res.StatusCode < 500:
		return
	default:
		why := "no answer"
		if err == nil {
			why = fmt.Sprintf("%d %s", res.StatusCode, res.Reason)
		} else if !errors.Is(err, errCallGone) {
			why = err.Error()
		}
		s.log.Warn("media server not answering: re-anchoring its calls", "ms", key, "calls", len(targets), "why", why)
	}
	for _, t := range targets {
		t.c.mu.Lock()
		if !t.c.released {
			c, gen := t.c, t.gen
			c.enqueueLocked(func() { s.reanchor(c, gen, "media server "+key+" not answering") })
		}
		t.c.mu.Unlock()
	}
}

// reanchor moves a call whose media server died to another one: new
// conference, new media-control legs, the parties re-INVITEd onto it, then
// its recordings restarted with the same ids and parameters and the
// supervisor moved along. Without any media server left the parties are
// connected end to end and the recordings reported FAILED: the call never
// drops for it.
func (s *Server) reanchor(c *call, gen int, why string) {
	c.mu.Lock()
	if c.released || c.media == nil || c.media.gen != gen {
		c.mu.Unlock()
		return
	}
	old := c.media
	c.mu.Unlock()
	c.log.Warn("re-anchoring the call", "conf", old.conf, "ms", old.msKey, "why", why)
	s.metrics.reanchored()

	c.offerMu.Lock()
	err := s.moveMedia(c)
	if err != nil && !errors.Is(err, errCallGone) {
		if cerr := s.connectParties(c); cerr != nil {
			c.log.Warn("reconnecting the parties end to end failed", "error", cerr)
		}
	}
	c.offerMu.Unlock()
	for _, l := range []*leg{old.legs[sideOrigin], old.legs[sideDest], old.sup} {
		c.hangupExtra(l)
	}
	if errors.Is(err, errCallGone) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	if err != nil {
		if c.media == old {
			c.media = nil
		}
		c.log.Warn("no media server to re-anchor on: the call continues unanchored", "error", err)
		c.failRecordingsLocked("media server lost, none to re-anchor on: " + err.Error())
		if c.mon != nil {
			c.enqueueLocked(func() { s.stopMonitoring(c, "media server lost", true) })
		}
		return
	}
	c.restartRecordingsLocked()
	if c.mon != nil && c.media.obs != nil {
		c.enqueueLocked(func() { s.joinSupervisor(c) })
	}
}
