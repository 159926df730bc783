package mediaserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
)

// Recording-session states, as /api/conferences shows them.
const (
	rsStarting   = "starting"
	rsUp         = "up"
	rsRecovering = "recovering"
	rsFailed     = "failed"
	rsStopped    = "stopped"
)

const (
	// maxRecoveries bounds how often one session is re-established.
	maxRecoveries = 3
	// recoverBackoff spaces re-establishment attempts.
	recoverBackoff = 300 * time.Millisecond
	// inDialogTimeout bounds re-INVITE, OPTIONS and BYE towards a recorder.
	inDialogTimeout = 5 * time.Second
)

// rsStream is one recorded party's m-line in a recording session: its own
// socket, SSRC and sequence space (outStream), and SDES key.
type rsStream struct {
	p     *party
	conn  *net.UDPConn
	local netip.AddrPort
	out   *outStream
	key   *sdp.Crypto // our sending key when SRTP is on
	// enabled: the recorder accepted the m-line (non-zero port).
	enabled bool
}

// failure says why a recording session ended against our will.
type failure struct {
	code   int // SIP status; 0 when none applies (BYE from the recorder)
	reason string
}

func (f *failure) Error() string {
	if f.code == 0 {
		return f.reason
	}
	return strconv.Itoa(f.code) + " " + f.reason
}

// recSession is one SIP dialog from the media server (SRC) to a recorder
// (SRS). One goroutine owns its signalling: the initial INVITE, re-INVITEs
// for pause/resume and party changes, keepalive OPTIONS, BYE, and the
// re-establishment after a failure.
type recSession struct {
	r   *recording
	d   *destination
	srv *Server
	log *slog.Logger

	kick chan struct{} // desired state changed
	bye  chan struct{} // the recorder sent BYE
	// ctx ends the session (BYE): the recording stopped, or its parties left.
	ctx    context.Context
	cancel context.CancelFunc

	mu           sync.Mutex
	streams      []*rsStream // every stream ever added, in order
	mlines       []*rsStream // the m-lines of the current dialog, in order
	up           bool
	state        string
	lastFailure  string
	wantPaused   bool
	sigPaused    bool
	continuation bool
	dialog       *sipgo.DialogClientSession
	callID       string
	target       sip.Uri // the recorder's Contact
	recorder     string
	offer        *sdp.Session
	md           *siprec.Metadata
	attempts     int
}

func newRecSession(r *recording, d *destination, parties []*party) *recSession {
	rs := &recSession{
		r:     r,
		d:     d,
		srv:   r.srv,
		log:   r.log.With("dest", d.uri),
		kick:  make(chan struct{}, 1),
		bye:   make(chan struct{}, 1),
		state: rsStarting,
	}
	rs.ctx, rs.cancel = context.WithCancel(r.ctx)
	rs.wantPaused = r.paused
	for _, p := range parties {
		rs.addStreamLocked(p)
	}
	return rs
}

// addStreamLocked allocates the socket and stream of a party. An allocation
// failure leaves the party out (its m-line is never offered) and is logged.
func (rs *recSession) addStreamLocked(p *party) {
	conn, err := rs.srv.ports.listen()
	if err != nil {
		rs.log.Error("no RTP port for a recorded stream", "dn", p.dn, "error", err)
		return
	}
	st := &rsStream{
		p:     p,
		conn:  conn,
		local: netip.AddrPortFrom(rs.srv.advertise, conn.LocalAddr().(*net.UDPAddr).AddrPort().Port()),
		out:   newOutStream(conn, audio.Ulaw),
	}
	if rs.r.params.SRTP == msml.SRTPSDES {
		c, err := sdp.NewCrypto(1, sdp.SuiteAES128SHA1_80)
		if err == nil {
			st.key = &c
		}
	}
	if rs.wantPaused {
		st.out.setMode(rs.pausedMode())
	}
	rs.streams = append(rs.streams, st)
}

// pausedMode is the stream mode while the recording is paused.
func (rs *recSession) pausedMode() int32 {
	if rs.srv.cfg.PauseMode == PauseSilence {
		return modeSilence
	}
	return modePaused
}

func (rs *recSession) start(wg *sync.WaitGroup) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer rs.cancel()
		rs.run(rs.ctx)
	}()
}

func (rs *recSession) poke() {
	select {
	case rs.kick <- struct{}{}:
	default:
	}
}

