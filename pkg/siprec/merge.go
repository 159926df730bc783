package siprec

import (
	"maps"
	"slices"
	"time"
)

// Merge applies a datamode=partial update onto m (normally a complete
// snapshot), as an SRS must on re-INVITE/UPDATE (RFC 7866):
//   - groups, sessions, participants and streams are added, or updated field
//     by field (non-empty fields of the update win) when the id exists;
//   - associations are matched by their ids (session; participant+session;
//     participant) and likewise added or updated, so a disassociate-time in
//     the update is recorded; a participantstreamassoc replaces the
//     participant's send/recv lists, since it states the current set;
//   - CallData strings overwrite when non-empty, booleans always overwrite
//     (arlab's SRC always writes them), DNs are replaced when given and Extra
//     keys are merged;
//   - extensions replace those with the same parent and name, others are
//     appended; warnings are appended.
//
// If partial is itself a complete snapshot it replaces m entirely.
// Participant.Send/Recv are recomputed. m keeps its data mode.
func (m *Metadata) Merge(partial *Metadata) {
	if partial == nil {
		return
	}
	if partial.DataMode == DataModeComplete {
		*m = *partial.Clone()
		return
	}
	upsert(&m.Groups, partial.Groups, func(g Group) string { return g.ID }, func(o *Group, g Group) {
		setTime(&o.AssociateTime, g.AssociateTime)
		setTime(&o.DisassociateTime, g.DisassociateTime)
	})
	upsert(&m.Sessions, partial.Sessions, func(s Session) string { return s.ID }, func(o *Session, s Session) {
		setStr(&o.GroupRef, s.GroupRef)
		setStr(&o.SIPSessionID, s.SIPSessionID)
		setTime(&o.StartTime, s.StartTime)
		setTime(&o.StopTime, s.StopTime)
	})
	upsert(&m.Participants, partial.Participants, func(p Participant) string { return p.ID }, func(o *Participant, p Participant) {
		setStr(&o.AOR, p.AOR)
		setStr(&o.Name, p.Name)
		setStr(&o.NameLang, p.NameLang)
	})
	upsert(&m.Streams, partial.Streams, func(s Stream) string { return s.ID }, func(o *Stream, s Stream) {
		setStr(&o.SessionID, s.SessionID)
		setStr(&o.Label, s.Label)
	})
	upsert(&m.SessionRecordingAssocs, partial.SessionRecordingAssocs,
		func(a SessionRecordingAssoc) string { return a.SessionID },
		func(o *SessionRecordingAssoc, a SessionRecordingAssoc) {
			setTime(&o.AssociateTime, a.AssociateTime)
			setTime(&o.DisassociateTime, a.DisassociateTime)
		})
	upsert(&m.ParticipantSessionAssocs, partial.ParticipantSessionAssocs,
		func(a ParticipantSessionAssoc) string { return a.ParticipantID + "\x00" + a.SessionID },
		func(o *ParticipantSessionAssoc, a ParticipantSessionAssoc) {
			setTime(&o.AssociateTime, a.AssociateTime)
			setTime(&o.DisassociateTime, a.DisassociateTime)
		})
	psts := make([]ParticipantStreamAssoc, len(partial.ParticipantStreamAssocs))
	for i, a := range partial.ParticipantStreamAssocs {
		psts[i] = ParticipantStreamAssoc{ParticipantID: a.ParticipantID, Send: slices.Clone(a.Send), Recv: slices.Clone(a.Recv)}
	}
	upsert(&m.ParticipantStreamAssocs, psts, func(a ParticipantStreamAssoc) string { return a.ParticipantID },
		func(o *ParticipantStreamAssoc, a ParticipantStreamAssoc) { *o = a })
	if cd := partial.CallData; cd != nil {
		if m.CallData == nil {
			m.CallData = &CallData{}
		}
		o := m.CallData
		setStr(&o.CallUUID, cd.CallUUID)
		setStr(&o.ConnID, cd.ConnID)
		setStr(&o.RecordDN, cd.RecordDN)
		setStr(&o.OtherDN, cd.OtherDN)
		setStr(&o.AgentID, cd.AgentID)
		setStr(&o.RecordingID, cd.RecordingID)
		o.Prerecord = cd.Prerecord
		o.Continuation = cd.Continuation
		if len(cd.DNs) > 0 {
			o.DNs = slices.Clone(cd.DNs)
		}
		if len(cd.Extra) > 0 {
			if o.Extra == nil {
				o.Extra = map[string]string{}
			}
			maps.Copy(o.Extra, cd.Extra)
		}
	}
	exts := make([]RawElement, len(partial.Extensions))
	for i, e := range partial.Extensions {
		e.Attrs, e.Inner = slices.Clone(e.Attrs), slices.Clone(e.Inner)
		exts[i] = e
	}
	upsert(&m.Extensions, exts, func(e RawElement) string {
		return e.Parent + "\x00" + e.ParentID + "\x00" + e.Space + "\x00" + e.Name
	}, func(o *RawElement, e RawElement) { *o = e })
	m.Warnings = append(m.Warnings, partial.Warnings...)
	m.deriveStreams()
}

