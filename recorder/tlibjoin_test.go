package recorder

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/siprec"
	"github.com/arlab/arlab/tlib"
)

// startTLibServer runs a T-lib server standing in for the SIP Server's T-Server side (a nil
// handler accepts monitor-all registrations, which is all the recorder makes).
func startTLibServer(t *testing.T) *tlib.Server {
	t.Helper()
	srv := tlib.NewServer(tlib.ServerConfig{Listen: "127.0.0.1:0"}, nil, tlib.WithLogger(discard))
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, srv.Start(ctx))
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
	})
	return srv
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitMonitorAll(t *testing.T, srv *tlib.Server) {
	eventually(t, "recorder monitor-all registration", func() bool { return len(srv.MonitorAllClients()) > 0 })
}

// TestGenesysModeJoinsTLib: a Genesys MSR INVITE (context in the Request-URI, no metadata)
// is recorded and joined with the call data T-lib published for its CallUUID.
func TestGenesysModeJoinsTLib(t *testing.T) {
	tsrv := startTLibServer(t)
	r := startRecorder(t, func(c *Config) { c.TLib.Addr = tsrv.Addr().String() })
	waitMonitorAll(t, tsrv)
	tsrv.Publish(&tlib.Message{Name: tlib.EventRinging, CallUUID: "GEN-1", ConnID: "0071027198180042", ThisDN: "7001",
		OtherDN: "+15550001", ANI: "+15550001", DNIS: "5000", UserData: tlib.KVList{"AgentID": "agent7", "Segment": "gold"}})
	eventually(t, "call data cached", func() bool { _, ok := r.calls.get("GEN-1"); return ok })

	src := newTestSRC(t, "udp", nil)
	unlabelled := twoParties() // Genesys MSR m-lines carry no a=label
	unlabelled[0].label, unlabelled[1].label = "", ""
	sc, err := src.call(r.SIPAddr("udp"), callOpts{parties: unlabelled, genesysUser: "record=rec-42",
		genesysParams: map[string]string{"calluuid": "GEN-1", "dn": "7001", "otherDN": "+15550001", "recordDN": "7001"}})
	require.NoError(t, err)
	rec := findByCallUUID(t, r, "GEN-1")
	assert.Equal(t, ModeGenesys, rec.Mode)
	assert.Equal(t, "rec-42", rec.SRCRecordID)
	assert.Equal(t, "+15550001", rec.ANI)
	assert.Equal(t, "5000", rec.DNIS)
	assert.Equal(t, "agent7", rec.AgentID)
	assert.Equal(t, "0071027198180042", rec.ConnID)
	assert.Equal(t, "gold", rec.UserData["Segment"])
	require.Len(t, rec.Channels, 2)
	assert.Equal(t, "7001", rec.Channels[0].Label)
	assert.Equal(t, "+15550001", rec.Channels[1].Label)

	// Call data arriving during the recording is joined live.
	tsrv.Publish(&tlib.Message{Name: tlib.EventAttachedDataChanged, CallUUID: "GEN-1", ThisDN: "7001",
		UserData: tlib.KVList{tlib.KeyRecord: tlib.RecordOn, tlib.KeyRecordFilename: "GEN-1_7001_2025-01-10"}})
	eventually(t, "GSIP_REC_FN joined", func() bool {
		var got Recording
		return api(t, r, "GET", "/api/v1/recordings/"+rec.ID, &got) == 200 && got.RecFileName == "GEN-1_7001_2025-01-10"
	})
	time.Sleep(300 * time.Millisecond) // scenario pacing: some audio
	sc.hangup()
	var page Page
	require.Equal(t, 200, api(t, r, "GET", "/api/v1/recordings?agent=agent7&ani=%2B15550001&dn=7001", &page))
	require.Len(t, page.Recordings, 1)
	assert.Equal(t, StateComplete, page.Recordings[0].State)
}

