package sipserver

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// reinviteTimeout bounds a relayed in-dialog transaction (64*T1 by default).
const reinviteTimeout = 32 * time.Second

var errCallGone = errors.New("the call is ending")

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) error {
	l := s.findLeg(req)
	if l == nil {
		return nil // ACK of a call already gone, or of a non-2xx final
	}
	if body := req.Body(); len(body) > 0 {
		select {
		case l.acks <- bytes.Clone(body):
		default:
		}
	}
	if l.uas != nil && req.CSeq() != nil && req.CSeq().SeqNo == l.uas.InviteRequest.CSeq().SeqNo {
		if err := l.uas.ReadAck(req, tx); err != nil {
			l.c.log.Debug("ACK not matched", "error", err)
		}
	}
	return nil
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) error {
	l := s.findLeg(req)
	if l == nil {
		return sipx.Status(481, "", errors.New("BYE for an unknown dialog"))
	}
	if l.kind != kindParty {
		return s.onExtraBye(l, req, tx)
	}
	// A BYE right behind the ACK is handled after it.
	l.waitConfirmed(confirmWait)
	c := l.c
	c.mu.Lock()
	ending := l.state == legEnded
	l.state = legEnded
	c.mu.Unlock()

	var err error
	switch {
	case l.uas != nil:
		err = l.uas.ReadBye(req, tx)
	case l.uac != nil:
		err = l.uac.ReadBye(req, tx)
	default:
		err = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	if errors.Is(err, sipgo.ErrDialogInvalidCseq) {
		err = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	if err != nil {
		c.log.Debug("answering BYE failed", "error", err)
	}
	if !ending {
		c.release(releaseCause{by: l, code: 487, reason: "BYE from the " + l.side.String(), cause: "BYE",
			callState: tlib.CallStateOK, endedBy: l.side, byParty: true})
	}
	l.drop()
	return nil
}

// onCancel: sipgo answers a CANCEL that matches a pending INVITE itself (the
// caller leg sees its dialog end); one that matches nothing reaches us.
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) error {
	return sipx.Status(481, "", errors.New("CANCEL matches no pending INVITE"))
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) error {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods+", REGISTER"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	return tx.Respond(res)
}

// onRefer refuses call transfer cleanly: it is not supported yet.
func (s *Server) onRefer(req *sip.Request, tx sip.ServerTransaction) error {
	return &sipx.StatusError{Code: 501, Reason: "Not Implemented", Warning: "call transfer is not supported",
		Err: errors.New("REFER (transfer) is not supported")}
}

// relayTargetLocked returns where a re-INVITE of x goes: the party's
// media-control leg when the call is anchored (the supervisor's media leg
// for the observer), else the other party. With confirmed, only a target
// whose dialog is confirmed (and x confirmed) is returned.
func (x *leg) relayTargetLocked(confirmed bool) *leg {
	c := x.c
	var y *leg
	switch {
	case x.kind == kindObserver:
		if c.media != nil {
			y = c.media.sup
		}
	case c.media != nil:
		y = c.media.legs[x.side]
	default:
		y = c.otherLegLocked(x)
	}
	if !confirmed || y == nil {
		return y
	}
	if c.released || x.state != legConfirmed || y.state != legConfirmed {
		return nil
	}
	return y
}

// peerLocked returns the leg opposite l when both are confirmed.
func (l *leg) peerLocked() *leg {
	c := l.c
	if c.released || l.state != legConfirmed {
		return nil
	}
	y := c.otherLegLocked(l)
	if y == nil || y.state != legConfirmed {
		return nil
	}
	return y
}

// onInfo relays an in-dialog INFO (DTMF relay and the like) to the other
// party and its final response back.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) error {
	x := s.findLeg(req)
	if x == nil {
		return sipx.Status(481, "", errors.New("INFO for an unknown dialog"))
	}
	switch x.kind {
	case kindMedia:
		return s.onMediaInfo(x, req, tx)
	case kindObserver:
		// Nothing to relay from a silent observer (DTMF and the like).
		return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	x.waitConfirmed(confirmWait)
	c := x.c
	c.mu.Lock()
	other := c.otherLegLocked(x)
	c.mu.Unlock()
	if other != nil {
		other.waitConfirmed(confirmWait)
	}
	c.mu.Lock()
	y := x.peerLocked()
	var target sip.Uri
	if y != nil {
		target = *y.remoteTarget.Clone()
	}
	c.mu.Unlock()
	if y == nil {
		return sipx.Status(481, "", errCallGone)
	}
	fwd := y.newRequest(sip.INFO, target)
	if ct := req.ContentType(); ct != nil {
		fwd.AppendHeader(sip.NewHeader("Content-Type", ct.Value()))
	}
	if len(req.Body()) > 0 {
		fwd.SetBody(bytes.Clone(req.Body()))
	}
	ctx, cancel := context.WithTimeout(c.ctx, reinviteTimeout)
	defer cancel()
	res, err := y.do(ctx, fwd)
	if err != nil {
		return sipx.Status(408, "", err)
	}
	return tx.Respond(sip.NewResponseFromRequest(req, res.StatusCode, res.Reason, nil))
}

// onReInvite relays a re-INVITE (hold, retrieve, media change) from leg x to
// the other party and the answer back. One offer/answer exchange runs per
// call at a time: a crossing re-INVITE gets 491, as RFC 3261 14.2 asks.
func (x *leg) onReInvite(req *sip.Request, tx sip.ServerTransaction) error {
	c := x.c
	if x.kind == kindMedia {
		return sipx.Status(488, "Not Acceptable Here", errors.New("the SIP Server takes no re-INVITE from a media server"))
	}
	if !x.waitConfirmed(confirmWait) {
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("initial INVITE not yet acknowledged")}
	}
	if !c.offerMu.TryLock() {
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("another offer/answer exchange is in progress")}
	}
	locked := true
	unlock := func() {
		if locked {
			locked = false
			c.offerMu.Unlock()
		}
	}
	defer unlock()
	offer, err := readSDPBody(req)
	if err != nil {
		return err
	}
	// The other party may still be acknowledging its answer.
	c.mu.Lock()
	other := x.relayTargetLocked(false)
	c.mu.Unlock()
	if other != nil {
		other.waitConfirmed(confirmWait)
	}

	c.mu.Lock()
	if c.released || x.state != legConfirmed {
		c.mu.Unlock()
		return sipx.Status(481, "", errCallGone)
	}
	if !x.acceptRemoteCSeqLocked(req.CSeq().SeqNo) {
		c.mu.Unlock()
		return &sipx.StatusError{Code: 500, Reason: "Server Internal Error", RetryAfter: time.Second,
			Err: errors.New("CSeq is not above the last one seen")}
	}
	y := x.relayTargetLocked(true)
	if y == nil {
		c.mu.Unlock()
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("the other party is not connected yet")}
	}
	if ct := req.Contact(); ct != nil {
		x.remoteTarget = *ct.Address.Clone()
	}
	target := *y.remoteTarget.Clone()
	c.mu.Unlock()

	fwd := y.newRequest(sip.INVITE, target)
	fwd.AppendHeader(y.dua.ContactHDR.Clone())
	if len(offer) > 0 {
		fwd.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		fwd.SetBody(bytes.Clone(offer))
	}
	ctx, cancel := context.WithTimeout(c.ctx, reinviteTimeout)
	defer cancel()
	res, err := y.do(ctx, fwd)
	if err != nil {
		if c.ctx.Err() != nil {
			return sipx.Status(487, "Request Terminated", errCallGone)
		}
		return sipx.Status(408, "", err)
	}
	if !res.IsSuccess() {
		return sipx.Status(res.StatusCode, res.Reason, errors.New("refused by the other party"))
	}
	answer := bytes.Clone(res.Body())
	c.mu.Lock()
	if ct := res.Contact(); ct != nil {
		y.remoteTarget = *ct.Address.Clone()
	}
	ackTarget := *y.remoteTarget.Clone()
	c.mu.Unlock()

	// Drain an old late-offer answer, so the one we wait for is this one's.
	select {
	case <-x.acks:
	default:
	}
	ok := sip.NewResponseFromRequest(req, 200, "OK", answer)
	if len(answer) > 0 {
		ok.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	ok.AppendHeader(x.dua.ContactHDR.Clone())

	ack := y.newRequest(sip.ACK, ackTarget)
	if len(offer) > 0 {
		if err := y.write(ack); err != nil {
			c.log.Debug("ACK of a relayed re-INVITE failed", "error", err)
		}
		x.noteMedia(y, offer, answer)
		// The exchange is complete for us: the party may re-INVITE again
		// as soon as it has our 200.
		unlock()
		return tx.Respond(ok)
	} else {
		// Offer-less re-INVITE: the other party offered in its 200; the
		// answer comes in this party's ACK and goes on in ours.
		if err := tx.Respond(ok); err != nil {
			return err
		}
		select {
		case offer = <-x.acks:
		case <-ctx.Done():
			return nil
		}
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(bytes.Clone(offer))
		if err := y.write(ack); err != nil {
			c.log.Debug("ACK of a relayed re-INVITE failed", "error", err)
		}
	}
	x.noteMedia(y, offer, answer)
	return nil
}

