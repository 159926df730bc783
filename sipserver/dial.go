package sipserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// dialOptions shape the INVITE of an outgoing leg.
type dialOptions struct {
	fromUser    string // user part of From (the caller as the callee sees it)
	fromDisplay string
	toUser      string
	offer       []byte // SDP offer; nil for an offer-less INVITE
	maxForwards uint32
	headers     []sip.Header
}

// dialDest rings the destination DN of c on behalf of the caller leg a and
// returns its leg once answered, or nil when the call failed or was released
// (the call is then released).
//
// The INVITE carries offer; nil makes it offer-less (the destination offers
// in its 2xx, which is then left unacknowledged for the caller to complete).
// Provisional responses are relayed to caller when it is an incoming leg.
func (s *Server) dialDest(c *call, caller *leg, dest DN, info inviteInfo, offer []byte) *leg {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return nil
	}
	c.parties[sideDest] = party{number: dest.Number, isDN: true}
	c.mu.Unlock()

	bnd, ok := s.reg.lookup(dest.Number)
	if !ok {
		c.release(releaseCause{code: 480, reason: "destination " + dest.Number + " is not registered",
			cause: "not-registered", callState: tlib.CallStateNoAnswer})
		return nil
	}
	b, res := s.dialLeg(c, sideDest, bnd, dialOptions{
		fromUser: c.ani, fromDisplay: info.display, toUser: dest.Number,
		offer: offer, maxForwards: info.maxForwards,
	}, func(res *sip.Response) {
		s.destRinging(c, caller, res)
	})
	if b == nil {
		return nil
	}
	if len(offer) > 0 {
		// Early offer: the 2xx carries the answer, acknowledge at once.
		if err := b.ackAnswer(nil); err != nil {
			c.release(releaseCause{code: 500, reason: fmt.Sprintf("ACK to the destination: %v", err), callState: tlib.CallStateError})
			return nil
		}
		if len(res.Body()) == 0 {
			c.release(releaseCause{code: 488, reason: "destination answered without SDP", callState: tlib.CallStateError})
			return nil
		}
	}
	c.mu.Lock()
	if c.state < callRinging {
		// Answered without ringing first: the DN still sees it ring.
		c.state = callRinging
		c.publishLocked(tlib.EventRinging, sideDest, nil, nil)
	}
	c.mu.Unlock()
	return b
}

// destRinging relays a provisional response of the destination to the
// caller and announces EventRinging once.
func (s *Server) destRinging(c *call, a *leg, res *sip.Response) {
	if res.StatusCode != 180 && res.StatusCode != 183 {
		return
	}
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	if c.state < callRinging {
		c.state = callRinging
		c.publishLocked(tlib.EventRinging, sideDest, nil, nil)
		if t := s.cfg.NoAnswerTimeout; t > 0 {
			c.noAnswer = time.AfterFunc(t, func() {
				c.release(releaseCause{code: 480, reason: "no answer", cause: "no-answer-timeout", callState: tlib.CallStateNoAnswer})
			})
		}
	}
	relay := a != nil && a.dir == legIn && a.state < legAnswered
	if relay {
		a.state = legEarly
	}
	c.mu.Unlock()
	if !relay {
		return
	}
	var hdrs []sip.Header
	body := res.Body()
	if len(body) > 0 {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
		body = bytes.Clone(body)
	}
	if err := a.uas.Respond(res.StatusCode, res.Reason, body, hdrs...); err != nil {
		c.log.Debug("relaying a provisional response failed", "error", err)
	}
}

