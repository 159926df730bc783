package msml

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/realpeer"
)

func doc(body string) []byte {
	return []byte(`<?xml version="1.0"?><msml version="1.1">` + body + `</msml>`)
}

func TestParseRequestValid(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want *Request
	}{
		{"record without namespace or type", doc(`<dialogstart target="conf:c9"><record/></dialogstart>`),
			&Request{Op: OpRecord, Conf: "c9", Record: &Record{}}},
		{"record with default namespace and schema attribute",
			[]byte(`<msml xmlns="urn:ietf:params:xml:ns:msml" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="x" version="1.0">` +
				`<dialogstart target="conf:c9" name="r1"><record side="source" prerecord="yes"><dest uri=" sip:a@b "/></record></dialogstart></msml>`),
			&Request{Op: OpRecord, Conf: "c9", RecordingID: "r1", Record: &Record{Side: SideSource, Prerecord: true, Dests: []Dest{{URI: "sip:a@b"}}}}},
		{"transport is case-insensitive", doc(`<dialogstart target="conf:c9"><record transport="TCP"/></dialogstart>`),
			&Request{Op: OpRecord, Conf: "c9", Record: &Record{Transport: "tcp"}}},
		{"pause with app. prefix", doc(`<send target="conf:c1/dialog:r1" event="app.pause"/>`),
			&Request{Op: OpPause, Conf: "c1", RecordingID: "r1"}},
		{"terminate is stop", doc(`<send target="conf:c1/dialog:r1" event="terminate"/>`),
			&Request{Op: OpStop, Conf: "c1", RecordingID: "r1"}},
		{"join without mode", doc(`<join id1="conn:7100" id2="conf:c1"/>`),
			&Request{Op: OpJoin, Conf: "c1", Conn: "7100"}},
		{"comments and whitespace", doc("\n<!-- stop it -->\n  <dialogend id=\"conf:c1/dialog:r1\">\n</dialogend>\n"),
			&Request{Op: OpStop, Conf: "c1", RecordingID: "r1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRequest(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseRequestErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		code     int
		sentinel error
		msg      string
	}{
		{"empty", []byte("  "), 400, ErrMalformed, "empty"},
		{"not xml", []byte("record please"), 400, ErrMalformed, "outside the root"},
		{"unclosed", doc(`<dialogend id="conf:c1/dialog:r1">`), 400, ErrMalformed, "well-formed"},
		{"wrong root", []byte(`<moml version="1.1"/>`), 400, ErrMalformed, "root element"},
		{"no version", []byte(`<msml><dialogend id="conf:c1/dialog:r1"/></msml>`), 408, ErrMissingAttribute, "version"},
		{"bad version", []byte(`<msml version="2.0"><dialogend id="conf:c1/dialog:r1"/></msml>`), 410, ErrInvalidValue, "version"},
		{"dtd", []byte(`<?xml version="1.0"?><!DOCTYPE msml [<!ENTITY x "y">]><msml version="1.1"/>`), 400, ErrMalformed, "DTD"},
		{"unknown entity", doc(`<dialogend id="&x;"/>`), 400, ErrMalformed, "well-formed"},
		{"no operation", doc(``), 400, ErrMalformed, "no operation"},
		{"two operations", doc(`<dialogend id="conf:c1/dialog:r1"/><dialogend id="conf:c1/dialog:r2"/>`), 400, ErrMalformed, "one operation"},
		{"unknown element", doc(`<recordstart/>`), 401, ErrUnknownElement, "recordstart"},
		{"unsupported element", doc(`<createconference name="x"/>`), 402, ErrUnsupportedElement, "createconference"},
		{"play inside dialogstart", doc(`<dialogstart target="conf:c1"><play/></dialogstart>`), 402, ErrUnsupportedElement, "play"},
		{"unknown child of record", doc(`<dialogstart target="conf:c1"><record><destination uri="sip:x@y"/></record></dialogstart>`), 401, ErrUnknownElement, "destination"},
		{"unknown attribute", doc(`<dialogstart target="conf:c1"><record color="red"/></dialogstart>`), 406, ErrUnknownAttribute, "color"},
		{"repeated attribute", doc(`<dialogend id="conf:c1/dialog:r1" id="conf:c1/dialog:r2"/>`), 400, ErrMalformed, ""},
		{"missing target", doc(`<dialogstart><record/></dialogstart>`), 408, ErrMissingAttribute, "target"},
		{"missing dest uri", doc(`<dialogstart target="conf:c1"><record><dest/></record></dialogstart>`), 408, ErrMissingAttribute, "uri"},
		{"no record", doc(`<dialogstart target="conf:c1"/>`), 400, ErrMalformed, "exactly one"},
		{"bad target", doc(`<dialogstart target="c1"><record/></dialogstart>`), 410, ErrInvalidValue, "conf:"},
		{"bad side", doc(`<dialogstart target="conf:c1"><record side="left"/></dialogstart>`), 410, ErrInvalidValue, "side"},
		{"bad mode", doc(`<dialogstart target="conf:c1"><record mode="mp3"/></dialogstart>`), 410, ErrInvalidValue, "mode"},
		{"bad dest scheme", doc(`<dialogstart target="conf:c1"><record><dest uri="http://x"/></record></dialogstart>`), 410, ErrInvalidValue, "destination"},
		{"file dest with mode", doc(`<dialogstart target="conf:c1"><record><dest uri="file:///x" mode="siprec"/></record></dialogstart>`), 410, ErrInvalidValue, "file"},
		{"bad boolean", doc(`<dialogstart target="conf:c1"><record prerecord="maybe"/></dialogstart>`), 410, ErrInvalidValue, "boolean"},
		{"bad recording id", doc(`<dialogstart target="conf:c1" name="../../etc"><record/></dialogstart>`), 410, ErrInvalidValue, "recording id"},
		{"bad dn", doc(`<dialogstart target="conf:c1"><record recorddn="70 01"/></dialogstart>`), 410, ErrInvalidValue, "recorddn"},
		{"too many dests", doc(`<dialogstart target="conf:c1"><record>` + strings.Repeat(`<dest uri="sip:a@b"/>`, 9) + `</record></dialogstart>`), 410, ErrInvalidValue, "destinations"},
		{"text in record", doc(`<dialogstart target="conf:c1"><record>now</record></dialogstart>`), 400, ErrMalformed, "text"},
		{"unknown send event", doc(`<send target="conf:c1/dialog:r1" event="rewind"/>`), 410, ErrInvalidValue, "rewind"},
		{"send to a conference", doc(`<send target="conf:c1" event="pause"/>`), 410, ErrInvalidValue, "dialog"},
		{"coach without agent", doc(`<join id1="conn:7100" id2="conf:c1" mode="coach"/>`), 410, ErrInvalidValue, "agent"},
		{"agent in mute", doc(`<join id1="conn:7100" id2="conf:c1" mode="mute" agent="conn:7001"/>`), 410, ErrInvalidValue, "coach"},
		{"unjoin with mode", doc(`<unjoin id1="conn:7100" id2="conf:c1" mode="mute"/>`), 406, ErrUnknownAttribute, "mode"},
		{"join with stream child", doc(`<join id1="conn:7100" id2="conf:c1"><stream media="audio"/></join>`), 402, ErrUnsupportedElement, "stream"},
		{"event is not a request", doc(`<event name="x" id="conf:c1/dialog:r1"/>`), 402, ErrUnsupportedElement, "event"},
		{"too large", doc(`<dialogend id="conf:c1/dialog:r1"/>` + strings.Repeat(" ", MaxSize)), 400, ErrTooLarge, "exceeds"},
		{"too deep", doc(strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20)), 400, ErrMalformed, "deep"},
		{"content after root", []byte(`<msml version="1.1"><dialogend id="conf:c1/dialog:r1"/></msml><msml/>`), 400, ErrMalformed, "after the root"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.in)
			require.Error(t, err)
			var e *Error
			require.True(t, errors.As(err, &e), "want *Error, got %T %v", err, err)
			assert.Equal(t, tc.code, e.Code, e.Msg)
			assert.Equal(t, tc.code, CodeOf(err))
			assert.ErrorIs(t, err, tc.sentinel)
			assert.Contains(t, e.Msg, tc.msg)
			// The result a server answers with carries the same code and text.
			res, perr := ParseResult(ResultFor(err).Marshal())
			require.NoError(t, perr)
			assert.Equal(t, tc.code, res.Code)
			assert.Equal(t, e.Msg, res.Description)
		})
	}
}

