package tlib

import (
	"maps"
	"slices"
)

// Publish fans ev out to every client registered on ev.ThisDN and to every
// ModeMonitorAll client, each client once. An empty ThisDN reaches only the
// ModeMonitorAll clients. ReferenceID is removed: it belongs only to the
// client that made a request (see PublishReply). Time is set when zero.
//
// Publish never blocks: each client has a bounded queue drained by its own
// writer; a client whose queue is full is disconnected (and logged), so one
// slow client never delays the others. ev is not retained.
func (s *Server) Publish(ev *Message) { s.PublishReply(0, ev) }

// PublishReply is Publish for an event caused by a request of client origin
// (e.g. EventDialing after RequestMakeCall): origin receives ev with its
// ReferenceID, and receives it even when not registered on ev.ThisDN; all
// other recipients get ReferenceID 0. Sent before the Handler returns, it
// replaces the EventACK.
func (s *Server) PublishReply(origin ClientID, ev *Message) {
	m := *ev // shallow copy: only scalar fields change
	if m.Time.IsZero() {
		m.Time = now()
	}
	ref := m.ReferenceID
	m.ReferenceID = 0
	line, err := Encode(&m)
	if err != nil {
		s.log.Error("cannot encode event", "event", ev, "err", err)
		return
	}
	originLine := line
	if origin != 0 && ref != 0 {
		m.ReferenceID = ref
		if originLine, err = Encode(&m); err != nil {
			s.log.Error("cannot encode event", "event", ev, "err", err)
			return
		}
	} else {
		ref = 0
	}

	s.mu.RLock()
	defer s.mu.RUnlock()
	var holders map[ClientID]*conn
	if m.ThisDN != "" {
		holders = s.byDN[m.ThisDN]
	}
	sentOrigin := false
	for id, c := range holders {
		if id == origin {
			c.enqueue(originLine, ref)
			sentOrigin = true
		} else {
			c.enqueue(line, 0)
		}
	}
	for id, c := range s.monitorAll {
		if _, dup := holders[id]; dup {
			continue
		}
		if id == origin {
			c.enqueue(originLine, ref)
			sentOrigin = true
		} else {
			c.enqueue(line, 0)
		}
	}
	if origin != 0 && !sentOrigin {
		if c := s.conns[origin]; c != nil && c.opened.Load() {
			c.enqueue(originLine, ref)
		}
	}
}

// SendTo queues ev (ReferenceID kept) for one opened client, e.g.
// EventRouteRequest to the router registered on a routing point. It reports
// false when the client is not connected or not opened.
func (s *Server) SendTo(client ClientID, ev *Message) bool {
	m := *ev
	if m.Time.IsZero() {
		m.Time = now()
	}
	line, err := Encode(&m)
	if err != nil {
		s.log.Error("cannot encode event", "event", ev, "err", err)
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.conns[client]
	if c == nil || !c.opened.Load() {
		return false
	}
	c.enqueue(line, m.ReferenceID)
	return true
}

// Registered returns, in ascending order, the clients registered on dn
// (ModeMonitorAll clients are not included).
func (s *Server) Registered(dn string) []ClientID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.byDN[dn]))
}

// MonitorAllClients returns, in ascending order, the clients holding a
// ModeMonitorAll registration.
func (s *Server) MonitorAllClients() []ClientID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Sorted(maps.Keys(s.monitorAll))
}
