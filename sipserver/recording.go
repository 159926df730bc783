package sipserver

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/tlib"
)

// recWant is what the requests asked of a recording.
type recWant int

const (
	wantOn recWant = iota
	wantPaused
	wantOff
)

// recording is the recording of one side of a call: the state machine of
// genesys-msr.md 3.3 runs per call × recorded side. The recorded side's party
// is the recorded DN (recordDN); audio says whose streams are captured.
// Requests change want at once (they are validated against it); state is
// what the media server has carried out (each queued control moves it when
// it is done), and with started/failed (the media server's events) it makes
// GSIP_RECORD, so that every step is announced even when requests come
// faster than the media server. Guarded by the call's mu.
type recording struct {
	side      side
	id        string
	fileName  string
	audio     msml.Side
	dests     []msml.Dest
	by        string // what started it: dn, prerecord, route, request
	tentative bool   // a pre-recording not (yet) kept
	planned   bool   // decided at setup: starts when the call is answered
	want      recWant
	state     recWant
	started   bool   // a destination is up (record.started / record.recovered)
	failed    bool   // every destination failed, or the media server refused it
	reason    string // why it failed
	// conf is the conference the media server runs it in ("" = not running).
	conf string
	// withSup says the media server records the joined supervisor in it.
	withSup bool
	created time.Time
}

// gsip is the GSIP_RECORD value the recording stands for; "" while it is
// being set up.
func (r *recording) gsip() string {
	switch {
	case r.state == wantOff:
		return tlib.RecordOff
	case r.failed:
		return tlib.RecordFailed
	case !r.started:
		return ""
	case r.state == wantPaused:
		return tlib.RecordPaused
	case r.tentative:
		return tlib.RecordPrerecord
	}
	return tlib.RecordOn
}

// gsipRank orders GSIP_RECORD values: a call with two recordings shows the
// most alive one.
func gsipRank(v string) int {
	switch v {
	case tlib.RecordOn:
		return 5
	case tlib.RecordPaused:
		return 4
	case tlib.RecordPrerecord:
		return 3
	case tlib.RecordFailed:
		return 2
	case tlib.RecordOff:
		return 1
	}
	return 0
}

// recordStateLocked is the call's GSIP_RECORD and GSIP_REC_FN: those of its
// most alive recording.
func (c *call) recordStateLocked() (val, fn string) {
	for _, r := range c.recs {
		if r == nil || r.planned {
			continue
		}
		if v := r.gsip(); gsipRank(v) > gsipRank(val) {
			val, fn = v, r.fileName
		}
	}
	return val, fn
}

// publishRecordStateLocked puts the recording state in the call's user data
// and announces it with EventAttachedDataChanged to every DN of the call,
// when it changed (or when reasons explain a failure).
func (c *call) publishRecordStateLocked(reasons tlib.KVList) {
	val, fn := c.recordStateLocked()
	if val == "" {
		return
	}
	if c.userData[tlib.KeyRecord] == val && c.userData[tlib.KeyRecordFilename] == fn && reasons == nil {
		return
	}
	next := maps.Clone(c.userData)
	if next == nil {
		next = tlib.KVList{}
	}
	next[tlib.KeyRecord] = val
	if fn != "" {
		next[tlib.KeyRecordFilename] = fn
	}
	c.userData = next
	c.log.Info("recording state", "GSIP_RECORD", val, "GSIP_REC_FN", fn, "reasons", reasons)
	c.publishDataChangedLocked(reasons)
}

// publishDataChangedLocked sends EventAttachedDataChanged to the call's DNs
// (and to a joined supervisor).
func (c *call) publishDataChangedLocked(reasons tlib.KVList) {
	for _, sd := range []side{sideOrigin, sideDest} {
		if c.parties[sd].announced {
			c.publishLocked(tlib.EventAttachedDataChanged, sd, nil, func(m *tlib.Message) { m.Reasons = maps.Clone(reasons) })
		}
	}
	if c.mon != nil && c.mon.announced {
		c.publishObserverLocked(tlib.EventAttachedDataChanged, nil, func(m *tlib.Message) { m.Reasons = maps.Clone(reasons) })
	}
}

