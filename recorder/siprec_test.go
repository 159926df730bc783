package recorder

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/pkg/wav"
)

func testLogger() *slog.Logger {
	if os.Getenv("RECORDER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discard
}

// startRecorder runs a recorder on loopback ports chosen by the OS.
func startRecorder(t *testing.T, mut func(*Config), opts ...Option) *Recorder {
	t.Helper()
	cfg := Config{Name: "rec-test", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		// A wide window: tests share two cores with -race; lateness is not what they test.
		JitterWindow: 300 * time.Millisecond, FlushInterval: 200 * time.Millisecond}
	cfg.SIP.UDP = "127.0.0.1:0"
	cfg.SIP.TCP = "127.0.0.1:0"
	if mut != nil {
		mut(&cfg)
	}
	r, err := New(cfg, append([]Option{WithLogger(testLogger())}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, r.Start(ctx))
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

// api performs an HTTP request against the recorder's API.
func api(t *testing.T, r *Recorder, method, path string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+r.HTTPAddr().String()+path, nil)
	require.NoError(t, err)
	if r.cfg.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.cfg.Token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	if out != nil && res.StatusCode < 300 {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return res.StatusCode
}

func findByCallUUID(t *testing.T, r *Recorder, uuid string) *Recording {
	t.Helper()
	var page Page
	require.Equal(t, 200, api(t, r, "GET", "/api/v1/recordings?call_uuid="+url.QueryEscape(uuid), &page))
	require.Len(t, page.Recordings, 1)
	return page.Recordings[0]
}

func downloadWAV(t *testing.T, r *Recorder, id string) *wav.File {
	t.Helper()
	res, err := http.Get("http://" + r.HTTPAddr().String() + "/api/v1/recordings/" + id + "/audio")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, 200, res.StatusCode)
	f, err := wav.Read(res.Body)
	require.NoError(t, err)
	return f
}

// scenarioResult is what the acceptance scenario measured from the SRC side.
type scenarioResult struct {
	rec                *Recording
	wav                *wav.File
	pauseMs, resumeMs  int // on the recording's timeline, as seen by the SRC
	endMs              int
	pausedStateVisible bool
}

// runPauseScenario is the acceptance flow: two labelled streams with their own tones, a
// pause re-INVITE (RTP stopped first), a resume, BYE.
func runPauseScenario(t *testing.T, r *Recorder, transport string, srtp bool, uuid string) scenarioResult {
	t.Helper()
	var tlsClient = r.tlsClient
	src := newTestSRC(t, transport, tlsClient)
	addr := r.SIPAddr(transport)
	sc, err := src.call(addr, callOpts{callUUID: uuid, srtp: srtp, parties: []party{
		{label: "a-leg", aor: "sip:7001@lab.example", tone: toneA, law: audio.Ulaw},
		{label: "b-leg", aor: "sip:+15550001@carrier.example;user=phone", tone: toneB, law: audio.Ulaw},
	}})
	require.NoError(t, err)
	for i, m := range sc.answer.Media {
		assert.Equal(t, sdp.RecvOnly, m.Direction, "m-line %d", i)
		assert.Equal(t, srtp, m.IsSecure(), "m-line %d", i)
	}
	live := findByCallUUID(t, r, uuid)
	start := live.StartTime
	at := func(tm time.Time) int { return int(tm.Sub(start).Milliseconds()) }

	time.Sleep(700 * time.Millisecond) // scenario pacing: talk
	sc.setSending(false)
	pause := time.Now()
	sc.reinvite(sdp.Inactive, nil)
	var sessions struct{ Sessions []*Recording }
	require.Equal(t, 200, api(t, r, "GET", "/api/v1/sessions", &sessions))
	paused := false
	for _, s := range sessions.Sessions {
		if s.CallUUID == uuid && s.State == StatePaused {
			paused = true
		}
	}
	time.Sleep(500 * time.Millisecond) // paused span
	sc.reinvite(sdp.SendOnly, nil)
	resume := time.Now()
	sc.setSending(true)
	time.Sleep(700 * time.Millisecond) // talk again
	end := time.Now()
	sc.hangup()

	rec := findByCallUUID(t, r, uuid)
	return scenarioResult{rec: rec, wav: downloadWAV(t, r, rec.ID), pauseMs: at(pause), resumeMs: at(resume),
		endMs: at(end), pausedStateVisible: paused}
}

func checkPauseScenario(t *testing.T, res scenarioResult) {
	t.Helper()
	rec, f := res.rec, res.wav
	defer func() {
		if t.Failed() {
			b, _ := json.MarshalIndent(rec.Channels, "", " ")
			t.Logf("channels: %s", b)
			t.Logf("pause %d resume %d end %d pauses %+v", res.pauseMs, res.resumeMs, res.endMs, rec.Pauses)
			for ch := range f.Samples {
				for _, sg := range audio.Segments(f.Samples[ch], candidates) {
					t.Logf("ch%d %v-%v silent=%v f=%v", ch, sg.Start, sg.End, sg.Silent, sg.Freq)
				}
			}
		}
	}()
	assert.True(t, res.pausedStateVisible, "live session shows paused")
	assert.Equal(t, StateComplete, rec.State)
	require.Equal(t, 2, f.Header.Channels)
	// Duration equals the call's (INVITE to BYE) within a packet or two.
	assert.InDelta(t, res.endMs, rec.DurationMs, 100)
	assert.InDelta(t, rec.DurationMs*8, f.Frames, 8)
	// Each party's tone on its own channel, silence exactly over the pause (±40 ms).
	for ch, tone := range []float64{toneA, toneB} {
		expectSpans(t, f.Samples[ch], 40,
			span{100, res.pauseMs, tone}, span{res.pauseMs, res.resumeMs, 0}, span{res.resumeMs, res.endMs, tone})
	}
	require.Len(t, rec.Pauses, 1)
	assert.InDelta(t, res.pauseMs, rec.Pauses[0].StartMs, 40)
	assert.InDelta(t, res.resumeMs, rec.Pauses[0].EndMs, 40)
	// Parsed participants and channel mapping.
	require.Len(t, rec.Participants, 2)
	assert.Equal(t, "sip:7001@lab.example", rec.Participants[0].AOR)
	assert.Equal(t, []string{"a-leg"}, rec.Participants[0].Send)
	require.Len(t, rec.Channels, 2)
	assert.Equal(t, "a-leg", rec.Channels[0].Label)
	assert.Equal(t, "sip:7001@lab.example", rec.Channels[0].AOR)
	assert.Equal(t, "b-leg", rec.Channels[1].Label)
	for _, c := range rec.Channels {
		assert.Zero(t, c.Stats.Lost)
		assert.Zero(t, c.Stats.Late)
		assert.Greater(t, c.Stats.Packets, uint64(60))
	}
	assert.Contains(t, rec.DNs, "7001")
	assert.Contains(t, rec.DNs, "+15550001")
	require.Len(t, rec.Analysis, 2)
	paused := float64(res.resumeMs-res.pauseMs) / float64(res.endMs)
	assert.InDelta(t, paused, rec.Analysis[0].SilenceRatio, 0.1)
	assert.InDelta(t, res.endMs-(res.resumeMs-res.pauseMs), rec.Analysis[0].TalkOverMs, 200)
}

// toneStructure summarises a channel as its sequence of tone/silence runs longer than
// 100 ms, the shape two recordings of the same scenario must share.
func toneStructure(samples []int16) []float64 {
	var out []float64
	for _, sg := range audio.Segments(samples, candidates) {
		if sg.Duration() < 100*time.Millisecond {
			continue
		}
		f := sg.Freq
		if sg.Silent {
			f = 0
		}
		if len(out) == 0 || out[len(out)-1] != f {
			out = append(out, f)
		}
	}
	return out
}

// TestSIPRECAcceptance is the acceptance scenario over TCP in the clear, over TLS with SRTP,
// and over UDP; the recordings must be identical in content.
func TestSIPRECAcceptance(t *testing.T) {
	tlsServer, tlsClient, err := sipx.SelfSigned()
	require.NoError(t, err)
	variants := []struct {
		name, transport string
		srtp            bool
		srtpPolicy      string
	}{
		{"tcp-clear", "tcp", false, SRTPAllow},
		{"tls-srtp", "tls", true, SRTPRequire},
		{"udp-clear", "udp", false, SRTPOff},
	}
	results := make([]scenarioResult, len(variants))
	t.Run("variants", func(t *testing.T) {
		for i, v := range variants {
			// Sequential: timing accuracy is what is tested, so the variants do not compete
			// for the CPU.
			t.Run(v.name, func(t *testing.T) {
				r := startRecorder(t, func(c *Config) {
					c.SIP.TLS = "127.0.0.1:0"
					c.SRTP = v.srtpPolicy
				}, WithTLS(tlsServer, tlsClient))
				res := runPauseScenario(t, r, v.transport, v.srtp, "U-"+v.name)
				checkPauseScenario(t, res)
				for _, c := range res.rec.Channels {
					assert.Equal(t, v.srtp, c.Stats.SRTP)
				}
				results[i] = res
			})
		}
	})
	if t.Failed() {
		return
	}
	ref := results[0]
	for i, res := range results[1:] {
		require.Equal(t, ref.wav.Header.Channels, res.wav.Header.Channels)
		for ch := range ref.wav.Samples {
			assert.Equal(t, toneStructure(ref.wav.Samples[ch]), toneStructure(res.wav.Samples[ch]),
				"%s channel %d", variants[i+1].name, ch)
		}
		assert.InDelta(t, ref.rec.Pauses[0].EndMs-ref.rec.Pauses[0].StartMs,
			res.rec.Pauses[0].EndMs-res.rec.Pauses[0].StartMs, 80)
	}
}
