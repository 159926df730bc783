package recorder

import (
	"context"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/media"
)

// storedRecording writes a finished two-channel recording straight into the store.
func storedRecording(t *testing.T, st *Store, rec *Recording, ms int) {
	t.Helper()
	require.NoError(t, st.Create(context.Background(), rec))
	tl := NewTimeline(TimelineConfig{Dir: st.Path(rec, ""), Start: rec.StartTime})
	a, err := tl.AddChannel(ChannelInfo{Label: "a"}, rec.StartTime)
	require.NoError(t, err)
	tl.SetCodecs(a, map[uint8]string{0: "PCMU"})
	snd := newSender(toneA, 1, 0, 0)
	for i := range ms / 20 {
		at := rec.StartTime.Add(time.Duration(i*20) * time.Millisecond)
		tl.Push(a, snd.packet(frameLen), at)
		require.NoError(t, tl.Advance(at))
	}
	frames, err := tl.Finish(rec.StartTime.Add(time.Duration(ms) * time.Millisecond))
	require.NoError(t, err)
	rec.Audio = AudioInfo{File: AudioFile, Format: "pcm16", SampleRate: 8000, Channels: 1, Frames: frames}
	rec.DurationMs = frames / 8
	rec.EndTime = rec.StartTime.Add(time.Duration(ms) * time.Millisecond)
	require.NoError(t, os.WriteFile(st.Path(rec, MetadataFile), []byte("<recording/>"), 0o644))
	require.NoError(t, st.Save(context.Background(), rec))
}

func httpDo(t *testing.T, method, url, token string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res, b
}

