package mediaserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/siprec"
)

// startRecording asks for a recording of the bridge to dests and waits for
// the stub SRS session.
func startRecording(t *testing.T, b *bridged, id string, rec msml.Record) {
	t.Helper()
	if rec.CallUUID == "" {
		rec.CallUUID = "01ABCDEF"
	}
	res := b.stub.do(agentDN, msml.NewRecord("c1", id, rec))
	require.Equal(t, msml.DialogID("c1", id), res.DialogID)
}

// TestRecordSIPREC: a record request opens a SIPREC session (RFC 7866) whose
// INVITE carries Require: siprec, a +sip.src Contact and a multipart body of
// SDP and RFC 7865 metadata, and each party's audio arrives on its own m-line.
func TestRecordSIPREC(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{ConnID: "007102719818001f", Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	ss := srs.waitSession(5 * time.Second)
	ev := b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	assert.Equal(t, "rec-1", ev.RecordingID)
	assert.Equal(t, srs.uri("srs"), ev.Get(msml.ParamDest))

	inv := ss.invite
	assert.Equal(t, "siprec", inv.GetHeader("Require").Value())
	assert.Equal(t, "TCP", inv.Transport(), "SIPREC goes over TCP by default")
	ct := inv.Contact()
	require.NotNil(t, ct)
	assert.True(t, ct.Params.Has("+sip.src"))
	assert.Equal(t, "01ABCDEF", inv.GetHeader("X-Genesys-CallUUID").Value())
	body, err := siprec.ParseBody(inv.ContentType().Value(), inv.Body())
	require.NoError(t, err)
	assert.Equal(t, siprec.ContentTypeMetadata, body.MetadataType)
	md, err := siprec.ParseMetadata(body.Metadata)
	require.NoError(t, err)
	assert.Empty(t, md.Validate())
	assert.Empty(t, siprec.CheckLabels(md, siprec.SDPLabels(body.SDP)))
	require.NotNil(t, md.CallData)
	assert.Equal(t, siprec.CallData{CallUUID: "01ABCDEF", ConnID: "007102719818001f", RecordDN: agentDN, OtherDN: customerDN,
		RecordingID: "rec-1", DNs: []string{agentDN, customerDN}}, withoutExtra(*md.CallData))
	offer, err := sdp.Parse(body.SDP)
	require.NoError(t, err)
	require.Len(t, offer.Media, 2)
	for i, dn := range []string{agentDN, customerDN} {
		m := offer.Media[i]
		assert.Equal(t, sdp.SendOnly, m.Direction)
		assert.Equal(t, dn, m.Label)
		_, ps, ok := md.StreamForLabel(m.Label)
		require.True(t, ok)
		require.Len(t, ps, 1)
		assert.Equal(t, "sip:"+dn+"@127.0.0.1", ps[0].AOR)
	}

	// The recorded DN's party is the first m-line, the other party the second.
	eventually(t, 5*time.Second, func() bool {
		return heardFor(ss.stream(0).audioSince(time.Time{}), time.Second, agentTone) &&
			heardFor(ss.stream(1).audioSince(time.Time{}), time.Second, customerTone)
	}, "each party's tone on its own m-line")
	assert.Equal(t, 1, ss.stream(0).ssrcCount())
	assert.Zero(t, ss.stream(0).seqGaps())

	// The HTTP API shows the session and the packets copied.
	resp, err := http.Get("http://" + b.ms.HTTPAddr().String() + "/api/conferences")
	require.NoError(t, err)
	defer resp.Body.Close()
	var confs []ConferenceInfo
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&confs))
	require.Len(t, confs, 1)
	require.Len(t, confs[0].Recordings, 1)
	rs := confs[0].Recordings[0].Destinations[0].Sessions[0]
	assert.Equal(t, rsUp, rs.State)
	assert.NotZero(t, rs.Streams[0].Packets)

	// Stop: BYE to the recorder.
	b.stub.do(agentDN, msml.NewStop("c1", "rec-1"))
	select {
	case <-ss.ended:
	case <-time.After(3 * time.Second):
		t.Fatal("no BYE after stop")
	}
}

func withoutExtra(c siprec.CallData) siprec.CallData {
	c.Extra = nil
	return c
}

