package scenario

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/wav"
)

// makeWAV writes a two-channel WAV: one tone per channel for dur, silent on
// both channels over [pauseFrom, pauseTo), and returns its bytes.
func makeWAV(t *testing.T, dir string, tones [2]float64, dur, pauseFrom, pauseTo time.Duration, noiseInPause bool) (string, []byte) {
	t.Helper()
	path := filepath.Join(dir, "rec.wav")
	w, err := wav.Create(path, wav.Header{Format: wav.PCM16, Channels: 2, SampleRate: 8000})
	require.NoError(t, err)
	gens := [2]*audio.Tone{audio.NewTone(tones[0], 0), audio.NewTone(tones[1], 0)}
	noise := audio.NewNoise(7, 0)
	frame := make([]int16, audio.FrameSamples)
	inter := make([]int16, 2*audio.FrameSamples)
	for at := time.Duration(0); at < dur; at += 20 * time.Millisecond {
		paused := at >= pauseFrom && at < pauseTo
		for ch := 0; ch < 2; ch++ {
			switch {
			case paused && noiseInPause && ch == 1:
				noise.Read(frame)
			case paused:
				clear(frame)
			default:
				gens[ch].Read(frame)
			}
			for i, s := range frame {
				inter[2*i+ch] = s
			}
		}
		require.NoError(t, w.WriteFrames(inter))
	}
	require.NoError(t, w.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return path, b
}

// fakeRecorder serves the recorder API shape of docs/recorder-api.md for one
// recording that turns complete after a few polls.
type fakeRecorder struct {
	rec      map[string]any
	audio    []byte
	searches atomic.Int32
	liveFor  int32
}

func (f *fakeRecorder) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("GET /api/v1/recordings", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, `{"error":"token"}`, http.StatusUnauthorized)
			return
		}
		n := f.searches.Add(1)
		page := map[string]any{"total": 0, "offset": 0, "limit": 100, "recordings": []any{}}
		if r.URL.Query().Get("call_uuid") == f.rec["call_uuid"] {
			rec := clone(f.rec)
			if n <= f.liveFor {
				rec["state"] = "recording"
			}
			page["total"], page["recordings"] = 1, []any{rec}
		}
		_ = json.NewEncoder(w).Encode(page)
	})
	mux.HandleFunc("GET /api/v1/recordings/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != f.rec["id"] {
			http.Error(w, `{"error":"not found"}`, http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(f.rec)
	})
	mux.HandleFunc("GET /api/v1/recordings/{id}/audio", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(f.audio)
	})
	return mux
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func startRecorder(t *testing.T, noiseInPause bool) (*fakeRecorder, string) {
	t.Helper()
	_, b := makeWAV(t, t.TempDir(), [2]float64{2200, 1800}, 3*time.Second, time.Second, 2*time.Second, noiseInPause)
	f := &fakeRecorder{audio: b, liveFor: 2, rec: map[string]any{
		"id": "rec-1", "state": "complete", "mode": "siprec", "call_uuid": "uuid-1", "conn_id": "conn-1",
		"duration_ms": 3000, "dir": "recordings/2025/03/04/rec-1", "src_recording_id": "ms-rec-9",
		"channels": []any{map[string]any{"index": 0, "label": "1"}, map[string]any{"index": 1, "label": "2"}},
		"participants": []any{map[string]any{"id": "p1", "aor": "sip:+15551230001@127.0.0.1"},
			map[string]any{"id": "p2", "aor": "sip:7001@127.0.0.1", "name": "Alice Agent"}},
		"pauses": []any{map[string]any{"start_ms": 1000, "end_ms": 2000}},
	}}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	return f, srv.URL
}

const recordingScenario = `name: recording checks
requires: lab
steps:
  - name: the recording is complete and right
    expect:
      recording:
        call-uuid: uuid-1
        state: complete
        channels: 2
        channel-tones: [{dn: "+15551230001"}, {dn: "7001"}]
        pauses: 1
        silent-over-pauses: true
        participants: ["+15551230001", "Alice"]
        duration: 3s±100ms
        within: 5s
        as: rec
  - expect:
      recording: {id: "${rec.id}", state: [complete, recovered], within: 1s}
  - expect:
      recording: {call-uuid: nobody, absent: true, within: 1s}
`

