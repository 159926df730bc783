package siprec

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"strings"
	"time"
)

// NewID returns a fresh RFC 7865 identifier: the base64 encoding of a random
// (version 4) UUID.
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go 1.24+)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return base64.StdEncoding.EncodeToString(u[:])
}

// RecordingParty is one recorded party as the SRC sees it.
type RecordingParty struct {
	AOR   string // SIP/SIPS/tel URI of the party
	Name  string // display name, optional
	Label string // SDP a=label of the m-line carrying this party's audio
}

// BuildMetadata builds the complete snapshot an SRC sends in its first
// INVITE: one group, one session (carrying sipSessionID), and per party a
// participant and the stream it sends, with participantstreamassoc send = its
// own stream and recv = every other party's stream. All associations start at
// now. call is attached as CallData unless it is empty.
func BuildMetadata(sipSessionID string, parties []RecordingParty, call CallData, now time.Time) *Metadata {
	return buildMetadata(sipSessionID, parties, call, now, NewID)
}

func buildMetadata(sipSessionID string, parties []RecordingParty, call CallData, now time.Time, newID func() string) *Metadata {
	now = now.UTC()
	g := Group{ID: newID(), AssociateTime: now}
	s := Session{ID: newID(), GroupRef: g.ID, SIPSessionID: sipSessionID, StartTime: now}
	m := &Metadata{
		DataMode:               DataModeComplete,
		Groups:                 []Group{g},
		Sessions:               []Session{s},
		SessionRecordingAssocs: []SessionRecordingAssoc{{SessionID: s.ID, AssociateTime: now}},
	}
	for _, party := range parties {
		pid, sid := newID(), newID()
		m.Participants = append(m.Participants, Participant{ID: pid, AOR: party.AOR, Name: party.Name})
		m.Streams = append(m.Streams, Stream{ID: sid, SessionID: s.ID, Label: party.Label})
		m.ParticipantSessionAssocs = append(m.ParticipantSessionAssocs,
			ParticipantSessionAssoc{ParticipantID: pid, SessionID: s.ID, AssociateTime: now})
	}
	for i, p := range m.Participants {
		a := ParticipantStreamAssoc{ParticipantID: p.ID, Send: []string{m.Streams[i].ID}}
		for j, st := range m.Streams {
			if j != i {
				a.Recv = append(a.Recv, st.ID)
			}
		}
		m.ParticipantStreamAssocs = append(m.ParticipantStreamAssocs, a)
	}
	if !call.isZero() {
		c := call
		c.DNs = slices.Clone(call.DNs)
		if len(call.Extra) > 0 {
			c.Extra = make(map[string]string, len(call.Extra))
			for k, v := range call.Extra {
				c.Extra[k] = v
			}
		}
		m.CallData = &c
	}
	m.deriveStreams()
	return m
}

func (c CallData) isZero() bool {
	return c.CallUUID == "" && c.ConnID == "" && c.RecordDN == "" && c.OtherDN == "" &&
		c.AgentID == "" && c.RecordingID == "" && !c.Prerecord && !c.Continuation &&
		len(c.DNs) == 0 && len(c.Extra) == 0
}

// AddParty adds a party (a supervisor joining, a transfer target) to the
// snapshot m, which must hold a session: a participant, the stream it sends
// with the given label, its participantsessionassoc starting at now, and
// stream associations in which it receives every active party's streams and
// every active party receives its stream. m is updated in place and the
// datamode=partial update to send to the SRS is returned (Merge of it onto
// the old snapshot yields the new one). It returns nil if m has no session.
func (m *Metadata) AddParty(p RecordingParty, now time.Time) *Metadata {
	return m.addParty(p, now, NewID)
}

func (m *Metadata) addParty(p RecordingParty, now time.Time, newID func() string) *Metadata {
	if len(m.Sessions) == 0 {
		return nil
	}
	now = now.UTC()
	session := m.Sessions[0].ID
	pt := Participant{ID: newID(), AOR: p.AOR, Name: p.Name}
	st := Stream{ID: newID(), SessionID: session, Label: p.Label}
	psa := ParticipantSessionAssoc{ParticipantID: pt.ID, SessionID: session, AssociateTime: now}
	mine := ParticipantStreamAssoc{ParticipantID: pt.ID, Send: []string{st.ID}}

	partial := &Metadata{
		DataMode:                 DataModePartial,
		Participants:             []Participant{pt},
		Streams:                  []Stream{st},
		ParticipantSessionAssocs: []ParticipantSessionAssoc{psa},
	}
	for i := range m.ParticipantStreamAssocs {
		a := &m.ParticipantStreamAssocs[i]
		if !m.active(a.ParticipantID, session) {
			continue
		}
		mine.Recv = appendUnique(mine.Recv, a.Send...)
		a.Recv = appendUnique(a.Recv, st.ID)
		partial.ParticipantStreamAssocs = append(partial.ParticipantStreamAssocs,
			ParticipantStreamAssoc{ParticipantID: a.ParticipantID, Send: slices.Clone(a.Send), Recv: slices.Clone(a.Recv)})
	}
	partial.ParticipantStreamAssocs = append(partial.ParticipantStreamAssocs, mine)

	m.Participants = append(m.Participants, pt)
	m.Streams = append(m.Streams, st)
	m.ParticipantSessionAssocs = append(m.ParticipantSessionAssocs, psa)
	m.ParticipantStreamAssocs = append(m.ParticipantStreamAssocs,
		ParticipantStreamAssoc{ParticipantID: pt.ID, Send: slices.Clone(mine.Send), Recv: slices.Clone(mine.Recv)})
	m.deriveStreams()
	partial.deriveStreams()
	return partial
}

// active reports whether the participant is associated with the session and
// has not left it.
func (m *Metadata) active(participantID, sessionID string) bool {
	i := m.findPSA(participantID, sessionID)
	return i >= 0 && m.ParticipantSessionAssocs[i].DisassociateTime.IsZero()
}

// RemoveParty records that a participant left: every open
// participantsessionassoc of it gets disassociate-time now. m is updated in
// place and the datamode=partial update carrying those associations is
// returned, or nil if the participant had no open association.
func (m *Metadata) RemoveParty(participantID string, now time.Time) *Metadata {
	partial := &Metadata{DataMode: DataModePartial}
	for i := range m.ParticipantSessionAssocs {
		a := &m.ParticipantSessionAssocs[i]
		if a.ParticipantID == participantID && a.DisassociateTime.IsZero() {
			a.DisassociateTime = now.UTC()
			partial.ParticipantSessionAssocs = append(partial.ParticipantSessionAssocs, *a)
		}
	}
	if len(partial.ParticipantSessionAssocs) == 0 {
		return nil
	}
	return partial
}

// CallUUID returns the Genesys CallUUID of the recorded call: CallData's, or
// else the value of an AudioCodes-style <GenesysUUID> extension element
// (AudioCodes SBCs copy X-Genesys-CallUUID there), or "".
func (m *Metadata) CallUUID() string {
	if m.CallData != nil && m.CallData.CallUUID != "" {
		return m.CallData.CallUUID
	}
	for _, e := range m.Extensions {
		if strings.EqualFold(e.Name, "GenesysUUID") {
			return strings.Join(strings.Fields(string(e.Inner)), "")
		}
	}
	return ""
}
