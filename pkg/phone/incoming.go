package phone

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
)

// confirmWait bounds how long an in-dialog request waits for the ACK of the
// initial INVITE before it is refused with 491.
const confirmWait = 2 * time.Second

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) error {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		c := p.findCall(req)
		if c == nil {
			return sipx.Status(481, "", errors.New("re-INVITE for an unknown dialog"))
		}
		return c.onReInvite(req, tx)
	}
	return p.onNewCall(req, tx)
}

// onNewCall runs for the whole life of the INVITE server transaction: sipgo
// ends the transaction when the handler returns.
func (p *Phone) onNewCall(req *sip.Request, tx sip.ServerTransaction) error {
	var offer *sdp.Session
	if len(req.Body()) > 0 {
		ct := req.ContentType()
		if ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
			return sipx.Errorf(415, "Unsupported Media Type", "body is %s, want application/sdp", ct.Value())
		}
		o, err := sdp.Parse(req.Body())
		if err != nil {
			return sipx.Status(488, "Not Acceptable Here", err)
		}
		offer = o
	}

	c := newCall(p, false)
	c.callID = sipx.CallID(req)
	if f := req.From(); f != nil {
		c.from = f.Address.User
	}
	if t := req.To(); t != nil {
		c.to = t.Address.User
	}
	for _, h := range req.Headers() {
		c.headers[h.Name()] = h.Value()
	}
	if ct := req.Contact(); ct != nil {
		c.remoteURI = ct.Address
	}
	c.log = p.log.With("call_id", c.callID, "dir", "in", "from", c.from)

	var err error
	c.media, err = newCallMedia(p, c)
	if err != nil {
		c.cancel()
		return sipx.Status(500, "", err)
	}
	var local *sdp.Session
	if offer != nil {
		local, err = c.media.answer(offer)
		if err != nil {
			c.media.stop()
			c.cancel()
			return sipx.Status(488, "Not Acceptable Here", err)
		}
	} else {
		// Offer-less INVITE (third-party call control): we offer in the 200
		// and the answer arrives in the ACK.
		local, err = c.media.initialOffer()
		if err != nil {
			c.media.stop()
			c.cancel()
			return sipx.Status(500, "", err)
		}
	}

	dua := sipgo.DialogUA{Client: p.client, ContactHDR: p.contactHeader()}
	ds, err := dua.ReadInvite(req, tx)
	if err != nil {
		c.media.stop()
		c.cancel()
		return sipx.Status(400, "", err)
	}
	c.uas = ds
	c.remoteCSeq = req.CSeq().SeqNo
	tag, _ := ds.InviteRequest.To().Params.Get("tag")
	c.key = callKey(c.callID, tag)
	if err := p.addCall(c); err != nil {
		c.media.stop()
		c.cancel()
		if errors.Is(err, ErrBusy) {
			return sipx.Status(486, "Busy Here", err)
		}
		return sipx.Status(503, "", err)
	}

	if err := ds.Respond(180, "Ringing", nil); err != nil {
		c.end("ringing failed", err)
		return nil
	}
	c.setState(StateRinging)

	decision, ok := c.waitDecision()
	if !ok {
		c.end("cancelled", nil)
		return nil
	}
	if decision.code != 200 {
		reason := decision.reason
		if reason == "" {
			reason = sipx.DefaultReason(decision.code)
		}
		_ = ds.Respond(decision.code, reason, nil)
		c.end("rejected", nil)
		return nil
	}

	res := sip.NewSDPResponseFromRequest(ds.InviteRequest, local.Marshal())
	ct := p.contactHeader()
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"))
	if offer != nil {
		c.media.startIfReady()
	}
	c.setState(StateEstablished)
	// WriteResponse retransmits the 200 until the ACK is read (onAck). The
	// dialog is only touched by other goroutines after it returns.
	err = ds.WriteResponse(res)
	c.markConfirmed()
	if err != nil {
		if c.State() != StateEnded {
			c.log.Warn("no ACK for 200 OK; ending the call", "error", err)
			c.end("no ack", err)
		}
		return nil
	}
	c.log.Debug("call answered")
	return nil
}

// waitDecision waits for AutoAnswer's delay or the user's Answer/Reject, and
// reports false when the caller cancelled first.
func (c *Call) waitDecision() (answerDecision, bool) {
	if c.p.cfg.AutoAnswer {
		select {
		case <-time.After(c.p.cfg.AnswerDelay):
			return answerDecision{code: 200}, true
		case d := <-c.answerCh:
			return d, true
		case <-c.uas.Context().Done():
			return answerDecision{}, false
		case <-c.ctx.Done():
			return answerDecision{}, false
		}
	}
	select {
	case c.p.incoming <- c:
	default:
		c.log.Warn("incoming queue full; refusing the call")
		return answerDecision{code: 486, reason: "Busy Here"}, true
	}
	select {
	case d := <-c.answerCh:
		return d, true
	case <-c.uas.Context().Done():
		return answerDecision{}, false
	case <-c.ctx.Done():
		return answerDecision{}, false
	}
}

