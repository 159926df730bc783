package load

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseStat(t *testing.T) {
	golden, err := os.ReadFile("testdata/proc/stat-spaces.txt")
	require.NoError(t, err)
	tests := []struct {
		name string
		in   string
		want time.Duration
		err  bool
	}{
		// utime 1500 + stime 250 ticks of 10 ms; the command name holds spaces and parentheses.
		{name: "golden", in: string(golden), want: 17500 * time.Millisecond},
		{name: "plain", in: "1 (init) S 0 1 1 0 -1 0 0 0 0 0 7 3 0 0", want: 100 * time.Millisecond},
		{name: "no command", in: "1 init S 0 1 1 0 -1 0 0 0 0 0 7 3", err: true},
		{name: "short", in: "1 (init) S 0 1", err: true},
		{name: "not a number", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 x 3 0", err: true},
		{name: "negative", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 -7 3 0", err: true},
		{name: "huge", in: "1 (x) S 0 1 1 0 -1 0 0 0 0 0 4611686018427387903 3 0", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, ErrProcFormat)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseStatus(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/status-process.txt")
	require.NoError(t, err)
	rss, hwm, err := parseStatus(b)
	require.NoError(t, err)
	assert.Equal(t, int64(100<<20), rss)
	assert.Equal(t, int64(200<<20), hwm)

	b, err = os.ReadFile("testdata/proc/status-kthread.txt")
	require.NoError(t, err)
	_, _, err = parseStatus(b)
	require.ErrorIs(t, err, ErrProcFormat, "a kernel thread has no memory figures")

	for _, bad := range []string{"VmRSS:\t12 MB\nVmHWM:\t1 kB\n", "VmRSS:\t-1 kB\nVmHWM:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n"} {
		_, _, err := parseStatus([]byte(bad))
		require.ErrorIs(t, err, ErrProcFormat, bad)
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	require.NoError(t, err)
	assert.Positive(t, s.RSS)
	assert.GreaterOrEqual(t, s.HWM, s.RSS)
	_, err = readProc(1 << 30)
	require.Error(t, err)

	w := newProcWatch([]Process{{Name: "self", PID: os.Getpid()}, {Name: "gone", PID: 1 << 30}})
	busy := time.Now()
	for time.Since(busy) < 50*time.Millisecond {
	}
	st := w.stats(10, 5)
	require.Len(t, st, 2)
	assert.Equal(t, "self", st[0].Name)
	assert.Empty(t, st[0].Error)
	assert.Positive(t, st[0].CPUSeconds)
	assert.InDelta(t, st[0].CPUSeconds*100, st[0].CPUMsPerCall, 1e-9)
	assert.GreaterOrEqual(t, st[0].RSSPeakBytes, st[0].RSSStartBytes)
	assert.NotEmpty(t, st[1].Error)
}

func FuzzParseStat(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc/stat-spaces.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("1 (a) S 0 1 1 0 -1 0 0 0 0 0 7 3 0 0"))
	f.Add([]byte(")))"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStat(b)
		if err == nil && d < 0 {
			t.Fatalf("negative CPU time %v", d)
		}
	})
}

func FuzzParseStatus(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc/status-process.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("VmRSS:\t1 kB\nVmHWM:\t2 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rss, hwm, err := parseStatus(b)
		if err == nil && (rss < 0 || hwm < 0) {
			t.Fatalf("negative sizes %d %d", rss, hwm)
		}
	})
}
