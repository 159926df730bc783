package sipserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// ErrNoMediaControl is a recording or monitoring request on a SIP Server
// configured without media-control.resource-manager.
var ErrNoMediaControl = errors.New("media anchoring is off (media-control.resource-manager is not set)")

// errNotConnected is anchoring asked for on a call whose parties are not
// both connected.
var errNotConnected = errors.New("the parties are not connected")

// anchor is where a call's media runs through a media server: one
// media-control leg per party in conference conf (third-party call control:
// each party talks RTP with its leg's port), plus the monitoring
// supervisor's legs. Guarded by the call's mu.
type anchor struct {
	gen  int
	conf string
	legs [2]*leg // per party side
	// obs is the supervisor's phone and sup its media leg; supJoined once
	// the media server has joined it to the conference (MSML <join>).
	obs, sup  *leg
	supJoined bool
	// msKey identifies the media server (its Contact host:port), so one
	// keepalive probe covers every call it anchors.
	msKey string
}

// mediaOn reports whether calls can be anchored on media servers.
func (s *Server) mediaOn() bool { return s.cfg.MediaControl.ResourceManager != "" }

// newConfLocked returns the generation and conference id of the call's next
// anchor. A new conference per anchor lets the Resource Manager place a
// re-anchored call afresh instead of pinning it to the dead media server.
func (c *call) newConfLocked() (int, string) {
	c.anchorGen++
	return c.anchorGen, c.connID + "-" + strconv.Itoa(c.anchorGen)
}

// mediaDNsLocked returns the dn= of each party's media leg: its number when
// the media server takes it as a DN (channel labels and metadata carry it),
// else the side's name; never the same twice in a conference.
func (c *call) mediaDNsLocked() [2]string {
	var dns [2]string
	for _, sd := range []side{sideOrigin, sideDest} {
		dns[sd] = c.parties[sd].number
		if !msml.ValidDN(dns[sd]) {
			dns[sd] = sd.String()
		}
	}
	if dns[0] == dns[1] {
		dns[1] += "-2"
	}
	return dns
}

// mediaURI is the Request-URI of a media-control leg:
// sip:msml=<conf>@<rm>;dn=<dn>[;transport=tcp|tls].
func (s *Server) mediaURI(conf, dn string) sip.Uri {
	mc := s.cfg.MediaControl
	host, portStr, _ := net.SplitHostPort(mc.ResourceManager)
	port, _ := strconv.Atoi(portStr)
	u := sip.Uri{Scheme: "sip", User: "msml=" + conf, Host: host, Port: port, UriParams: sip.NewParams()}
	u.UriParams.Add("dn", dn)
	if mc.Transport != "udp" {
		u.UriParams.Add("transport", mc.Transport)
	}
	return u
}

// mediaError is an INVITE of a media-control or observer leg that was
// refused (by the Resource Manager, the media server or the phone).
type mediaError struct {
	kind   legKind
	code   int
	reason string
}

func (e *mediaError) Error() string {
	who := "media server"
	if e.kind == kindObserver {
		who = "supervisor's phone"
	}
	return fmt.Sprintf("%s: %d %s", who, e.code, e.reason)
}

// dialMedia opens a media-control leg through the Resource Manager for the
// party (or supervisor) dn in conference conf. With an offer the media server
// answers in its 200, acknowledged at once; without one it offers in its 200,
// which stays unacknowledged until the caller sends the answer with
// ackAnswer (third-party call control). The leg counts as a reference of the
// call and is torn down by release like the parties' legs.
func (s *Server) dialMedia(c *call, sd side, conf, dn string, offer []byte) (*leg, error) {
	mc := s.cfg.MediaControl
	transport := sipx.ViaTransport(mc.Transport)
	l := newLeg(c, sd, legOut, transport)
	l.kind, l.dn, l.conf = kindMedia, dn, conf
	l.sipCallID = newSIPCallID(s.host)
	localTag := sip.GenerateTagN(16)
	l.key = legKey(l.sipCallID, localTag)
	l.localSDP = bytes.Clone(offer)
	target := s.mediaURI(conf, dn)
	l.remoteTarget = *target.Clone()

	req := s.newRequest(sip.INVITE, target, transport)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "sipserver", Host: s.host}, Params: sip.NewParams()}
	from.Params.Add("tag", localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: target.User, Host: target.Host, Port: target.Port}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(l.sipCallID)
	req.AppendHeader(&cid)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	req.AppendHeader(l.dua.ContactHDR.Clone())
	req.AppendHeader(sip.NewHeader("Allow", allowMethods))
	req.AppendHeader(sip.NewHeader(headerCallUUID, c.uuid))
	if len(offer) > 0 {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(bytes.Clone(offer))
	}

	if err := s.dialExtra(c, l, req, mc.Timeout); err != nil {
		return nil, err
	}
	if len(l.remoteSDP) == 0 {
		c.hangupExtra(l)
		return nil, errors.New("media server answered without SDP")
	}
	if len(offer) > 0 {
		if err := l.ackAnswer(nil); err != nil {
			c.hangupExtra(l)
			return nil, fmt.Errorf("ACK to the media server: %w", err)
		}
	}
	s.metrics.mediaLeg()
	return l, nil
}

