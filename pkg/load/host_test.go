package load

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name        string
		in          string
		busy, steal time.Duration
		err         bool
	}{
		// busy = user + nice + system + irq + softirq + steal; idle and iowait are not.
		{name: "aggregate line", in: "cpu  100 2 30 9999 7 1 5 3 0 0\ncpu0 50 1 15 5000 3 0 2 1 0 0\n",
			busy: 1410 * time.Millisecond, steal: 30 * time.Millisecond},
		{name: "old kernel (8 values)", in: "cpu 1 0 0 5 0 0 0 0\n", busy: 10 * time.Millisecond},
		{name: "no aggregate", in: "cpu0 1 2 3 4 5 6 7 8\n", err: true},
		{name: "short", in: "cpu 1 2 3\n", err: true},
		{name: "garbage", in: "cpu a b c d e f g h\n", err: true},
		{name: "huge", in: "cpu 9999999999999 0 0 0 0 0 0 0\n", err: true},
		{name: "empty", in: "", err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tc.in))
			if tc.err {
				require.ErrorIs(t, err, ErrProcFormat)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.busy, got.busy)
			assert.Equal(t, tc.steal, got.steal)
		})
	}
	b, err := os.ReadFile("testdata/proc/stat-host.txt")
	require.NoError(t, err)
	_, err = parseProcStat(b)
	require.NoError(t, err, "a real /proc/stat")
}

func TestHostWatch(t *testing.T) {
	h := newHostWatch()
	busy := time.Now()
	for time.Since(busy) < 30*time.Millisecond {
	}
	hs := h.stats([]ProcessStats{{CPUSeconds: 1e6}})
	require.NotNil(t, hs)
	assert.Positive(t, hs.CPUs)
	assert.Positive(t, hs.BusySeconds)
	assert.Zero(t, hs.OtherSeconds, "never negative")
}

func FuzzParseProcStat(f *testing.F) {
	if b, err := os.ReadFile("testdata/proc/stat-host.txt"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("cpu 1 2 3 4 5 6 7 8 9 10\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseProcStat(b)
		if err == nil && (c.busy < 0 || c.steal < 0 || c.steal > c.busy) {
			t.Fatalf("inconsistent %+v", c)
		}
	})
}