// TestPauseReinviteInactive: pause stops copying before the re-INVITE with
// a=inactive reaches the recorder; resume re-offers sendonly and the stream
// continues with the same SSRC and no sequence gap.
func TestPauseReinviteInactive(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	ss := srs.waitSession(5 * time.Second)
	eventually(t, 3*time.Second, func() bool { return ss.stream(1).count() > 20 }, "customer audio recorded")

	b.stub.do(agentDN, msml.NewPause("c1", "rec-1"))
	eventually(t, 3*time.Second, func() bool { return ss.reinviteCount() == 1 }, "pause re-INVITE")
	_, at := ss.reinvite(0)
	for _, m := range ss.offer().Media {
		assert.Equal(t, sdp.Inactive, m.Direction)
	}
	time.Sleep(400 * time.Millisecond) // a span of pause to check for stray packets
	for i := range 2 {
		assert.Zero(t, ss.stream(i).packetsBetween(at, time.Now()), "stream %d got audio after the pause was signalled", i)
	}
	// The phones keep talking to each other while the recording is paused.
	assert.True(t, heardFor(b.agentCall.Media().Received(), 300*time.Millisecond, customerTone))

	b.stub.do(agentDN, msml.NewResume("c1", "rec-1"))
	eventually(t, 3*time.Second, func() bool { return ss.reinviteCount() == 2 }, "resume re-INVITE")
	_, resumed := ss.reinvite(1)
	for _, m := range ss.offer().Media {
		assert.Equal(t, sdp.SendOnly, m.Direction)
	}
	eventually(t, 3*time.Second, func() bool {
		return heardFor(ss.stream(1).audioSince(resumed), 500*time.Millisecond, customerTone)
	}, "customer audio after resume")
	assert.Equal(t, 1, ss.stream(1).ssrcCount())
	assert.Zero(t, ss.stream(1).seqGaps(), "the sequence continues across the pause")
	// The timestamps jumped by the paused span (the recorder's timeline keeps it).
	st := ss.stream(1)
	st.mu.Lock()
	var jump uint32
	for i := 1; i < len(st.tss); i++ {
		jump = max(jump, st.tss[i]-st.tss[i-1])
	}
	st.mu.Unlock()
	assert.Greater(t, jump, uint32(400*8), "timestamp gap covers the pause")
}

// TestPauseModes: stop-rtp sends nothing and signals nothing; silence keeps
// the packets flowing with silent payload.
func TestPauseModes(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	for _, mode := range []string{PauseStopRTP, PauseSilence} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			b := newBridge(t, "c1", func(c *Config) { c.PauseMode = mode }, nil)
			srs := newStubSRS(t)
			startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
			ss := srs.waitSession(5 * time.Second)
			eventually(t, 3*time.Second, func() bool { return ss.stream(1).count() > 20 }, "customer audio recorded")
			b.stub.do(agentDN, msml.NewPause("c1", "rec-1"))
			paused := time.Now()
			time.Sleep(500 * time.Millisecond) // the paused span under test
			n := ss.stream(1).packetsBetween(paused.Add(40*time.Millisecond), time.Now())
			got := ss.stream(1).audioSince(paused.Add(40 * time.Millisecond))
			assert.Zero(t, ss.reinviteCount(), "%s does not signal", mode)
			switch mode {
			case PauseStopRTP:
				assert.Zero(t, n)
			case PauseSilence:
				assert.Greater(t, n, 15)
				assert.True(t, len(got) > 0 && isSilent(got), "paused audio is silence")
			}
			b.stub.do(agentDN, msml.NewResume("c1", "rec-1"))
			resumed := time.Now()
			eventually(t, 3*time.Second, func() bool {
				return heardFor(ss.stream(1).audioSince(resumed), 500*time.Millisecond, customerTone)
			}, "customer audio after resume")
			assert.Zero(t, ss.stream(1).seqGaps())
		})
	}
}

func isSilent(pcm []int16) bool {
	for _, s := range pcm {
		if s > 16 || s < -16 {
			return false
		}
	}
	return true
}

// TestRecordGenesysMode: the Genesys form carries the call context in the
// Request-URI and plain SDP; per-party layout opens one session per party.
func TestRecordGenesysMode(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-g", msml.Record{ConnID: "0071", Mode: msml.ModeGenesys, Sessions: msml.SessionsPerParty, Prerecord: true,
		Dests: []msml.Dest{{URI: srs.uri("rec") + ";group=blue"}}})
	got := map[string]*srsSession{}
	for range 2 {
		ss := srs.waitSession(5 * time.Second)
		dn, _ := ss.invite.Recipient.UriParams.Get("dn")
		got[dn] = ss
	}
	require.Len(t, got, 2)
	for dn, ss := range got {
		u := ss.invite.Recipient
		assert.Equal(t, "record=rec-g", u.User)
		params := map[string]string{}
		for _, kv := range u.UriParams {
			params[kv.K] = kv.V
		}
		other := customerDN
		if dn == customerDN {
			other = agentDN
		}
		assert.Equal(t, map[string]string{"calluuid": "01ABCDEF", "connid": "0071", "dn": dn, "otherDN": other,
			"recordDN": agentDN, "prerecord": "true", "group": "blue", "transport": "tcp"}, params)
		assert.Nil(t, ss.invite.GetHeader("Require"))
		assert.True(t, strings.HasPrefix(ss.invite.ContentType().Value(), "application/sdp"))
		ct := ss.invite.Contact()
		assert.False(t, ct.Params.Has("+sip.src"))
		require.Len(t, ss.offer().Media, 1)
	}
	eventually(t, 5*time.Second, func() bool {
		return heardFor(got[agentDN].stream(0).audioSince(time.Time{}), time.Second, agentTone) &&
			heardFor(got[customerDN].stream(0).audioSince(time.Time{}), time.Second, customerTone)
	}, "each session carries its party")
}
