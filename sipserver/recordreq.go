package sipserver

import (
	"time"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/tlib"
)

// recordOp names the recording private services.
func (s *Server) recordOp(id int) (msml.Op, bool) {
	p := s.cfg.PrivateMsgIDs
	switch id {
	case p.RecordStart:
		return msml.OpRecord, true
	case p.RecordStop:
		return msml.OpStop, true
	case p.RecordPause:
		return msml.OpPause, true
	case p.RecordResume:
		return msml.OpResume, true
	}
	return "", false
}

// ackRequest sends the EventACK of a request before the handler returns, so
// that events the request causes afterwards (GSIP_RECORD in
// EventAttachedDataChanged) reach the client after its reply.
func (s *Server) ackRequest(ci *tlib.ClientInfo, req *tlib.Message) {
	s.tsrv.SendTo(ci.ID, &tlib.Message{
		Name: tlib.EventACK, ReferenceID: req.ReferenceID, ThisDN: req.ThisDN, ConnID: req.ConnID,
		PrivateMsgID: req.PrivateMsgID, Server: serverName, Time: time.Now(),
	})
}

// privateService performs RequestPrivateService: the recording controls
// GSIP_RECORD_START/STOP/PAUSE/RESUME (genesys-msr.md 3.1, 3.3). ThisDN must
// be registered by the client but need not be a party (a supervisor, or a
// monitor-all recorder). The reply is EventACK as soon as the request is
// accepted; the media work follows in order and its outcome is announced as
// GSIP_RECORD in EventAttachedDataChanged. Every invalid case is EventError
// and leaves the call untouched.
func (s *Server) privateService(ci *tlib.ClientInfo, req *tlib.Message) error {
	op, ok := s.recordOp(req.PrivateMsgID)
	if !ok {
		return tlib.Errorf(tlib.ErrInvalidPrivateMsgID, "PrivateMsgID %d is not a service of this SIP Server", req.PrivateMsgID)
	}
	if req.ConnID == "" {
		return tlib.Errorf(tlib.ErrMissingAttribute, "RequestPrivateService: ConnID is required for the recording services")
	}
	ext := req.Extensions
	if err := checkRecordExtensions(ext, op == msml.OpRecord); err != nil {
		return err
	}
	c := s.lookupCall(req.ConnID)
	if c != nil {
		c.mu.Lock()
		if c.released {
			c.mu.Unlock()
			c = nil
		}
	}
	if c == nil {
		// Unknown, or released: only a start that keeps a pre-recording
		// within its grace period has something to act on.
		if op == msml.OpRecord {
			return s.keepEnded(ci, req)
		}
		return tlib.Errorf(tlib.ErrInvalidConnID, "no call %s (unknown or released)", req.ConnID)
	}
	defer c.mu.Unlock()
	if c.state != callEstablished {
		return tlib.Errorf(tlib.ErrInvalidState, "call %s is not established (%s)", req.ConnID, c.state)
	}
	if !s.mediaOn() {
		return tlib.Errorf(tlib.ErrInvalidState, "recording needs media anchoring: %v", ErrNoMediaControl)
	}
	if op == msml.OpRecord {
		return s.startRequestLocked(c, ci, req)
	}
	targets := c.controlTargetsLocked(req)
	var act []*recording
	switch op {
	case msml.OpPause:
		for _, r := range targets {
			switch {
			case r.want == wantOn:
				act = append(act, r)
			case r.want == wantPaused && len(act) == 0:
				return tlib.Errorf(tlib.ErrInvalidState, "recording already paused")
			}
		}
	case msml.OpResume:
		for _, r := range targets {
			switch {
			case r.want == wantPaused:
				act = append(act, r)
			case r.want == wantOn && len(act) == 0:
				return tlib.Errorf(tlib.ErrInvalidState, "recording is not paused")
			}
		}
	case msml.OpStop:
		act = targets
	}
	if len(act) == 0 {
		return tlib.Errorf(tlib.ErrInvalidState, "no recording on call %s", req.ConnID)
	}
	s.ackRequest(ci, req)
	for _, r := range act {
		switch op {
		case msml.OpPause:
			r.want = wantPaused
		case msml.OpResume:
			r.want = wantOn
		case msml.OpStop:
			r.want = wantOff
		}
		c.enqueueLocked(func() { s.controlRecording(c, r, op) })
	}
	c.log.Info("recording control", "op", op, "dn", req.ThisDN, "by", ci.AppName, "recordings", len(act))
	return nil
}