// recByIDLocked finds a recording of the call by its id.
func (c *call) recByIDLocked(id string) *recording {
	for _, r := range c.recs {
		if r != nil && r.id == id {
			return r
		}
	}
	return nil
}

// audioSide maps a DN's record-side to the media server's side.
func audioSide(rs RecordSide) msml.Side {
	switch rs {
	case SideThis:
		return msml.SideSource
	case SideOther:
		return msml.SideDestination
	}
	return msml.SideBoth
}

// planRecordingsLocked decides, once the destination is known and before it
// is called, what is recorded from the answer: the DNs' record (full-time)
// and prerecord options, overridden by the route's extensions (record=source
// |destination|disable_source|disable_destination, id, dest), and whether a
// supervisor monitors the agent's next call. It reports whether the media
// must be anchored from the answer.
func (c *call) planRecordingsLocked(dest DN) bool {
	s := c.s
	c.parties[sideDest] = party{number: dest.Number, isDN: true}
	if !s.mediaOn() {
		// No recording capability configured: record options and route
		// extensions are ignored (recording requests get EventError).
		return false
	}
	var ext map[string]string
	if c.route != nil {
		ext = c.route.Extensions
	}
	var dns [2]*DN
	if p := c.parties[sideOrigin]; p.isDN {
		if d, ok := s.dns[p.number]; ok {
			dns[sideOrigin] = &d
		}
	}
	dns[sideDest] = &dest
	disabled := [2]bool{ext["record"] == "disable_source", ext["record"] == "disable_destination"}
	plan := func(sd side, by string, audio msml.Side, tentative bool) *recording {
		r := &recording{side: sd, by: by, audio: audio, tentative: tentative, planned: true, want: wantOn, withSup: true}
		c.recs[sd] = r
		return r
	}
	for _, sd := range []side{sideOrigin, sideDest} {
		d := dns[sd]
		if d == nil || disabled[sd] {
			continue
		}
		switch {
		case d.Record:
			plan(sd, "dn", audioSide(d.RecordSide), false)
		case d.Prerecord:
			plan(sd, "prerecord", audioSide(d.RecordSide), true)
		}
	}
	var routed *recording
	switch ext["record"] {
	case "source":
		routed = plan(sideOrigin, "route", msml.SideBoth, false)
	case "destination":
		routed = plan(sideDest, "route", msml.SideBoth, false)
	default:
		routed = c.recs[sideDest]
	}
	if routed != nil {
		routed.id = ext["id"]
		if d := ext["dest"]; d != "" {
			routed.dests = []msml.Dest{{URI: d}}
		}
	}
	monitored := c.planMonitoringLocked()
	return c.recs[sideOrigin] != nil || c.recs[sideDest] != nil || monitored
}

// startPlannedLocked starts, at the answer, what planRecordingsLocked
// decided: each recording gets its id and file name (so EventEstablished
// already carries GSIP_REC_FN), then the media work is queued: recordings
// first, the supervisor join after, so the media server adds the
// supervisor's stream to recordings that already run.
func (c *call) startPlannedLocked() {
	for _, r := range c.recs {
		if r == nil || !r.planned {
			continue
		}
		r.planned = false
		c.initRecordingLocked(r)
		if c.userData[tlib.KeyRecordFilename] == "" {
			next := maps.Clone(c.userData)
			if next == nil {
				next = tlib.KVList{}
			}
			next[tlib.KeyRecordFilename] = r.fileName
			c.userData = next
		}
		c.enqueueLocked(func() { c.s.startRecording(c, r) })
	}
	if c.mon != nil && !c.mon.started {
		c.mon.started = true
		c.enqueueLocked(func() { c.s.joinSupervisor(c) })
	}
}

// initRecordingLocked gives a new recording its id (unless the request named
// one) and its file name.
func (c *call) initRecordingLocked(r *recording) {
	r.created = time.Now()
	if r.id == "" {
		c.recSeq++
		r.id = c.connID + "-" + strconv.Itoa(c.recSeq)
	}
	r.fileName = c.s.recFileName(c, r, r.created)
	c.s.metrics.recordingStarted()
}

