package sipserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// errCallLimit is a new call beyond max-calls.
var errCallLimit = errors.New("too many calls")

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) error {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		l := s.findLeg(req)
		if l == nil {
			return sipx.Status(481, "", errors.New("re-INVITE for an unknown dialog"))
		}
		return l.onReInvite(req, tx)
	}
	if !s.enter() {
		return sipx.Status(503, "", ErrClosed)
	}
	defer s.wg.Done()
	return s.onNewCall(req, tx)
}

// readSDPBody returns the SDP body of a request, checked, or nil when there
// is none.
func readSDPBody(m *sip.Request) ([]byte, error) {
	body := m.Body()
	if len(body) == 0 {
		return nil, nil
	}
	if ct := m.ContentType(); ct != nil {
		mt, _, _ := strings.Cut(ct.Value(), ";")
		if !strings.EqualFold(strings.TrimSpace(mt), "application/sdp") {
			return nil, sipx.Errorf(415, "Unsupported Media Type", "body is %s, want application/sdp", ct.Value())
		}
	}
	if _, err := sdp.Parse(body); err != nil {
		return nil, sipx.Status(488, "Not Acceptable Here", err)
	}
	return bytes.Clone(body), nil
}

// onNewCall handles an INVITE that starts a call. It runs for the whole
// setup: it owns the INVITE server transaction (sipgo ends it when the
// handler returns), so it alone sends the caller's final response.
func (s *Server) onNewCall(req *sip.Request, tx sip.ServerTransaction) error {
	if mf := req.MaxForwards(); mf != nil && mf.Val() <= 1 {
		return sipx.Errorf(483, "Too Many Hops", "Max-Forwards %d", mf.Val())
	}
	target := req.Recipient.User
	if target == "" && req.To() != nil {
		target = req.To().Address.User
	}
	var ani, display string
	if f := req.From(); f != nil {
		ani, display = f.Address.User, f.DisplayName
	}
	offer, err := readSDPBody(req)
	if err != nil {
		return err
	}
	dest, ok := s.dns[target]
	if !ok {
		return sipx.Errorf(404, "Not Found", "%q is not a configured DN", target)
	}

	origin := party{number: ani}
	typ := tlib.CallTypeInbound
	if d, ok := s.dns[ani]; ok && d.Type != RoutingPoint {
		origin.isDN = true
		typ = tlib.CallTypeInternal
	}
	destParty := party{number: dest.Number, isDN: dest.Type != RoutingPoint}
	c, err := s.newCall(typ, ani, target, origin, destParty)
	if err != nil {
		if errors.Is(err, errCallLimit) {
			return &sipx.StatusError{Code: 503, Reason: "Service Unavailable", RetryAfter: time.Second, Err: err}
		}
		return sipx.Status(503, "", err)
	}

	a := newLeg(c, sideOrigin, legIn, req.Transport())
	ds, err := a.dua.ReadInvite(req, tx)
	if err != nil {
		c.release(releaseCause{code: 400, reason: "bad INVITE", callState: tlib.CallStateError})
		c.unref()
		return sipx.Status(400, "", err)
	}
	a.uas = ds
	a.sipCallID = callIDOf(req)
	tag, _ := ds.InviteRequest.To().Params.Get("tag")
	a.key = legKey(a.sipCallID, tag)
	a.remoteSDP = offer
	if ct := req.Contact(); ct != nil {
		a.remoteTarget = *ct.Address.Clone()
	}
	if cs := req.CSeq(); cs != nil {
		a.remoteCSeq = cs.SeqNo
	}
	c.mu.Lock()
	c.legs[sideOrigin] = a
	a.indexLocked()
	c.mu.Unlock()
	c.log.Info("call from SIP", "type", typ, "transport", a.transport)

	_ = ds.Respond(100, "Trying", nil)
	// A CANCEL from the caller ends the dialog before it is answered.
	stop := context.AfterFunc(ds.Context(), func() { a.onCallerGone() })
	defer stop()

	s.runSetup(c, a, dest, inviteInfo{display: display, maxForwards: maxForwardsOf(req)})
	return nil
}

// inviteInfo carries what the outgoing INVITE copies from the incoming one.
type inviteInfo struct {
	display     string
	maxForwards uint32
}

func maxForwardsOf(req *sip.Request) uint32 {
	if mf := req.MaxForwards(); mf != nil {
		return mf.Val() - 1
	}
	return 69
}

// onCallerGone runs when the caller's dialog ends; before an answer that is
// a CANCEL (sipgo has already answered 487).
func (a *leg) onCallerGone() {
	c := a.c
	c.mu.Lock()
	unanswered := a.state < legAnswered
	if unanswered {
		a.state = legEnded
	}
	c.mu.Unlock()
	if !unanswered {
		return
	}
	c.release(releaseCause{by: a, code: 487, reason: "cancelled by the caller", cause: "CANCEL",
		callState: tlib.CallStateOK, endedBy: sideOrigin, byParty: true})
	a.drop()
}

