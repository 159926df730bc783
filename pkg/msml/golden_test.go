package msml

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenRequests are the documents the SIP Server sends, one per operation;
// their output is pinned in testdata/golden and read back by ParseRequest.
var goldenRequests = map[string]*Request{
	"record_full": NewRecord("c1", "rec-77", Record{
		CallUUID: "01ABCD", ConnID: "007102719818001f", RecordDN: "7001", OtherDN: "+15551230000",
		Side: SideBoth, Sessions: SessionsSingle, Prerecord: true, SRTP: SRTPSDES, Transport: "tls", Mode: ModeSIPREC,
		Dests: []Dest{
			{URI: "sip:record@127.0.0.1:5070"},
			{URI: "sip:rec2@10.0.0.9:5080;transport=tcp", Mode: ModeGenesys, Direct: true},
			{URI: "file:///var/lib/arlab/local"},
		},
	}),
	"record_minimal": NewRecord("c2", "", Record{}),
	"pause":          NewPause("c1", "rec-77"),
	"resume":         NewResume("c1", "rec-77"),
	"stop":           NewStop("c1", "rec-77"),
	"join_mute":      NewJoin("c1", "7100", JoinMute, ""),
	"join_coach":     NewJoin("c1", "7100", JoinCoach, "7001"),
	"unjoin":         NewUnjoin("c1", "7100"),
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".xml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

func TestGoldenRequests(t *testing.T) {
	for name, req := range goldenRequests {
		t.Run(name, func(t *testing.T) {
			b, err := req.Marshal()
			require.NoError(t, err)
			golden(t, name, b)
			back, err := ParseRequest(b)
			require.NoError(t, err)
			want := *req
			if want.Op == OpJoin && want.JoinMode == "" {
				want.JoinMode = JoinMute
			}
			assert.Equal(t, &want, back)
		})
	}
}

func TestGoldenResultAndEvents(t *testing.T) {
	golden(t, "result_ok", Result{Code: 200}.Marshal())
	golden(t, "result_started", Result{Code: 200, DialogID: DialogID("c1", "rec-77")}.Marshal())
	golden(t, "result_error", ResultFor(Errorf(CodeNoSuchObject, "no recording rec-9 in conference c1")).Marshal())
	golden(t, "event_failed", Event{Name: EventRecordFailed, Conf: "c1", RecordingID: "rec-77", Params: []Param{
		{ParamDest, "sip:record@127.0.0.1:5070"}, {ParamCode, "503"}, {ParamReason, "Service Unavailable"},
		{ParamRecovering, "true"}, {ParamActive, "1"},
	}}.Marshal())
	golden(t, "event_recovered", Event{Name: EventRecordRecovered, Conf: "c1", RecordingID: "rec-77", Params: []Param{
		{ParamDest, "sip:record@127.0.0.1:5070"}, {ParamRecorder, "sip:srs@127.0.0.1:5090"}, {ParamActive, "2"},
	}}.Marshal())
}