func TestRecordingExpect(t *testing.T) {
	f, url := startRecorder(t, false)
	sf, err := Parse("rec.yaml", []byte(recordingScenario))
	require.NoError(t, err)
	r, out := newTestRunner(t, &Lab{Recorders: []string{url}, RecorderToken: "s3cret"})
	res := r.RunScenario(context.Background(), sf.Scenarios[0])
	require.Equal(t, StatusPassed, res.Status, "%v\n%s", res.Err, out.String())
	assert.Greater(t, f.searches.Load(), int32(2), "it waited while the recording was live")
}

func TestRecordingExpectFailures(t *testing.T) {
	tests := []struct {
		name, check string
		noise       bool
		want        string
	}{
		{"noise in the pause", `{call-uuid: uuid-1, silent-over-pauses: true}`, true,
			"pause 1 (1000ms-2000ms): channel 1 is not silent at 1.04s"},
		{"channel tones swapped", `{call-uuid: uuid-1, channel-tones: [{dn: "7001"}, {dn: "+15551230001"}]}`, false,
			"channel 0 carries 2200 Hz, expected 1800 Hz"},
		{"wrong state", `{call-uuid: uuid-1, state: tentative}`, false, "state complete, expected tentative"},
		{"missing participant", `{call-uuid: uuid-1, participants: ["7100"]}`, false,
			`no participant "7100" in the metadata (participants: sip:+15551230001@127.0.0.1, sip:7001@127.0.0.1)`},
		{"not there", `{call-uuid: uuid-2}`, false, "has no recording for call_uuid=uuid-2"},
		{"should be gone", `{call-uuid: uuid-1, absent: true}`, false, "still has rec-1 (complete)"},
		{"no such recorder", `{call-uuid: uuid-1, recorder: 3}`, false, "recorder 3: the lab has 1 recorders"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, url := startRecorder(t, tc.noise)
			f.liveFor = 0
			text := "name: t\nsteps:\n  - expect:\n      recording: " + strings.TrimSuffix(tc.check, "}") + ", within: 600ms}\n"
			sf, err := Parse("t.yaml", []byte(text))
			require.NoError(t, err)
			r, out := newTestRunner(t, &Lab{Recorders: []string{url}, RecorderToken: "s3cret"})
			res := r.RunScenario(context.Background(), sf.Scenarios[0])
			require.Equal(t, StatusFailed, res.Status, out.String())
			assert.Contains(t, res.Err.Error(), `step 1 "expect recording" (t.yaml:3:5): recording: `)
			assert.Contains(t, res.Err.Error(), tc.want)
		})
	}
}

func TestWavExpect(t *testing.T) {
	dir := t.TempDir()
	path, _ := makeWAV(t, dir, [2]float64{2100, 1800}, 2*time.Second, 0, 0, false)
	require.NoError(t, os.Rename(path, filepath.Join(dir, "ms-rec-9.wav")))
	text := `name: t
lab: {mode: direct, data-dir: ` + dir + `}
steps:
  - expect:
      wav: {path: "${lab.data-dir}/ms-rec-*.wav", channels: 2, channel-tones: [{hz: 2100}, {hz: 1800}], duration: 2s±50ms, within: 400ms}
`
	sf, err := Parse("t.yaml", []byte(text))
	require.NoError(t, err)
	r, out := newTestRunner(t, nil)
	res := r.RunScenario(context.Background(), sf.Scenarios[0])
	require.Equal(t, StatusPassed, res.Status, "%v\n%s", res.Err, out.String())

	sf, err = Parse("t.yaml", []byte(strings.Replace(text, "channels: 2", "channels: 1", 1)))
	require.NoError(t, err)
	res = r.RunScenario(context.Background(), sf.Scenarios[0])
	require.Equal(t, StatusFailed, res.Status)
	assert.ErrorContains(t, res.Err, "ms-rec-9.wav: the audio has 2 channels, expected 1")

	sf, err = Parse("t.yaml", []byte(strings.Replace(text, "ms-rec-*", "nothing-*", 1)))
	require.NoError(t, err)
	res = r.RunScenario(context.Background(), sf.Scenarios[0])
	require.Equal(t, StatusFailed, res.Status)
	assert.ErrorContains(t, res.Err, "not satisfied within 400ms: no file matches")
}
