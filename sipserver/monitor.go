package sipserver

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// observerRingTimeout bounds how long the supervisor's phone may ring
// before the monitoring of a call is given up.
const observerRingTimeout = 30 * time.Second

// monitoring is a supervisor's standing request to monitor an agent's calls
// (RequestMonitorNextCall): scope call covers the agent's next answered
// call, scope agent every call until RequestCancelMonitoring. It belongs to
// the supervisor's DN, not to the client that asked (a script may ask and
// leave). Guarded by the Server's mu.
type monitoring struct {
	supervisor string
	agent      string
	mode       string // mute or coach
	scope      string // call or agent
	active     *call  // the call being monitored now, if any
}

// monitorSession is a monitoring applied to one call. Guarded by the call's
// mu.
type monitorSession struct {
	m         *monitoring
	info      monitoring // m's settings when the call was planned (read without the Server's lock)
	agentSide side
	started   bool // the join is queued
	announced bool // the supervisor's DN got EventEstablished
}

// planMonitoringLocked attaches a pending monitoring of one of the call's
// agent DNs to the call. The caller holds c.mu.
func (c *call) planMonitoringLocked() bool {
	s := c.s
	if !s.mediaOn() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sd := range []side{sideDest, sideOrigin} {
		p := c.parties[sd]
		if !p.isDN {
			continue
		}
		m := s.monitors[p.number]
		if m == nil || m.active != nil || m.supervisor == c.parties[sd.other()].number {
			continue
		}
		m.active = c
		c.mon = &monitorSession{m: m, info: monitoring{supervisor: m.supervisor, agent: m.agent, mode: m.mode, scope: m.scope}, agentSide: sd}
		return true
	}
	return false
}

// observerMessageLocked builds a call event for the monitoring supervisor:
// ThisDN the supervisor (Observer), OtherDN the agent, ThirdPartyDN the
// agent's other party.
func (c *call) observerMessageLocked(name string) *tlib.Message {
	ms := c.mon
	m := c.messageLocked(name, ms.agentSide)
	agent, other := c.parties[ms.agentSide], c.parties[ms.agentSide.other()]
	m.ThisDN, m.ThisDNRole = ms.info.supervisor, tlib.RoleObserver
	m.OtherDN, m.OtherDNRole = agent.number, roleOf(ms.agentSide)
	m.ThirdPartyDN, m.ThirdPartyDNRole = other.number, roleOf(ms.agentSide.other())
	m.MonitorMode = ms.info.mode
	return m
}

func (c *call) publishObserverLocked(name string, req *requester, mod func(*tlib.Message)) {
	m := c.observerMessageLocked(name)
	if mod != nil {
		mod(m)
	}
	c.s.publish(m, req)
}