// checkRecordExtensions validates the Extensions of a recording request.
func checkRecordExtensions(ext tlib.KVList, start bool) error {
	switch ext["record"] {
	case "", "source", "destination":
	default:
		return tlib.Errorf(tlib.ErrInvalidAttribute, "Extensions record=%q (want source or destination)", ext["record"])
	}
	if !start {
		return nil
	}
	if id := ext["id"]; id != "" && !msml.ValidID(id) {
		return tlib.Errorf(tlib.ErrInvalidAttribute, "Extensions id=%q is not a recording id ([A-Za-z0-9._-], up to 64)", id)
	}
	for _, k := range []string{"dest", "dest2"} {
		if d := ext[k]; d != "" {
			if err := checkDestURI(d); err != nil {
				return tlib.Errorf(tlib.ErrInvalidAttribute, "Extensions %s: %v", k, err)
			}
		}
	}
	return nil
}

// requestSideLocked is the side a recording request names: record=source
// (the default) is ThisDN's side, destination the other one. A ThisDN that
// is not a party (a supervisor, a recorder) means the side of the agent it
// monitors, else the destination's when it is a DN.
func (c *call) requestSideLocked(req *tlib.Message) side {
	sd, isParty := c.partyOfLocked(req.ThisDN)
	if !isParty {
		switch {
		case c.mon != nil && c.mon.info.supervisor == req.ThisDN:
			sd = c.mon.agentSide
		case c.parties[sideDest].isDN:
			sd = sideDest
		default:
			sd = sideOrigin
		}
	}
	if req.Extensions["record"] == "destination" {
		sd = sd.other()
	}
	return sd
}

// controlTargetsLocked picks the recordings a STOP, PAUSE or RESUME acts on:
// the side named by record=, else ThisDN's side when it has a recording,
// else every recording of the call (so a supervisor or a workflow controls
// full-time and routed recordings too).
func (c *call) controlTargetsLocked(req *tlib.Message) []*recording {
	live := func(r *recording) bool { return r != nil && !r.planned && r.want != wantOff }
	if req.Extensions["record"] != "" {
		if r := c.recs[c.requestSideLocked(req)]; live(r) {
			return []*recording{r}
		}
		return nil
	}
	if sd, ok := c.partyOfLocked(req.ThisDN); ok && live(c.recs[sd]) {
		return []*recording{c.recs[sd]}
	}
	var out []*recording
	for _, r := range c.recs {
		if live(r) {
			out = append(out, r)
		}
	}
	return out
}

// startRequestLocked performs GSIP_RECORD_START on an established call: it
// keeps a pending pre-recording, or starts a new recording of the side the
// request names (anchoring the call first if it is not).
func (s *Server) startRequestLocked(c *call, ci *tlib.ClientInfo, req *tlib.Message) error {
	ext := req.Extensions
	if ext["record"] == "" {
		// A plain start keeps a pre-recording of the call: "the whole
		// recording", whichever side it was taken for.
		for _, r := range c.recs {
			if r != nil && !r.planned && r.tentative && r.want != wantOff && !r.failed {
				s.ackRequest(ci, req)
				c.keepLocked(r)
				return nil
			}
		}
	}
	sd := c.requestSideLocked(req)
	if r := c.recs[sd]; r != nil && !r.planned && r.want != wantOff && !r.failed {
		if r.tentative {
			s.ackRequest(ci, req)
			c.keepLocked(r)
			return nil
		}
		return tlib.Errorf(tlib.ErrInvalidState, "the %s side of call %s is already recording (%s)", sd, req.ConnID, r.id)
	}
	r := &recording{side: sd, by: "request", audio: msml.SideBoth, want: wantOn, withSup: true, id: ext["id"]}
	for _, k := range []string{"dest", "dest2"} {
		if d := ext[k]; d != "" {
			r.dests = append(r.dests, msml.Dest{URI: d})
		}
	}
	if r.id != "" {
		if o := c.recs[sd.other()]; o != nil && o.id == r.id && o.want != wantOff {
			return tlib.Errorf(tlib.ErrInvalidAttribute, "recording id %s is already used on call %s", r.id, req.ConnID)
		}
	}
	s.ackRequest(ci, req)
	c.initRecordingLocked(r)
	c.recs[sd] = r
	c.enqueueLocked(func() { s.startRecording(c, r) })
	c.log.Info("recording start requested", "side", sd.String(), "id", r.id, "dn", req.ThisDN, "by", ci.AppName)
	return nil
}

// keepLocked commits a pre-recording: GSIP_RECORD turns ON, which tells the
// recorders (T-lib clients) to keep the tentative recording.
func (c *call) keepLocked(r *recording) {
	r.tentative = false
	c.log.Info("pre-recording kept", "id", r.id)
	c.publishRecordStateLocked(tlib.KVList{"cause": "prerecord-kept"})
}
