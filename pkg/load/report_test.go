package load

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func TestLatencyOf(t *testing.T) {
	msd := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		want Latency
	}{
		{name: "empty", in: nil, want: Latency{}},
		{name: "one", in: msd(7), want: Latency{Count: 1, Mean: 7, P50: 7, P95: 7, P99: 7, Max: 7}},
		{name: "two", in: msd(10, 2), want: Latency{Count: 2, Mean: 6, P50: 2, P95: 10, P99: 10, Max: 10}},
		// Nearest rank: p50 of 1..100 is 50, p95 is 95, p99 is 99.
		{name: "hundred", in: msd(hundred...), want: Latency{Count: 100, Mean: 50.5, P50: 50, P95: 95, P99: 99, Max: 100}},
		{name: "sub-millisecond", in: []time.Duration{1500 * time.Microsecond, 250 * time.Microsecond},
			want: Latency{Count: 2, Mean: 0.875, P50: 0.25, P95: 1.5, P99: 1.5, Max: 1.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]time.Duration(nil), tc.in...)
			assert.Equal(t, tc.want, latencyOf(in))
			assert.Equal(t, tc.in, in, "the input is not reordered")
		})
	}
}

// goldenReport is a fixed report with every section filled.
func goldenReport(pass bool) *Report {
	r := &Report{
		Mode: ModeRecorder, Target: "sip:127.0.0.1:5090;transport=tcp",
		Started: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), ElapsedMs: 65_250,
		Offered: Offered{Calls: 2, CPS: 100, HoldMs: 60_000, StreamsPerCall: 2},
		Calls: CallStats{Attempted: 3, Established: 2, Failed: 1, Failures: map[string]int{"503": 1},
			PeakActive: 2, SetupsPerSec: 99.5},
		Setup: Latency{Count: 2, Mean: 3.5, P50: 3, P95: 4, P99: 4, Max: 4},
		Media: MediaStats{Streams: 4, Sockets: 4, PacketsSent: 12000, MaxLagMs: 2.5, MaxTickMs: 0.5, SchedulerCPUSeconds: 0.6},
		Recordings: &RecordingStats{Expected: 2, Found: 2, Complete: 2, PacketsSent: 12000, PacketsWritten: 11999,
			PacketsLost: 1, LossPct: 0.008, RecordingsWithLoss: 1, SeqLost: 1,
			Items: []RecordingResult{
				{CallUUID: "load-1-000000", ID: "20261125T120000Z-aaaa", Recorder: "http://127.0.0.1:8090", State: "complete",
					DurationMs: 60_000, Streams: []StreamResult{
						{Label: LabelCustomer, SSRC: 1, Sent: 3000, Written: 3000},
						{Label: LabelAgent, SSRC: 2, Sent: 3000, Written: 3000}}},
				{CallUUID: "load-1-000001", ID: "20261125T120000Z-bbbb", Recorder: "http://127.0.0.1:8090", State: "complete",
					DurationMs: 60_000, Streams: []StreamResult{
						{Label: LabelCustomer, SSRC: 3, Sent: 3000, Written: 2999, Lost: 1},
						{Label: LabelAgent, SSRC: 4, Sent: 3000, Written: 3000}},
					Problems: []string{`stream "customer": 1 of 3000 packets not written`}},
			}},
		Audio: &AudioStats{Sampled: 2, Passed: 2, Problems: []string{}},
		Processes: []ProcessStats{
			{Name: "load", PID: 100, CPUSeconds: 12.5, CPUSecondsTotal: 13, CPUMsPerCall: 6250, RSSStartBytes: 20 << 20,
				RSSPeakBytes: 40 << 20, HWMBytes: 41 << 20, RSSBytesPerCall: 10 << 20},
			{Name: "recorder", PID: 101, Error: "open /proc/101/stat: no such file or directory"},
		},
		Host: &HostStats{CPUs: 2, BusySeconds: 40, StealSeconds: 0.5, OtherSeconds: 27.5, ElapsedSeconds: 65.25},
	}
	if pass {
		r.Calls.Attempted, r.Calls.Failed, r.Calls.Failures = 2, 0, map[string]int{}
		r.Recordings.PacketsWritten, r.Recordings.PacketsLost, r.Recordings.LossPct, r.Recordings.RecordingsWithLoss = 12000, 0, 0, 0
		r.Recordings.Items[1].Streams[0].Written, r.Recordings.Items[1].Streams[0].Lost = 3000, 0
		r.Recordings.Items[1].Problems = nil
	}
	r.finish()
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestReportGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		pass bool
	}{{"pass", true}, {"fail", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := goldenReport(tc.pass)
			assert.Equal(t, tc.pass, r.Pass)
			js, err := r.JSON()
			require.NoError(t, err)
			golden(t, "report-"+tc.name+".json", append(js, '\n'))
			var text bytes.Buffer
			require.NoError(t, r.WriteText(&text))
			golden(t, "report-"+tc.name+".txt", text.Bytes())
			if tc.pass {
				require.NoError(t, r.Err())
			} else {
				require.ErrorIs(t, r.Err(), ErrFailed)
				assert.Contains(t, r.Err().Error(), "1 of 3 calls failed (503×1)")
				assert.Contains(t, r.Err().Error(), "1 of 12000 RTP packets not written")
			}
		})
	}
}