// recFileName renders recording.file-name for a recording.
func (s *Server) recFileName(c *call, r *recording, now time.Time) string {
	return strings.NewReplacer(
		"{calluuid}", c.uuid, "{connid}", c.connID,
		"{dn}", c.parties[r.side].number, "{other}", c.parties[r.side.other()].number,
		"{ani}", c.ani, "{dnis}", c.dnis,
		"{date}", now.Format("2006-01-02"), "{time}", now.Format("15-04-05"),
		"{host}", s.fnHost, "{id}", r.id,
	).Replace(s.cfg.Recording.FileName)
}

// msmlRecordLocked is the MSML record request of a recording in anchor m.
func (c *call) msmlRecordLocked(r *recording) msml.Record {
	dns := c.mediaDNsLocked()
	cfg := c.s.cfg.Recording
	dests := r.dests
	if len(dests) == 0 && cfg.Destination != "" {
		dests = []msml.Dest{{URI: cfg.Destination}}
	}
	return msml.Record{
		CallUUID: c.uuid, ConnID: c.connID,
		RecordDN: dns[r.side], OtherDN: dns[r.side.other()],
		Side: r.audio, Sessions: msml.Sessions(cfg.Sessions), Mode: msml.Mode(cfg.Mode),
		Prerecord: r.tentative, Dests: dests,
	}
}

// startRecording is the media work of a new recording: anchor the call if it
// is not yet, then ask the media server to record (MSML <dialogstart>). The
// outcome arrives as record.started / record.failed events.
func (s *Server) startRecording(c *call, r *recording) {
	if err := s.ensureAnchored(c); err != nil {
		if err != errCallGone {
			c.recordingFailed(r, "media anchoring: "+err.Error())
		}
		return
	}
	c.mu.Lock()
	if c.released || c.recs[r.side] != r || r.want == wantOff || r.conf != "" || c.media == nil {
		c.mu.Unlock()
		return
	}
	m := c.media
	l := m.legs[r.side]
	req := msml.NewRecord(m.conf, r.id, c.msmlRecordLocked(r))
	// The recording belongs to the conference from now on: its
	// record.started event may overtake the 200 of this INFO (they travel
	// apart). The media server adds a supervisor joined later to running
	// recordings, not one already joined: that one is joined again once the
	// recording is up (see onRecordEvent).
	r.conf, r.withSup = m.conf, !m.supJoined
	c.mu.Unlock()

	_, err := s.msmlDo(c, l, req)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.released {
			c.recordingFailedLocked(r, "media server refused the recording: "+err.Error())
		}
		return
	}
	c.log.Info("recording requested", "id", r.id, "side", r.side.String(), "conf", m.conf, "by", r.by, "prerecord", r.tentative)
	if r.want == wantPaused {
		c.enqueueLocked(func() { s.controlRecording(c, r, msml.OpPause) })
	}
}