func (rs *recSession) remoteBye() {
	select {
	case rs.bye <- struct{}{}:
	default:
	}
}

// sinkFor returns the stream carrying dn's audio while the session is up.
func (rs *recSession) sinkFor(dn string) sink {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.up {
		return nil
	}
	for _, st := range rs.mlines {
		if st.p.dn == dn && st.enabled && !st.p.left {
			return st.out
		}
	}
	return nil
}

// setPaused applies a pause or resume. Copying stops here, synchronously,
// before anything is signalled; a resume in reinvite-inactive mode restarts
// copying only once the recorder accepted a=sendonly.
func (rs *recSession) setPaused(paused bool) {
	rs.mu.Lock()
	rs.wantPaused = paused
	streams := append([]*rsStream(nil), rs.streams...)
	rs.mu.Unlock()
	mode := rs.srv.cfg.PauseMode
	for _, st := range streams {
		switch {
		case paused:
			st.out.setMode(rs.pausedMode())
		case mode != PauseReinviteInactive:
			st.out.setMode(modeActive)
		}
	}
	if mode == PauseReinviteInactive {
		rs.poke()
	}
}

// addParty adds a supervisor's stream (single layout): re-INVITE with a new
// m-line and partial metadata.
func (rs *recSession) addParty(p *party) {
	rs.mu.Lock()
	rs.addStreamLocked(p)
	rs.mu.Unlock()
	rs.poke()
}

// removeParty disables a departed party's m-line; a session whose every
// party left is ended with BYE.
func (rs *recSession) removeParty(dn string) {
	rs.mu.Lock()
	remaining := 0
	for _, st := range rs.streams {
		if !st.p.left {
			remaining++
		}
	}
	rs.mu.Unlock()
	if remaining == 0 {
		rs.cancel()
		return
	}
	rs.poke()
}

func (rs *recSession) setState(state, why string) {
	rs.mu.Lock()
	rs.state = state
	if why != "" {
		rs.lastFailure = why
	}
	rs.mu.Unlock()
}

// run owns the session until the recording stops or it fails for good.
func (rs *recSession) run(ctx context.Context) {
	defer rs.cleanup()
	for attempt := 0; ; attempt++ {
		f := rs.establish(ctx)
		if f == nil {
			name := msml.EventRecordStarted
			if attempt > 0 {
				name = msml.EventRecordRecovered
			}
			rs.srv.stats.rsUp.Add(1)
			rs.srv.sendEvent(rs.r, name,
				msml.Param{Name: msml.ParamDest, Value: rs.d.uri},
				msml.Param{Name: msml.ParamRecorder, Value: rs.recorder},
				msml.Param{Name: msml.ParamActive, Value: strconv.Itoa(rs.r.activeDests())})
			if f = rs.serve(ctx); f == nil {
				rs.setState(rsStopped, "")
				return
			}
		}
		if ctx.Err() != nil {
			rs.setState(rsStopped, "")
			return
		}
		rs.detach()
		rs.srv.stats.rsFailed.Add(1)
		recovering := rs.srv.cfg.Failover && attempt < maxRecoveries
		rs.log.Warn("recording session failed", "error", f.Error(), "recovering", recovering)
		params := []msml.Param{{Name: msml.ParamDest, Value: rs.d.uri}}
		if f.code != 0 {
			params = append(params, msml.Param{Name: msml.ParamCode, Value: strconv.Itoa(f.code)})
		}
		params = append(params,
			msml.Param{Name: msml.ParamReason, Value: f.reason},
			msml.Param{Name: msml.ParamRecovering, Value: strconv.FormatBool(recovering)},
			msml.Param{Name: msml.ParamActive, Value: strconv.Itoa(rs.r.activeDests())})
		rs.srv.sendEvent(rs.r, msml.EventRecordFailed, params...)
		if !recovering {
			rs.setState(rsFailed, f.Error())
			return
		}
		rs.setState(rsRecovering, f.Error())
		select {
		case <-ctx.Done():
			rs.setState(rsStopped, "")
			return
		case <-time.After(recoverBackoff):
		}
		rs.mu.Lock()
		rs.continuation = true
		rs.mu.Unlock()
	}
}

