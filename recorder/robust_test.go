package recorder

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
)

func twoParties() []party {
	return []party{{label: "a", aor: "sip:7001@lab", tone: toneA, law: audio.Ulaw},
		{label: "b", aor: "sip:7002@lab", tone: toneB, law: audio.Ulaw}}
}

func TestSessionLimit503(t *testing.T) {
	r := startRecorder(t, func(c *Config) { c.MaxSessions = 2 })
	src := newTestSRC(t, "tcp", nil)
	c1, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "L1", parties: twoParties()})
	require.NoError(t, err)
	c2, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "L2", parties: twoParties()})
	require.NoError(t, err)
	_, err = src.call(r.SIPAddr("tcp"), callOpts{callUUID: "L3", parties: twoParties()})
	var dr *sipgo.ErrDialogResponse
	require.ErrorAs(t, err, &dr)
	assert.Equal(t, 503, dr.Res.StatusCode)
	assert.Contains(t, dr.Res.Reason, "session limit")
	ra := dr.Res.GetHeader("Retry-After")
	require.NotNil(t, ra)
	assert.Equal(t, "5", ra.Value())

	var m strings.Builder
	r.writeMetrics(t.Context(), &m)
	assert.Contains(t, m.String(), "arlab_recorder_sessions_overload_total 1\n")
	assert.Contains(t, m.String(), "arlab_recorder_sessions_active 2\n")

	c1.hangup()
	c4, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "L4", parties: twoParties()})
	require.NoError(t, err, "a slot is free again after BYE")
	c2.hangup()
	c4.hangup()
	assert.Zero(t, r.active.Load())
}

const goodSDP = "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=label:1\r\na=sendonly\r\n"

func rawInvite(extraHeaders, contentType, body string) string {
	h := "INVITE sip:srs@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1:1\nFrom: <sip:src@127.0.0.1>;tag=t1\n" +
		"To: <sip:srs@127.0.0.1>\nCall-ID: robust-" + time.Now().Format("150405.000000000") + "\nCSeq: 1 INVITE\n" +
		"Contact: <sip:src@127.0.0.1:1;transport=tcp>;+sip.src\nMax-Forwards: 70\n" + extraHeaders
	if contentType != "" {
		h += "Content-Type: " + contentType + "\n"
	}
	return h + "\n" + body
}

func multipart(sdpBody, meta string) string {
	return "--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdpBody + "\r\n--b1\r\nContent-Type: application/rs-metadata+xml\r\n" +
		"Content-Disposition: recording-session\r\n\r\n" + meta + "\r\n--b1--\r\n"
}

// TestRefusals checks that unusable INVITEs get the final response a real SRS would send,
// with a reason phrase that says why, and that nothing is left in the store.
func TestRefusals(t *testing.T) {
	r := startRecorder(t, func(c *Config) { c.SRTP = SRTPOff })
	meta := `<recording xmlns="urn:ietf:params:xml:ns:recording:1"><datamode>complete</datamode></recording>`
	cases := []struct {
		name   string
		msg    string
		code   int
		reason string
	}{
		{"not a recording session", strings.Replace(rawInvite("", "application/sdp", goodSDP), ";+sip.src", "", 1), 488, "not a recording session"},
		{"unknown Require", rawInvite("Require: siprec, 100rel\n", "application/sdp", goodSDP), 420, "100rel"},
		{"no SDP", rawInvite("Require: siprec\n", "", ""), 488, "without sdp"},
		{"unsupported content", rawInvite("Require: siprec\n", "text/plain", "hello"), 415, "unsupported media type"},
		{"unreadable SDP", rawInvite("Require: siprec\n", "application/sdp", "this is not sdp"), 488, "sdp"},
		{"video only", rawInvite("Require: siprec\n", "application/sdp",
			strings.Replace(goodSDP, "m=audio 4000 RTP/AVP 0", "m=video 4000 RTP/AVP 96", 1)), 488, "no audio"},
		{"no common codec", rawInvite("Require: siprec\n", "application/sdp",
			strings.Replace(goodSDP, "RTP/AVP 0", "RTP/AVP 18", 1)), 488, "codec"},
		{"SRTP while off", rawInvite("Require: siprec\n", "application/sdp",
			strings.Replace(goodSDP, "RTP/AVP 0\r\n", "RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n", 1)), 488, "srtp"},
		{"DTD in metadata", rawInvite("Require: siprec\n", "multipart/mixed;boundary=b1",
			multipart(goodSDP, `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x "y">]>`+meta)), 400, "entity"},
		{"multipart without SDP", rawInvite("Require: siprec\n", "multipart/mixed;boundary=b1",
			"--b1\r\nContent-Type: text/plain\r\n\r\nx\r\n--b1--\r\n"), 488, "no sdp"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, r.SIPAddr("tcp").String())
			c.send(c.normalize(tc.msg))
			res := c.final()
			assert.Equal(t, tc.code, res.StatusCode, res.Reason)
			assert.Contains(t, strings.ToLower(res.Reason), tc.reason)
		})
	}
	// An oversize message (sipgo's limit is 64 KiB, below pkg/siprec's body limit) is dropped
	// by the transport with its connection.
	c := dialRaw(t, r.SIPAddr("tcp").String())
	c.send(c.normalize(rawInvite("Require: siprec\n", "multipart/mixed;boundary=b1",
		multipart(goodSDP, meta+strings.Repeat(" ", 1<<20)))))
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := c.rd.ReadByte()
	require.Error(t, err)
	assert.NotErrorIs(t, err, os.ErrDeadlineExceeded, "connection closed, not left hanging")

	p, err := r.Store().Search(t.Context(), Query{})
	require.NoError(t, err)
	assert.Zero(t, p.Total, "refused INVITEs leave no recording")
	assert.Zero(t, r.active.Load())
}

