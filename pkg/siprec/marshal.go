package siprec

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Marshal writes m as an RFC 7865 document: elements in the order of the
// RFC's schema (datamode, group, session, participant, stream and the three
// association kinds), times in RFC 3339 UTC, CallData as <gx:callData> in
// ExtNamespace, and Extensions back inside the element they were found in.
// Extensions in the RFC namespace or in no namespace are dropped: the
// schema's extension points only admit foreign namespaces.
// Participant.Send/Recv are not written; ParticipantStreamAssocs are.
func (m *Metadata) Marshal() ([]byte, error) {
	if err := m.checkRequired(); err != nil {
		return nil, err
	}
	w := &xmlWriter{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<recording xmlns="` + Namespace + `"`)
	if m.CallData != nil {
		w.b.WriteString(` xmlns:` + ExtPrefix + `="` + ExtNamespace + `"`)
	}
	w.b.WriteString(">\n")
	ext := m.extensionsByParent()

	if m.DataMode != "" {
		w.leaf(1, "datamode", m.DataMode)
	}
	for _, g := range m.Groups {
		w.open(1, "group", "group_id", g.ID)
		w.time(2, "associate-time", g.AssociateTime)
		w.time(2, "disassociate-time", g.DisassociateTime)
		w.raw(2, ext["group\x00"+g.ID])
		w.close(1, "group")
	}
	for _, s := range m.Sessions {
		w.open(1, "session", "session_id", s.ID)
		if s.SIPSessionID != "" {
			w.leaf(2, "sipSessionID", s.SIPSessionID)
		}
		if s.GroupRef != "" {
			w.leaf(2, "group-ref", s.GroupRef)
		}
		w.time(2, "start-time", s.StartTime)
		w.time(2, "stop-time", s.StopTime)
		w.raw(2, ext["session\x00"+s.ID])
		w.close(1, "session")
	}
	for _, p := range m.Participants {
		w.open(1, "participant", "participant_id", p.ID)
		if p.AOR != "" || p.Name != "" {
			w.open(2, "nameID", "aor", p.AOR)
			if p.Name != "" {
				w.indent(3)
				w.b.WriteString("<name")
				if p.NameLang != "" {
					w.attr("xml:lang", p.NameLang)
				}
				w.b.WriteString(">")
				w.text(p.Name)
				w.b.WriteString("</name>\n")
			}
			w.close(2, "nameID")
		}
		w.raw(2, ext["participant\x00"+p.ID])
		w.close(1, "participant")
	}
	for _, s := range m.Streams {
		w.open(1, "stream", "stream_id", s.ID, "session_id", s.SessionID)
		if s.Label != "" {
			w.leaf(2, "label", s.Label)
		}
		w.raw(2, ext["stream\x00"+s.ID])
		w.close(1, "stream")
	}
	for _, a := range m.SessionRecordingAssocs {
		w.open(1, "sessionrecordingassoc", "session_id", a.SessionID)
		w.time(2, "associate-time", a.AssociateTime)
		w.time(2, "disassociate-time", a.DisassociateTime)
		w.raw(2, ext["sessionrecordingassoc\x00"+a.SessionID])
		w.close(1, "sessionrecordingassoc")
	}
	for _, a := range m.ParticipantSessionAssocs {
		w.open(1, "participantsessionassoc", "participant_id", a.ParticipantID, "session_id", a.SessionID)
		w.time(2, "associate-time", a.AssociateTime)
		w.time(2, "disassociate-time", a.DisassociateTime)
		w.raw(2, ext["participantsessionassoc\x00"+a.ParticipantID+" "+a.SessionID])
		w.close(1, "participantsessionassoc")
	}
	for _, a := range m.ParticipantStreamAssocs {
		w.open(1, "participantstreamassoc", "participant_id", a.ParticipantID)
		for _, id := range a.Send {
			w.leaf(2, "send", id)
		}
		for _, id := range a.Recv {
			w.leaf(2, "recv", id)
		}
		w.raw(2, ext["participantstreamassoc\x00"+a.ParticipantID])
		w.close(1, "participantstreamassoc")
	}
	if m.CallData != nil {
		m.writeCallData(w)
	}
	w.raw(1, ext["recording\x00"])
	w.b.WriteString("</recording>\n")
	return w.b.Bytes(), nil
}

// checkRequired refuses documents missing ids the schema requires.
func (m *Metadata) checkRequired() error {
	missing := func(what string) error { return fmt.Errorf("%w: %s without id", ErrInvalid, what) }
	for _, g := range m.Groups {
		if g.ID == "" {
			return missing("group")
		}
	}
	for _, s := range m.Sessions {
		if s.ID == "" {
			return missing("session")
		}
	}
	for _, p := range m.Participants {
		if p.ID == "" {
			return missing("participant")
		}
	}
	for _, s := range m.Streams {
		if s.ID == "" || s.SessionID == "" {
			return missing("stream (stream_id and session_id)")
		}
	}
	for _, a := range m.SessionRecordingAssocs {
		if a.SessionID == "" {
			return missing("sessionrecordingassoc")
		}
	}
	for _, a := range m.ParticipantSessionAssocs {
		if a.ParticipantID == "" || a.SessionID == "" {
			return missing("participantsessionassoc")
		}
	}
	for _, a := range m.ParticipantStreamAssocs {
		if a.ParticipantID == "" {
			return missing("participantstreamassoc")
		}
	}
	return nil
}

// extensionsByParent groups the re-emittable extensions by "parent\x00id".
func (m *Metadata) extensionsByParent() map[string][]RawElement {
	out := map[string][]RawElement{}
	for _, e := range m.Extensions {
		if e.Space == "" || e.Space == Namespace || e.Name == "" {
			continue
		}
		key := e.Parent + "\x00" + e.ParentID
		out[key] = append(out[key], e)
	}
	return out
}

func (m *Metadata) writeCallData(w *xmlWriter) {
	cd := m.CallData
	w.indent(1)
	w.b.WriteString("<" + ExtPrefix + ":callData")
	if len(m.Sessions) > 0 {
		w.attr("session_id", m.Sessions[0].ID)
	}
	w.b.WriteString(">\n")
	for _, f := range []struct{ name, v string }{
		{"callUUID", cd.CallUUID}, {"connID", cd.ConnID}, {"recordDN", cd.RecordDN},
		{"otherDN", cd.OtherDN}, {"agentID", cd.AgentID}, {"recordingID", cd.RecordingID},
	} {
		if f.v != "" {
			w.leaf(2, ExtPrefix+":"+f.name, f.v)
		}
	}
	// Booleans are always written so a partial update can clear them.
	w.leaf(2, ExtPrefix+":prerecord", fmt.Sprint(cd.Prerecord))
	w.leaf(2, ExtPrefix+":continuation", fmt.Sprint(cd.Continuation))
	for _, dn := range cd.DNs {
		w.leaf(2, ExtPrefix+":dn", dn)
	}
	for _, k := range slices.Sorted(maps.Keys(cd.Extra)) {
		w.indent(2)
		w.b.WriteString("<" + ExtPrefix + ":extra")
		w.attr("name", k)
		w.b.WriteString(">")
		w.text(cd.Extra[k])
		w.b.WriteString("</" + ExtPrefix + ":extra>\n")
	}
	w.indent(1)
	w.b.WriteString("</" + ExtPrefix + ":callData>\n")
}

// xmlWriter writes indented XML; values are escaped, names are trusted.
type xmlWriter struct{ b bytes.Buffer }

func (w *xmlWriter) indent(level int) {
	for i := 0; i < level; i++ {
		w.b.WriteString("  ")
	}
}

func (w *xmlWriter) text(s string) { _ = xml.EscapeText(&w.b, []byte(s)) }

func (w *xmlWriter) attr(name, value string) {
	w.b.WriteString(" " + name + `="`)
	w.text(value)
	w.b.WriteString(`"`)
}

// open writes a start tag with attribute name/value pairs.
func (w *xmlWriter) open(level int, name string, attrs ...string) {
	w.indent(level)
	w.b.WriteString("<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.attr(attrs[i], attrs[i+1])
	}
	w.b.WriteString(">\n")
}

func (w *xmlWriter) close(level int, name string) {
	w.indent(level)
	w.b.WriteString("</" + name + ">\n")
}

func (w *xmlWriter) leaf(level int, name, value string) {
	w.indent(level)
	w.b.WriteString("<" + name + ">")
	w.text(value)
	w.b.WriteString("</" + name + ">\n")
}

func (w *xmlWriter) time(level int, name string, t time.Time) {
	if !t.IsZero() {
		w.leaf(level, name, formatTime(t))
	}
}

// raw re-emits extension elements, declaring their namespace on themselves.
func (w *xmlWriter) raw(level int, els []RawElement) {
	for _, e := range els {
		w.indent(level)
		w.b.WriteString("<" + e.Name)
		w.attr("xmlns", e.Space)
		prefixes := map[string]string{} // namespace URI -> declared prefix
		for _, a := range e.Attrs {
			if a.Name.Space == "xmlns" {
				prefixes[a.Value] = a.Name.Local
			}
		}
		for i, a := range e.Attrs {
			switch {
			case a.Name.Space == "" && a.Name.Local == "xmlns":
				// replaced by the declaration above
			case a.Name.Space == "xmlns":
				w.attr("xmlns:"+a.Name.Local, a.Value)
			case a.Name.Space == "":
				w.attr(a.Name.Local, a.Value)
			case a.Name.Space == xmlLangSpace:
				w.attr("xml:"+a.Name.Local, a.Value)
			default:
				pfx, ok := prefixes[a.Name.Space]
				if !ok {
					pfx = fmt.Sprintf("a%d", i)
					prefixes[a.Name.Space] = pfx
					w.attr("xmlns:"+pfx, a.Name.Space)
				}
				w.attr(pfx+":"+a.Name.Local, a.Value)
			}
		}
		inner := strings.TrimSpace(string(e.Inner))
		if inner == "" {
			w.b.WriteString("/>\n")
			continue
		}
		w.b.WriteString(">" + inner + "</" + e.Name + ">\n")
	}
}
