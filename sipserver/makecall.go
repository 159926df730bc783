package sipserver

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/tlib"
)

// remoteControlTimeout bounds the NOTIFY of RequestAnswerCall, answerWait
// the wait for the phone to answer after it.
const (
	remoteControlTimeout = 3 * time.Second
	answerWait           = 5 * time.Second
)

// makeCall performs RequestMakeCall from ThisDN to OtherDN with third-party
// call control (RFC 3725 flow II): the SIP Server calls ThisDN's phone with
// an offer-less INVITE marked for auto-answer, parks its offer with an
// inactive answer, calls OtherDN offer-less, and when OtherDN answers with
// its offer, re-INVITEs ThisDN with it and acknowledges OtherDN with ThisDN's
// answer. ThisDN must have auto-answer set: a phone that waits for a user to
// pick up cannot be driven from T-lib. EventDialing on ThisDN is the reply.
func (s *Server) makeCall(ci *tlib.ClientInfo, req *tlib.Message) error {
	if err := checkUserDataKeys(req.UserData); err != nil {
		return err
	}
	from := s.dns[req.ThisDN]
	if from.Type == RoutingPoint {
		return tlib.Errorf(tlib.ErrInvalidState, "%s is a routing point: it cannot place calls", from.Number)
	}
	if !from.AutoAnswer {
		return tlib.Errorf(tlib.ErrInvalidState, "the phone of %s does not auto-answer (auto-answer: false), so it cannot be made to call", from.Number)
	}
	bndA, ok := s.reg.lookup(from.Number)
	if !ok {
		return tlib.Errorf(tlib.ErrInvalidState, "the phone of %s is not registered", from.Number)
	}
	to, ok := s.dns[req.OtherDN]
	switch {
	case !ok:
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s is not a configured DN (this SIP Server has no trunk for outside numbers)", req.OtherDN)
	case to.Number == from.Number:
		return tlib.Errorf(tlib.ErrInvalidDestination, "%s cannot call itself", to.Number)
	case to.Type != RoutingPoint:
		if _, ok := s.reg.lookup(to.Number); !ok {
			return tlib.Errorf(tlib.ErrInvalidDestination, "%s is not registered", to.Number)
		}
	}
	c, err := s.newCall(tlib.CallTypeInternal, from.Number, to.Number,
		party{number: from.Number, isDN: true}, party{number: to.Number, isDN: to.Type != RoutingPoint})
	if err != nil {
		return tlib.Errorf(tlib.ErrInternal, "cannot place a call now: %v", err)
	}
	c.mu.Lock()
	if len(req.UserData) > 0 {
		if err := c.mergeUserDataLocked(req.UserData, mergeUpdate); err != nil {
			c.mu.Unlock()
			c.release(releaseCause{reason: "bad user data", callState: tlib.CallStateError})
			c.unref()
			return err
		}
	}
	c.publishLocked(tlib.EventDialing, sideOrigin, &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN}, nil)
	c.mu.Unlock()
	c.log.Info("make call", "from", from.Number, "to", to.Number, "by", ci.AppName)
	s.spawn(func() { s.runMakeCall(c, bndA, to) })
	return nil
}