// TestGarbageNeverCrashes throws junk at the SIP listeners and at a live recording's RTP
// ports; the recorder keeps serving and the recording stays correct.
func TestGarbageNeverCrashes(t *testing.T) {
	r := startRecorder(t, nil)
	junk := [][]byte{
		[]byte("\x00\x01\x02garbage\r\n\r\n"),
		[]byte("INVITE\r\n\r\n"),
		[]byte("INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\nabc"),
		[]byte(rawInvite("Require: siprec\n", "multipart/mixed;boundary=", "--\r\n--\r\n")),
		[]byte(strings.Repeat("A", 70000)),
	}
	for _, j := range junk {
		if u, err := net.Dial("udp", r.SIPAddr("udp").String()); err == nil {
			_, _ = u.Write(j)
			u.Close()
		}
		if c, err := net.Dial("tcp", r.SIPAddr("tcp").String()); err == nil {
			_, _ = c.Write(j)
			c.Close()
		}
	}
	// A malformed-metadata INVITE is still recorded, with a warning.
	c := dialRaw(t, r.SIPAddr("tcp").String())
	c.send(c.normalize(rawInvite("Require: siprec\n", "multipart/mixed;boundary=b1", multipart(goodSDP, "<recording><unclosed>"))))
	res := c.final()
	require.Equal(t, 200, res.StatusCode, res.Reason)

	// RTP garbage at a live recording's ports.
	src := newTestSRC(t, "tcp", nil)
	sc, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "G1", parties: twoParties()})
	require.NoError(t, err)
	for _, m := range sc.answer.Media {
		u, err := net.Dial("udp", m.RTPAddr().String())
		require.NoError(t, err)
		for _, j := range [][]byte{{}, {0x80}, {0x80, 0, 0, 1}, make([]byte, 12), make([]byte, 9000),
			append([]byte{0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9}, make([]byte, 160)...), []byte("hello world hello")} {
			_, _ = u.Write(j)
		}
		u.Close()
	}
	time.Sleep(400 * time.Millisecond) // scenario pacing: let audio flow around the junk
	sc.hangup()
	rec := findByCallUUID(t, r, "G1")
	assert.Equal(t, StateComplete, rec.State)
	for _, ch := range rec.Channels {
		assert.NotZero(t, ch.Stats.Dropped, "junk counted")
		assert.Zero(t, ch.Stats.Lost)
	}
	f := downloadWAV(t, r, rec.ID)
	expectSpans(t, f.Samples[0], 40, span{200, int(rec.DurationMs) - 60, toneA})
	// Still serving OPTIONS.
	require.Equal(t, 200, api(t, r, "GET", "/healthz", nil))
	opt := dialRaw(t, r.SIPAddr("tcp").String())
	opt.send(opt.normalize("OPTIONS sip:srs@127.0.0.1 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1:1\nFrom: <sip:p@x>;tag=1\nTo: <sip:srs@127.0.0.1>\nCall-ID: opt1\nCSeq: 1 OPTIONS\nMax-Forwards: 70\n\n"))
	ores := opt.final()
	assert.Equal(t, 200, ores.StatusCode)
	assert.Contains(t, ores.GetHeader("Supported").Value(), "siprec")
	assert.NotNil(t, ores.GetHeader("Allow"))
}

