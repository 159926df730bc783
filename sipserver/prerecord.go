package sipserver

import (
	"maps"
	"time"

	"github.com/arlab/arlab/tlib"
)

// maxEndedPrerecords bounds the table of ended pre-recorded calls; beyond it
// the oldest entries are forgotten early.
const maxEndedPrerecords = 100000

// endedPrerecord is a call that ended with a tentative pre-recording: a
// GSIP_RECORD_START naming its ConnID within the grace period still keeps
// the recording. The recorder learns it from the EventAttachedDataChanged
// (GSIP_RECORD=ON) sent then, joined on the CallUUID.
type endedPrerecord struct {
	connID string
	uuid   string
	// announce is the event telling the keep (a snapshot of the call as its
	// recorded DN saw it).
	announce *tlib.Message
	until    time.Time
	kept     bool
}

// notePrerecorded remembers a released call whose pre-recording is still
// tentative. The caller holds c.mu.
func (s *Server) notePrerecorded(c *call) {
	var sd side = sideDest
	for _, x := range []side{sideDest, sideOrigin} {
		if r := c.recs[x]; r != nil && r.tentative {
			sd = x
			break
		}
	}
	if !c.parties[sd].isDN {
		sd = sd.other()
	}
	m := c.messageLocked(tlib.EventAttachedDataChanged, sd)
	if !c.parties[sd].isDN {
		m.ThisDN = "" // monitor-all clients (the recorders) still get it
	}
	e := &endedPrerecord{connID: c.connID, uuid: c.uuid, announce: m, until: time.Now().Add(s.cfg.Recording.PrerecordGrace)}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ended) >= maxEndedPrerecords {
		s.sweepEndedLocked(time.Now(), true)
	}
	s.ended[c.connID] = e
}

// sweepEndedLocked forgets the ended pre-recordings whose grace period is
// over (all but the newest half when force is set and the table is full).
func (s *Server) sweepEndedLocked(now time.Time, force bool) {
	for k, e := range s.ended {
		if now.After(e.until) || (force && e.until.Before(now.Add(s.cfg.Recording.PrerecordGrace/2))) {
			delete(s.ended, k)
		}
	}
}

// keepEnded performs GSIP_RECORD_START on a call that has ended: within the
// grace period of a tentative pre-recording it keeps the whole recording
// (EventACK, then GSIP_RECORD=ON to the DNs and recorders); otherwise the
// call is simply gone (error 1).
func (s *Server) keepEnded(ci *tlib.ClientInfo, req *tlib.Message) error {
	now := time.Now()
	s.mu.Lock()
	e := s.ended[req.ConnID]
	if e != nil && now.After(e.until) {
		delete(s.ended, req.ConnID)
		e = nil
	}
	if e == nil {
		s.mu.Unlock()
		return tlib.Errorf(tlib.ErrInvalidConnID, "call %s is released (no pre-recording to keep)", req.ConnID)
	}
	if e.kept {
		s.mu.Unlock()
		return tlib.Errorf(tlib.ErrInvalidState, "the pre-recording of call %s is already kept", req.ConnID)
	}
	e.kept = true
	m := e.announce.Clone()
	s.mu.Unlock()

	m.UserData = maps.Clone(m.UserData)
	if m.UserData == nil {
		m.UserData = tlib.KVList{}
	}
	m.UserData[tlib.KeyRecord] = tlib.RecordOn
	m.Reasons = tlib.KVList{"cause": "prerecord-kept"}
	m.Time = time.Time{}
	s.ackRequest(ci, req)
	s.publish(m, nil)
	s.log.Info("pre-recording kept after the call", "conn_id", req.ConnID, "call_uuid", e.uuid, "by", ci.AppName)
	return nil
}
