package recorder

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// confirmWait is how long an in-dialog request waits for the ACK of the initial INVITE
// before it is answered 491 (RFC 3261 14.2).
const confirmWait = 2 * time.Second

func (r *Recorder) registerHandlers() {
	r.srv.OnInvite(sipx.Wrap(r.log, r.onInvite))
	r.srv.OnAck(sipx.Wrap(r.log, r.onAck))
	r.srv.OnBye(sipx.Wrap(r.log, r.onBye))
	r.srv.OnUpdate(sipx.Wrap(r.log, r.onUpdate))
	r.srv.OnOptions(sipx.Wrap(r.log, r.onOptions))
	// sipgo has already answered the CANCEL itself; INVITEs are answered at once, so there is
	// nothing left to cancel.
	r.srv.OnCancel(func(*sip.Request, sip.ServerTransaction) {})
}

// contactFor is our Contact on a transport, marked +sip.srs.
func (r *Recorder) contactFor(network string) sip.ContactHeader {
	ap := r.lis.Addr(network)
	if !ap.IsValid() {
		for _, l := range r.lis.Listeners() {
			ap, network = l.Addr, l.Network
			break
		}
	}
	u := sip.Uri{Scheme: "sip", User: "srs", Host: r.advertise.String(), Port: int(ap.Port())}
	if network != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", network)
	}
	params := sip.NewParams()
	params.Add("+sip.srs", "")
	return sip.ContactHeader{Address: u, Params: params}
}

func (r *Recorder) findSession(req *sip.Request) *session {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

func (r *Recorder) onInvite(req *sip.Request, tx sip.ServerTransaction) error {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s := r.findSession(req)
		if s == nil {
			return statusErr(481, "Call/Transaction Does Not Exist", errors.New("re-INVITE for an unknown recording session"))
		}
		return s.onReInvite(req, tx)
	}
	return r.onNewInvite(req, tx)
}