func prerecordCall(t *testing.T, src *testSRC, r *Recorder, uuid string) *srcCall {
	t.Helper()
	sc, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: uuid, parties: twoParties(),
		extraMetaCall: &siprec.CallData{CallUUID: uuid, RecordDN: "7004", Prerecord: true}})
	require.NoError(t, err)
	return sc
}

func recordingState(t *testing.T, r *Recorder, id string) (State, int) {
	var got Recording
	code := api(t, r, "GET", "/api/v1/recordings/"+id, &got)
	return got.State, code
}

// TestPrerecordKeepAndDiscard covers the pre-recording life cycle: kept by POST keep after
// the call, kept by T-lib GSIP_RECORD=ON during the call, kept before it arrives, and
// deleted when nobody keeps it within the grace period.
func TestPrerecordKeepAndDiscard(t *testing.T) {
	tsrv := startTLibServer(t)
	r := startRecorder(t, func(c *Config) {
		c.TLib.Addr = tsrv.Addr().String()
		c.PrerecordGrace = 1500 * time.Millisecond
	})
	waitMonitorAll(t, tsrv)
	src := newTestSRC(t, "tcp", nil)

	// Kept through the API after the call ended.
	p1 := prerecordCall(t, src, r, "P-1")
	id1 := findByCallUUID(t, r, "P-1").ID
	st, _ := recordingState(t, r, id1)
	assert.Equal(t, StateTentative, st)
	// Discarded: never kept.
	p2 := prerecordCall(t, src, r, "P-2")
	id2 := findByCallUUID(t, r, "P-2").ID
	// Kept by T-lib during the call.
	p3 := prerecordCall(t, src, r, "P-3")
	id3 := findByCallUUID(t, r, "P-3").ID
	tsrv.Publish(&tlib.Message{Name: tlib.EventAttachedDataChanged, CallUUID: "P-3", ThisDN: "7004",
		UserData: tlib.KVList{tlib.KeyRecord: tlib.RecordOn}})
	eventually(t, "P-3 kept live", func() bool { st, _ := recordingState(t, r, id3); return st == StateRecording })

	// Keep before the recording exists.
	var keep map[string]any
	require.Equal(t, http.StatusAccepted, api(t, r, "POST", "/api/v1/keep?call_uuid=P-4", &keep))
	p4 := prerecordCall(t, src, r, "P-4")
	id4 := findByCallUUID(t, r, "P-4").ID
	st, _ = recordingState(t, r, id4)
	assert.Equal(t, StateRecording, st, "pending keep applied")

	time.Sleep(200 * time.Millisecond) // scenario pacing
	for _, c := range []*srcCall{p1, p2, p3, p4} {
		c.hangup()
	}
	st, _ = recordingState(t, r, id1)
	assert.Equal(t, StateTentative, st, "ended but still within the grace period")
	require.Equal(t, 200, api(t, r, "POST", "/api/v1/calls/P-1/keep", &keep))
	assert.Equal(t, []any{id1}, keep["kept"])
	for _, id := range []string{id1, id3, id4} {
		st, _ := recordingState(t, r, id)
		assert.Equal(t, StateComplete, st, id)
	}
	eventually(t, "P-2 deleted after the grace period", func() bool { _, code := recordingState(t, r, id2); return code == 404 })
	_, err := r.Store().Get(context.Background(), id2)
	require.ErrorIs(t, err, ErrNotFound)
	for _, id := range []string{id1, id3, id4} {
		_, code := recordingState(t, r, id)
		assert.Equal(t, 200, code, "kept recordings survive the sweep")
	}
	var m metricsText
	r.writeMetrics(context.Background(), &m)
	assert.Contains(t, m.String(), "arlab_recorder_prerecord_discarded_total 1\n")
}

type metricsText struct{ b []byte }

func (m *metricsText) Write(p []byte) (int, error) { m.b = append(m.b, p...); return len(p), nil }
func (m *metricsText) String() string              { return string(m.b) }
