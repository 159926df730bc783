package recorder

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/wav"
)

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(to, 0o755))
	entries, err := os.ReadDir(from)
	require.NoError(t, err)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(to, e.Name()), b, 0o644))
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// crashedRecording runs a timeline, flushes at flushMs, keeps writing until crashMs, and
// snapshots the directory at that point as a crashed recording in st.
func crashedRecording(t *testing.T, st *Store, id string, state State, supervisor bool) (flushedFrames int64) {
	t.Helper()
	ctx := context.Background()
	s := newSim(t, 80*time.Millisecond, false)
	rec := &Recording{ID: id, State: state, StartTime: s.t0, Mode: ModeSIPREC}
	require.NoError(t, st.Create(ctx, rec))
	a := s.addChannel("a", 0)
	b := s.addChannel("b", 0)
	sa, sb := newSender(toneA, 1, 0, 0), newSender(toneB, 2, 0, 0)
	s.stream(a, sa, 0, 50)
	s.stream(b, sb, 0, 50)
	s.run(1000)
	if supervisor {
		c := s.addChannel("sup", 1000)
		s.stream(c, newSender(toneC, 3, 0, 0), 1000, 50)
	}
	s.stream(a, sa, 1000, 50)
	s.stream(b, sb, 1000, 50)
	s.run(2000)
	require.NoError(t, s.tl.Flush())
	flushedFrames = s.tl.Frames()
	// Unflushed audio after the last flush: may or may not reach the disk.
	s.stream(a, sa, 2000, 20)
	s.stream(b, sb, 2000, 20)
	s.run(2400)
	copyDir(t, s.dir, filepath.Join(st.DataDir(), rec.Dir)) // the state a SIGKILL leaves
	_, err := s.tl.Finish(s.at(2400))
	require.NoError(t, err)
	return flushedFrames
}

func TestRecoveryRepairsOpenRecordings(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	flushed := crashedRecording(t, st, "crash1", StateRecording, false)
	flushedSup := crashedRecording(t, st, "crash2", StatePaused, true)
	crashedRecording(t, st, "pre", StateTentative, false)
	done := &Recording{ID: "done", State: StateComplete, StartTime: time.Now(), EndTime: time.Now()}
	require.NoError(t, st.Create(ctx, done))
	empty := &Recording{ID: "empty", State: StateRecording, StartTime: time.Now()}
	require.NoError(t, st.Create(ctx, empty))

	now := time.Now()
	n, err := recoverAll(ctx, st, discard, now, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	for _, tc := range []struct {
		id       string
		flushed  int64
		channels int
	}{{"crash1", flushed, 2}, {"crash2", flushedSup, 3}} {
		rec, err := st.Get(ctx, tc.id)
		require.NoError(t, err)
		assert.Equal(t, StateRecovered, rec.State)
		f, err := wav.ReadFile(st.Path(rec, AudioFile))
		require.NoError(t, err)
		assert.Equal(t, tc.channels, f.Header.Channels)
		assert.GreaterOrEqual(t, f.Frames, tc.flushed, "nothing flushed is lost")
		assert.Equal(t, f.Frames, rec.Audio.Frames)
		assert.Equal(t, f.Frames/8, rec.DurationMs)
		assert.False(t, rec.EndTime.IsZero())
		expectSpans(t, f.Samples[0], 20, span{0, int(tc.flushed / 8), toneA})
		expectSpans(t, f.Samples[1], 20, span{0, int(tc.flushed / 8), toneB})
		if tc.channels == 3 {
			expectSpans(t, f.Samples[2], 20, span{0, 900, 0}, span{1000, int(tc.flushed / 8), toneC})
			_, err := os.Stat(st.Path(rec, "audio.seg1.wav"))
			assert.True(t, os.IsNotExist(err))
		}
	}
	pre, err := st.Get(ctx, "pre")
	require.NoError(t, err)
	assert.Equal(t, StateTentative, pre.State)
	assert.WithinDuration(t, now.Add(time.Minute), pre.TentativeUntil, time.Second)

	e, err := st.Get(ctx, "empty")
	require.NoError(t, err)
	assert.Equal(t, StateRecovered, e.State)
	assert.Zero(t, e.Audio.Frames)

	d, err := st.Get(ctx, "done")
	require.NoError(t, err)
	assert.Equal(t, StateComplete, d.State)

	// Idempotent: a second start finds nothing to do.
	n, err = recoverAll(ctx, st, discard, now, time.Minute)
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestRecoveryOfGarbageAudioMarksFailed(t *testing.T) {
	st := openTestStore(t)
	ctx := context.Background()
	rec := &Recording{ID: "bad", State: StateRecording, StartTime: time.Now()}
	require.NoError(t, st.Create(ctx, rec))
	require.NoError(t, os.WriteFile(st.Path(rec, AudioFile), []byte("this is not a wav file at all"), 0o644))
	_, err := recoverAll(ctx, st, discard, time.Now(), time.Minute)
	require.NoError(t, err)
	got, err := st.Get(ctx, "bad")
	require.NoError(t, err)
	assert.Equal(t, StateFailed, got.State)
	assert.NotEmpty(t, got.Warnings)
}