// establish sends the INVITE and, on 2xx, points the streams at the
// recorder.
func (rs *recSession) establish(ctx context.Context) *failure {
	req, err := rs.buildInvite()
	if err != nil {
		return &failure{code: 500, reason: err.Error()}
	}
	rs.srv.mu.Lock()
	rs.srv.rss[rs.callID] = rs
	rs.srv.mu.Unlock()

	ictx, cancel := context.WithTimeout(ctx, rs.srv.cfg.InviteTimeout)
	defer cancel()
	dua := sipgo.DialogUA{Client: rs.srv.client, ContactHDR: rs.contact()}
	d, err := dua.WriteInvite(ictx, req)
	if err != nil {
		rs.forgetDialog()
		return &failure{code: 503, reason: "cannot send INVITE: " + err.Error()}
	}
	err = d.WaitAnswer(ictx, sipgo.AnswerOptions{})
	if err != nil {
		d.Close()
		rs.forgetDialog()
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			return &failure{code: dr.Res.StatusCode, reason: dr.Res.Reason}
		case ctx.Err() != nil:
			return &failure{code: 487, reason: "recording stopped"}
		case ictx.Err() != nil:
			return &failure{code: 408, reason: "no answer within " + rs.srv.cfg.InviteTimeout.String()}
		}
		return &failure{code: 503, reason: err.Error()}
	}
	if err := d.Ack(ctx); err != nil {
		d.Close()
		rs.forgetDialog()
		return &failure{code: 503, reason: "cannot send ACK: " + err.Error()}
	}
	res := d.InviteResponse
	rs.mu.Lock()
	rs.dialog = d
	rs.target = req.Recipient
	if ct := res.Contact(); ct != nil {
		rs.target = ct.Address
		rs.recorder = ct.Address.String()
	}
	rs.mu.Unlock()
	if f := rs.applyAnswer(res); f != nil {
		rs.sendBye()
		rs.forgetDialog()
		return f
	}
	rs.mu.Lock()
	rs.up = true
	rs.state = rsUp
	rs.mu.Unlock()
	rs.r.conf.rewire()
	rs.log.Info("recording session up", "recorder", rs.recorder, "call_id", rs.callID, "continuation", rs.continuation)
	return nil
}

// applyAnswer points each offered stream at the recorder's m-line.
func (rs *recSession) applyAnswer(res *sip.Response) *failure {
	ct := ""
	if h := res.ContentType(); h != nil {
		ct = h.Value()
	}
	body, err := siprec.ParseBody(ct, res.Body())
	if err != nil {
		return &failure{code: 488, reason: "answer without usable SDP: " + err.Error()}
	}
	answer, err := sdp.Parse(body.SDP)
	if err != nil {
		return &failure{code: 488, reason: "answer SDP: " + err.Error()}
	}
	laws := rs.r.partyLaws()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	accepted := 0
	for i, st := range rs.mlines {
		if i >= len(answer.Media) {
			st.enabled = false
			continue
		}
		if rs.configureStream(st, answer.Media[i], laws) {
			accepted++
		}
	}
	if accepted == 0 && rs.activeMlinesLocked() > 0 {
		return &failure{code: 488, reason: "the recorder refused every stream"}
	}
	return nil
}

// configureStream applies one answered m-line; it reports whether the
// recorder accepted it.
func (rs *recSession) configureStream(st *rsStream, m sdp.Media, laws map[string]audio.Law) bool {
	if m.Port == 0 || st.p.left {
		st.enabled = false
		st.out.configure(netip.AddrPort{}, audio.Ulaw, 0, false)
		return false
	}
	law := laws[st.p.dn] // µ-law (the zero value) for a party without a leg
	for _, c := range m.Codecs {
		if l, ok := audio.LawForPayloadType(c.PayloadType); ok && c.ClockRate == sampleRate {
			law = l
			break
		}
	}
	evPT, evOK := uint8(0), false
	if te, ok := m.TelephoneEvent(); ok {
		evPT, evOK = te.PayloadType, true
	}
	st.out.configure(m.RTPAddr(), law, evPT, evOK)
	if st.key != nil && m.IsSecure() {
		ctx, err := newSRTPContext(*st.key)
		if err != nil {
			rs.log.Error("SRTP context", "error", err)
			st.enabled = false
			return false
		}
		st.out.setSRTP(ctx)
	} else {
		st.out.setSRTP(nil)
	}
	st.enabled = true
	return true
}