func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) error {
	c := p.findCall(req)
	if c == nil {
		return nil // ACK for a call already gone, or for a non-2xx final
	}
	if c.uas != nil && req.CSeq().SeqNo == c.uas.InviteRequest.CSeq().SeqNo {
		// Confirms the dialog; onNewCall, blocked in WriteResponse, then
		// marks the call confirmed.
		if err := c.uas.ReadAck(req, tx); err != nil {
			c.log.Debug("ack not matched", "error", err)
		}
	}
	if len(req.Body()) > 0 {
		answer, err := sdp.Parse(req.Body())
		if err != nil {
			c.log.Warn("bad SDP in ACK; ending the call", "error", err)
			go c.Hangup(c.p.ctx)
			return nil
		}
		if err := c.media.applyAnswer(answer); err != nil {
			c.log.Warn("unusable SDP answer in ACK; ending the call", "error", err)
			go c.Hangup(c.p.ctx)
		}
	}
	return nil
}

// onReInvite answers a re-INVITE inside an established dialog.
func (c *Call) onReInvite(req *sip.Request, tx sip.ServerTransaction) error {
	if !c.waitConfirmed(confirmWait) {
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("initial INVITE not yet acknowledged")}
	}
	if !c.inDialog.TryLock() {
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("re-INVITE crossed our own request")}
	}
	defer c.inDialog.Unlock()
	if c.State() != StateEstablished {
		return sipx.Status(481, "", ErrCallEnded)
	}
	if !c.acceptRemoteCSeq(req.CSeq().SeqNo) {
		return &sipx.StatusError{Code: 500, Reason: "Server Internal Error", RetryAfter: time.Second,
			Err: fmt.Errorf("CSeq %d is not above the last one seen", req.CSeq().SeqNo)}
	}
	if ct := req.Contact(); ct != nil {
		c.mu.Lock()
		c.remoteURI = ct.Address
		c.mu.Unlock()
	}
	var local *sdp.Session
	if len(req.Body()) > 0 {
		offer, err := sdp.Parse(req.Body())
		if err != nil {
			return sipx.Status(488, "Not Acceptable Here", err)
		}
		local, err = c.media.answer(offer)
		if err != nil {
			return sipx.Status(488, "Not Acceptable Here", err)
		}
		c.media.startIfReady()
	} else {
		local = c.media.reoffer("")
	}
	res := sip.NewSDPResponseFromRequest(req, local.Marshal())
	ct := c.p.contactHeader()
	res.AppendHeader(&ct)
	return tx.Respond(res)
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) error {
	c := p.findCall(req)
	if c == nil {
		return sipx.Status(481, "", errors.New("BYE for an unknown dialog"))
	}
	c.waitConfirmed(confirmWait)
	c.inDialog.Lock()
	defer c.inDialog.Unlock()
	if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
		c.log.Debug("could not answer BYE", "error", err)
	}
	c.end("remote bye", nil)
	return nil
}

// onCancel: sipgo answers a CANCEL that matches a pending INVITE itself and
// ends that transaction (our onNewCall sees it); one that matches nothing
// reaches us.
func (p *Phone) onCancel(req *sip.Request, tx sip.ServerTransaction) error {
	return sipx.Status(481, "", errors.New("CANCEL matches no pending INVITE"))
}

// onInfo accepts SIP INFO DTMF (application/dtmf-relay) and anything else with 200.
func (p *Phone) onInfo(req *sip.Request, tx sip.ServerTransaction) error {
	c := p.findCall(req)
	if c == nil {
		return sipx.Status(481, "", errors.New("INFO for an unknown dialog"))
	}
	if ct := req.ContentType(); ct != nil && strings.Contains(strings.ToLower(ct.Value()), "dtmf-relay") {
		if digit, dur, ok := parseDTMFRelay(req.Body()); ok {
			c.media.noteDTMF(digit, dur)
		}
	}
	return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// parseDTMFRelay reads "Signal=5\r\nDuration=160".
func parseDTMFRelay(b []byte) (rune, time.Duration, bool) {
	var digit rune
	var dur time.Duration
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signal":
			v = strings.TrimSpace(v)
			if len(v) == 1 && strings.ContainsRune("0123456789*#ABCD", rune(v[0])) {
				digit = rune(v[0])
			}
		case "duration":
			if ms, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && ms >= 0 {
				dur = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return digit, dur, digit != 0
}