// runSetup takes a call from the caller's INVITE to an answer or a failure:
// routing, then the destination, then the 200 to the caller.
func (s *Server) runSetup(c *call, a *leg, dest DN, info inviteInfo) {
	defer c.unref()
	c.mu.Lock()
	c.publishLocked(tlib.EventDialing, sideOrigin, nil, nil)
	c.mu.Unlock()

	if dest.Type == RoutingPoint {
		var ok bool
		if dest, ok = s.routeAt(c, dest); !ok {
			s.finishCaller(c, a)
			return
		}
	}
	c.mu.Lock()
	offer := bytes.Clone(a.remoteSDP)
	anchor := !c.released && c.planRecordingsLocked(dest)
	c.mu.Unlock()
	var b *leg
	var answer []byte
	if anchor && len(offer) > 0 {
		// Recorded or monitored from the answer: the media goes through a
		// media server before the caller gets its 200. (A caller without an
		// offer is anchored right after the answer, by re-INVITEs.)
		b, answer = s.dialDestAnchored(c, a, dest, info, offer)
	} else {
		b = s.dialDest(c, a, dest, info, offer)
	}
	if b == nil {
		s.finishCaller(c, a)
		return
	}
	s.answerCaller(c, a, b, answer)
}

// finishCaller sends the caller the final failure response of a released
// call, unless the caller already ended its side (CANCEL).
func (s *Server) finishCaller(c *call, a *leg) {
	c.mu.Lock()
	if !c.released {
		// The setup failed without a release (cannot happen by design, but
		// never leave the caller hanging).
		c.mu.Unlock()
		c.release(releaseCause{code: 500, reason: "setup failed", callState: tlib.CallStateError})
		c.mu.Lock()
	}
	code := c.cause.code
	pending := a.state < legAnswered
	if pending {
		a.state = legEnded
	}
	c.mu.Unlock()
	if !pending {
		return
	}
	if code < 300 {
		code = 480
	}
	if err := a.uas.Respond(code, sipx.DefaultReason(code), nil); err != nil {
		c.log.Debug("final response to the caller failed", "code", code, "error", err)
	}
	a.drop()
}

// answerCaller sends the caller its answer in a 200 (the destination's SDP,
// or answer when it is set: the media server's) and waits for the caller's
// ACK. b is the answered destination leg.
func (s *Server) answerCaller(c *call, a, b *leg, answer []byte) {
	c.mu.Lock()
	if c.released || a.state >= legAnswered {
		// Released, or the caller cancelled, while the destination answered.
		c.mu.Unlock()
		s.finishCaller(c, a)
		return
	}
	a.state = legAnswered
	c.establishLocked()
	if answer == nil {
		answer = bytes.Clone(b.remoteSDP)
	}
	a.localSDP = answer
	lateOffer := len(a.remoteSDP) == 0
	c.mu.Unlock()

	res := sip.NewResponseFromRequest(a.uas.InviteRequest, 200, "OK", answer)
	if len(answer) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	ct := a.dua.ContactHDR.Clone()
	res.AppendHeader(ct)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader(headerCallUUID, c.uuid))
	// WriteResponse retransmits the 200 until onAck reads the ACK.
	if err := a.uas.WriteResponse(res); err != nil {
		c.log.Info("caller did not acknowledge the answer", "error", err)
		c.mu.Lock()
		gone := a.state == legEnded
		c.mu.Unlock()
		if !gone {
			c.release(releaseCause{by: a, code: 408, reason: "no ACK from the caller", callState: tlib.CallStateError})
			a.drop()
		}
		return
	}
	c.mu.Lock()
	if a.state == legAnswered {
		a.state = legConfirmed
	}
	c.mu.Unlock()
	a.markConfirmed()
	if lateOffer {
		s.completeLateOffer(c, a, b)
	}
}

// completeLateOffer finishes an offer-less INVITE: the caller's ACK carries
// the answer to the destination's offer, which the destination's ACK relays.
// onAck queues the ACK's body before it confirms the dialog, so the answer
// is there by now or was never sent.
func (s *Server) completeLateOffer(c *call, a, b *leg) {
	var answer []byte
	select {
	case answer = <-a.acks:
	default:
		c.release(releaseCause{code: 488, reason: "the caller's ACK carried no answer", cause: "no-answer-in-ACK", callState: tlib.CallStateError})
		return
	}
	c.mu.Lock()
	a.remoteSDP, b.localSDP = answer, bytes.Clone(answer)
	c.mu.Unlock()
	if err := b.ackAnswer(answer); err != nil {
		c.release(releaseCause{code: 500, reason: fmt.Sprintf("ACK to the destination: %v", err), callState: tlib.CallStateError})
	}
}

const (
	allowMethods   = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"
	headerCallUUID = "X-Genesys-CallUUID"
)