// dialExtra sends the INVITE of a media-control or observer leg and waits
// up to timeout for its answer. The leg is one of the call's extra legs from
// the start, so release tears it down whatever its state: a 200 that comes
// after the release is acknowledged and ended with BYE. A media server
// answers at once, so its INVITE is not cancelled at release but let to
// complete and then ended: sipgo's WaitAnswer may lose a 200 that crosses
// its CANCEL (the transaction ends with it), which would leave the leg open
// on the media server. A supervisor's phone may ring: its INVITE is
// cancelled (the call's context). On success the leg is answered, its 2xx
// not yet acknowledged.
func (s *Server) dialExtra(c *call, l *leg, req *sip.Request, timeout time.Duration) error {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return errCallGone
	}
	c.extra = append(c.extra, l)
	l.indexLocked()
	c.mu.Unlock()

	parent := c.ctx
	if l.kind == kindMedia {
		parent = context.Background()
	}
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	d, err := l.dua.WriteInvite(ctx, req)
	if err != nil {
		l.drop()
		return fmt.Errorf("INVITE to %s: %w", l.kind, err)
	}
	c.mu.Lock()
	l.uac = d
	c.mu.Unlock()
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		if d.InviteResponse != nil && d.InviteResponse.IsSuccess() {
			s.ackAndBye(l, d) // our CANCEL crossed the 200
		} else {
			l.drop()
		}
		var dr *sipgo.ErrDialogResponse
		if errors.As(err, &dr) {
			return &mediaError{kind: l.kind, code: dr.Res.StatusCode, reason: dr.Res.Reason}
		}
		if c.ctx.Err() != nil {
			return errCallGone
		}
		return fmt.Errorf("%s leg: %w", l.kind, err)
	}
	res := d.InviteResponse
	c.mu.Lock()
	if ct := res.Contact(); ct != nil {
		l.remoteTarget = *ct.Address.Clone()
		l.msKey = net.JoinHostPort(ct.Address.Host, strconv.Itoa(ct.Address.Port))
	}
	l.remoteSDP = bytes.Clone(res.Body())
	released := c.released
	if !released {
		l.state = legAnswered
	}
	c.mu.Unlock()
	if released {
		s.ackAndBye(l, d)
		return errCallGone
	}
	return nil
}

// hangupExtra ends a media or observer leg in the background (BYE, after an
// ACK if its 2xx is still unacknowledged). A leg still being set up is left
// to its dialer, which sees the call's context or the leg's state.
func (c *call) hangupExtra(l *leg) {
	if l == nil {
		return
	}
	c.mu.Lock()
	answered := l.state >= legAnswered && l.state != legEnded
	if answered {
		l.state = legEnded
	}
	c.mu.Unlock()
	if answered {
		c.s.spawn(func() { l.bye() })
	}
}

// forgetExtraLocked removes a dropped media or observer leg from the call.
func (c *call) forgetExtraLocked(l *leg) {
	for i, x := range c.extra {
		if x == l {
			c.extra = append(c.extra[:i], c.extra[i+1:]...)
			return
		}
	}
}

