package sipserver

import (
	"maps"
	"time"

	"github.com/arlab/arlab/tlib"
)

func roleOf(sd side) string {
	if sd == sideOrigin {
		return tlib.RoleOrigination
	}
	return tlib.RoleDestination
}

// messageLocked builds a call event as seen from the party on side sd.
func (c *call) messageLocked(name string, sd side) *tlib.Message {
	p, o := c.parties[sd], c.parties[sd.other()]
	return &tlib.Message{
		Name:        name,
		ConnID:      c.connID,
		CallUUID:    c.uuid,
		CallID:      c.callID,
		ThisDN:      p.number,
		ThisDNRole:  roleOf(sd),
		OtherDN:     o.number,
		OtherDNRole: roleOf(sd.other()),
		ANI:         c.ani,
		DNIS:        c.dnis,
		CallType:    c.typ,
		CallState:   tlib.CallStateOK,
		UserData:    maps.Clone(c.userData),
	}
}

// publishLocked sends a call event to the clients of the DN on side sd (when
// it is a DN) and marks the party as having seen the call. req, when its DN
// is that party's, receives the event as the reply to its request.
func (c *call) publishLocked(name string, sd side, req *requester, mod func(*tlib.Message)) {
	p := &c.parties[sd]
	if !p.isDN {
		return
	}
	m := c.messageLocked(name, sd)
	if mod != nil {
		mod(m)
	}
	p.announced = true
	c.s.publish(m, req)
}

// rpMessageLocked builds an event about the call as seen from the routing
// point it waits at.
func (c *call) rpMessageLocked(name string) *tlib.Message {
	o := c.parties[sideOrigin]
	return &tlib.Message{
		Name:        name,
		ConnID:      c.connID,
		CallUUID:    c.uuid,
		CallID:      c.callID,
		ThisDN:      c.rp,
		ThisDNRole:  tlib.RoleRoutingPoint,
		OtherDN:     o.number,
		OtherDNRole: tlib.RoleOrigination,
		ANI:         c.ani,
		DNIS:        c.dnis,
		CallType:    c.typ,
		CallState:   tlib.CallStateOK,
		UserData:    maps.Clone(c.userData),
	}
}

// publishRPLocked sends an event about the call to the clients of the
// routing point it waits at.
func (c *call) publishRPLocked(name string, req *requester, mod func(*tlib.Message)) {
	m := c.rpMessageLocked(name)
	if mod != nil {
		mod(m)
	}
	c.s.publish(m, req)
}

// sendRouteRequestLocked offers the call to one router registered on the
// routing point (round robin when several are), not to all of them, so that
// one call is routed once; ModeMonitorAll clients see it too. It reports
// whether a router got it.
func (c *call) sendRouteRequestLocked() bool {
	s := c.s
	m := c.rpMessageLocked(tlib.EventRouteRequest)
	m.Time = time.Now()
	s.metrics.event()
	var router tlib.ClientID
	routers := s.tsrv.Registered(c.rp)
	start := int(s.routeRR.Add(1))
	for i := range routers {
		id := routers[(start+i)%len(routers)]
		if s.tsrv.SendTo(id, m) {
			router = id
			break
		}
	}
	for _, id := range s.tsrv.MonitorAllClients() {
		if id != router {
			s.tsrv.SendTo(id, m)
		}
	}
	return router != 0
}

// publish fans an event out; the requester's copy carries its ReferenceID.
func (s *Server) publish(m *tlib.Message, req *requester) {
	s.metrics.event()
	if req != nil && req.dn == m.ThisDN {
		m.ReferenceID = req.ref
		s.tsrv.PublishReply(req.client, m)
		return
	}
	s.tsrv.Publish(m)
}

// callStateFor maps a SIP failure of the destination to the CallState of
// EventReleased, as Genesys reports it.
func callStateFor(code int) string {
	switch {
	case code == 486 || code == 600:
		return tlib.CallStateBusy
	case code == 480 || code == 408 || code == 487:
		return tlib.CallStateNoAnswer
	case code >= 500 && code < 600:
		return tlib.CallStateError
	case code >= 300:
		return tlib.CallStateRejected
	}
	return tlib.CallStateOK
}