func (rs *recSession) activeMlinesLocked() int {
	n := 0
	for _, st := range rs.mlines {
		if !st.p.left {
			n++
		}
	}
	return n
}

// serve handles the established session until stop (nil) or failure.
func (rs *recSession) serve(ctx context.Context) *failure {
	var tick <-chan time.Time
	if k := rs.srv.cfg.Keepalive; k > 0 {
		t := time.NewTicker(k)
		defer t.Stop()
		tick = t.C
	}
	for {
		if f := rs.reconcile(ctx); f != nil {
			return f
		}
		select {
		case <-ctx.Done():
			rs.sendBye()
			return nil
		case <-rs.bye:
			return &failure{reason: "the recorder ended the session (BYE)"}
		case <-rs.kick:
		case <-tick:
			if f := rs.ping(ctx); f != nil {
				return f
			}
		}
	}
}

// reconcile signals what changed since the last offer: pause state (in
// reinvite-inactive mode), a party added or gone. One change per re-INVITE.
func (rs *recSession) reconcile(ctx context.Context) *failure {
	for ctx.Err() == nil {
		laws := rs.r.partyLaws()
		rs.mu.Lock()
		var (
			added, gone *rsStream
		)
		for _, st := range rs.streams {
			if !rs.inMlinesLocked(st) && !st.p.left {
				added = st
				break
			}
		}
		for _, st := range rs.mlines {
			if st.p.left && st.enabled {
				gone = st
				break
			}
		}
		wantPaused := rs.wantPaused
		dirChange := rs.srv.cfg.PauseMode == PauseReinviteInactive && wantPaused != rs.sigPaused
		if added == nil && gone == nil && !dirChange {
			resume := rs.srv.cfg.PauseMode == PauseReinviteInactive && !wantPaused
			streams := rs.mlines
			rs.mu.Unlock()
			if resume {
				for _, st := range streams {
					st.out.setMode(modeActive)
				}
			}
			return nil
		}
		var partial *siprec.Metadata
		now := time.Now()
		switch {
		case added != nil:
			rs.mlines = append(rs.mlines, added)
			if rs.md != nil {
				partial = rs.md.AddParty(rs.r.recordingParty(added.p), now)
			}
		case gone != nil:
			gone.enabled = false
			if rs.md != nil {
				if _, ps, ok := rs.md.StreamForLabel(gone.p.label); ok && len(ps) > 0 {
					partial = rs.md.RemoveParty(ps[0].ID, now)
				}
			}
		}
		offer := rs.buildOfferLocked(wantPaused, laws)
		rs.mu.Unlock()

		f := rs.reinvite(ctx, offer, partial, added)
		if f != nil {
			return f
		}
		rs.mu.Lock()
		rs.sigPaused = wantPaused
		rs.mu.Unlock()
		if added != nil || gone != nil {
			rs.r.conf.rewire()
		}
	}
	return nil
}

func (rs *recSession) inMlinesLocked(st *rsStream) bool {
	for _, x := range rs.mlines {
		if x == st {
			return true
		}
	}
	return false
}

// reinvite sends one re-INVITE and applies the answer. A refused re-INVITE
// leaves the session as it was (RFC 3261 14.1) and is not a failure; no
// answer, 481 or 408 is.
func (rs *recSession) reinvite(ctx context.Context, offer *sdp.Session, partial *siprec.Metadata, added *rsStream) *failure {
	rs.mu.Lock()
	d, target := rs.dialog, rs.target
	rs.offer = offer
	rs.mu.Unlock()
	req := sip.NewRequest(sip.INVITE, target)
	sdpBody := offer.Marshal()
	if partial != nil {
		xml, err := partial.Marshal()
		if err != nil {
			return &failure{code: 500, reason: "metadata: " + err.Error()}
		}
		ct, body := siprec.BuildBody(sdpBody, xml)
		req.AppendHeader(sip.NewHeader("Content-Type", ct))
		req.SetBody(body)
	} else {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(sdpBody)
	}
	if rs.d.mode == msml.ModeSIPREC {
		req.AppendHeader(sip.NewHeader("Require", "siprec"))
	}
	ct := rs.contact()
	req.AppendHeader(&ct)
	rctx, cancel := context.WithTimeout(ctx, inDialogTimeout)
	defer cancel()
	res, err := d.Do(rctx, req)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopping; serve sends BYE
		}
		return &failure{code: 408, reason: "re-INVITE unanswered: " + err.Error()}
	}
	switch res.StatusCode {
	case 408, 481, 502, 503, 504:
		return &failure{code: res.StatusCode, reason: "re-INVITE: " + res.Reason}
	}
	if !res.IsSuccess() {
		rs.log.Warn("recorder refused a re-INVITE; the session continues as it was", "code", res.StatusCode, "reason", res.Reason)
		return nil
	}
	if err := d.WriteRequest(sip.NewRequest(sip.ACK, target)); err != nil {
		return &failure{code: 503, reason: "ACK of re-INVITE: " + err.Error()}
	}
	if added != nil {
		if f := rs.applyAnswer(res); f != nil {
			rs.log.Warn("re-INVITE answer", "error", f.Error())
		}
	}
	rs.log.Info("recording session updated", "paused", offer.Media[0].Direction == sdp.Inactive, "mlines", len(offer.Media))
	return nil
}

