package wav

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zaf/g711"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelper() // child process of TestSIGKILLThenRepair; never returns
	}
	goleak.VerifyTestMain(m)
}

// tone returns frames of interleaved samples: channel c carries a sine at
// 300*(c+1) Hz so channels are distinguishable and values cover the range.
func tone(frames, channels, offset int) []int16 {
	out := make([]int16, frames*channels)
	for i := 0; i < frames; i++ {
		for c := 0; c < channels; c++ {
			t := float64(i+offset) / 8000
			out[i*channels+c] = int16(12000 * math.Sin(2*math.Pi*300*float64(c+1)*t))
		}
	}
	return out
}

// expected returns what a reader must return per channel for pcm written to
// a writer of format f (G.711 is lossy: encode then decode).
func expected(f Format, pcm []int16, channels int) [][]int16 {
	frames := len(pcm) / channels
	out := make([][]int16, channels)
	for c := range out {
		out[c] = make([]int16, frames)
		for i := 0; i < frames; i++ {
			s := pcm[i*channels+c]
			switch f {
			case ULaw:
				s = g711.DecodeUlawFrame(g711.EncodeUlawFrame(s))
			case ALaw:
				s = g711.DecodeAlawFrame(g711.EncodeAlawFrame(s))
			}
			out[c][i] = s
		}
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []Format{PCM16, ULaw, ALaw} {
		for _, ch := range []int{1, 2, 3} {
			t.Run(f.String()+"/"+string(rune('0'+ch)), func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "a.wav")
				w, err := Create(path, Header{Format: f, Channels: ch})
				require.NoError(t, err)
				// 1001 frames in 20 ms packets plus an odd tail exercises spills,
				// partial buffers and (for mono/3ch G.711) the RIFF pad byte.
				const frames = 8000 + 1001
				pcm := tone(frames, ch, 0)
				for off := 0; off < frames; off += 160 {
					end := min(off+160, frames)
					require.NoError(t, w.WriteFrames(pcm[off*ch:end*ch]))
				}
				assert.Equal(t, int64(frames), w.Frames())
				assert.Equal(t, time.Duration(frames)*time.Second/8000, w.Duration())
				require.NoError(t, w.Close())

				got, err := ReadFile(path)
				require.NoError(t, err)
				assert.Equal(t, Header{Format: f, Channels: ch, SampleRate: 8000}, got.Header)
				assert.Equal(t, int64(frames), got.Frames)
				assert.Equal(t, expected(f, pcm, ch), got.Samples)
				assertConsistent(t, path)
			})
		}
	}
}

func TestWriteEncodedRoundTrip(t *testing.T) {
	for _, f := range []Format{ULaw, ALaw} {
		t.Run(f.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "e.wav")
			w, err := Create(path, Header{Format: f, Channels: 2})
			require.NoError(t, err)
			enc := make([]byte, 2*3000)
			for i := range enc {
				enc[i] = byte(i * 7)
			}
			require.NoError(t, w.WriteEncoded(enc[:320]))
			require.NoError(t, w.WriteEncoded(enc[320:]))
			require.NoError(t, w.Close())

			got, err := ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, int64(3000), got.Frames)
			for i := 0; i < 3000; i++ {
				for c := 0; c < 2; c++ {
					want := g711.DecodeUlawFrame(enc[2*i+c])
					if f == ALaw {
						want = g711.DecodeAlawFrame(enc[2*i+c])
					}
					require.Equal(t, want, got.Samples[c][i], "frame %d ch %d", i, c)
				}
			}
		})
	}
}

// assertConsistent checks the on-disk header sizes against the file length.
func assertConsistent(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lay, err := findData(b)
	require.NoError(t, err)
	assert.Equal(t, int64(len(b)-8), int64(binary.LittleEndian.Uint32(b[4:])), "RIFF size")
	avail := int64(len(b)) - lay.dataOff
	assert.True(t, lay.declaredData == avail || lay.declaredData+1 == avail && lay.declaredData%2 == 1,
		"data size %d, bytes after header %d", lay.declaredData, avail)
	if lay.factOff >= 0 {
		assert.Equal(t, lay.declaredData/int64(lay.h.BlockAlign()),
			int64(binary.LittleEndian.Uint32(b[lay.factOff:])), "fact sample count")
	}
}

