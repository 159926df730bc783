package msml

import (
	"strings"
)

// Event names the media server sends in INFO to the SIP Server.
const (
	// EventRecordStarted: a destination of a recording is up (its recording
	// session answered 200, or its local file is open).
	EventRecordStarted = "record.started"
	// EventRecordFailed: a destination failed (rejected, timed out, or ended
	// by the recorder mid-call).
	EventRecordFailed = "record.failed"
	// EventRecordRecovered: a failed destination was re-established through
	// the Resource Manager under the same recording id.
	EventRecordRecovered = "record.recovered"
)

// Event parameter names.
const (
	ParamDest       = "dest"       // the destination URI as requested
	ParamCode       = "code"       // SIP status of the failure (408 for a timeout)
	ParamReason     = "reason"     // human-readable cause
	ParamRecovering = "recovering" // "true" when a re-establishment will be tried
	ParamActive     = "active"     // destinations of the recording still up
	ParamRecorder   = "recorder"   // the recorder's Contact (started/recovered)
)

// Param is one name/value pair of an event.
type Param struct{ Name, Value string }

// Event is an MSML <event> (RFC 5707 §7.9) about one recording.
type Event struct {
	Name        string
	Conf        string
	RecordingID string
	Params      []Param
}

// Get returns the value of the first parameter called name.
func (e *Event) Get(name string) string {
	for _, p := range e.Params {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}

// Marshal writes the event document.
func (e Event) Marshal() []byte {
	w := newWriter()
	w.b.WriteString("  <event")
	w.attr("name", e.Name)
	w.attr("id", DialogID(e.Conf, e.RecordingID))
	w.b.WriteString(">\n")
	for _, p := range e.Params {
		w.b.WriteString("    <name>")
		w.text(p.Name)
		w.b.WriteString("</name><value>")
		w.text(p.Value)
		w.b.WriteString("</value>\n")
	}
	w.b.WriteString("  </event>\n")
	return w.done()
}

// ParseEvent reads an <event> document. Name/value pairs are kept in order;
// a <name> without a following <value> gets an empty value.
func ParseEvent(b []byte) (*Event, error) {
	root, err := parseRoot(b)
	if err != nil {
		return nil, err
	}
	if len(root.children) != 1 || root.children[0].name != "event" {
		return nil, newError(CodeBadRequest, "not an event document")
	}
	n := root.children[0]
	if err := n.allowAttrs("name", "id"); err != nil {
		return nil, err
	}
	if err := n.noText(); err != nil {
		return nil, err
	}
	name, err := n.required("name")
	if err != nil {
		return nil, err
	}
	id, err := n.required("id")
	if err != nil {
		return nil, err
	}
	conf, rid, err := parseDialogID(id, "id")
	if err != nil {
		return nil, err
	}
	ev := &Event{Name: name, Conf: conf, RecordingID: rid}
	if err := n.onlyChildren("name", "value"); err != nil {
		return nil, err
	}
	for i := 0; i < len(n.children); i++ {
		c := n.children[i]
		if c.name != "name" {
			return nil, newError(CodeBadRequest, "<value> without a <name> in <event>")
		}
		p := Param{Name: strings.TrimSpace(c.text.String())}
		if i+1 < len(n.children) && n.children[i+1].name == "value" {
			p.Value = strings.TrimSpace(n.children[i+1].text.String())
			i++
		}
		ev.Params = append(ev.Params, p)
	}
	return ev, nil
}