// onNewInvite accepts or refuses a recording session.
func (r *Recorder) onNewInvite(req *sip.Request, tx sip.ServerTransaction) error {
	r.metrics.invites.Add(1)
	if unsupported, _ := unsupportedRequire(req); len(unsupported) > 0 {
		r.metrics.rejected.Add(1)
		res := sip.NewResponseFromRequest(req, 420, "Bad Extension (unsupported option tag: "+strings.Join(unsupported, ", ")+")", nil)
		res.AppendHeader(sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
		return tx.Respond(res)
	}
	if r.closing.Load() || !r.reserve() {
		r.metrics.rejected.Add(1)
		r.metrics.overload.Add(1)
		return &sipx.StatusError{Code: 503, Reason: "Service Unavailable (recorder at its session limit)",
			RetryAfter: retryAfter, Err: fmt.Errorf("%d sessions active", r.cfg.MaxSessions)}
	}
	accepted := false
	defer func() {
		if !accepted {
			r.release()
			r.metrics.rejected.Add(1)
		}
	}()
	body, err := parseInviteBody(req)
	if err != nil {
		return err
	}
	_, siprecRequired := unsupportedRequire(req)
	g, isGenesys := parseGenesysURI(req.Recipient)
	mode := ModeSIPREC
	switch {
	case siprecRequired || body.metadata != nil:
	case isGenesys:
		mode = ModeGenesys
	case contactIsSRC(req):
	default:
		return statusErr(488, "Not Acceptable Here (not a recording session: no Require: siprec and no record= Request-URI)",
			errors.New("plain INVITE sent to a recorder"))
	}
	if body.offer == nil {
		return statusErr(488, "Not Acceptable Here (INVITE without SDP offer)", errors.New("no SDP offer"))
	}
	if mode == ModeSIPREC && body.metadata == nil {
		body.warnings = append(body.warnings, "SIPREC INVITE without metadata")
	}

	now := time.Now()
	s := &session{r: r, callID: sipx.CallID(req), transport: strings.ToLower(req.Transport()), confirmed: make(chan struct{})}
	if s.transport == "" {
		s.transport = "udp"
	}
	rec := &Recording{ID: NewRecordingID(now), Mode: mode, StartTime: now, SIPCallID: s.callID,
		SRC: req.Source(), Audio: AudioInfo{File: AudioFile, Format: "pcm16", SampleRate: sampleRate}}
	switch {
	case mode == ModeGenesys:
		s.genesys = &g
		applyGenesys(rec, g)
	case isGenesys:
		// A SIPREC INVITE may carry the call context in the Request-URI too (the Genesys
		// SIPREC form): use it where the metadata is silent.
		applyGenesys(rec, g)
		rec.Participants = nil
	}
	if h := req.GetHeader("X-Genesys-CallUUID"); h != nil && rec.CallUUID == "" {
		rec.CallUUID = strings.TrimSpace(h.Value())
	}
	s.rec = rec
	s.log = r.log.With("recording", rec.ID, "call_id", s.callID)
	if err := r.store.Create(context.Background(), rec); err != nil {
		return statusErr(500, "Server Internal Error (storage unavailable)", err)
	}
	s.tl = NewTimeline(TimelineConfig{Dir: r.store.Path(rec, ""), Start: now, Window: r.cfg.JitterWindow,
		PerPartyFiles: r.cfg.PerPartyFiles})
	s.mu.Lock()
	if err := s.setupMedia(body.offer, now); err != nil {
		s.mu.Unlock()
		s.abort()
		return err
	}
	s.rec.Warnings = appendUniq(s.rec.Warnings, body.warnings...)
	s.applyMetadataUpdate(body)
	r.joinCallData(s.rec)
	if s.rec.Prerecord && r.takePendingKeep(s.rec.CallUUID, now) {
		s.rec.Kept = true
	}
	s.rec.State = s.liveState()
	s.saveLocked(context.Background(), now)
	answer := s.answer.Marshal()
	s.mu.Unlock()

	dua := &sipgo.DialogUA{Client: r.cli, ContactHDR: s.contact()}
	ds, err := dua.ReadInvite(req, tx)
	if err != nil {
		s.abort()
		return statusErr(400, "Bad Request", err)
	}
	s.ds = ds
	if !r.addSession(ds.ID, s) {
		s.abort()
		return &sipx.StatusError{Code: 503, Reason: "Service Unavailable (recorder shutting down)", RetryAfter: retryAfter}
	}
	accepted = true
	r.metrics.accepted.Add(1)
	s.startStreams(s.streams)
	s.log.Info("recording started", "mode", mode, "streams", len(s.streams), "call_uuid", s.rec.CallUUID)

	res := sip.NewResponseFromRequest(ds.InviteRequest, 200, "OK", answer)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ct := s.contact()
	res.AppendHeader(&ct)
	if siprecRequired {
		res.AppendHeader(sip.NewHeader("Require", "siprec"))
	}
	res.AppendHeader(sip.NewHeader("Supported", "siprec"))
	// WriteResponse retransmits the 2xx until the ACK arrives (read by onAck).
	if err := ds.WriteResponse(res); err != nil {
		s.mu.Lock()
		ended := s.ended
		s.mu.Unlock()
		if !ended {
			s.log.Warn("initial INVITE not acknowledged; ending the recording", "err", err)
			s.hangup("no ACK for the 200 OK")
		}
		return nil
	}
	s.confirm()
	return nil
}

func (r *Recorder) onAck(req *sip.Request, tx sip.ServerTransaction) error {
	s := r.findSession(req)
	if s == nil {
		return nil // stray ACK (e.g. of a refused INVITE, absorbed by the transaction)
	}
	seq := req.CSeq().SeqNo
	s.mu.Lock()
	if s.pendingAck != nil && seq == s.pendingAckCSeq {
		close(s.pendingAck)
		s.pendingAck = nil
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	if err := s.ds.ReadAck(req, tx); err != nil {
		s.log.Debug("ACK not matching the INVITE", "err", err)
	}
	return nil
}

func (r *Recorder) onBye(req *sip.Request, tx sip.ServerTransaction) error {
	s := r.findSession(req)
	if s == nil {
		return statusErr(481, "Call/Transaction Does Not Exist", errors.New("BYE for an unknown recording session"))
	}
	// A BYE right after the 200 OK (before our ACK arrived) is legal; do not wait long.
	s.waitConfirmed(200 * time.Millisecond)
	s.dialogMu.Lock()
	defer s.dialogMu.Unlock()
	// Finish before answering: once the SRC has its 200 OK the recording is complete on disk
	// and in the index.
	s.finish(time.Now(), "")
	if err := s.ds.ReadBye(req, tx); err != nil {
		if errors.Is(err, sipgo.ErrDialogDoesNotExists) {
			return statusErr(481, "Call/Transaction Does Not Exist", err)
		}
		s.log.Debug("BYE answer failed", "err", err)
	}
	return nil
}

func (r *Recorder) onUpdate(req *sip.Request, tx sip.ServerTransaction) error {
	s := r.findSession(req)
	if s == nil {
		return statusErr(481, "Call/Transaction Does Not Exist", errors.New("UPDATE for an unknown recording session"))
	}
	return s.onModify(req, tx, false)
}

func (s *session) onReInvite(req *sip.Request, tx sip.ServerTransaction) error {
	return s.onModify(req, tx, true)
}

// onModify handles a re-INVITE or UPDATE: pause/resume (a=inactive), new streams, codec or
// SRTP changes, and metadata updates (complete or partial).
func (s *session) onModify(req *sip.Request, tx sip.ServerTransaction, invite bool) error {
	if !s.waitConfirmed(confirmWait) {
		return &sipx.StatusError{Code: 491, Reason: "Request Pending (initial INVITE not yet acknowledged)",
			Err: errors.New("in-dialog request before the ACK")}
	}
	res, ack, err := s.modify(req, tx, invite)
	if err != nil || ack == nil {
		return err
	}
	// Over UDP the 2xx is resent until its ACK, outside dialogMu so that a BYE is not held up.
	retransmit2xx(tx, res, ack)
	return nil
}

// modify applies a re-INVITE/UPDATE under dialogMu and answers it. It returns the response
// and, for a re-INVITE over UDP, the channel its ACK closes.
func (s *session) modify(req *sip.Request, tx sip.ServerTransaction, invite bool) (*sip.Response, chan struct{}, error) {
	s.dialogMu.Lock()
	defer s.dialogMu.Unlock()
	if err := s.ds.ReadRequest(req, tx); err != nil {
		return nil, nil, &sipx.StatusError{Code: 500, Reason: "Server Internal Error (CSeq out of order)", RetryAfter: time.Second, Err: err}
	}
	body, err := parseInviteBody(req)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return nil, nil, statusErr(481, "Call/Transaction Does Not Exist", errors.New("recording session already ended"))
	}
	answer := s.answer
	var started []*ingestStream
	if body.offer != nil {
		answer, started, err = s.applyOffer(body.offer, now)
		if err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
	} else if invite {
		// An INVITE without offer: we offer our current description (RFC 3261 14.2).
		answer = s.answer.Clone()
		answer.NextVersion()
		s.answer = answer
	}
	s.applyMetadataUpdate(body)
	if len(started) > 0 {
		s.relabel()
	}
	s.rec.State = s.liveState()
	state := s.rec.State
	var ack chan struct{}
	if invite && s.transport == "udp" {
		ack = make(chan struct{})
		s.pendingAck, s.pendingAckCSeq = ack, req.CSeq().SeqNo
	}
	s.mu.Unlock()
	s.startStreams(started)
	s.log.Info("recording session updated", "method", req.Method, "state", state, "new_streams", len(started))

	var res *sip.Response
	if invite || body.offer != nil {
		res = sip.NewResponseFromRequest(req, 200, "OK", answer.Marshal())
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	} else {
		res = sip.NewResponseFromRequest(req, 200, "OK", nil)
	}
	ct := s.contact()
	res.AppendHeader(&ct)
	// Answer first, then persist: the SRC resumes or stops its media on our answer, so the
	// answer's latency is timeline error. dialogMu keeps the next request of the dialog out
	// until the save is done.
	respErr := tx.Respond(res)
	s.mu.Lock()
	if !s.ended {
		s.saveLocked(context.Background(), now)
	}
	s.mu.Unlock()
	if respErr != nil {
		return nil, nil, nil // the transaction is gone; nothing left to answer
	}
	return res, ack, nil
}

// retransmit2xx resends a re-INVITE's 2xx over UDP until its ACK arrives (RFC 3261 13.3.1.4;
// sipgo leaves this to the TU), for at most 64*T1.
func retransmit2xx(tx sip.ServerTransaction, res *sip.Response, ack <-chan struct{}) {
	interval := sip.T1
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	t := time.NewTimer(interval)
	defer t.Stop()
	for {
		select {
		case <-ack:
			return
		case <-deadline.C:
			return
		case <-tx.Done():
			return
		case <-t.C:
			if err := tx.Respond(res); err != nil {
				return
			}
			interval = min(2*interval, sip.T2)
			t.Reset(interval)
		}
	}
}

func (r *Recorder) onOptions(req *sip.Request, tx sip.ServerTransaction) error {
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, UPDATE"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, multipart/mixed, application/rs-metadata+xml, application/rs-metadata"))
	res.AppendHeader(sip.NewHeader("Supported", "siprec"))
	ct := r.contactFor(strings.ToLower(req.Transport()))
	res.AppendHeader(&ct)
	res.AppendHeader(sip.NewHeader("X-Recorder-Sessions", strconv.Itoa(int(r.active.Load()))+"/"+strconv.Itoa(r.cfg.MaxSessions)))
	return tx.Respond(res)
}

// hangup sends BYE to the SRC and finishes the recording (shutdown, missing ACK).
func (s *session) hangup(why string) {
	s.dialogMu.Lock()
	defer s.dialogMu.Unlock()
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.ds != nil {
		if err := s.ds.Bye(ctx); err != nil {
			s.log.Debug("BYE to the SRC failed", "err", err)
		}
	}
	s.finish(time.Now(), why)
}