// dialDestAnchored is the setup of a call whose media is anchored from the
// answer on (it is recorded or monitored from the start), before the caller
// gets its 200: the caller's offer goes to a media-control leg in a new
// conference while the destination rings; the destination is called without
// an offer, and the offer in its 200 goes to a second media-control leg,
// whose answer goes back in our ACK. The caller's answer (returned) is the
// media server's. Without a media server the parties are connected directly
// and the recordings are reported FAILED; the call never drops for it.
func (s *Server) dialDestAnchored(c *call, a *leg, dest DN, info inviteInfo, offerA []byte) (*leg, []byte) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return nil, nil
	}
	gen, conf := c.newConfLocked()
	c.parties[sideDest] = party{number: dest.Number, isDN: true}
	dns := c.mediaDNsLocked()
	c.mu.Unlock()

	mA, err := s.dialMedia(c, sideOrigin, conf, dns[sideOrigin], offerA)
	if err != nil {
		if errors.Is(err, errCallGone) {
			return nil, nil
		}
		// Unanchored for now: the recordings try again after the answer
		// and report FAILED if there is still no media server.
		c.log.Warn("no media server at setup: the call starts unanchored", "error", err)
		b := s.dialDest(c, a, dest, info, offerA)
		if b == nil {
			return nil, nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return b, bytes.Clone(b.remoteSDP)
	}
	b := s.dialDest(c, a, dest, info, nil)
	if b == nil {
		return nil, nil // release hangs up mA
	}
	c.mu.Lock()
	offerB := bytes.Clone(b.remoteSDP)
	c.mu.Unlock()
	if len(offerB) == 0 {
		c.release(releaseCause{code: 488, reason: "destination answered an offer-less INVITE without an offer", callState: tlib.CallStateError})
		return nil, nil
	}
	var mB *leg
	for try := 0; try < 2; try++ {
		if try > 0 {
			// The media server may have died between the two legs: a new
			// conference lets the Resource Manager choose again.
			c.mu.Lock()
			gen, conf = c.newConfLocked()
			c.mu.Unlock()
			if mA, err = s.dialMedia(c, sideOrigin, conf, dns[sideOrigin], offerA); err != nil {
				if errors.Is(err, errCallGone) {
					return nil, nil
				}
				break
			}
		}
		if mB, err = s.dialMedia(c, sideDest, conf, dns[sideDest], offerB); err == nil {
			break
		}
		c.hangupExtra(mA)
		mA = nil
		if errors.Is(err, errCallGone) {
			return nil, nil
		}
	}
	if mB == nil {
		c.log.Warn("media server lost during setup: the parties are connected directly", "error", err)
		return s.connectAfterOfferlessDial(c, b, offerA, offerB)
	}
	if err := b.ackAnswer(mB.remoteSDP); err != nil {
		c.release(releaseCause{code: 500, reason: fmt.Sprintf("ACK to the destination: %v", err), callState: tlib.CallStateError})
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return nil, nil
	}
	b.localSDP = bytes.Clone(mB.remoteSDP)
	c.media = &anchor{gen: gen, conf: conf, legs: [2]*leg{mA, mB}, msKey: mA.msKey}
	c.log.Info("media anchored at answer", "conf", conf, "ms", mA.msKey)
	return b, bytes.Clone(mA.remoteSDP)
}