// TestCloseEndsLiveSessions: a recorder shutting down sends BYE to its SRCs and finishes
// the recordings as complete.
func TestCloseEndsLiveSessions(t *testing.T) {
	dir := t.TempDir()
	r := startRecorder(t, func(c *Config) { c.DataDir = dir })
	for _, transport := range []string{"tcp", "udp"} {
		src := newTestSRC(t, transport, nil)
		sc, err := src.call(r.SIPAddr(transport), callOpts{callUUID: "CLOSE-" + transport, parties: twoParties()})
		require.NoError(t, err)
		defer func() {
			select {
			case <-sc.bye:
			case <-time.After(5 * time.Second):
				t.Errorf("%s: SRC got no BYE", transport)
			}
			sc.stopMedia()
		}()
	}
	time.Sleep(300 * time.Millisecond) // scenario pacing
	require.NoError(t, r.Close())
	st, err := OpenStore(dir)
	require.NoError(t, err)
	defer st.Close()
	p, err := st.Search(t.Context(), Query{})
	require.NoError(t, err)
	require.Len(t, p.Recordings, 2)
	for _, rec := range p.Recordings {
		assert.Equal(t, StateComplete, rec.State, rec.CallUUID)
		assert.Contains(t, rec.Warnings, "recorder shut down")
		assert.Greater(t, rec.Audio.Frames, int64(1600))
	}
}

// TestReinviteRightAfterAck: re-INVITEs sent immediately after the ACK (the sipgo race that
// go-style.md section 3 describes) and a metadata-only UPDATE are all answered 200.
func TestReinviteRightAfterAck(t *testing.T) {
	r := startRecorder(t, nil)
	for _, transport := range []string{"udp", "tcp"} {
		src := newTestSRC(t, transport, nil)
		for i := range 3 {
			sc, err := src.call(r.SIPAddr(transport), callOpts{callUUID: "RACE", parties: twoParties()})
			require.NoError(t, err)
			sc.reinvite(sdp.Inactive, nil) // fails the test unless 200
			sc.reinvite(sdp.SendOnly, nil)
			// Metadata-only UPDATE: a party leaves.
			partial := sc.meta.RemoveParty(sc.meta.Participants[1].ID, time.Now())
			md, err := partial.Marshal()
			require.NoError(t, err)
			upd := sip.NewRequest(sip.UPDATE, sc.d.InviteResponse.Contact().Address)
			upd.SetBody(md)
			upd.AppendHeader(sip.NewHeader("Content-Type", siprec.ContentTypeMetadata))
			res, err := sc.d.Do(t.Context(), upd)
			require.NoError(t, err)
			require.Equal(t, 200, res.StatusCode, "%s call %d: %s", transport, i, res.Reason)
			sc.hangup()
		}
	}
	p, err := r.Store().Search(t.Context(), Query{CallUUID: "RACE"})
	require.NoError(t, err)
	require.Len(t, p.Recordings, 6)
	for _, rec := range p.Recordings {
		assert.Equal(t, StateComplete, rec.State)
		require.Len(t, rec.Pauses, 1)
		require.Len(t, rec.Participants, 2)
		assert.False(t, rec.Participants[1].Disassociate.IsZero(), "UPDATE merged")
	}
}

func TestConfigYAML(t *testing.T) {
	var c Config
	require.NoError(t, yaml.Unmarshal([]byte(`
name: rec2
sip: {udp: "127.0.0.1:5090", tls: "127.0.0.1:5091"}
http: "127.0.0.1:8090"
data-dir: /tmp/rec2
rtp-ports: {min: 30000, max: 30999}
max-sessions: 50
flush-interval: 250ms
jitter-window: 120ms
per-party-files: true
token: abc
tlib: {addr: "127.0.0.1:7000", app-name: rec2, password: pw}
prerecord-grace: 2m
advertise-addr: 192.0.2.10
srtp: require
`), &c))
	c.Defaults()
	require.NoError(t, c.Validate())
	assert.Equal(t, 250*time.Millisecond, c.FlushInterval)
	assert.Equal(t, 2*time.Minute, c.PrerecordGrace)
	assert.Equal(t, 30999, c.RTPPorts.Max)
	assert.Equal(t, "pw", c.TLib.Password)
	assert.Equal(t, "127.0.0.1:5091", c.SIP.TLS)
	assert.True(t, c.PerPartyFiles)
}
