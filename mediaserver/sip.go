package mediaserver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
)

const allowMethods = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"

// confirmWait bounds how long an in-dialog request waits for the ACK of the
// initial INVITE before it is refused with 491.
const confirmWait = 2 * time.Second

func (s *Server) registerHandlers() {
	s.sipSrv.OnInvite(sipx.Wrap(s.log, s.onInvite))
	s.sipSrv.OnAck(sipx.Wrap(s.log, s.onAck))
	s.sipSrv.OnBye(sipx.Wrap(s.log, s.onBye))
	s.sipSrv.OnCancel(sipx.Wrap(s.log, func(req *sip.Request, tx sip.ServerTransaction) error {
		// sipgo answers a CANCEL matching a pending INVITE itself.
		return sipx.Status(481, "", errors.New("CANCEL matches no pending INVITE"))
	}))
	s.sipSrv.OnInfo(sipx.Wrap(s.log, s.onInfo))
	s.sipSrv.OnOptions(sipx.Wrap(s.log, s.onOptions))
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) error {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, "+msml.ContentType))
	return tx.Respond(res)
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) error {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		if l := s.findLeg(req); l != nil {
			return l.onReInvite(req, tx)
		}
		if rs := s.findRS(req); rs != nil {
			return sipx.Status(488, "Not Acceptable Here", errors.New("the media server does not take re-INVITEs from a recorder"))
		}
		return sipx.Status(481, "", errors.New("re-INVITE for an unknown dialog"))
	}
	return s.onNewLeg(req, tx)
}

// parseLegURI reads sip:msml=<conf-id>@host;dn=<DN>.
func parseLegURI(req *sip.Request) (conf, dn string, err error) {
	u := req.Recipient
	conf, ok := strings.CutPrefix(u.User, "msml=")
	if !ok || !msml.ValidConf(conf) {
		return "", "", sipx.Errorf(404, "Not Found", "Request-URI user %q is not msml=<conf-id>", u.User)
	}
	dn, _ = u.UriParams.Get("dn")
	if dn == "" {
		if f := req.From(); f != nil {
			dn = f.Address.User
		}
	}
	if !msml.ValidDN(dn) {
		return "", "", sipx.Errorf(400, "Bad Request", "no usable dn= parameter (got %q)", dn)
	}
	return conf, dn, nil
}

// readOffer returns the SDP offer of an INVITE, nil for an offer-less one.
func readOffer(req *sip.Request) (*sdp.Session, error) {
	if len(req.Body()) == 0 {
		return nil, nil
	}
	if ct := req.ContentType(); ct != nil {
		mt := strings.ToLower(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]))
		if mt != "application/sdp" {
			return nil, sipx.Errorf(415, "Unsupported Media Type", "body is %s, want application/sdp", mt)
		}
	}
	offer, err := sdp.Parse(req.Body())
	if err != nil {
		return nil, sipx.Status(488, "Not Acceptable Here", err)
	}
	return offer, nil
}

// onNewLeg accepts INVITE sip:msml=<conf-id>@...;dn=<DN>. The handler lives
// as long as the INVITE transaction (until the ACK).
func (s *Server) onNewLeg(req *sip.Request, tx sip.ServerTransaction) error {
	confID, dn, err := parseLegURI(req)
	if err != nil {
		return err
	}
	offer, err := readOffer(req)
	if err != nil {
		return err
	}
	conf, err := s.conference(confID, true)
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return sipx.Status(503, "Service Unavailable", err)
		}
		return err
	}
	conf.mu.Lock()
	dup := conf.legByDNLocked(dn) != nil
	conf.mu.Unlock()
	if dup {
		return sipx.Errorf(486, "Busy Here", "DN %s already has a leg in conference %s", dn, confID)
	}

	network := strings.ToLower(req.Transport())
	l, err := newLeg(s, dn, sipx.CallID(req), network)
	if err != nil {
		s.dropIfEmpty(conf)
		return sipx.Status(503, "Service Unavailable", err)
	}
	local, err := l.negotiate(offer, conf)
	if err != nil {
		_ = l.conn.Close()
		s.dropIfEmpty(conf)
		return sipx.Status(488, "Not Acceptable Here", err)
	}
	dua := sipgo.DialogUA{Client: s.client, ContactHDR: s.contact(network)}
	ds, err := dua.ReadInvite(req, tx)
	if err != nil {
		_ = l.conn.Close()
		s.dropIfEmpty(conf)
		return sipx.Status(400, "", err)
	}
	l.ds = ds
	l.remoteCSeq = req.CSeq().SeqNo
	if !l.start() {
		_ = l.conn.Close()
		s.dropIfEmpty(conf)
		return sipx.Status(503, "Service Unavailable", ErrClosed)
	}
	if !conf.addLeg(l) {
		l.closeMedia()
		return sipx.Status(503, "Service Unavailable", errors.New("conference ended"))
	}
	s.mu.Lock()
	s.legs[l.callID] = l
	s.mu.Unlock()
	s.stats.legs.Add(1)
	l.log.Info("leg joined", "conf", confID, "role", l.role, "rtp", l.local.String(), "offerless", offer == nil)

	// The response carries the To tag ReadInvite chose.
	res := sip.NewSDPResponseFromRequest(ds.InviteRequest, local.Marshal())
	ct := s.contact(network)
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("Allow", allowMethods))
	// WriteResponse retransmits the 200 until the ACK is read (onAck).
	if err := ds.WriteResponse(res); err != nil {
		l.log.Warn("no ACK for 200 OK; dropping the leg", "error", err)
		s.endLeg(l, "no ack")
	}
	return nil
}

