package recclient

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seed stores a finished two-channel recording of customer (channel 0) and
// agent (channel 1) tones with a silent pause from 1 s to 1.5 s, then
// starts a real recorder over that data directory.
func seed(t *testing.T, name, id, callUUID string, start time.Time, noiseInPause bool) *recorder.Recorder {
	t.Helper()
	dir := t.TempDir()
	store, err := recorder.OpenStore(dir)
	require.NoError(t, err)
	rec := &recorder.Recording{
		ID: id, State: recorder.StateComplete, Mode: "siprec", CallUUID: callUUID, RecordDN: "7001",
		StartTime: start, EndTime: start.Add(2 * time.Second), DurationMs: 2000,
		Audio:    recorder.AudioInfo{File: "audio.wav", Format: "pcm16", SampleRate: 8000, Channels: 2, Frames: 16000},
		Channels: []recorder.ChannelInfo{{Index: 0, AOR: "sip:+15551230001@lab"}, {Index: 1, AOR: "<sip:7001@lab>"}},
		Pauses:   []recorder.Span{{StartMs: 1000, EndMs: 1500}},
	}
	require.NoError(t, store.Create(context.Background(), rec))
	w, err := wav.Create(store.Path(rec, "audio.wav"), wav.Header{Format: wav.PCM16, Channels: 2})
	require.NoError(t, err)
	a, b := audio.NewTone(audio.ToneForDN("+15551230001"), 0.3), audio.NewTone(audio.ToneForDN("7001"), 0.3)
	fa, fb := make([]int16, 160), make([]int16, 160)
	frame := make([]int16, 320)
	for i := 0; i < 100; i++ {
		a.Read(fa)
		b.Read(fb)
		paused := i >= 50 && i < 75
		for j := 0; j < 160; j++ {
			if paused {
				frame[2*j], frame[2*j+1] = 0, 0
				if noiseInPause {
					frame[2*j] = fb[j] // the agent's tone leaks onto the customer's channel
				}
				continue
			}
			frame[2*j], frame[2*j+1] = fa[j], fb[j]
		}
		require.NoError(t, w.WriteFrames(frame))
	}
	require.NoError(t, w.Close())
	require.NoError(t, store.Save(context.Background(), rec))
	require.NoError(t, store.Close())

	r, err := recorder.New(recorder.Config{Name: name, SIP: sipx.ListenConfig{TCP: "127.0.0.1:0"}, HTTP: "127.0.0.1:0", DataDir: dir})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { r.Close() })
	return r
}

func TestClusterSearchFindDownloadVerify(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	r1 := seed(t, "r1", "20250101T000000-aaaaaaaaaaaa", "CALL-A", now.Add(-time.Hour), false)
	r2 := seed(t, "r2", "20250101T000001-bbbbbbbbbbbb", "CALL-B", now, true)
	cl := Cluster{New(r1.HTTPAddr().String(), ""), New("http://"+r2.HTTPAddr().String(), "")}
	ctx := context.Background()

	all, err := cl.Search(ctx, Query{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	assert.Equal(t, "CALL-B", all[0].CallUUID, "newest first across recorders")
	assert.Equal(t, cl[1].Base, all[0].Recorder)

	one, err := cl.Search(ctx, Query{CallUUID: "CALL-A"})
	require.NoError(t, err)
	require.Len(t, one, 1)

	c, rec, err := cl.Find(ctx, "20250101T000001-bbbbbbbbbbbb")
	require.NoError(t, err)
	assert.Equal(t, cl[1], c)
	_, _, err = cl.Find(ctx, "20250101T000002-cccccccccccc")
	assert.ErrorIs(t, err, ErrNotFound)

	for _, tc := range []struct {
		client *Client
		id     string
		ok     bool
	}{{cl[0], "20250101T000000-aaaaaaaaaaaa", true}, {cl[1], rec.ID, false}} {
		r, err := tc.client.Get(ctx, tc.id)
		require.NoError(t, err)
		body, err := tc.client.Audio(ctx, tc.id, -1)
		require.NoError(t, err)
		f, err := wav.Read(body)
		body.Close()
		require.NoError(t, err)
		v := VerifyTones(*r, f)
		assert.Equal(t, tc.ok, v.OK(), "%v", v.Problems())
		require.Len(t, v.Channels, 2)
		assert.Equal(t, "+15551230001", v.Channels[0].Party)
		assert.Equal(t, "7001", v.Channels[1].Party)
		if !tc.ok {
			assert.Contains(t, v.Problems(), "channel 0 (+15551230001): 500ms of audio inside paused spans")
		}
	}

	// A recorder that is down: the others' answers still come back, with the error.
	down := append(Cluster{New("127.0.0.1:1", "")}, cl...)
	got, err := down.Search(ctx, Query{})
	assert.Error(t, err)
	assert.Len(t, got, 2)

	require.NoError(t, cl[0].Delete(ctx, "20250101T000000-aaaaaaaaaaaa"))
	_, err = cl[0].Get(ctx, "20250101T000000-aaaaaaaaaaaa")
	assert.ErrorIs(t, err, ErrNotFound)
}
