package load

import (
	"bytes"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
)

// startRecorder runs a real recorder in this process on port 0.
func startRecorder(t *testing.T) *recorder.Recorder {
	t.Helper()
	cfg := recorder.Config{Name: "load-test", HTTP: "127.0.0.1:0", DataDir: t.TempDir(),
		// The widest window: the test shares two cores with -race builds; lateness
		// caused by the race detector is not what this test measures.
		JitterWindow: recorder.MaxJitterWindow}
	cfg.SIP.TCP = "127.0.0.1:0"
	r, err := recorder.New(cfg, recorder.WithLogger(testLogger()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, r.Start(ctx))
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	return r
}

func recorderTarget(r *recorder.Recorder) string {
	return "sip:srs@" + r.SIPAddr("tcp").String() + ";transport=tcp"
}

// TestShortLoadRun is the short load run of CI: real SIPREC sessions into a
// real recorder, failing on any lost recording or packet.
func TestShortLoadRun(t *testing.T) {
	rec := startRecorder(t)
	var progress bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, Config{
		Calls: 30, CPS: 30, Hold: 2500 * time.Millisecond,
		Target:       recorderTarget(rec),
		Recorders:    []string{rec.HTTPAddr().String()},
		VerifySample: 3,
		Logger:       testLogger(),
	}, &progress)
	require.NoError(t, err)
	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	t.Log("\n" + text.String())

	require.NoError(t, rep.Err())
	assert.Equal(t, 30, rep.Calls.Established)
	assert.Equal(t, 0, rep.Calls.Failed)
	require.NotNil(t, rep.Recordings)
	assert.Equal(t, 30, rep.Recordings.Complete)
	assert.Zero(t, rep.Recordings.Missing)
	assert.Zero(t, rep.Recordings.PacketsLost)
	// 2.5 s of 50 packets/s on two streams per call.
	assert.GreaterOrEqual(t, rep.Recordings.PacketsSent, uint64(30*2*120))
	assert.Equal(t, rep.Recordings.PacketsSent, rep.Recordings.PacketsWritten)
	require.NotNil(t, rep.Audio)
	assert.Equal(t, 3, rep.Audio.Sampled)
	assert.Equal(t, 3, rep.Audio.Passed, rep.Audio.Problems)
	assert.Equal(t, 30, rep.Setup.Count)
	assert.Contains(t, progress.String(), "active")
	require.NotEmpty(t, rep.Processes)
	assert.Equal(t, "load", rep.Processes[0].Name)
	assert.Greater(t, rep.Processes[0].CPUSeconds, 0.0)
	assert.True(t, strings.HasSuffix(text.String(), "result       PASS\n"))
}

// TestLoadThroughResourceManager sends the recording sessions to the Resource
// Manager, which places them on the recorder.
func TestLoadThroughResourceManager(t *testing.T) {
	rec := startRecorder(t)
	rmCfg := resourcemanager.Config{Groups: []resourcemanager.GroupConfig{{Name: "recorders", Kind: resourcemanager.KindRecorder,
		Members: []resourcemanager.MemberConfig{{URI: "sip:" + rec.SIPAddr("tcp").String() + ";transport=tcp"}}}}}
	rmCfg.SIP.TCP = "127.0.0.1:0"
	rm, err := resourcemanager.New(rmCfg, resourcemanager.WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, rm.Start(context.Background()))
	defer func() { require.NoError(t, rm.Close()) }()

	rep, err := Run(context.Background(), Config{
		Calls: 10, CPS: 20, Hold: 1500 * time.Millisecond,
		Target:    "sip:" + rm.SIPAddr("tcp").String() + ";transport=tcp",
		Recorders: []string{rec.HTTPAddr().String()}, VerifySample: 1, Progress: -1,
		Logger: testLogger(),
	}, nil)
	require.NoError(t, err)
	require.NoError(t, rep.Err())
	assert.Equal(t, 10, rep.Recordings.Complete)
	assert.Zero(t, rep.Recordings.PacketsLost)
	assert.Zero(t, rep.Calls.ByeFailed, "BYE follows the Record-Route through the RM")
}

// TestLoadReportsRefusals: a recorder at its session limit answers 503; the
// run reports the failures by code and fails.
func TestLoadReportsRefusals(t *testing.T) {
	cfg := recorder.Config{Name: "small", HTTP: "127.0.0.1:0", DataDir: t.TempDir(), MaxSessions: 3}
	cfg.SIP.TCP = "127.0.0.1:0"
	rec, err := recorder.New(cfg, recorder.WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, rec.Start(context.Background()))
	defer func() { require.NoError(t, rec.Close()) }()

	rep, err := Run(context.Background(), Config{
		Calls: 6, Hold: time.Second, Target: recorderTarget(rec),
		Recorders: []string{rec.HTTPAddr().String()}, VerifySample: 1, Progress: -1, Logger: testLogger(),
	}, nil)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Calls.Established)
	assert.Equal(t, map[string]int{"503": 3}, rep.Calls.Failures)
	assert.Equal(t, 3, rep.Recordings.Complete, "the accepted sessions are recorded in full")
	assert.Zero(t, rep.Recordings.PacketsLost)
	require.ErrorIs(t, rep.Err(), ErrFailed)
	assert.Contains(t, rep.Err().Error(), "3 of 6 calls failed (503×3)")
}

// TestLoadCancel: cancelling the run ends the calls (BYE sent) and skips
// verification, without leaking goroutines.
func TestLoadCancel(t *testing.T) {
	rec := startRecorder(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan struct{})
	var rep *Report
	var err error
	go func() {
		defer close(done)
		rep, err = Run(ctx, Config{Calls: 5, Hold: time.Minute, Target: recorderTarget(rec),
			Recorders: []string{rec.HTTPAddr().String()}, Logger: testLogger()}, &out)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "active 5") }, 10*time.Second, 10*time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Calls.Established)
	assert.Zero(t, rep.Calls.ByeFailed)
	assert.Nil(t, rep.Recordings)
	assert.Contains(t, rep.Problems, "run cancelled: recordings not verified")
	require.Eventually(t, func() bool {
		st, err := rec.Store().Counts(context.Background())
		return err == nil && st[recorder.StateComplete] == 5
	}, 5*time.Second, 20*time.Millisecond, "every recording ended by BYE")
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLoadUnreachableTarget: nothing listens at the target; every setup fails
// at once as a transport failure and no recording is expected.
func TestLoadUnreachableTarget(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	start := time.Now()
	rep, err := Run(context.Background(), Config{Calls: 2, Hold: time.Second, Target: "sip:" + addr + ";transport=tcp",
		Progress: -1, Logger: testLogger()}, nil)
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, map[string]int{"transport": 2}, rep.Calls.Failures)
	assert.Zero(t, rep.Calls.Established)
	assert.Nil(t, rep.Recordings, "no recorder API given")
	require.ErrorIs(t, rep.Err(), ErrFailed)
}