func (s *Server) runMakeCall(c *call, bndA binding, to DN) {
	defer c.unref()
	autoAnswer := sip.NewHeader("Call-Info", fmt.Sprintf("<sip:%s>;answer-after=0", s.host))
	a, _ := s.dialLeg(c, sideOrigin, bndA, dialOptions{
		fromUser: to.Number, toUser: c.ani, maxForwards: 70,
		headers: []sip.Header{autoAnswer},
	}, nil)
	if a == nil {
		return
	}
	c.mu.Lock()
	offerA := bytes.Clone(a.remoteSDP)
	c.mu.Unlock()
	hole, err := parkingAnswer(offerA, s.host)
	if err == nil {
		c.mu.Lock()
		a.localSDP = hole
		c.mu.Unlock()
		err = a.ackAnswer(hole)
	}
	if err != nil {
		c.release(releaseCause{code: 488, reason: fmt.Sprintf("originator's offer: %v", err), callState: tlib.CallStateError})
		return
	}

	dest := to
	if to.Type == RoutingPoint {
		var ok bool
		if dest, ok = s.routeAt(c, to); !ok {
			return
		}
	}
	c.mu.Lock()
	if !c.released {
		// Recordings and monitoring start after the answer, by re-INVITEs:
		// both legs of a made call are offer-less.
		c.planRecordingsLocked(dest)
	}
	c.mu.Unlock()
	b := s.dialDest(c, a, dest, inviteInfo{maxForwards: 70}, nil)
	if b == nil {
		return
	}
	c.mu.Lock()
	offerB := bytes.Clone(b.remoteSDP)
	c.mu.Unlock()
	if len(offerB) == 0 {
		c.release(releaseCause{code: 488, reason: "destination answered an offer-less INVITE without an offer", callState: tlib.CallStateError})
		return
	}

	// Give the originator the destination's offer and relay its answer.
	c.offerMu.Lock()
	answerA, err := a.reinvite(c.ctx, offerB)
	c.offerMu.Unlock()
	if err != nil {
		c.release(releaseCause{code: 500, reason: fmt.Sprintf("re-INVITE of the originator: %v", err), callState: tlib.CallStateError})
		return
	}
	if err := b.ackAnswer(answerA); err != nil {
		c.release(releaseCause{code: 500, reason: fmt.Sprintf("ACK to the destination: %v", err), callState: tlib.CallStateError})
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	a.localSDP, a.remoteSDP = offerB, answerA
	b.localSDP = bytes.Clone(answerA)
	c.establishLocked()
}

// reinvite sends offer in a re-INVITE on an answered leg, acknowledges the
// 2xx and returns its answer.
func (l *leg) reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	target := l.ackTarget()
	req := l.newRequest(sip.INVITE, target)
	req.AppendHeader(l.dua.ContactHDR.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(bytes.Clone(offer))
	ctx, cancel := context.WithTimeout(ctx, reinviteTimeout)
	defer cancel()
	res, err := l.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if !res.IsSuccess() {
		return nil, fmt.Errorf("answered %d %s", res.StatusCode, res.Reason)
	}
	if err := l.write(l.newRequest(sip.ACK, target)); err != nil {
		return nil, err
	}
	if len(res.Body()) == 0 {
		return nil, fmt.Errorf("2xx without an answer")
	}
	return bytes.Clone(res.Body()), nil
}

// parkingAnswer answers offer with media that goes nowhere (inactive, the
// discard port): the originator of a RequestMakeCall waits in silence until
// the destination answers.
func parkingAnswer(offer []byte, host string) ([]byte, error) {
	sess, err := sdp.Parse(offer)
	if err != nil {
		return nil, err
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return nil, err
	}
	ans, err := sdp.Answer(sess, sdp.AnswerOptions{Addr: addr, Port: 9, Direction: sdp.Inactive})
	if err != nil {
		return nil, err
	}
	return ans.Marshal(), nil
}

// answerCall performs RequestAnswerCall: the phone of ThisDN, ringing with
// the call, is told to go off-hook with an unsolicited NOTIFY "Event: talk"
// (the remote-answer event of BroadSoft-style remote control that desk
// phones implement). Only DNs with auto-answer are driven this way. The
// reply is EventEstablished on ThisDN once the phone answered, within
// answerWait; otherwise EventError.
func (s *Server) answerCall(ci *tlib.ClientInfo, req *tlib.Message) error {
	d := s.dns[req.ThisDN]
	if !d.AutoAnswer {
		return tlib.Errorf(tlib.ErrInvalidState, "the phone of %s does not take remote control (auto-answer: false)", d.Number)
	}
	c, err := s.callFor(req)
	if err != nil {
		return err
	}
	sd, isParty := c.partyOfLocked(req.ThisDN)
	b := c.legs[sideDest]
	ringing := isParty && sd == sideDest && c.state == callRinging && b != nil && b.dir == legOut && b.state == legEarly
	var target sip.Uri
	var transport string
	r := &requester{client: ci.ID, ref: req.ReferenceID, dn: req.ThisDN}
	if ringing {
		if c.answerReq != nil {
			c.mu.Unlock()
			return tlib.Errorf(tlib.ErrInvalidState, "call %s is already being answered", req.ConnID)
		}
		target, transport = *b.remoteTarget.Clone(), b.transport
		c.answerReq = r
	}
	established := c.established
	c.mu.Unlock()
	if !ringing {
		return tlib.Errorf(tlib.ErrInvalidState, "call %s is not ringing at %s", req.ConnID, req.ThisDN)
	}
	// withdraw gives up the reply if EventEstablished has not carried it.
	withdraw := func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.answerReq == r {
			c.answerReq = nil
			return true
		}
		return false
	}

	notify := s.newRequest(sip.NOTIFY, target, transport)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", Host: s.host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	notify.AppendHeader(from)
	notify.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: d.Number, Host: s.host}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(newSIPCallID(s.host))
	notify.AppendHeader(&cid)
	notify.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	ct := s.contact(transport)
	notify.AppendHeader(&ct)
	notify.AppendHeader(sip.NewHeader("Event", "talk"))
	notify.AppendHeader(sip.NewHeader("Subscription-State", "terminated"))
	ctx, cancel := context.WithTimeout(c.ctx, remoteControlTimeout)
	defer cancel()
	res, err := s.sipCli.Do(ctx, notify)
	if err == nil && !res.IsSuccess() {
		err = fmt.Errorf("%d %s", res.StatusCode, res.Reason)
	}
	if err != nil && withdraw() {
		return tlib.Errorf(tlib.ErrInvalidState, "the phone of %s refused the answer request: %v", d.Number, err)
	}
	c.log.Info("remote answer requested", "dn", d.Number, "by", ci.AppName)
	t := time.NewTimer(answerWait)
	defer t.Stop()
	select {
	case <-established:
	case <-c.ctx.Done():
	case <-t.C:
	}
	if withdraw() {
		return tlib.Errorf(tlib.ErrInvalidState, "the phone of %s did not answer within %s", d.Number, answerWait)
	}
	return nil
}
