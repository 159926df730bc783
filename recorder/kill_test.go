package recorder

import (
	"bufio"
	"encoding/json"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
)

type childRecorder struct {
	cmd  *exec.Cmd
	tcp  netip.AddrPort
	http string
}

// startChild runs the recorder in a child process (the test binary re-executed).
func startChild(t *testing.T, cfg Config) *childRecorder {
	t.Helper()
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "READY ") {
				lines <- strings.TrimPrefix(sc.Text(), "READY ")
			}
		}
		close(lines)
	}()
	c := &childRecorder{cmd: cmd}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case line, ok := <-lines:
		require.True(t, ok, "child exited before it was ready")
		var addrs map[string]string
		require.NoError(t, json.Unmarshal([]byte(line), &addrs))
		c.tcp = netip.MustParseAddrPort(addrs["tcp"])
		c.http = addrs["http"]
	case <-time.After(15 * time.Second):
		t.Fatal("child recorder did not start")
	}
	return c
}

// TestSIGKILLRecovery kills a recorder process mid-recording and restarts it: the WAV is
// readable, holds the audio up to at most one second before the kill, and the recording
// is `recovered`.
func TestSIGKILLRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	cfg := Config{Name: "killme", HTTP: "127.0.0.1:0", DataDir: t.TempDir(), JitterWindow: 80 * time.Millisecond}
	cfg.SIP.TCP = "127.0.0.1:0"
	child := startChild(t, cfg) // default flush interval (500 ms)

	src := newTestSRC(t, "tcp", nil)
	sc, err := src.call(child.tcp, callOpts{callUUID: "U-kill", parties: []party{
		{label: "a", aor: "sip:7001@lab", tone: toneA, law: audio.Ulaw},
		{label: "b", aor: "sip:7002@lab", tone: toneB, law: audio.Alaw},
	}})
	require.NoError(t, err)
	time.Sleep(1500 * time.Millisecond) // record for a while
	require.NoError(t, child.cmd.Process.Signal(os.Kill))
	killed := time.Now()
	_ = child.cmd.Wait()
	sc.stopMedia()
	sc.d.Close()

	// Restart on the same data directory: recovery runs in Start.
	r := startChildInProcess(t, cfg)
	rec := findByCallUUID(t, r, "U-kill")
	assert.Equal(t, StateRecovered, rec.State)
	f := downloadWAV(t, r, rec.ID)
	require.Equal(t, 2, f.Header.Channels)
	sinceStart := killed.Sub(rec.StartTime)
	assert.GreaterOrEqual(t, f.Duration(), sinceStart-time.Second, "audio up to at most 1 s before the kill")
	assert.LessOrEqual(t, f.Duration(), sinceStart)
	covered := int((sinceStart - time.Second).Milliseconds())
	// The SRC's streams start a little after the INVITE; from then on both tones are there.
	expectSpans(t, f.Samples[0], 20, span{200, covered, toneA})
	expectSpans(t, f.Samples[1], 20, span{200, covered, toneB})
	assert.Equal(t, rec.DurationMs, f.Frames/8)
	assert.NotEmpty(t, rec.Warnings)
}

// startChildInProcess restarts the killed recorder's config in this process (recovery is
// the same code either way; in-process lets the test use the API helpers).
func startChildInProcess(t *testing.T, cfg Config) *Recorder {
	return startRecorder(t, func(c *Config) { *c = cfg })
}
