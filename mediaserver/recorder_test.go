package mediaserver

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
)

// newRecorder starts a real lab recorder (SIPREC SRS) on loopback.
func newRecorder(t *testing.T, name string, mutate func(*recorder.Config), opts ...recorder.Option) *recorder.Recorder {
	t.Helper()
	var cfg recorder.Config
	cfg.Name = name
	cfg.SIP.TCP = "127.0.0.1:0"
	cfg.SIP.UDP = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	if mutate != nil {
		mutate(&cfg)
	}
	r, err := recorder.New(cfg, append([]recorder.Option{recorder.WithLogger(testLogger())}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// finished waits for the recorder's recording of callUUID to complete and
// returns it with its audio.
func finished(t *testing.T, r *recorder.Recorder, callUUID string) (*recorder.Recording, *wav.File) {
	t.Helper()
	var rec *recorder.Recording
	eventually(t, 5*time.Second, func() bool {
		page, err := r.Store().Search(context.Background(), recorder.Query{CallUUID: callUUID})
		if err != nil || len(page.Recordings) != 1 || page.Recordings[0].Live() {
			return false
		}
		rec = page.Recordings[0]
		return true
	}, "recording of %s completed", callUUID)
	f, err := wav.ReadFile(r.Store().Path(rec, recorder.AudioFile))
	require.NoError(t, err)
	return rec, f
}

// finishedIn reads the audio of callUUID's recording from the store of a
// recorder that was closed.
func finishedIn(t *testing.T, dataDir, callUUID string) *wav.File {
	t.Helper()
	st, err := recorder.OpenStore(dataDir)
	require.NoError(t, err)
	defer st.Close()
	page, err := st.Search(context.Background(), recorder.Query{CallUUID: callUUID})
	require.NoError(t, err)
	require.Len(t, page.Recordings, 1)
	require.False(t, page.Recordings[0].Live())
	f, err := wav.ReadFile(st.Path(page.Recordings[0], recorder.AudioFile))
	require.NoError(t, err)
	return f
}

// toneSpan checks that samples[from:to] (seconds) are dominated by tone.
func toneSpan(t *testing.T, samples []int16, from, to float64, tone float64, what string) {
	t.Helper()
	a, b := int(from*audio.SampleRate), int(to*audio.SampleRate)
	require.LessOrEqual(t, b, len(samples), "%s: audio shorter than %.2fs", what, to)
	f, ok := audio.DominantTone(samples[a:b], allTones)
	assert.True(t, ok && f == tone, "%s: %.2f-%.2fs dominated by %v Hz, want %v Hz", what, from, to, f, tone)
}

// TestRecorderTwoChannelsWithPause: recording into the lab recorder yields a
// two-channel WAV with the agent's tone on channel 0 and the customer's on
// channel 1; the pause is seen by the recorder (a=inactive) and is silence in
// the file; resume restores the audio.
func TestRecorderTwoChannelsWithPause(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, nil)
	rec := newRecorder(t, "rec1", nil)
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-1", msml.Record{CallUUID: "01CALLPAUSE",
		Dests: []msml.Dest{{URI: uriOf(rec, "tcp")}}}))
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	t0 := time.Now()

	time.Sleep(1500 * time.Millisecond) // recorded audio before the pause
	b.stub.do(agentDN, msml.NewPause("c1", "rec-1"))
	paused := time.Now()
	time.Sleep(1000 * time.Millisecond) // the paused span
	b.stub.do(agentDN, msml.NewResume("c1", "rec-1"))
	resumed := time.Now()
	time.Sleep(1500 * time.Millisecond) // recorded audio after the resume
	b.stub.do(agentDN, msml.NewStop("c1", "rec-1"))
	total := time.Since(t0)

	r, f := finished(t, rec, "01CALLPAUSE")
	require.Equal(t, 2, f.Header.Channels)
	require.Len(t, r.Pauses, 1, "the recorder saw the a=inactive pause")
	p := r.Pauses[0]
	assert.InDelta(t, resumed.Sub(paused).Milliseconds(), p.EndMs-p.StartMs, 300, "pause length")
	start, end := float64(p.StartMs)/1000, float64(p.EndMs)/1000
	dur := f.Duration().Seconds()
	assert.InDelta(t, total.Seconds(), dur, 0.6)
	toneSpan(t, f.Samples[0], 0.2, start-0.1, agentTone, "agent before pause")
	toneSpan(t, f.Samples[1], 0.2, start-0.1, customerTone, "customer before pause")
	for ch := range 2 {
		a, z := int((start+0.06)*audio.SampleRate), int((end-0.06)*audio.SampleRate)
		assert.True(t, audio.IsSilent(f.Samples[ch][a:z]), "channel %d silent while paused", ch)
	}
	toneSpan(t, f.Samples[0], end+0.1, dur-0.2, agentTone, "agent after resume")
	toneSpan(t, f.Samples[1], end+0.1, dur-0.2, customerTone, "customer after resume")
}

// window returns one second of samples starting at second at.
func window(s []int16, at float64) []int16 {
	a := int(at * audio.SampleRate)
	return s[a : a+audio.SampleRate]
}