// dropIfEmpty removes a conference created for a leg that then failed.
func (s *Server) dropIfEmpty(c *conference) {
	c.mu.Lock()
	empty := len(c.legs) == 0 && len(c.recOrder) == 0
	if empty {
		c.ended = true
	}
	c.mu.Unlock()
	if empty {
		s.dropConference(c)
	}
}

// negotiate answers offer, or builds our offer for an offer-less INVITE,
// preferring the law the other party already uses so the bridge needs no
// conversion.
func (l *leg) negotiate(offer *sdp.Session, conf *conference) (*sdp.Session, error) {
	codecs := sdp.DefaultCodecs()
	if conf != nil {
		conf.mu.Lock()
		other := conf.otherPartyLocked(l.dn)
		conf.mu.Unlock()
		if other != nil && other.law() == audio.Alaw {
			codecs = []sdp.Codec{sdp.PCMA, sdp.PCMU, sdp.TelephoneEvent}
		}
	}
	l.mu.Lock()
	prev := l.localSDP
	l.mu.Unlock()
	if offer == nil {
		local, err := sdp.NewOffer(sdp.OfferOptions{
			Addr: l.srv.advertise, Port: int(l.local.Port()), Codecs: codecs, Username: "arlab-ms",
		})
		if err != nil {
			return nil, err
		}
		local.Follow(prev)
		l.mu.Lock()
		l.localSDP, l.pendingOffer = local, true
		l.mu.Unlock()
		return local, nil
	}
	local, err := sdp.Answer(offer, sdp.AnswerOptions{
		Addr: l.srv.advertise, Port: int(l.local.Port()), Codecs: codecs, SRTP: true, Username: "arlab-ms",
	})
	if err != nil {
		return nil, err
	}
	local.Follow(prev)
	if err := l.applyMedia(local, offer, false); err != nil {
		return nil, err
	}
	return local, nil
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) error {
	l := s.findLeg(req)
	if l == nil {
		return nil // ACK for a leg already gone, for a non-2xx, or a recorder's
	}
	if req.CSeq().SeqNo == l.ds.InviteRequest.CSeq().SeqNo {
		if err := l.ds.ReadAck(req, tx); err != nil {
			l.log.Debug("ack not matched", "error", err)
		}
		l.markConfirmed()
	}
	l.mu.Lock()
	pending, local := l.pendingOffer, l.localSDP
	l.pendingOffer = false
	l.mu.Unlock()
	if !pending {
		return nil
	}
	if len(req.Body()) == 0 {
		l.log.Warn("offer-less INVITE answered by an ACK without SDP; the leg has no media")
		return nil
	}
	answer, err := sdp.Parse(req.Body())
	if err == nil {
		err = l.applyMedia(local, answer, true)
	}
	if err != nil {
		l.log.Warn("unusable SDP answer in ACK", "error", err)
	}
	return nil
}

// onReInvite answers a re-INVITE of a leg: a new offer (the party moved its
// media, held, or changed codec or key), or none (the SIP Server asks for
// our offer to pass to the party, third-party call control).
func (l *leg) onReInvite(req *sip.Request, tx sip.ServerTransaction) error {
	select {
	case <-l.confirmed:
	case <-time.After(confirmWait):
		return &sipx.StatusError{Code: 491, Reason: "Request Pending", Err: errors.New("initial INVITE not yet acknowledged")}
	}
	l.inDialog.Lock()
	defer l.inDialog.Unlock()
	if err := l.acceptCSeq(req); err != nil {
		return err
	}
	offer, err := readOffer(req)
	if err != nil {
		return err
	}
	local, err := l.negotiate(offer, l.conf)
	if err != nil {
		return sipx.Status(488, "Not Acceptable Here", err)
	}
	res := sip.NewSDPResponseFromRequest(req, local.Marshal())
	ct := l.srv.contact(l.network)
	res.AppendHeader(&ct)
	return tx.Respond(res)
}

// acceptCSeq checks that an in-dialog request is newer than the last one.
func (l *leg) acceptCSeq(req *sip.Request) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	seq := req.CSeq().SeqNo
	if seq <= l.remoteCSeq {
		return &sipx.StatusError{Code: 500, Reason: "Server Internal Error", RetryAfter: time.Second,
			Err: fmt.Errorf("CSeq %d is not above %d", seq, l.remoteCSeq)}
	}
	l.remoteCSeq = seq
	return nil
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) error {
	if l := s.findLeg(req); l != nil {
		select {
		case <-l.confirmed:
		case <-time.After(confirmWait):
		}
		if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
			l.log.Debug("could not answer BYE", "error", err)
		}
		s.endLeg(l, "remote bye")
		return nil
	}
	if rs := s.findRS(req); rs != nil {
		if err := tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil)); err != nil {
			rs.log.Debug("could not answer BYE", "error", err)
		}
		rs.remoteBye()
		return nil
	}
	return sipx.Status(481, "", errors.New("BYE for an unknown dialog"))
}

// endLeg removes a leg: from the server, from its conference (which may end),
// and closes its media.
func (s *Server) endLeg(l *leg, cause string) {
	l.mu.Lock()
	if l.ended {
		l.mu.Unlock()
		return
	}
	l.ended = true
	l.mu.Unlock()
	s.forgetLeg(l)
	if l.conf != nil {
		l.conf.removeLeg(l)
	}
	l.closeMedia()
	if l.ds != nil {
		l.ds.Close()
	}
	l.log.Info("leg ended", "cause", cause)
}

func (s *Server) forgetLeg(l *leg) {
	s.mu.Lock()
	if s.legs[l.callID] == l {
		delete(s.legs, l.callID)
	}
	s.mu.Unlock()
}
