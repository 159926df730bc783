package msml

import (
	"bytes"
	"encoding/xml"
	"strconv"
)

// writer builds a document with a fixed attribute order, so output is
// deterministic (golden files) and diffs are readable.
type writer struct{ b bytes.Buffer }

func newWriter() *writer {
	w := &writer{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString(`<msml version="` + Version + `">` + "\n")
	return w
}

func (w *writer) attr(name, value string) {
	w.b.WriteByte(' ')
	w.b.WriteString(name)
	w.b.WriteString(`="`)
	_ = xml.EscapeText(&w.b, []byte(value)) // bytes.Buffer writes never fail
	w.b.WriteByte('"')
}

// optAttr writes the attribute only when value is set.
func (w *writer) optAttr(name, value string) {
	if value != "" {
		w.attr(name, value)
	}
}

func (w *writer) text(s string) { _ = xml.EscapeText(&w.b, []byte(s)) }

func (w *writer) done() []byte {
	w.b.WriteString("</msml>\n")
	return w.b.Bytes()
}

// Marshal writes the request as an MSML document. It validates first: an
// invalid request is returned as an *Error rather than sent.
func (r *Request) Marshal() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	w := newWriter()
	switch r.Op {
	case OpRecord:
		w.b.WriteString("  <dialogstart")
		w.attr("target", "conf:"+r.Conf)
		w.attr("type", "application/moml+xml")
		w.optAttr("name", r.RecordingID)
		w.b.WriteString(">\n    <record")
		rec := r.Record
		w.optAttr("calluuid", rec.CallUUID)
		w.optAttr("connid", rec.ConnID)
		w.optAttr("recorddn", rec.RecordDN)
		w.optAttr("otherdn", rec.OtherDN)
		w.optAttr("side", string(rec.Side))
		w.optAttr("sessions", string(rec.Sessions))
		if rec.Prerecord {
			w.attr("prerecord", "true")
		}
		w.optAttr("srtp", rec.SRTP)
		w.optAttr("transport", rec.Transport)
		w.optAttr("mode", string(rec.Mode))
		if len(rec.Dests) == 0 {
			w.b.WriteString("/>\n")
		} else {
			w.b.WriteString(">\n")
			for _, d := range rec.Dests {
				w.b.WriteString("      <dest")
				w.attr("uri", d.URI)
				w.optAttr("mode", string(d.Mode))
				if d.Direct {
					w.attr("direct", "true")
				}
				w.b.WriteString("/>\n")
			}
			w.b.WriteString("    </record>\n")
		}
		w.b.WriteString("  </dialogstart>\n")
	case OpPause, OpResume:
		w.b.WriteString("  <send")
		w.attr("target", DialogID(r.Conf, r.RecordingID))
		w.attr("event", string(r.Op))
		w.b.WriteString("/>\n")
	case OpStop:
		w.b.WriteString("  <dialogend")
		w.attr("id", DialogID(r.Conf, r.RecordingID))
		w.b.WriteString("/>\n")
	case OpJoin, OpUnjoin:
		w.b.WriteString("  <" + string(r.Op))
		w.attr("id1", "conn:"+r.Conn)
		w.attr("id2", "conf:"+r.Conf)
		if r.Op == OpJoin {
			mode := r.JoinMode
			if mode == "" {
				mode = JoinMute
			}
			w.attr("mode", string(mode))
			if r.Agent != "" {
				w.attr("agent", "conn:"+r.Agent)
			}
		}
		w.b.WriteString("/>\n")
	}
	return w.done(), nil
}

// NewRecord builds a record request for conference conf.
func NewRecord(conf, recordingID string, rec Record) *Request {
	return &Request{Op: OpRecord, Conf: conf, RecordingID: recordingID, Record: &rec}
}

// NewPause builds a pause request for a recording.
func NewPause(conf, recordingID string) *Request {
	return &Request{Op: OpPause, Conf: conf, RecordingID: recordingID}
}

// NewResume builds a resume request for a recording.
func NewResume(conf, recordingID string) *Request {
	return &Request{Op: OpResume, Conf: conf, RecordingID: recordingID}
}

// NewStop builds a stop request for a recording.
func NewStop(conf, recordingID string) *Request {
	return &Request{Op: OpStop, Conf: conf, RecordingID: recordingID}
}

// NewJoin builds a supervisor join: mode JoinMute, or JoinCoach with the
// agent's DN.
func NewJoin(conf, supervisorDN string, mode JoinMode, agentDN string) *Request {
	return &Request{Op: OpJoin, Conf: conf, Conn: supervisorDN, JoinMode: mode, Agent: agentDN}
}

// NewUnjoin builds a supervisor unjoin.
func NewUnjoin(conf, supervisorDN string) *Request {
	return &Request{Op: OpUnjoin, Conf: conf, Conn: supervisorDN}
}

func itoa(n int) string { return strconv.Itoa(n) }
