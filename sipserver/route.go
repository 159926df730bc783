package sipserver

import (
	"maps"
	"time"

	"github.com/arlab/arlab/tlib"
)

// routeAt parks c at routing point rp: EventRouteRequest goes to the
// clients registered on rp, and the call waits for RequestRouteCall, for the
// route-timeout (then the default route), or for its release. With no client
// registered on rp the default route is taken at once. It returns the DN to
// ring.
func (s *Server) routeAt(c *call, rp DN) (DN, bool) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return DN{}, false
	}
	c.state = callRouting
	c.rp = rp.Number
	c.parties[sideDest] = party{number: rp.Number}
	offered := c.sendRouteRequestLocked()
	c.mu.Unlock()
	c.log.Debug("call waits at routing point", "rp", rp.Number, "router", offered)

	reason := "no router registered"
	wait := time.Duration(0)
	if offered {
		reason, wait = "route timeout", s.cfg.RouteTimeout
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case r := <-c.routeCh:
		return s.dns[r.Target], true
	case <-c.ctx.Done():
		return DN{}, false
	case <-t.C:
	}

	c.mu.Lock()
	switch {
	case c.released:
		c.mu.Unlock()
		return DN{}, false
	case c.route != nil:
		// A router answered just as the timer fired.
		c.mu.Unlock()
		r := <-c.routeCh
		return s.dns[r.Target], true
	case rp.DefaultRoute == "":
		c.mu.Unlock()
		c.release(releaseCause{code: 480, reason: "no route from routing point " + rp.Number + ": " + reason,
			cause: "no-route", callState: tlib.CallStateNoAnswer})
		return DN{}, false
	}
	c.route = &Route{Target: rp.DefaultRoute, Default: true}
	c.state = callDialing
	c.publishRPLocked(tlib.EventRouteUsed, nil, func(m *tlib.Message) {
		m.OtherDN, m.OtherDNRole = rp.DefaultRoute, tlib.RoleDestination
		m.Reasons = tlib.KVList{"DefaultRoute": reason}
	})
	c.mu.Unlock()
	c.log.Info("default route", "rp", rp.Number, "target", rp.DefaultRoute, "reason", reason)
	return s.dns[rp.DefaultRoute], true
}

// routeCall performs RequestRouteCall: the call must wait at ThisDN, and
// OtherDN must be a DN whose phone is registered; otherwise EventError, and
// the call keeps waiting.
func (s *Server) routeCall(ci *tlib.ClientInfo, req *tlib.Message) error {
	c := s.lookupCall(req.ConnID)
	if c == nil {
		return tlib.Errorf(tlib.ErrInvalidConnID, "no call %s", req.ConnID)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.state != callRouting || c.route != nil || c.rp != req.ThisDN {
		return tlib.Errorf(tlib.ErrInvalidState, "call %s is not waiting at routing point %s", req.ConnID, req.ThisDN)
	}
	target, ok := s.dns[req.OtherDN]
	if !ok {
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is not a configured DN", req.OtherDN)
	}
	if target.Type == RoutingPoint {
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is a routing point", req.OtherDN)
	}
	if _, ok := s.reg.lookup(target.Number); !ok {
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is not registered (its phone would answer 480)", req.OtherDN)
	}
	if err := checkRouteExtensions(req.Extensions); err != nil {
		return err
	}
	if len(req.UserData) > 0 {
		if err := checkUserDataKeys(req.UserData); err != nil {
			return err
		}
		if err := c.mergeUserDataLocked(req.UserData, mergeUpdate); err != nil {
			return err
		}
	}
	r := Route{Target: target.Number, Extensions: maps.Clone(req.Extensions), By: ci.AppName}
	c.route = &r
	c.state = callDialing
	c.routeCh <- r // cap 1, and only one decision is ever sent
	// The reply is EventACK (docs/tlib.md); EventRouteUsed goes to the
	// routing point's clients.
	c.publishRPLocked(tlib.EventRouteUsed, nil, func(m *tlib.Message) {
		m.OtherDN, m.OtherDNRole = target.Number, tlib.RoleDestination
		m.Extensions = maps.Clone(req.Extensions)
	})
	c.log.Info("routed", "rp", req.ThisDN, "target", target.Number, "by", ci.AppName, "extensions", req.Extensions)
	return nil
}

// checkRouteExtensions validates the recording extensions of a route
// (genesys-msr.md 2.3): record is one of source, destination,
// disable_source, disable_destination (so both sides cannot be disabled in
// one request); id is a recording id; dest a recorder URI.
func checkRouteExtensions(ext tlib.KVList) error {
	switch ext["record"] {
	case "", "source", "destination", "disable_source", "disable_destination":
	default:
		return tlib.Errorf(tlib.ErrInvalidAttribute, "Extensions record=%q (want source, destination, disable_source or disable_destination)", ext["record"])
	}
	return checkRecordExtensions(tlib.KVList{"id": ext["id"], "dest": ext["dest"]}, true)
}
