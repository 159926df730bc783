package mediaserver

import (
	"log/slog"
	"sync"
	"time"
)

// conference holds the legs sharing one conf-id and the recordings of their
// media. It decides who hears whom: rewire recomputes every leg's sinks
// after any change, and swaps them in atomically for the read loops.
type conference struct {
	srv     *Server
	id      string
	created time.Time
	log     *slog.Logger

	mu       sync.Mutex
	legs     []*leg
	recs     map[string]*recording
	recOrder []string
	mix      *mixer
	ended    bool
	nextRec  int
}

func newConference(s *Server, id string) *conference {
	return &conference{
		srv:     s,
		id:      id,
		created: time.Now(),
		log:     s.log.With("conf", id),
		recs:    map[string]*recording{},
	}
}

// addLeg adds a leg: the first two become the bridged parties, later ones
// wait for a <join>. It reports false if the conference already ended.
func (c *conference) addLeg(l *leg) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	l.conf = c
	if len(c.partiesLocked()) < 2 {
		l.role = roleParty
	}
	c.legs = append(c.legs, l)
	c.rewireLocked()
	return true
}

// removeLeg drops a leg; the last leg's departure ends the conference and
// its recordings.
func (c *conference) removeLeg(l *leg) {
	c.mu.Lock()
	for i, x := range c.legs {
		if x == l {
			c.legs = append(c.legs[:i], c.legs[i+1:]...)
			break
		}
	}
	var stopMix *mixer
	if c.mix != nil && (c.mix.sup == l || l.dn == c.mix.agentDN && c.mix.coach()) {
		stopMix, c.mix = c.mix, nil
		if stopMix.sup != l {
			stopMix.sup.role = rolePending
		}
	}
	// A pending leg steps in for a party that left (the far end transferred).
	if l.role == roleParty {
		for _, x := range c.legs {
			if x.role == rolePending {
				x.role = roleParty
				break
			}
		}
	}
	empty := len(c.legs) == 0
	var recs []*recording
	if empty {
		c.ended = true
		for _, id := range c.recOrder {
			recs = append(recs, c.recs[id])
		}
		c.recs, c.recOrder = map[string]*recording{}, nil
	}
	c.rewireLocked()
	c.mu.Unlock()

	if stopMix != nil {
		stopMix.stop()
	}
	if empty {
		for _, r := range recs {
			r.stop()
		}
		c.srv.dropConference(c)
	}
}

// partiesLocked returns the party legs in join order.
func (c *conference) partiesLocked() []*leg {
	var out []*leg
	for _, l := range c.legs {
		if l.role == roleParty {
			out = append(out, l)
		}
	}
	return out
}

func (c *conference) legByDNLocked(dn string) *leg {
	for _, l := range c.legs {
		if l.dn == dn {
			return l
		}
	}
	return nil
}

// otherPartyLocked returns the party that is not dn, if any.
func (c *conference) otherPartyLocked(dn string) *leg {
	for _, l := range c.partiesLocked() {
		if l.dn != dn {
			return l
		}
	}
	return nil
}

// rewire recomputes every leg's sinks.
func (c *conference) rewire() {
	c.mu.Lock()
	c.rewireLocked()
	c.mu.Unlock()
}

func (c *conference) rewireLocked() {
	parties := c.partiesLocked()
	for _, l := range c.legs {
		var s []sink
		switch l.role {
		case roleParty:
			for _, o := range parties {
				if o == l {
					continue
				}
				// A coached agent hears the mixer's customer+supervisor mix instead.
				if c.mix != nil && c.mix.coach() && o.dn == c.mix.agentDN {
					continue
				}
				s = append(s, o.toParty)
			}
			if c.mix != nil {
				s = append(s, c.mix.input(l.dn))
			}
		case roleSupervisor:
			if c.mix != nil && c.mix.coach() {
				s = append(s, c.mix.input(l.dn))
			}
		}
		for _, id := range c.recOrder {
			s = c.recs[id].appendSinks(l.dn, s)
		}
		l.setSinks(s)
	}
}

// recordings returns the live recordings in start order.
func (c *conference) recordings() []*recording {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*recording, 0, len(c.recOrder))
	for _, id := range c.recOrder {
		out = append(out, c.recs[id])
	}
	return out
}

// snapshotLegs returns the legs for reporting.
func (c *conference) snapshotLegs() []*leg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*leg(nil), c.legs...)
}

// end tears the conference down when the server closes: recordings are
// stopped (BYE to the recorders, files finished) and the legs' media closed.
func (c *conference) end() {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	c.ended = true
	legs := c.legs
	c.legs = nil
	recs := make([]*recording, 0, len(c.recOrder))
	for _, id := range c.recOrder {
		recs = append(recs, c.recs[id])
	}
	c.recs, c.recOrder = map[string]*recording{}, nil
	mix := c.mix
	c.mix = nil
	c.mu.Unlock()

	if mix != nil {
		mix.stop()
	}
	var wg sync.WaitGroup
	for _, r := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stop()
		}()
	}
	wg.Wait()
	for _, l := range legs {
		c.srv.forgetLeg(l)
		l.closeMedia()
	}
	c.srv.dropConference(c)
}
