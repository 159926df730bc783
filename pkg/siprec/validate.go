package siprec

import (
	"encoding/base64"
	"fmt"
	"time"
)

// Validate reports consistency problems: unknown data mode, empty, duplicate
// or non-base64 ids, streams without label, duplicate labels, and (for
// complete snapshots only, since a partial update may refer to elements of
// the snapshot it updates) dangling references, participants without stream
// association and streams nobody sends. It returns nil for a clean document;
// arlab's own SRC output must validate clean.
func (m *Metadata) Validate() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	if m.DataMode != DataModeComplete && m.DataMode != DataModePartial {
		add("unknown datamode %q", m.DataMode)
	}
	complete := m.DataMode != DataModePartial

	groups := checkIDs("group", len(m.Groups), func(i int) string { return m.Groups[i].ID }, add)
	sessions := checkIDs("session", len(m.Sessions), func(i int) string { return m.Sessions[i].ID }, add)
	participants := checkIDs("participant", len(m.Participants), func(i int) string { return m.Participants[i].ID }, add)
	streams := checkIDs("stream", len(m.Streams), func(i int) string { return m.Streams[i].ID }, add)

	labels := map[string]string{}
	for _, s := range m.Streams {
		if s.Label == "" {
			add("stream %q has no label", s.ID)
		} else if other, dup := labels[s.Label]; dup {
			add("label %q is used by streams %q and %q", s.Label, other, s.ID)
		} else {
			labels[s.Label] = s.ID
		}
	}
	for _, a := range m.ParticipantSessionAssocs {
		if disorder(a.AssociateTime, a.DisassociateTime) {
			add("participantsessionassoc %q/%q: disassociate-time before associate-time", a.ParticipantID, a.SessionID)
		}
	}
	for _, g := range m.Groups {
		if disorder(g.AssociateTime, g.DisassociateTime) {
			add("group %q: disassociate-time before associate-time", g.ID)
		}
	}
	for _, s := range m.Sessions {
		if disorder(s.StartTime, s.StopTime) {
			add("session %q: stop-time before start-time", s.ID)
		}
	}
	if !complete {
		return out
	}

	for _, s := range m.Sessions {
		if s.GroupRef != "" && !groups[s.GroupRef] {
			add("session %q: group-ref %q names no group", s.ID, s.GroupRef)
		}
	}
	for _, s := range m.Streams {
		switch {
		case s.SessionID == "":
			add("stream %q has no session_id", s.ID)
		case !sessions[s.SessionID]:
			add("stream %q: session_id %q names no session", s.ID, s.SessionID)
		}
	}
	for _, a := range m.SessionRecordingAssocs {
		if !sessions[a.SessionID] {
			add("sessionrecordingassoc names unknown session %q", a.SessionID)
		}
	}
	for _, a := range m.ParticipantSessionAssocs {
		if !participants[a.ParticipantID] {
			add("participantsessionassoc names unknown participant %q", a.ParticipantID)
		}
		if !sessions[a.SessionID] {
			add("participantsessionassoc names unknown session %q", a.SessionID)
		}
	}
	senders := map[string]int{}
	associated := map[string]bool{}
	for _, a := range m.ParticipantStreamAssocs {
		associated[a.ParticipantID] = true
		if !participants[a.ParticipantID] {
			add("participantstreamassoc names unknown participant %q", a.ParticipantID)
		}
		for _, id := range a.Send {
			senders[id]++
			if !streams[id] {
				add("participant %q sends unknown stream %q", a.ParticipantID, id)
			}
		}
		for _, id := range a.Recv {
			if !streams[id] {
				add("participant %q receives unknown stream %q", a.ParticipantID, id)
			}
		}
	}
	for _, pt := range m.Participants {
		if pt.AOR == "" {
			add("participant %q has no aor", pt.ID)
		}
		if len(m.Streams) > 0 && !associated[pt.ID] {
			add("participant %q has no stream association", pt.ID)
		}
	}
	for _, s := range m.Streams {
		switch n := senders[s.ID]; {
		case n == 0:
			add("stream %q (label %q) has no sending participant", s.ID, s.Label)
		case n > 1:
			add("stream %q (label %q) is sent by %d participants (mixed)", s.ID, s.Label, n)
		}
	}
	return out
}

// checkIDs reports empty, duplicate and non-base64 ids and returns the set.
func checkIDs(kind string, n int, id func(int) string, add func(string, ...any)) map[string]bool {
	set := make(map[string]bool, n)
	for i := 0; i < n; i++ {
		v := id(i)
		switch {
		case v == "":
			add("%s without id", kind)
			continue
		case set[v]:
			add("duplicate %s id %q", kind, v)
		case !isBase64(v):
			add("%s id %q is not base64", kind, v)
		}
		set[v] = true
	}
	return set
}

func isBase64(s string) bool {
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

func disorder(assoc, disassoc time.Time) bool {
	return !assoc.IsZero() && !disassoc.IsZero() && disassoc.Before(assoc)
}