// ping checks the recorder with an in-dialog OPTIONS: no answer, 481 or 408
// means the recorder lost the session, and so do 502/503/504: that is how a
// proxy in the path (the Resource Manager) reports a recorder it can no
// longer reach.
func (rs *recSession) ping(ctx context.Context) *failure {
	rs.mu.Lock()
	d, target := rs.dialog, rs.target
	rs.mu.Unlock()
	// A keepalive must not take longer to fail than a few intervals.
	timeout := min(max(rs.srv.cfg.Keepalive, 500*time.Millisecond), inDialogTimeout)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := d.Do(pctx, sip.NewRequest(sip.OPTIONS, target))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return &failure{code: 408, reason: "keepalive OPTIONS unanswered"}
	}
	switch res.StatusCode {
	case 408, 481, 502, 503, 504:
		return &failure{code: res.StatusCode, reason: "keepalive OPTIONS: " + res.Reason}
	}
	return nil
}

func (rs *recSession) sendBye() {
	rs.mu.Lock()
	d := rs.dialog
	rs.mu.Unlock()
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), inDialogTimeout)
	defer cancel()
	if err := d.Bye(ctx); err != nil {
		rs.log.Debug("BYE to recorder", "error", err)
	}
}

// detach takes the session's streams out of the media path.
func (rs *recSession) detach() {
	rs.mu.Lock()
	rs.up = false
	rs.mu.Unlock()
	rs.r.conf.rewire()
	rs.forgetDialog()
}

// forgetDialog closes and unregisters the current dialog.
func (rs *recSession) forgetDialog() {
	rs.mu.Lock()
	d, callID := rs.dialog, rs.callID
	rs.dialog = nil
	rs.mu.Unlock()
	if d != nil {
		d.Close()
	}
	rs.srv.mu.Lock()
	if rs.srv.rss[callID] == rs {
		delete(rs.srv.rss, callID)
	}
	rs.srv.mu.Unlock()
}

// cleanup runs when the session's goroutine ends.
func (rs *recSession) cleanup() {
	rs.detach()
	rs.mu.Lock()
	streams := rs.streams
	rs.mu.Unlock()
	for _, st := range streams {
		_ = st.conn.Close()
	}
}

// contact is our Contact towards the recorder: SIPREC marks the SRC.
func (rs *recSession) contact() sip.ContactHeader {
	ct := rs.srv.contact(rs.r.params.Transport)
	if rs.d.mode == msml.ModeSIPREC {
		ct.Params = sip.NewParams()
		ct.Params.Add("+sip.src", "")
	}
	return ct
}

// snapshot describes the session for the API.
func (rs *recSession) snapshot() SessionInfo {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	info := SessionInfo{State: rs.state, CallID: rs.callID, Recorder: rs.recorder, LastFailure: rs.lastFailure,
		Continuation: rs.continuation}
	for _, st := range rs.mlines {
		p, b, e := st.out.stats()
		info.Streams = append(info.Streams, StreamInfo{DN: st.p.dn, Label: st.p.label, Local: st.local.String(),
			Remote: st.out.dest().String(), Enabled: st.enabled, SSRC: st.out.ssrc, Packets: p, Bytes: b, Errors: e})
	}
	return info
}

// String describes the session for logs.
func (rs *recSession) String() string { return fmt.Sprintf("rs %s %s", rs.d.uri, rs.callID) }