// upsert merges items into *dst by key: an item whose key exists updates the
// first element with that key, others are appended. It is linear, since it
// runs on untrusted updates.
func upsert[T any](dst *[]T, items []T, key func(T) string, update func(*T, T)) {
	if len(items) == 0 {
		return
	}
	idx := make(map[string]int, len(*dst)+len(items))
	for i, x := range *dst {
		if _, dup := idx[key(x)]; !dup {
			idx[key(x)] = i
		}
	}
	for _, it := range items {
		k := key(it)
		if i, ok := idx[k]; ok {
			update(&(*dst)[i], it)
			continue
		}
		idx[k] = len(*dst)
		*dst = append(*dst, it)
	}
}

func setStr(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

func setTime(dst *time.Time, v time.Time) {
	if !v.IsZero() {
		*dst = v
	}
}

func (m *Metadata) findPSA(participantID, sessionID string) int {
	return slices.IndexFunc(m.ParticipantSessionAssocs, func(x ParticipantSessionAssoc) bool {
		return x.ParticipantID == participantID && x.SessionID == sessionID
	})
}

// deriveStreams fills Participant.Send/Recv from the stream associations.
// Only the first participant of a duplicated id gets them (Validate reports
// the duplicate), which keeps hostile documents linear.
func (m *Metadata) deriveStreams() {
	byParticipant := make(map[string][]int, len(m.ParticipantStreamAssocs))
	for i, a := range m.ParticipantStreamAssocs {
		byParticipant[a.ParticipantID] = append(byParticipant[a.ParticipantID], i)
	}
	done := make(map[string]bool, len(m.Participants))
	for i := range m.Participants {
		p := &m.Participants[i]
		p.Send, p.Recv = nil, nil
		if done[p.ID] {
			continue
		}
		done[p.ID] = true
		for _, j := range byParticipant[p.ID] {
			a := m.ParticipantStreamAssocs[j]
			p.Send = appendUnique(p.Send, a.Send...)
			p.Recv = appendUnique(p.Recv, a.Recv...)
		}
	}
}

// Clone returns a deep copy of m.
func (m *Metadata) Clone() *Metadata {
	if m == nil {
		return nil
	}
	c := *m
	c.Groups = slices.Clone(m.Groups)
	c.Sessions = slices.Clone(m.Sessions)
	c.Participants = slices.Clone(m.Participants)
	for i := range c.Participants {
		c.Participants[i].Send = slices.Clone(c.Participants[i].Send)
		c.Participants[i].Recv = slices.Clone(c.Participants[i].Recv)
	}
	c.Streams = slices.Clone(m.Streams)
	c.SessionRecordingAssocs = slices.Clone(m.SessionRecordingAssocs)
	c.ParticipantSessionAssocs = slices.Clone(m.ParticipantSessionAssocs)
	c.ParticipantStreamAssocs = slices.Clone(m.ParticipantStreamAssocs)
	for i := range c.ParticipantStreamAssocs {
		c.ParticipantStreamAssocs[i].Send = slices.Clone(c.ParticipantStreamAssocs[i].Send)
		c.ParticipantStreamAssocs[i].Recv = slices.Clone(c.ParticipantStreamAssocs[i].Recv)
	}
	if m.CallData != nil {
		cd := *m.CallData
		cd.DNs = slices.Clone(cd.DNs)
		cd.Extra = maps.Clone(cd.Extra)
		c.CallData = &cd
	}
	c.Extensions = slices.Clone(m.Extensions)
	for i := range c.Extensions {
		c.Extensions[i].Attrs = slices.Clone(c.Extensions[i].Attrs)
		c.Extensions[i].Inner = slices.Clone(c.Extensions[i].Inner)
	}
	c.Warnings = slices.Clone(m.Warnings)
	return &c
}