// dialLeg sends the INVITE of an outgoing leg to a registered phone and waits
// for the answer, calling onProvisional for each 1xx. It returns the leg and
// the 2xx once answered; nil when the call failed or was released, in which
// case the call has been released with a cause mapped from the response.
func (s *Server) dialLeg(c *call, sd side, bnd binding, o dialOptions, onProvisional func(*sip.Response)) (*leg, *sip.Response) {
	b := newLeg(c, sd, legOut, sipx.ViaTransport(bnd.Transport))
	b.sipCallID = newSIPCallID(s.host)
	localTag := sip.GenerateTagN(16)
	b.key = legKey(b.sipCallID, localTag)
	b.remoteTarget = *bnd.uri.Clone()
	b.localSDP = o.offer

	req := s.newRequest(sip.INVITE, *bnd.uri.Clone(), b.transport)
	from := &sip.FromHeader{DisplayName: o.fromDisplay, Address: sip.Uri{Scheme: "sip", User: o.fromUser, Host: s.host}, Params: sip.NewParams()}
	from.Params.Add("tag", localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: o.toUser, Host: s.host}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(b.sipCallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(o.maxForwards)
	req.AppendHeader(&mf)
	req.AppendHeader(b.dua.ContactHDR.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader(headerCallUUID, c.uuid))
	for _, h := range o.headers {
		req.AppendHeader(h)
	}
	if len(o.offer) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(bytes.Clone(o.offer))
	}

	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return nil, nil
	}
	c.legs[sd] = b
	b.indexLocked()
	c.mu.Unlock()

	// The call's context ends at release: WaitAnswer then sends CANCEL.
	d, err := b.dua.WriteInvite(c.ctx, req)
	if err != nil {
		c.release(releaseCause{code: 503, reason: fmt.Sprintf("INVITE to %s: %v", bnd.Contact, err), callState: tlib.CallStateError})
		b.drop()
		return nil, nil
	}
	c.mu.Lock()
	b.uac = d
	c.mu.Unlock()

	err = d.WaitAnswer(c.ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() && res.StatusCode > 100 {
			c.mu.Lock()
			if b.state < legEarly {
				b.state = legEarly
			}
			c.mu.Unlock()
			if onProvisional != nil {
				onProvisional(res)
			}
		}
		return nil
	}})
	if err != nil {
		s.dialFailed(c, b, d, err)
		return nil, nil
	}
	res := d.InviteResponse
	c.mu.Lock()
	if ct := res.Contact(); ct != nil {
		b.remoteTarget = *ct.Address.Clone()
	}
	b.remoteSDP = bytes.Clone(res.Body())
	released := c.released
	if !released {
		b.state = legAnswered
	}
	c.mu.Unlock()
	if released {
		// Answered while the call was being released: acknowledge, then hang up.
		s.ackAndBye(b, d)
		return nil, nil
	}
	return b, res
}

// dialFailed ends an outgoing leg whose INVITE did not succeed.
func (s *Server) dialFailed(c *call, b *leg, d *sipgo.DialogClientSession, err error) {
	var dr *sipgo.ErrDialogResponse
	switch {
	case errors.As(err, &dr):
		code := dr.Res.StatusCode
		c.release(releaseCause{code: code, reason: fmt.Sprintf("destination answered %d %s", code, dr.Res.Reason),
			cause: fmt.Sprintf("%d %s", code, dr.Res.Reason), callState: callStateFor(code)})
		b.drop()
	case d.InviteResponse != nil && d.InviteResponse.IsSuccess():
		// Our CANCEL crossed the 200: the dialog exists and must be ended.
		s.ackAndBye(b, d)
	case c.ctx.Err() != nil:
		b.drop() // released: WaitAnswer sent CANCEL
	default:
		c.release(releaseCause{code: 408, reason: fmt.Sprintf("destination did not answer: %v", err), callState: tlib.CallStateNoAnswer})
		b.drop()
	}
}

// ackAndBye acknowledges a 2xx that is no longer wanted and sends BYE.
func (s *Server) ackAndBye(b *leg, d *sipgo.DialogClientSession) {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	if ct := d.InviteResponse.Contact(); ct != nil {
		b.c.mu.Lock()
		b.remoteTarget = *ct.Address.Clone()
		b.c.mu.Unlock()
	}
	if err := b.ackAnswer(nil); err == nil {
		if err := d.WriteBye(ctx, b.newRequest(sip.BYE, b.ackTarget())); err != nil {
			b.c.log.Debug("BYE of an unwanted answer failed", "error", err)
		}
	}
	b.drop()
}

// ackAnswer sends the ACK of the leg's 2xx, carrying answer when the INVITE
// had no offer, and marks the leg confirmed.
func (b *leg) ackAnswer(answer []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	ack := b.newRequest(sip.ACK, b.ackTarget())
	if len(answer) > 0 {
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(bytes.Clone(answer))
	}
	if err := b.uac.WriteAck(ctx, ack); err != nil {
		return err
	}
	c := b.c
	c.mu.Lock()
	if b.state == legAnswered {
		b.state = legConfirmed
	}
	c.mu.Unlock()
	b.markConfirmed()
	return nil
}

func (b *leg) ackTarget() sip.Uri {
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return *b.remoteTarget.Clone()
}
