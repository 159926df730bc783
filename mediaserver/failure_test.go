package mediaserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/siprec"
)

// TestRecorderRejects: a recorder answering 503 is reported to the SIP
// Server; the other destination of the same recording is not disturbed.
func TestRecorderRejects(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	bad, good := newStubSRS(t), newStubSRS(t)
	bad.reject.Store(503)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: bad.uri("srs")}, {URI: good.uri("srs")}}})
	ev := b.stub.waitEvent(msml.EventRecordFailed, 5*time.Second)
	assert.Equal(t, bad.uri("srs"), ev.Get(msml.ParamDest))
	assert.Equal(t, "503", ev.Get(msml.ParamCode))
	assert.Equal(t, "Rejected By Test", ev.Get(msml.ParamReason))
	assert.Equal(t, "false", ev.Get(msml.ParamRecovering))
	ss := good.waitSession(5 * time.Second)
	eventually(t, 3*time.Second, func() bool {
		return heardFor(ss.stream(1).audioSince(time.Time{}), 500*time.Millisecond, customerTone)
	}, "the good recorder records")
	rs := b.ms.Conferences()[0].Recordings[0].Destinations[0].Sessions[0]
	assert.Equal(t, rsFailed, rs.State)
	assert.Contains(t, rs.LastFailure, "503")
}

// TestRecorderTimeout: a recorder that never answers is CANCELled after
// invite-timeout and reported as 408.
func TestRecorderTimeout(t *testing.T) {
	b := newBridge(t, "c1", func(c *Config) { c.InviteTimeout = 300 * time.Millisecond }, nil)
	srs := newStubSRS(t)
	srs.silent.Store(true)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	ev := b.stub.waitEvent(msml.EventRecordFailed, 5*time.Second)
	assert.Equal(t, "408", ev.Get(msml.ParamCode))
	assert.Equal(t, "0", ev.Get(msml.ParamActive))
}

// TestRecorderByeFailover: a recorder that ends the session mid-call is
// reported, and with failover on the session is re-established under the
// same recording id, marked as a continuation in the metadata; audio flows
// again. The parties never notice.
func TestRecorderByeFailover(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", func(c *Config) { c.Failover = true }, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	first := srs.waitSession(5 * time.Second)
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	eventually(t, 3*time.Second, func() bool { return first.stream(0).count() > 10 }, "audio to the first session")

	srs.bye(first)
	ev := b.stub.waitEvent(msml.EventRecordFailed, 5*time.Second)
	assert.Equal(t, "true", ev.Get(msml.ParamRecovering))
	assert.Contains(t, ev.Get(msml.ParamReason), "BYE")
	second := srs.waitSession(5 * time.Second)
	rec := b.stub.waitEvent(msml.EventRecordRecovered, 5*time.Second)
	assert.Equal(t, "rec-1", rec.RecordingID)
	assert.NotEqual(t, first.callID, second.callID)

	body, err := siprec.ParseBody(second.invite.ContentType().Value(), second.invite.Body())
	require.NoError(t, err)
	md, err := siprec.ParseMetadata(body.Metadata)
	require.NoError(t, err)
	require.NotNil(t, md.CallData)
	assert.True(t, md.CallData.Continuation)
	assert.Equal(t, "rec-1", md.CallData.RecordingID)
	assert.Empty(t, md.Validate())

	eventually(t, 3*time.Second, func() bool {
		return heardFor(second.stream(1).audioSince(time.Time{}), 500*time.Millisecond, customerTone)
	}, "audio to the re-established session")
	assert.True(t, heardFor(b.agentCall.Media().Received(), 800*time.Millisecond, customerTone), "the call was not disturbed")
}

// TestRecorderCrashKeepalive: a recorder that dies without BYE is found by
// the in-dialog OPTIONS keepalive.
func TestRecorderCrashKeepalive(t *testing.T) {
	b := newBridge(t, "c1", func(c *Config) { c.Keepalive = 200 * time.Millisecond }, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	srs.waitSession(5 * time.Second)
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	srs.crash()
	ev := b.stub.waitEvent(msml.EventRecordFailed, 10*time.Second)
	assert.Equal(t, "408", ev.Get(msml.ParamCode))
	assert.Contains(t, ev.Get(msml.ParamReason), "keepalive")
}

// TestLegHangupStopsRecordings: when the parties hang up, the recording
// sessions are ended with BYE and the conference disappears.
func TestLegHangupStopsRecordings(t *testing.T) {
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}, {URI: "file:"}}})
	ss := srs.waitSession(5 * time.Second)
	require.NoError(t, b.agent.Close())
	require.NoError(t, b.customer.Close())
	select {
	case <-ss.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE to the recorder after the parties left")
	}
	eventually(t, 3*time.Second, func() bool { return len(b.ms.Conferences()) == 0 }, "conference gone")
	require.Len(t, localFiles(t, b.ms), 1)
}