func TestMarshalRefusesInvalid(t *testing.T) {
	_, err := NewPause("c1", "").Marshal()
	assert.ErrorIs(t, err, ErrInvalidValue)
	_, err = NewRecord("bad conf", "", Record{}).Marshal()
	assert.ErrorIs(t, err, ErrInvalidValue)
	_, err = (&Request{Op: "dance", Conf: "c1"}).Marshal()
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = NewRecord("c1", "r", Record{Dests: []Dest{{URI: `sip:a"><x`}}}).Marshal()
	assert.ErrorIs(t, err, ErrInvalidValue)
}

func TestResultAndEventParse(t *testing.T) {
	res, err := ParseResult(Result{Code: 200, DialogID: "conf:c1/dialog:r1"}.Marshal())
	require.NoError(t, err)
	assert.True(t, res.OK())
	assert.NoError(t, res.Err())
	assert.Equal(t, "conf:c1/dialog:r1", res.DialogID)

	res, err = ParseResult(doc(`<result response="431"><description> in use </description><confid>x</confid></result>`))
	require.NoError(t, err)
	assert.False(t, res.OK())
	assert.ErrorIs(t, res.Err(), ErrObjectExists)
	assert.Equal(t, "in use", res.Description)

	_, err = ParseResult(doc(`<result response="abc"/>`))
	assert.ErrorIs(t, err, ErrInvalidValue)
	_, err = ParseResult(doc(`<dialogend id="conf:c1/dialog:r1"/>`))
	assert.ErrorIs(t, err, ErrMalformed)

	in := Event{Name: EventRecordFailed, Conf: "c1", RecordingID: "r1", Params: []Param{{ParamCode, "408"}, {ParamReason, "a <b> & c"}}}
	ev, err := ParseEvent(in.Marshal())
	require.NoError(t, err)
	assert.Equal(t, &in, ev)
	assert.Equal(t, "a <b> & c", ev.Get(ParamReason))
	assert.Equal(t, "", ev.Get("nothing"))

	ev, err = ParseEvent(doc(`<event name="x" id="conf:c1/dialog:r1"><name>a</name><name>b</name><value>2</value></event>`))
	require.NoError(t, err)
	assert.Equal(t, []Param{{"a", ""}, {"b", "2"}}, ev.Params)
	_, err = ParseEvent(doc(`<event name="x" id="conf:c1/dialog:r1"><value>2</value></event>`))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = ParseEvent(doc(`<event id="conf:c1/dialog:r1"/>`))
	assert.ErrorIs(t, err, ErrMissingAttribute)
}

// TestGoldenWellFormed has a parser no one here wrote check every golden
// document.
func TestGoldenWellFormed(t *testing.T) {
	xmllint := realpeer.Need(t, "xmllint")
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out, err := exec.Command(xmllint, append([]string{"--noout"}, files...)...).CombinedOutput()
	require.NoError(t, err, string(out))
}