// joinSupervisor is the media work that brings the supervisor in: the call
// is anchored, the supervisor's phone is called without an offer (marked
// for auto-answer when its DN allows remote control), its offer goes to a
// third media-control leg of the conference whose answer is acknowledged to
// the phone, and the media server is asked to join that leg (MSML <join>,
// mute or coach). After a re-anchor the phone is already connected: it is
// moved to the new conference with a re-INVITE instead.
func (s *Server) joinSupervisor(c *call) {
	if err := s.ensureAnchored(c); err != nil {
		if !errors.Is(err, errCallGone) {
			s.stopMonitoring(c, "media anchoring: "+err.Error(), true)
		}
		return
	}
	c.mu.Lock()
	ms := c.mon
	if c.released || ms == nil || c.media == nil || c.media.supJoined {
		c.mu.Unlock()
		return
	}
	sup := ms.info.supervisor
	obs := c.media.obs
	conf := c.media.conf
	c.mu.Unlock()

	var err error
	if obs == nil {
		obs, err = s.dialObserver(c, ms)
		if err != nil {
			if !errors.Is(err, errCallGone) {
				s.stopMonitoring(c, err.Error(), true)
			}
			return
		}
		c.mu.Lock()
		offer := bytes.Clone(obs.remoteSDP)
		c.mu.Unlock()
		var mS *leg
		mS, err = s.dialMedia(c, ms.agentSide, conf, sup, offer)
		if err == nil {
			err = obs.ackAnswer(mS.remoteSDP)
			c.mu.Lock()
			obs.localSDP = bytes.Clone(mS.remoteSDP)
			if c.media != nil && c.media.conf == conf {
				c.media.obs, c.media.sup = obs, mS
			}
			c.mu.Unlock()
		} else {
			hole, herr := parkingAnswer(offer, s.host)
			if herr == nil {
				_ = obs.ackAnswer(hole)
			}
		}
	} else {
		err = s.moveObserver(c, obs, conf, sup, ms.agentSide)
	}
	if err != nil {
		if !errors.Is(err, errCallGone) {
			s.stopMonitoring(c, err.Error(), true)
		}
		return
	}
	if err := s.msmlJoin(c); err != nil {
		s.stopMonitoring(c, "media server join: "+err.Error(), true)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released || c.mon != ms {
		return
	}
	if !ms.announced {
		ms.announced = true
		c.publishObserverLocked(tlib.EventEstablished, nil, nil)
	}
	c.log.Info("supervisor joined", "supervisor", sup, "mode", ms.info.mode, "conf", conf)
}

// moveObserver moves a connected supervisor's phone to the media server of
// a new anchor (after a re-anchor): offer-less media leg, re-INVITE, ACK.
func (s *Server) moveObserver(c *call, obs *leg, conf, sup string, sd side) error {
	mS, err := s.dialMedia(c, sd, conf, sup, nil)
	if err != nil {
		return err
	}
	c.offerMu.Lock()
	ans, err := obs.reinvite(c.ctx, mS.remoteSDP)
	c.offerMu.Unlock()
	if err == nil {
		err = mS.ackAnswer(ans)
	}
	if err != nil {
		c.hangupExtra(mS)
		return fmt.Errorf("moving the supervisor's media: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	obs.localSDP, obs.remoteSDP = bytes.Clone(mS.remoteSDP), ans
	if c.media != nil && c.media.conf == conf {
		c.media.sup = mS
	}
	return nil
}

// dialObserver calls the supervisor's phone for a call without an offer.
func (s *Server) dialObserver(c *call, ms *monitorSession) (*leg, error) {
	sup := ms.info.supervisor
	bnd, ok := s.reg.lookup(sup)
	if !ok {
		return nil, fmt.Errorf("the supervisor's phone (%s) is not registered", sup)
	}
	c.mu.Lock()
	agent := c.parties[ms.agentSide].number
	c.mu.Unlock()
	l := newLeg(c, ms.agentSide, legOut, sipx.ViaTransport(bnd.Transport))
	l.kind, l.dn = kindObserver, sup
	l.sipCallID = newSIPCallID(s.host)
	localTag := sip.GenerateTagN(16)
	l.key = legKey(l.sipCallID, localTag)
	l.remoteTarget = *bnd.uri.Clone()

	req := s.newRequest(sip.INVITE, *bnd.uri.Clone(), l.transport)
	from := &sip.FromHeader{DisplayName: "Monitor " + agent, Address: sip.Uri{Scheme: "sip", User: agent, Host: s.host}, Params: sip.NewParams()}
	from.Params.Add("tag", localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: sup, Host: s.host}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(l.sipCallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(l.dua.ContactHDR.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader(headerCallUUID, c.uuid))
	if s.dns[sup].AutoAnswer {
		req.AppendHeader(sip.NewHeader("Call-Info", fmt.Sprintf("<sip:%s>;answer-after=0", s.host)))
	}
	if err := s.dialExtra(c, l, req, observerRingTimeout); err != nil {
		return nil, err
	}
	c.mu.Lock()
	noOffer := len(l.remoteSDP) == 0
	c.mu.Unlock()
	if noOffer {
		_ = l.ackAnswer(nil)
		c.hangupExtra(l)
		return nil, errors.New("the supervisor's phone answered without an offer")
	}
	return l, nil
}

// msmlJoin asks the media server to join the supervisor's leg (mute, or
// coach with the agent hearing him); every running recording gains the
// supervisor's stream.
func (s *Server) msmlJoin(c *call) error {
	c.mu.Lock()
	ms, m := c.mon, c.media
	if c.released || ms == nil || m == nil || m.sup == nil {
		c.mu.Unlock()
		return errCallGone
	}
	dns := c.mediaDNsLocked()
	mode := msml.JoinMute
	agent := ""
	if ms.info.mode == tlib.MonitorModeCoach {
		mode, agent = msml.JoinCoach, dns[ms.agentSide]
	}
	req := msml.NewJoin(m.conf, ms.info.supervisor, mode, agent)
	l := m.legs[ms.agentSide]
	c.mu.Unlock()
	if _, err := s.msmlDo(c, l, req); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.media == m {
		m.supJoined = true
		for _, r := range c.recs {
			if r != nil && r.conf == m.conf {
				r.withSup = true
			}
		}
	}
	return nil
}

// rejoinSupervisor joins the supervisor again so that a recording started
// while he was joined gets his stream (the media server only adds a
// supervisor to the recordings running when he joins).
func (s *Server) rejoinSupervisor(c *call) {
	c.mu.Lock()
	ms, m := c.mon, c.media
	if c.released || ms == nil || m == nil || !m.supJoined {
		c.mu.Unlock()
		return
	}
	req := msml.NewUnjoin(m.conf, ms.info.supervisor)
	l := m.legs[ms.agentSide]
	m.supJoined = false
	c.mu.Unlock()
	if _, err := s.msmlDo(c, l, req); err != nil {
		c.log.Warn("unjoining the supervisor failed", "error", err)
	}
	if err := s.msmlJoin(c); err != nil {
		s.stopMonitoring(c, "media server join: "+err.Error(), true)
	}
}

// stopMonitoring ends the monitoring of a call that stays up (the request
// was cancelled, the supervisor hung up, or joining him failed): the
// supervisor's legs end and his DN gets EventReleased. With forget the
// monitoring request itself is over too: it is dropped and both DNs get
// EventMonitoringCancelled with the reason.
func (s *Server) stopMonitoring(c *call, reason string, forget bool) {
	c.mu.Lock()
	ms := c.mon
	if ms == nil || c.released {
		c.mu.Unlock()
		return
	}
	var legs []*leg
	var unjoin *msml.Request
	var on *leg
	if m := c.media; m != nil {
		if m.supJoined {
			unjoin = msml.NewUnjoin(m.conf, ms.info.supervisor)
			on = m.legs[ms.agentSide]
		}
		legs = append(legs, m.sup, m.obs)
		m.sup, m.obs, m.supJoined = nil, nil, false
	}
	for _, l := range c.extra {
		if l.kind == kindObserver {
			legs = append(legs, l)
		}
	}
	if ms.announced {
		c.publishObserverLocked(tlib.EventReleased, nil, func(m *tlib.Message) {
			m.Reasons = tlib.KVList{"cause": "monitoring-ended"}
		})
	}
	c.mon = nil
	s.mu.Lock()
	if ms.m.active == c {
		ms.m.active = nil
	}
	if forget && s.monitors[ms.info.agent] == ms.m {
		delete(s.monitors, ms.info.agent)
	}
	s.mu.Unlock()
	if forget {
		s.publishMonitoring(tlib.EventMonitoringCancelled, &ms.info, nil, tlib.KVList{"reason": reason})
	}
	c.log.Info("monitoring of the call ended", "supervisor", ms.info.supervisor, "reason", reason)
	c.mu.Unlock()
	if unjoin != nil {
		if _, err := s.msmlDo(c, on, unjoin); err != nil {
			c.log.Debug("unjoin failed", "error", err)
		}
	}
	for _, l := range legs {
		c.hangupExtra(l)
	}
}

// endMonitoringLocked runs at release: the supervisor's legs go with the
// call's, his DN gets EventReleased; a monitoring of scope call is over
// (EventMonitoringCancelled), one of scope agent waits for the next call.
func (c *call) endMonitoringLocked() {
	ms := c.mon
	if ms == nil {
		return
	}
	s := c.s
	if ms.announced {
		c.publishObserverLocked(tlib.EventReleased, nil, func(m *tlib.Message) {
			m.Reasons = tlib.KVList{"cause": "call-ended"}
		})
	}
	s.mu.Lock()
	if ms.m.active == c {
		ms.m.active = nil
	}
	over := ms.started && ms.info.scope == tlib.MonitorScopeCall && s.monitors[ms.info.agent] == ms.m
	if over {
		delete(s.monitors, ms.info.agent)
	}
	s.mu.Unlock()
	if over {
		s.publishMonitoring(tlib.EventMonitoringCancelled, &ms.info, nil, tlib.KVList{"cause": "call-ended"})
	}
}

// publishMonitoring sends a monitoring event to the supervisor (the reply
// when req is set) and to the agent's DN.
func (s *Server) publishMonitoring(name string, m *monitoring, req *requester, reasons tlib.KVList) {
	s.publish(&tlib.Message{Name: name, ThisDN: m.supervisor, ThisDNRole: tlib.RoleObserver,
		OtherDN: m.agent, MonitorMode: m.mode, MonitorScope: m.scope, Reasons: reasons}, req)
	s.publish(&tlib.Message{Name: name, ThisDN: m.agent, ThirdPartyDN: m.supervisor, ThirdPartyDNRole: tlib.RoleObserver,
		MonitorMode: m.mode, MonitorScope: m.scope, Reasons: reasons}, nil)
}

// monitorNextCall performs RequestMonitorNextCall: ThisDN (the supervisor)
// will be joined to OtherDN's next answered call (scope call) or to all its
// calls until cancelled (scope agent), in mute or coach mode.
func (s *Server) monitorNextCall(ci *tlib.ClientInfo, req *tlib.Message) error {
	if !s.mediaOn() {
		return tlib.Errorf(tlib.ErrInvalidState, "monitoring needs media anchoring: %v", ErrNoMediaControl)
	}
	if s.dns[req.ThisDN].Type == RoutingPoint {
		return tlib.Errorf(tlib.ErrInvalidState, "%s is a routing point: it cannot monitor", req.ThisDN)
	}
	agent, ok := s.dns[req.OtherDN]
	switch {
	case !ok:
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is not a configured DN", req.OtherDN)
	case agent.Type == RoutingPoint:
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is a routing point", req.OtherDN)
	case agent.Number == req.ThisDN:
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s cannot monitor itself", req.ThisDN)
	}
	mode := req.MonitorMode
	switch mode {
	case "":
		mode = tlib.MonitorModeMute
	case tlib.MonitorModeConnect:
		return tlib.Errorf(tlib.ErrInvalidAttribute, "MonitorMode connect is not supported (the media server offers mute and coach)")
	}
	scope := req.MonitorScope
	if scope == "" {
		scope = tlib.MonitorScopeCall
	}
	s.mu.Lock()
	m := s.monitors[agent.Number]
	if m != nil && m.supervisor != req.ThisDN {
		s.mu.Unlock()
		return tlib.Errorf(tlib.ErrInvalidState, "%s is already monitored by %s", agent.Number, m.supervisor)
	}
	if m == nil {
		m = &monitoring{supervisor: req.ThisDN, agent: agent.Number}
		s.monitors[agent.Number] = m
	}
	m.mode, m.scope = mode, scope
	snapshot := *m
	s.mu.Unlock()
	s.publishMonitoring(tlib.EventMonitoringNextCall, &snapshot, &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN}, nil)
	s.log.Info("monitoring requested", "supervisor", req.ThisDN, "agent", agent.Number, "mode", mode, "scope", scope)
	return nil
}

// cancelMonitoring performs RequestCancelMonitoring: a pending monitoring is
// dropped, an active one ends (the supervisor leaves the call).
func (s *Server) cancelMonitoring(ci *tlib.ClientInfo, req *tlib.Message) error {
	s.mu.Lock()
	m := s.monitors[req.OtherDN]
	if m == nil || m.supervisor != req.ThisDN {
		s.mu.Unlock()
		return tlib.Errorf(tlib.ErrInvalidState, "%s does not monitor %s", req.ThisDN, req.OtherDN)
	}
	delete(s.monitors, req.OtherDN)
	active := m.active
	snapshot := *m
	s.mu.Unlock()
	s.publishMonitoring(tlib.EventMonitoringCancelled, &snapshot, &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN}, nil)
	if active != nil {
		active.mu.Lock()
		if active.mon != nil && active.mon.m == m {
			active.enqueueLocked(func() { s.stopMonitoring(active, "cancelled", false) })
		}
		active.mu.Unlock()
	}
	s.log.Info("monitoring cancelled", "supervisor", req.ThisDN, "agent", req.OtherDN)
	return nil
}

// observerGone handles the supervisor's phone hanging up: the monitoring of
// this call ends (a monitoring of scope agent waits for the next call).
func (s *Server) observerGone(c *call) {
	c.mu.Lock()
	if c.mon != nil && !c.released {
		forget := c.mon.info.scope == tlib.MonitorScopeCall
		c.enqueueLocked(func() { s.stopMonitoring(c, "the supervisor hung up", forget) })
	}
	c.mu.Unlock()
}