// connectAfterOfferlessDial connects a caller whose offer is pending with a
// destination that answered our offer-less INVITE, when no media server can
// take the call: the destination's offer is parked (inactive answer), then a
// re-INVITE gives it the caller's offer, and its answer is the caller's.
func (s *Server) connectAfterOfferlessDial(c *call, b *leg, offerA, offerB []byte) (*leg, []byte) {
	hole, err := parkingAnswer(offerB, s.host)
	if err == nil {
		err = b.ackAnswer(hole)
	}
	var ans []byte
	if err == nil {
		ans, err = b.reinvite(c.ctx, offerA)
	}
	if err != nil {
		c.release(releaseCause{code: 500, reason: fmt.Sprintf("connecting the destination: %v", err), callState: tlib.CallStateError})
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b.localSDP, b.remoteSDP = bytes.Clone(offerA), ans
	return b, bytes.Clone(ans)
}

// ensureAnchored anchors an established call's media on a media server,
// unless it already is (see moveMedia).
func (s *Server) ensureAnchored(c *call) error {
	c.mu.Lock()
	switch {
	case c.released:
		c.mu.Unlock()
		return errCallGone
	case c.media != nil:
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if !s.mediaOn() {
		return ErrNoMediaControl
	}
	c.offerMu.Lock()
	defer c.offerMu.Unlock()
	c.mu.Lock()
	anchored := c.media != nil
	c.mu.Unlock()
	if anchored {
		return nil
	}
	if err := s.moveMedia(c); err != nil {
		return err
	}
	s.metrics.anchoredMidCall()
	return nil
}

// moveMedia moves an established call's media to a new conference: two
// offer-less media-control legs, whose offers go to the parties in
// re-INVITEs (each party keeps its RTP port, so only the far end changes);
// each party's answer goes back in the leg's ACK. The origin moves first and
// the destination right after, so each direction's audio pauses for about
// two transactions (a few milliseconds on a LAN). The caller holds offerMu:
// a party's own re-INVITE meanwhile gets 491. On success c.media is the new
// anchor (the previous one's legs are the caller's to end); on failure the
// call's media is left as it was, or connected end to end when a party had
// already moved.
func (s *Server) moveMedia(c *call) error {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return errCallGone
	}
	a, b := c.legs[sideOrigin], c.legs[sideDest]
	c.mu.Unlock()
	if a == nil || b == nil {
		return errNotConnected
	}
	a.waitConfirmed(confirmWait)
	b.waitConfirmed(confirmWait)
	c.mu.Lock()
	if c.released || a.state != legConfirmed || b.state != legConfirmed {
		c.mu.Unlock()
		return errNotConnected
	}
	gen, conf := c.newConfLocked()
	dns := c.mediaDNsLocked()
	var obs *leg
	if c.media != nil {
		obs = c.media.obs
	}
	c.mu.Unlock()

	mA, err := s.dialMedia(c, sideOrigin, conf, dns[sideOrigin], nil)
	if err != nil {
		return err
	}
	mB, err := s.dialMedia(c, sideDest, conf, dns[sideDest], nil)
	if err != nil {
		c.hangupExtra(mA)
		return err
	}
	ansA, err := a.reinvite(c.ctx, mA.remoteSDP)
	if err == nil {
		err = mA.ackAnswer(ansA)
	}
	if err != nil {
		c.hangupExtra(mA)
		c.hangupExtra(mB)
		return fmt.Errorf("moving the origin's media: %w", err)
	}
	ansB, err := b.reinvite(c.ctx, mB.remoteSDP)
	if err == nil {
		err = mB.ackAnswer(ansB)
	}
	if err != nil {
		c.hangupExtra(mA)
		c.hangupExtra(mB)
		if cerr := s.connectParties(c); cerr != nil {
			c.log.Warn("reconnecting the parties failed", "error", cerr)
		}
		return fmt.Errorf("moving the destination's media: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return errCallGone
	}
	a.localSDP, a.remoteSDP = bytes.Clone(mA.remoteSDP), ansA
	b.localSDP, b.remoteSDP = bytes.Clone(mB.remoteSDP), ansB
	mA.localSDP, mB.localSDP = bytes.Clone(ansA), bytes.Clone(ansB)
	c.media = &anchor{gen: gen, conf: conf, legs: [2]*leg{mA, mB}, obs: obs, msKey: mA.msKey}
	c.log.Info("media anchored", "conf", conf, "ms", mA.msKey)
	return nil
}

// connectParties connects the two parties end to end again (no media
// server): an offer-less re-INVITE asks the origin for a fresh offer, which
// goes to the destination; its answer goes back in the origin's ACK. The
// caller holds offerMu.
func (s *Server) connectParties(c *call) error {
	c.mu.Lock()
	a, b := c.legs[sideOrigin], c.legs[sideDest]
	c.mu.Unlock()
	if a == nil || b == nil {
		return errNotConnected
	}
	offer, ack, err := a.reinviteOfferless(c.ctx)
	if err != nil {
		return err
	}
	ans, err := b.reinvite(c.ctx, offer)
	if err != nil {
		// The origin waits for an answer in our ACK: give it back its own
		// view, parked, so its dialog stays sound.
		hole, herr := parkingAnswer(offer, s.host)
		if herr == nil {
			_ = ack(hole)
		}
		return err
	}
	if err := ack(ans); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a.remoteSDP, a.localSDP = offer, bytes.Clone(ans)
	b.localSDP, b.remoteSDP = bytes.Clone(offer), ans
	return nil
}

// reinviteOfferless sends an offer-less re-INVITE on an answered leg and
// returns the offer of its 2xx and a function sending the ACK with the
// answer.
func (l *leg) reinviteOfferless(ctx context.Context) ([]byte, func([]byte) error, error) {
	target := l.ackTarget()
	req := l.newRequest(sip.INVITE, target)
	req.AppendHeader(l.dua.ContactHDR.Clone())
	ctx, cancel := context.WithTimeout(ctx, reinviteTimeout)
	defer cancel()
	res, err := l.do(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if !res.IsSuccess() {
		return nil, nil, fmt.Errorf("answered %d %s", res.StatusCode, res.Reason)
	}
	ack := func(answer []byte) error {
		a := l.newRequest(sip.ACK, target)
		a.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		a.SetBody(bytes.Clone(answer))
		return l.write(a)
	}
	if len(res.Body()) == 0 {
		_ = l.write(l.newRequest(sip.ACK, target))
		return nil, nil, errors.New("2xx to an offer-less re-INVITE without an offer")
	}
	return bytes.Clone(res.Body()), ack, nil
}