// containsExactly reports whether needle appears sample for sample in hay.
func containsExactly(hay, needle []int16) bool {
	for off := 0; off+len(needle) <= len(hay); off++ {
		match := true
		for i, v := range needle {
			if hay[off+i] != v {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestTwoRecordersAndLocalFileWithKill: two recorders and a local file
// record the same call: identical audio (one second of each channel taken
// from the local file is found sample for sample in each recorder's WAV).
// Killing one recorder mid-call leaves the other recorder, the file and the
// parties' audio uninterrupted, and the SIP Server is told.
func TestTwoRecordersAndLocalFileWithKill(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, nil)
	rec1 := newRecorder(t, "rec1", nil)
	rec2 := newRecorder(t, "rec2", nil)
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-3", msml.Record{CallUUID: "01CALLTHREE", Dests: []msml.Dest{
		{URI: uriOf(rec1, "tcp")},
		{URI: uriOf(rec2, "tcp")},
		{URI: "file:///"},
	}}))
	for range 3 {
		b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	}
	t0 := time.Now()
	time.Sleep(2 * time.Second) // all three record
	require.NoError(t, rec2.Close())
	killed := time.Now()
	ev := b.stub.waitEvent(msml.EventRecordFailed, 5*time.Second)
	assert.Equal(t, uriOf(rec2, "tcp"), ev.Get(msml.ParamDest))
	assert.Equal(t, "false", ev.Get(msml.ParamRecovering))
	assert.Equal(t, "2", ev.Get(msml.ParamActive))
	time.Sleep(1500 * time.Millisecond) // the survivors keep recording
	assert.True(t, heardFor(b.agentCall.Media().Received(), time.Since(killed), customerTone), "agent hears the customer throughout")
	assert.True(t, heardFor(b.customerCall.Media().Received(), time.Since(killed), agentTone), "customer hears the agent throughout")
	b.stub.do(agentDN, msml.NewStop("c1", "rec-3"))
	total, beforeKill := time.Since(t0).Seconds(), killed.Sub(t0).Seconds()

	_, f1 := finished(t, rec1, "01CALLTHREE")
	f2 := finishedIn(t, rec2.Config().DataDir, "01CALLTHREE")
	infos := b.ms.Conferences()[0].Recordings
	assert.Empty(t, infos, "stopped recording is gone")
	local := localFiles(t, b.ms)
	require.Len(t, local, 1)
	fl, err := wav.ReadFile(local[0])
	require.NoError(t, err)

	for _, f := range []*wav.File{f1, f2, fl} {
		require.Equal(t, 2, f.Header.Channels)
	}
	assert.InDelta(t, total, f1.Duration().Seconds(), 0.6)
	assert.InDelta(t, total, fl.Duration().Seconds(), 0.6)
	// The killed recorder keeps what it had flushed: how much of the last
	// second that is depends on its flush timing (and load), so only the
	// bounds are checked.
	d2 := f2.Duration().Seconds()
	assert.True(t, d2 > 1.6 && d2 < beforeKill+0.6, "recorder 2 holds %.2fs of the %.2fs before its death", d2, beforeKill)
	for ch, tone := range []float64{agentTone, customerTone} {
		toneSpan(t, f1.Samples[ch], 0.2, total-0.6, tone, "recorder 1")
		toneSpan(t, fl.Samples[ch], 0.2, total-0.6, tone, "local file")
		toneSpan(t, f2.Samples[ch], 0.2, min(d2, beforeKill)-0.1, tone, "recorder 2 until killed")
		w := window(fl.Samples[ch], 0.5)
		assert.True(t, containsExactly(f1.Samples[ch], w), "channel %d: local file audio found verbatim in recorder 1", ch)
		assert.True(t, containsExactly(f2.Samples[ch], w), "channel %d: local file audio found verbatim in recorder 2", ch)
	}
}

func localFiles(t *testing.T, s *Server) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(s.cfg.LocalDir, "*.wav"))
	require.NoError(t, err)
	return files
}

// TestSRTPAndTLSToRecorder: the same call recorded over SIPS with SRTP
// (SDES) by one recorder and over TCP with plain RTP by another gives the
// same audio.
func TestSRTPAndTLSToRecorder(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	// One lab CA: the media server and the recorder present its certificate
	// and trust it.
	srvTLS, cliTLS, err := sipx.SelfSigned()
	require.NoError(t, err)
	b := newBridge(t, "c1", func(c *Config) { c.SIP.TLS = "127.0.0.1:0" }, nil, WithTLS(srvTLS, cliTLS))
	secure := newRecorder(t, "secure", func(c *recorder.Config) {
		c.SIP.TLS = "127.0.0.1:0"
		c.SRTP = recorder.SRTPRequire
	}, recorder.WithTLS(srvTLS, cliTLS))
	plain := newRecorder(t, "plain", nil)
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-s", msml.Record{CallUUID: "01CALLSECURE", SRTP: msml.SRTPSDES, Transport: "tls",
		Dests: []msml.Dest{{URI: uriOf(secure, "tls")}}}))
	b.stub.do(agentDN, msml.NewRecord("c1", "rec-p", msml.Record{CallUUID: "01CALLPLAIN",
		Dests: []msml.Dest{{URI: uriOf(plain, "tcp")}}}))
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	b.stub.waitEvent(msml.EventRecordStarted, 5*time.Second)
	time.Sleep(2 * time.Second) // recorded audio
	b.stub.do(agentDN, msml.NewStop("c1", "rec-s"))
	b.stub.do(agentDN, msml.NewStop("c1", "rec-p"))

	rs, fs := finished(t, secure, "01CALLSECURE")
	_, fp := finished(t, plain, "01CALLPLAIN")
	assert.Equal(t, "siprec", rs.Mode)
	for ch, tone := range []float64{agentTone, customerTone} {
		toneSpan(t, fs.Samples[ch], 0.2, 1.6, tone, "SRTP recording")
		assert.True(t, containsExactly(fp.Samples[ch], window(fs.Samples[ch], 0.4)), "channel %d: SRTP audio equals RTP audio", ch)
	}
}

// uriOf is a recorder's Contact URI on a transport, as a string.
func uriOf(r *recorder.Recorder, network string) string {
	u := r.ContactURI(network)
	return u.String()
}