// controlRecording sends pause, resume or stop for a recording and announces
// the new state once the media server confirmed it.
func (s *Server) controlRecording(c *call, r *recording, op msml.Op) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	running := r.conf != "" && c.media != nil && r.conf == c.media.conf
	var l *leg
	var conf string
	if running {
		l, conf = c.media.legs[r.side], r.conf
	}
	c.mu.Unlock()
	if running {
		var req *msml.Request
		switch op {
		case msml.OpPause:
			req = msml.NewPause(conf, r.id)
		case msml.OpResume:
			req = msml.NewResume(conf, r.id)
		default:
			req = msml.NewStop(conf, r.id)
		}
		if _, err := s.msmlDo(c, l, req); err != nil {
			c.log.Warn("recording control failed", "op", op, "id", r.id, "error", err)
			c.mu.Lock()
			defer c.mu.Unlock()
			if op == msml.OpStop {
				r.conf, r.state = "", wantOff
			} else if !c.released && msml.CodeOf(err) == msml.CodeNoSuchObject {
				c.recordingFailedLocked(r, "the media server lost the recording: "+err.Error())
			}
			c.publishRecordStateLocked(nil)
			return
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch op {
	case msml.OpStop:
		r.conf, r.state = "", wantOff
	case msml.OpPause:
		r.state = wantPaused
	case msml.OpResume:
		r.state = wantOn
	}
	if !c.released {
		c.publishRecordStateLocked(nil)
	}
}

// recordingFailed marks a recording FAILED with a reason.
func (c *call) recordingFailed(r *recording, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.released {
		c.recordingFailedLocked(r, reason)
	}
}

func (c *call) recordingFailedLocked(r *recording, reason string) {
	if r.state == wantOff || c.recs[r.side] != r {
		return
	}
	r.failed, r.reason, r.conf = true, reason, ""
	c.s.metrics.recordingFailed()
	c.log.Warn("recording failed", "id", r.id, "reason", reason)
	c.publishRecordStateLocked(tlib.KVList{"cause": "recording-failed", "id": r.id, "reason": reason})
}

// onRecordEvent applies an MSML event of the media server (record.started,
// record.failed, record.recovered) to the recording it names.
func (c *call) onRecordEvent(ev *msml.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.released {
		return
	}
	r := c.recByIDLocked(ev.RecordingID)
	if r == nil || r.conf != ev.Conf || r.state == wantOff {
		return // an old conference's, or a stopped recording's
	}
	switch ev.Name {
	case msml.EventRecordStarted, msml.EventRecordRecovered:
		first := !r.started
		r.started, r.failed, r.reason = true, false, ""
		c.publishRecordStateLocked(nil)
		if first && !r.withSup && c.media != nil && c.media.supJoined {
			r.withSup = true
			c.enqueueLocked(func() { c.s.rejoinSupervisor(c) })
		}
	case msml.EventRecordFailed:
		if ev.Get(msml.ParamActive) != "0" || ev.Get(msml.ParamRecovering) == "true" {
			c.log.Info("recording destination failed", "id", r.id, "dest", ev.Get(msml.ParamDest),
				"code", ev.Get(msml.ParamCode), "recovering", ev.Get(msml.ParamRecovering))
			return // other destinations are up, or the media server retries
		}
		reason := ev.Get(msml.ParamReason)
		if code := ev.Get(msml.ParamCode); code != "" {
			reason = code + " " + reason
		}
		reason = strings.TrimSpace("recorder " + ev.Get(msml.ParamDest) + ": " + reason)
		r.failed, r.reason = true, reason
		c.s.metrics.recordingFailed()
		c.log.Warn("recording failed", "id", r.id, "reason", reason)
		c.publishRecordStateLocked(tlib.KVList{"cause": "record.failed", "id": r.id, "reason": reason,
			"dest": ev.Get(msml.ParamDest), "code": ev.Get(msml.ParamCode)})
	}
}

// endRecordingsLocked runs at release: every recording of the call stops
// (GSIP_RECORD=OFF); the media server ends them when its legs get BYE. A
// pre-recording not kept stays PRERECORD: a start request within the grace
// period still keeps it (see keepEnded).
func (c *call) endRecordingsLocked() {
	tentative := false
	for _, r := range c.recs {
		if r == nil || r.planned || r.failed {
			continue // a failed recording stays FAILED
		}
		if r.tentative && r.want != wantOff && r.started {
			tentative = true
			continue
		}
		r.want, r.state = wantOff, wantOff
	}
	c.publishRecordStateLocked(nil)
	if tentative {
		c.s.notePrerecorded(c)
	}
}

// restartRecordingsLocked queues, after a re-anchor, every recording that
// ran, with the same id and parameters, on the new conference.
func (c *call) restartRecordingsLocked() {
	for _, r := range c.recs {
		if r == nil || r.planned || r.want == wantOff {
			continue
		}
		r.conf, r.started, r.failed, r.reason = "", false, false, ""
		c.enqueueLocked(func() { c.s.startRecording(c, r) })
	}
}

// failRecordingsLocked reports every running recording FAILED.
func (c *call) failRecordingsLocked(reason string) {
	for _, r := range c.recs {
		if r != nil && !r.planned && r.want != wantOff {
			r.failed, r.reason, r.conf = true, reason, ""
		}
	}
	c.publishRecordStateLocked(tlib.KVList{"cause": "recording-failed", "reason": reason})
}