func TestHTTPAPI(t *testing.T) {
	r := startRecorder(t, func(c *Config) { c.Token = "s3cret" })
	base := "http://" + r.HTTPAddr().String()
	t0 := time.Date(2025, 2, 3, 10, 0, 0, 0, time.UTC)
	storedRecording(t, r.Store(), &Recording{ID: "h1", State: StateComplete, Mode: ModeSIPREC, StartTime: t0,
		CallUUID: "HU1", ConnID: "HC1", RecordDN: "7001", AgentID: "agent1", ANI: "+15550001", DNIS: "5000"}, 1000)
	storedRecording(t, r.Store(), &Recording{ID: "h2", State: StateRecovered, Mode: ModeGenesys, StartTime: t0.Add(time.Hour),
		CallUUID: "HU2", RecordDN: "7002"}, 400)

	t.Run("token required", func(t *testing.T) {
		res, _ := httpDo(t, "GET", base+"/api/v1/recordings", "", nil)
		assert.Equal(t, 401, res.StatusCode)
		assert.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer")
		res, _ = httpDo(t, "GET", base+"/api/v1/recordings", "wrong", nil)
		assert.Equal(t, 401, res.StatusCode)
		res, _ = httpDo(t, "GET", base+"/metrics", "", nil)
		assert.Equal(t, 401, res.StatusCode)
		res, _ = httpDo(t, "GET", base+"/healthz", "", nil)
		assert.Equal(t, 200, res.StatusCode, "health checks need no token")
	})
	t.Run("search", func(t *testing.T) {
		for q, want := range map[string]string{
			"call_uuid=HU1": "h1", "conn_id=HC1": "h1", "dn=7002": "h2", "agent=agent1": "h1", "ani=%2B15550001": "h1",
			"dnis=5000": "h1", "state=recovered": "h2", "from=2025-02-03T10:30:00Z&to=2025-02-03T12:00:00Z": "h2",
			"limit=1&offset=1": "h1",
		} {
			var page Page
			require.Equal(t, 200, api(t, r, "GET", "/api/v1/recordings?"+q, &page), q)
			require.Len(t, page.Recordings, 1, q)
			assert.Equal(t, want, page.Recordings[0].ID, q)
		}
		for _, q := range []string{"state=bogus", "from=yesterday", "limit=x", "limit=100000"} {
			res, b := httpDo(t, "GET", base+"/api/v1/recordings?"+q, "s3cret", nil)
			assert.Equal(t, 400, res.StatusCode, q)
			assert.Contains(t, string(b), "error")
		}
	})
	t.Run("get and 404", func(t *testing.T) {
		var rec Recording
		require.Equal(t, 200, api(t, r, "GET", "/api/v1/recordings/h1", &rec))
		assert.Equal(t, "HU1", rec.CallUUID)
		assert.Equal(t, int64(1000), rec.DurationMs)
		assert.Equal(t, 404, api(t, r, "GET", "/api/v1/recordings/nope", nil))
		assert.Equal(t, 400, api(t, r, "GET", "/api/v1/recordings/..%2F..%2Fetc", nil))
	})
	t.Run("audio with range", func(t *testing.T) {
		res, full := httpDo(t, "GET", base+"/api/v1/recordings/h1/audio", "s3cret", nil)
		require.Equal(t, 200, res.StatusCode)
		assert.Equal(t, "audio/wav", res.Header.Get("Content-Type"))
		assert.Equal(t, "bytes", res.Header.Get("Accept-Ranges"))
		assert.Equal(t, 44+8000*2, len(full))
		res, part := httpDo(t, "GET", base+"/api/v1/recordings/h1/audio", "s3cret", map[string]string{"Range": "bytes=0-43"})
		require.Equal(t, 206, res.StatusCode)
		assert.Equal(t, full[:44], part)
		assert.Equal(t, "bytes 0-43/16044", res.Header.Get("Content-Range"))
		res, _ = httpDo(t, "GET", base+"/api/v1/recordings/h1/audio?channel=3", "s3cret", nil)
		assert.Equal(t, 404, res.StatusCode, "no per-party files")
	})
	t.Run("metadata", func(t *testing.T) {
		res, b := httpDo(t, "GET", base+"/api/v1/recordings/h1/metadata", "s3cret", nil)
		require.Equal(t, 200, res.StatusCode)
		assert.Equal(t, "application/rs-metadata+xml", res.Header.Get("Content-Type"))
		assert.Equal(t, "<recording/>", string(b))
	})
	t.Run("live session listed, not deletable", func(t *testing.T) {
		src := newTestSRC(t, "tcp", nil)
		sc, err := src.call(r.SIPAddr("tcp"), callOpts{callUUID: "HLIVE", parties: twoParties()})
		require.NoError(t, err)
		require.NoError(t, sc.streams[1].SendDTMF(t.Context(), media.DTMFEvent{Digit: '7', Duration: 100 * time.Millisecond}))
		var live *Recording
		eventually(t, "live DTMF analysis", func() bool {
			var sessions struct{ Sessions []*Recording }
			require.Equal(t, 200, api(t, r, "GET", "/api/v1/sessions", &sessions))
			require.Len(t, sessions.Sessions, 1)
			live = sessions.Sessions[0]
			return len(live.Analysis) == 2 && len(live.Analysis[1].DTMF) == 1 && live.Analysis[0].LevelDBFS > -20
		})
		assert.Equal(t, StateRecording, live.State)
		assert.Len(t, live.Channels, 2)
		assert.Equal(t, "7", live.Analysis[1].DTMF[0].Digit)
		assert.InDelta(t, 100, live.Analysis[1].DTMF[0].DurationMs, 40)
		assert.Empty(t, live.Analysis[0].DTMF)
		assert.Less(t, live.Analysis[0].LevelDBFS, -10.0, "tone level measured live (about -13.5 dBFS)")
		assert.Equal(t, 409, api(t, r, "DELETE", "/api/v1/recordings/"+live.ID, nil))
		sc.hangup()
		assert.Equal(t, 204, api(t, r, "DELETE", "/api/v1/recordings/"+live.ID, nil))
		assert.Equal(t, 404, api(t, r, "GET", "/api/v1/recordings/"+live.ID, nil))
	})
	t.Run("keep validation", func(t *testing.T) {
		assert.Equal(t, 400, api(t, r, "POST", "/api/v1/keep", nil))
	})
	t.Run("metrics", func(t *testing.T) {
		res, b := httpDo(t, "GET", base+"/metrics", "s3cret", nil)
		require.Equal(t, 200, res.StatusCode)
		assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain"))
		text := string(b)
		for _, want := range []string{"# TYPE arlab_recorder_sessions_active gauge", "arlab_recorder_sessions_accepted_total 1",
			`arlab_recorder_recordings{state="complete"} 1`, `arlab_recorder_recordings{state="recovered"} 1`,
			`arlab_recorder_sessions_finished_total{state="complete"} 1`} {
			assert.Contains(t, text, want)
		}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			f := strings.Fields(line)
			assert.Len(t, f, 2, "prometheus sample line %q", line)
		}
	})
}
