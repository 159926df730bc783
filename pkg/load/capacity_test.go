package load

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	_ "net/http/pprof" // the recorder child serves pprof when ARLAB_LOAD_PPROF is set
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/recorder"
)

// Capacity measurement (not part of CI): a recorder in its own process (this
// test binary re-executed) and the load engine in this one. Environment:
//
//	ARLAB_LOAD_CAPACITY=1    run it
//	ARLAB_LOAD_CALLS=500 ARLAB_LOAD_CPS=100 ARLAB_LOAD_HOLD=60s ARLAB_LOAD_MAX_ACTIVE=0
//	ARLAB_LOAD_VERIFY=20     recordings whose audio is checked (-1 = all)
//	ARLAB_LOAD_P99_LIMIT=200ms  fail when the INVITE-to-200 p99 is above it
//	ARLAB_LOAD_JSON=path     also write the JSON report there
//	ARLAB_LOAD_PPROF=127.0.0.1:6061  pprof on the recorder child
//
// Example: ARLAB_LOAD_CAPACITY=1 go test -run TestCapacity -v -timeout 30m ./pkg/load/
func TestCapacity(t *testing.T) {
	if os.Getenv("ARLAB_LOAD_CAPACITY") == "" {
		t.Skip("set ARLAB_LOAD_CAPACITY=1 to measure capacity")
	}
	calls := envInt(t, "ARLAB_LOAD_CALLS", 500)
	cps := envFloat(t, "ARLAB_LOAD_CPS", 100)
	hold := envDuration(t, "ARLAB_LOAD_HOLD", 60*time.Second)
	rc := recorder.Config{Name: "rec-capacity", HTTP: "127.0.0.1:0", DataDir: t.TempDir(), MaxSessions: calls + 100}
	rc.SIP.TCP = "127.0.0.1:0"
	child := startRecorderProcess(t, rc)

	ctx, cancel := context.WithTimeout(context.Background(), hold+time.Duration(float64(calls)/max(cps, 1)*float64(time.Second))+5*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Calls: calls, CPS: cps, Hold: hold, MaxActive: envInt(t, "ARLAB_LOAD_MAX_ACTIVE", 0),
		SetupP99Limit: envDuration(t, "ARLAB_LOAD_P99_LIMIT", 0),
		Target:        "sip:srs@" + child.sip + ";transport=tcp",
		Recorders:     []string{child.http},
		VerifySample:  envInt(t, "ARLAB_LOAD_VERIFY", 20),
		Processes:     []Process{{Name: "recorder", PID: child.cmd.Process.Pid}},
		Logger:        testLogger(),
	}, os.Stdout)
	require.NoError(t, err)
	require.NoError(t, rep.WriteText(os.Stdout))
	if path := os.Getenv("ARLAB_LOAD_JSON"); path != "" {
		b, err := rep.JSON()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o644))
	}
	require.NoError(t, rep.Err())
}

type recorderProcess struct {
	cmd       *exec.Cmd
	sip, http string
}

// startRecorderProcess runs a recorder in a child process (this test binary).
func startRecorderProcess(t *testing.T, cfg recorder.Config) *recorderProcess {
	t.Helper()
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "READY ") {
				lines <- strings.TrimPrefix(l, "READY ")
			}
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		require.True(t, ok, "recorder child exited before it was ready")
		var addrs map[string]string
		require.NoError(t, json.Unmarshal([]byte(l), &addrs))
		return &recorderProcess{cmd: cmd, sip: addrs["tcp"], http: addrs["http"]}
	case <-time.After(20 * time.Second):
		t.Fatal("recorder child not ready")
		return nil
	}
}

// servePprof serves net/http/pprof in the recorder child when asked to.
func servePprof() {
	if addr := os.Getenv("ARLAB_LOAD_PPROF"); addr != "" {
		runtime.SetBlockProfileRate(int(time.Millisecond))
		runtime.SetMutexProfileFraction(10)
		go func() { _ = http.ListenAndServe(addr, nil) }() //nolint:gosec // measurement child only
	}
}

func envInt(t *testing.T, key string, def int) int {
	if v := os.Getenv(key); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, key)
		return n
	}
	return def
}

func envFloat(t *testing.T, key string, def float64) float64 {
	if v := os.Getenv(key); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, key)
		return n
	}
	return def
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		d, err := time.ParseDuration(v)
		require.NoError(t, err, key)
		return d
	}
	return def
}