// noteMedia records the SDP of an exchange that x offered and y (the other
// party, or x's media-control leg) answered, and publishes EventHeld /
// EventRetrieved when the party x put the call on hold or took it off.
func (x *leg) noteMedia(y *leg, offer, answer []byte) {
	c := x.c
	c.mu.Lock()
	defer c.mu.Unlock()
	x.remoteSDP, x.localSDP = offer, answer
	if y != nil {
		y.localSDP, y.remoteSDP = bytes.Clone(offer), bytes.Clone(answer)
	}
	if x.kind != kindParty {
		return
	}
	held := isHoldOffer(offer)
	if held == x.held || c.released {
		return
	}
	x.held = held
	c.parties[x.side].held = held
	name := tlib.EventRetrieved
	if held {
		name = tlib.EventHeld
	}
	c.publishLocked(name, x.side, nil, nil)
}

// isHoldOffer reports whether an offer puts the far end on hold (RFC 3264
// 8.4: the offerer stops receiving, sendonly or inactive, or uses the RFC
// 2543 address 0.0.0.0).
func isHoldOffer(offer []byte) bool {
	if len(offer) == 0 {
		return false
	}
	sess, err := sdp.Parse(offer)
	if err != nil {
		return false
	}
	for _, m := range sess.Media {
		if m.Type != "audio" || m.Port == 0 {
			continue
		}
		if !m.Direction.Receives() {
			return true
		}
		return m.Addr.IsValid() && m.Addr.IsUnspecified()
	}
	return false
}

// onExtraBye takes a BYE on a media-control or observer leg. A media server
// ending a leg of the call's current anchor has lost the call: it is
// re-anchored. The supervisor's phone hanging up ends the monitoring.
func (s *Server) onExtraBye(l *leg, req *sip.Request, tx sip.ServerTransaction) error {
	c := l.c
	c.mu.Lock()
	uac := l.uac
	c.mu.Unlock()
	if uac == nil {
		return sipx.Status(481, "", errors.New("BYE before the dialog exists"))
	}
	if err := uac.ReadBye(req, tx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}
	c.mu.Lock()
	ending := l.state == legEnded
	l.state = legEnded
	m := c.media
	current := m != nil && (m.legs[sideOrigin] == l || m.legs[sideDest] == l || m.sup == l)
	if current && !ending && !c.released && l.kind == kindMedia {
		gen := m.gen
		c.enqueueLocked(func() { s.reanchor(c, gen, "the media server ended a leg") })
	}
	c.mu.Unlock()
	l.drop()
	if l.kind == kindObserver && !ending {
		s.observerGone(c)
	}
	return nil
}
