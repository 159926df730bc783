package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/recorder"
)

type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestServiceCommandsRunAndStop starts each service command on port 0 from a
// config file, checks it reports ready and answers /healthz, then stops it
// as Ctrl-C would.
func TestServiceCommandsRunAndStop(t *testing.T) {
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
lab: {data-dir: %q}
resourcemanager:
  sip: {udp: "127.0.0.1:0", tcp: "127.0.0.1:0", tls: ""}
  http: "127.0.0.1:0"
  groups: [{name: recorders, kind: recorder, members: [{name: r1, uri: "sip:127.0.0.1:9;transport=tcp"}]}]
mediaservers:
  - {name: m1, sip: {udp: "127.0.0.1:0", tcp: "127.0.0.1:0"}, http: "127.0.0.1:0", rtp-ports: {min: 0, max: 0}}
recorders:
  - {name: r1, sip: {tcp: "127.0.0.1:0"}, http: "127.0.0.1:0"}
`, dir)
	path := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	httpRe := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)

	for _, cmd := range [][]string{{"resourcemanager"}, {"mediaserver", "--name", "m1"}, {"recorder"}} {
		t.Run(cmd[0], func(t *testing.T) {
			out := &lockedBuf{}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, append([]string{"arlab", "--log-level", "warn", "-c", path}, cmd...), out, out)
			}()
			var addr string
			require.Eventually(t, func() bool {
				m := httpRe.FindStringSubmatch(out.String())
				if m != nil {
					addr = m[1]
				}
				return m != nil
			}, 10*time.Second, 20*time.Millisecond, "no ready line: %s", out.String())
			res, err := http.Get("http://" + addr + "/healthz")
			require.NoError(t, err)
			res.Body.Close()
			assert.Equal(t, http.StatusOK, res.StatusCode)
			cancel()
			select {
			case err := <-done:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("service did not stop")
			}
		})
	}

	_, _, err := runArgs(t, "-c", path, "mediaserver", "--name", "nope")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no mediaservers entry named "nope" (have m1)`)
}

func TestRecordingsAgainstARecorder(t *testing.T) {
	r, err := recorder.New(recorder.Config{Name: "r", SIP: sipx.ListenConfig{TCP: "127.0.0.1:0"}, HTTP: "127.0.0.1:0", DataDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	defer r.Close()
	url := "http://" + r.HTTPAddr().String()

	out, _, err := runArgs(t, "recordings", "list", "--recorder", url)
	require.NoError(t, err)
	assert.Contains(t, out, "0 recording(s)")

	_, _, err = runArgs(t, "recordings", "show", "--recorder", url, "20250101T000000-aaaaaaaaaaaa")
	assert.ErrorIs(t, err, recclient.ErrNotFound)
	_, _, err = runArgs(t, "recordings", "show", "--recorder", url)
	assert.Equal(t, 2, exitCode(err))
	_, _, err = runArgs(t, "recordings", "verify", "--recorder", url)
	assert.Equal(t, 2, exitCode(err))
}