// TestReportJSONStructure pins the JSON keys tools read, so a renamed field
// fails here and not in someone's dashboard.
func TestReportJSONStructure(t *testing.T) {
	js, err := goldenReport(true).JSON()
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(js, &m))
	keys := func(v any) []string {
		var out []string
		for k := range v.(map[string]any) {
			out = append(out, k)
		}
		return out
	}
	assert.ElementsMatch(t, []string{"mode", "target", "started", "elapsed_ms", "offered", "calls", "setup_latency",
		"media", "recordings", "audio", "processes", "host", "problems", "pass"}, keys(m))
	assert.ElementsMatch(t, []string{"count", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"}, keys(m["setup_latency"]))
	assert.ElementsMatch(t, []string{"attempted", "established", "failed", "failures", "ended_by_peer", "bye_failed",
		"peak_active", "setups_per_s"}, keys(m["calls"]))
	rec := m["recordings"].(map[string]any)
	for _, k := range []string{"expected", "complete", "missing", "packets_sent", "packets_written", "packets_lost", "loss_pct", "items"} {
		assert.Contains(t, rec, k)
	}
	proc := m["processes"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "pid", "cpu_s", "cpu_ms_per_call", "rss_peak_bytes", "rss_bytes_per_call"} {
		assert.Contains(t, proc, k)
	}
}

func TestSumMetrics(t *testing.T) {
	in := `# HELP arlab_recorder_rtp_lost_total RTP packets lost.
# TYPE arlab_recorder_rtp_lost_total counter
arlab_recorder_rtp_lost_total 3
arlab_recorder_rtp_late_total 4
arlab_recorder_rtp_packets_total 99999
arlab_recorder_rtp_lost_total_other 1000
`
	n, err := sumMetrics(bytes.NewBufferString(in), recorderLossMetrics)
	require.NoError(t, err)
	assert.Equal(t, int64(7), n)
	_, err = sumMetrics(bytes.NewBufferString("arlab_recorder_rtp_late_total x\n"), recorderLossMetrics)
	require.Error(t, err)
}

func TestReportSetupLimit(t *testing.T) {
	r := goldenReport(true)
	r.Offered.SetupP99LimitMs = 200
	r.Setup.P99 = 199.9
	r.finish()
	require.NoError(t, r.Err())
	r.Setup.P99 = 250
	r.finish()
	require.ErrorIs(t, r.Err(), ErrFailed)
	assert.Contains(t, r.Err().Error(), "INVITE-to-200 p99 250.0 ms is over the 200.0 ms limit")
}