func TestHeaderValidAfterEveryFlush(t *testing.T) {
	for _, f := range []Format{PCM16, ULaw} {
		t.Run(f.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.wav")
			w, err := Create(path, Header{Format: f, Channels: 2})
			require.NoError(t, err)
			defer w.Close()
			assertConsistent(t, path) // a fresh file is an empty, valid WAV
			pcm := tone(20000, 2, 0)
			written := 0
			for _, n := range []int{0, 1, 160, 4096, 7, 10000} {
				require.NoError(t, w.WriteFrames(pcm[written*2:(written+n)*2]))
				written += n
				require.NoError(t, w.Flush())
				assertConsistent(t, path)
				got, err := ReadFile(path)
				require.NoError(t, err)
				require.Equal(t, int64(written), got.Frames)
				assert.Equal(t, expected(f, pcm[:written*2], 2), got.Samples)
			}
		})
	}
}

// TestCrashCopyRepair simulates a kill by snapshotting the file bytes while
// the writer still holds unflushed data, then repairs the snapshot.
func TestCrashCopyRepair(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "live.wav")
	w, err := Create(path, Header{Format: PCM16, Channels: 2})
	require.NoError(t, err)
	defer w.Close()

	pcm := tone(12000, 2, 0)
	require.NoError(t, w.WriteFrames(pcm[:2*3000]))
	require.NoError(t, w.Flush())
	// More than one buffer: one spill reaches the file, the rest stays staged.
	extra := bufSize/4 + 100
	require.NoError(t, w.WriteFrames(pcm[2*3000:2*(3000+extra)]))

	snap, err := os.ReadFile(path)
	require.NoError(t, err)
	crashed := filepath.Join(dir, "crashed.wav")
	require.NoError(t, os.WriteFile(crashed, snap, 0o644))

	// Readable as-is: the header still describes the flushed 3000 frames.
	got, err := ReadFile(crashed)
	require.NoError(t, err)
	assert.Equal(t, int64(3000), got.Frames)

	frames, err := Repair(crashed)
	require.NoError(t, err)
	assert.Equal(t, int64(3000+bufSize/4), frames, "flushed + spilled frames")
	assertConsistent(t, crashed)
	got, err = ReadFile(crashed)
	require.NoError(t, err)
	assert.Equal(t, frames, got.Frames)
	assert.Equal(t, expected(PCM16, pcm[:2*int(frames)], 2), got.Samples)

	// A second repair finds nothing to do.
	again, err := Repair(crashed)
	require.NoError(t, err)
	assert.Equal(t, frames, again)
}

func TestRepairPartialFrameAndStaleHeader(t *testing.T) {
	tests := []struct {
		name       string
		h          Header
		frames     int
		trailing   int // extra bytes appended after the flushed audio
		wantFrames int64
	}{
		{"pcm stereo half frame", Header{Format: PCM16, Channels: 2}, 100, 3, 100},
		{"pcm stereo one more frame", Header{Format: PCM16, Channels: 2}, 100, 4, 101},
		{"ulaw 3ch odd", Header{Format: ULaw, Channels: 3}, 33, 5, 34},
		{"alaw mono", Header{Format: ALaw, Channels: 1}, 7, 2, 9},
		{"empty file header only", Header{Format: PCM16, Channels: 1}, 0, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.wav")
			w, err := Create(path, tc.h)
			require.NoError(t, err)
			require.NoError(t, w.WriteFrames(tone(tc.frames, tc.h.Channels, 0)))
			require.NoError(t, w.Flush())
			fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = fh.Write(bytes.Repeat([]byte{0x11}, tc.trailing))
			require.NoError(t, err)
			require.NoError(t, fh.Close())
			require.NoError(t, w.Close()) // Close patches again; redo the damage below

			b, err := os.ReadFile(path)
			require.NoError(t, err)
			// Make the header stale as a dead writer would leave it.
			binary.LittleEndian.PutUint32(b[4:], 36)
			require.NoError(t, os.WriteFile(path, b, 0o644))

			frames, err := Repair(path)
			require.NoError(t, err)
			assert.Equal(t, tc.wantFrames, frames)
			assertConsistent(t, path)
			got, err := ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tc.wantFrames, got.Frames)
		})
	}
}

func TestRepairErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Repair(filepath.Join(dir, "missing.wav"))
	require.ErrorIs(t, err, os.ErrNotExist)

	junk := filepath.Join(dir, "junk.wav")
	require.NoError(t, os.WriteFile(junk, []byte("not a wav file at all"), 0o644))
	_, err = Repair(junk)
	require.ErrorIs(t, err, ErrMalformed)

	short := filepath.Join(dir, "short.wav")
	var hdr [pcmHeaderLen]byte
	(Header{Format: PCM16, Channels: 1, SampleRate: 8000}).encodeHeader(hdr[:], 0)
	require.NoError(t, os.WriteFile(short, hdr[:30], 0o644)) // cut inside fmt
	_, err = Repair(short)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestWriterErrors(t *testing.T) {
	dir := t.TempDir()
	for _, h := range []Header{
		{Format: 3, Channels: 1},
		{Format: PCM16, Channels: 0},
		{Format: PCM16, Channels: 17},
		{Format: PCM16, Channels: 1, SampleRate: -1},
	} {
		_, err := Create(filepath.Join(dir, "x.wav"), h)
		require.Error(t, err, "%+v", h)
		assert.True(t, isOneOf(err, ErrFormat, ErrHeader), "%v", err)
	}
	_, err := Create(filepath.Join(dir, "no", "such", "dir.wav"), Header{Format: PCM16, Channels: 1})
	require.Error(t, err)

	w, err := Create(filepath.Join(dir, "w.wav"), Header{Format: PCM16, Channels: 2})
	require.NoError(t, err)
	require.ErrorIs(t, w.WriteFrames([]int16{1, 2, 3}), ErrPartialFrame)
	require.ErrorIs(t, w.WriteEncoded([]byte{1, 2}), ErrFormat)
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "second Close is a no-op")
	require.ErrorIs(t, w.WriteFrames([]int16{1, 2}), ErrClosed)
	require.ErrorIs(t, w.Flush(), ErrClosed)

	u, err := Create(filepath.Join(dir, "u.wav"), Header{Format: ULaw, Channels: 2})
	require.NoError(t, err)
	require.ErrorIs(t, u.WriteEncoded([]byte{1, 2, 3}), ErrPartialFrame)
	require.NoError(t, u.Sync())
	require.NoError(t, u.Close())
}

func isOneOf(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

func TestGoldenHeaders(t *testing.T) {
	for _, f := range []Format{PCM16, ULaw, ALaw} {
		t.Run(f.String(), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "g.wav")
			w, err := Create(path, Header{Format: f, Channels: 2})
			require.NoError(t, err)
			require.NoError(t, w.WriteFrames(tone(5, 2, 0)))
			require.NoError(t, w.Close())
			got, err := os.ReadFile(path)
			require.NoError(t, err)
			golden := filepath.Join("testdata", "golden", f.String()+"_stereo_5frames.wav")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run with -update to create")
			assert.Equal(t, want, got)
		})
	}
}

func TestAllocsWriteFrames(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "a.wav"), Header{Format: PCM16, Channels: 2})
	require.NoError(t, err)
	defer w.Close()
	pcm := tone(160, 2, 0)
	allocs := testing.AllocsPerRun(2000, func() {
		if err := w.WriteFrames(pcm); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "WriteFrames must not allocate")

	u, err := Create(filepath.Join(t.TempDir(), "u.wav"), Header{Format: ULaw, Channels: 2})
	require.NoError(t, err)
	defer u.Close()
	enc := make([]byte, 320)
	allocs = testing.AllocsPerRun(2000, func() {
		if err := u.WriteEncoded(enc); err != nil {
			t.Fatal(err)
		}
		if err := u.Flush(); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "WriteEncoded+Flush must not allocate")
}

func BenchmarkWriteFrames(b *testing.B) {
	for _, f := range []Format{PCM16, ULaw} {
		b.Run(f.String(), func(b *testing.B) {
			w, err := Create(filepath.Join(b.TempDir(), "b.wav"), Header{Format: f, Channels: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			pcm := tone(160, 2, 0) // one 20 ms stereo packet
			b.ReportAllocs()
			b.SetBytes(int64(len(pcm) * f.bytesPerSample()))
			b.ResetTimer()
			for b.Loop() {
				if err := w.WriteFrames(pcm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkWriteEncoded(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "b.wav"), Header{Format: ULaw, Channels: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	enc := make([]byte, 320)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if err := w.WriteEncoded(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentFlush flushes from a timer-like goroutine while the media
// goroutine writes, as the recorder does; -race checks the locking.
func TestConcurrentFlush(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.wav")
	w, err := Create(path, Header{Format: ULaw, Channels: 2})
	require.NoError(t, err)
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
				if err := w.Flush(); err != nil {
					done <- err
					return
				}
			}
		}
	}()
	pcm := tone(160, 2, 0)
	for i := 0; i < 500; i++ {
		require.NoError(t, w.WriteFrames(pcm))
	}
	close(stop)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("flusher did not stop")
	}
	require.NoError(t, w.Close())
	got, err := ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, int64(500*160), got.Frames)
}

func TestRIFFLimit(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "big.wav"), Header{Format: PCM16, Channels: 2})
	require.NoError(t, err)
	defer w.Close()
	w.data = maxDataBytes - 4 // pretend 4 GiB were written
	require.NoError(t, w.WriteFrames([]int16{1, 2}))
	require.ErrorIs(t, w.WriteFrames([]int16{1, 2}), ErrTooLarge)
	w.data = 0
}
