package resourcemanager

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSippThroughput is the proxying-cost harness: sipp as UAC (a media
// server) and sipp as UAS (a recorder), first directly, then through the RM,
// each call INVITE / 200 / ACK / BYE / 200. It logs calls per second and the
// INVITE→200 latency percentiles of both runs; their difference is the
// latency the RM adds. sipp measures in milliseconds with a coarse clock
// (steps of about 4 ms on Linux); BenchmarkProxyCall measures microseconds.
//
// Defaults are a short run that fits the unit-test budget; set
// ARLAB_SIPP_CALLS, ARLAB_SIPP_RATE (calls/s offered) and ARLAB_SIPP_LIMIT
// (concurrent calls) for a real measurement, and run with -v to see it.
// ARLAB_SIPP_DEBUG=<dir> keeps sipp's files there, with the UAS's message
// trace.
func TestSippThroughput(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp is not installed (Debian package sip-tester); skipping the sipp UAC -> RM -> sipp UAS run")
	}
	if testing.Short() {
		t.Skip("sipp load run skipped in -short mode")
	}
	calls := envInt("ARLAB_SIPP_CALLS", 300)
	rate := envInt("ARLAB_SIPP_RATE", 300)
	limit := envInt("ARLAB_SIPP_LIMIT", 50)
	dir := t.TempDir()
	debugDir := os.Getenv("ARLAB_SIPP_DEBUG")
	if debugDir != "" {
		dir = debugDir
	}
	scenarios, err := filepath.Abs("testdata/sipp")
	require.NoError(t, err)

	uasPort := freeUDPPort(t)
	uasArgs := []string{"-sf", filepath.Join(scenarios, "uas.xml"), "-aa", "-nostdin",
		"-i", "127.0.0.1", "-p", strconv.Itoa(uasPort), "-max_socket", "1024", "-buff_size", "4194304"}
	if debugDir != "" {
		uasArgs = append(uasArgs, "-trace_msg")
	}
	uas := exec.Command("sipp", uasArgs...)
	uas.Dir = dir
	uasOut, err := os.Create(filepath.Join(dir, "uas.out"))
	require.NoError(t, err)
	defer uasOut.Close()
	uas.Stdout, uas.Stderr = uasOut, uasOut
	require.NoError(t, uas.Start())
	t.Cleanup(func() {
		_ = uas.Process.Kill() // the sipp we started, by its pid
		_ = uas.Wait()
	})

	cfg := testConfig(GroupConfig{Name: "recorders", Kind: KindRecorder,
		Members: []MemberConfig{{Name: "sipp", URI: fmt.Sprintf("sip:127.0.0.1:%d", uasPort)}}})
	// Production timers: under load a probe or an answer can take a while.
	cfg.Health = HealthConfig{Interval: 2 * time.Second, Timeout: time.Second, DownAfter: 3, UpAfter: 1}
	cfg.InviteTimeout, cfg.FailoverTimeout = 4*time.Second, 12*time.Second
	r := startRM(t, cfg)
	require.Eventually(t, func() bool { return r.member(t, "recorders", "sipp").State == "up" }, 10*time.Second, 20*time.Millisecond,
		"sipp UAS answers the RM's OPTIONS (-aa)")

	uasAddr := fmt.Sprintf("127.0.0.1:%d", uasPort)
	direct := runSippUAC(t, dir, scenarios, "direct", uasAddr, calls, rate, limit)
	proxied := runSippUAC(t, dir, scenarios, "proxied", r.SIPAddr("udp").String(), calls, rate, limit)
	t.Logf("RM: %d requests, %d INVITEs placed, %d in-dialog, %d rejected, %d late answers ended",
		r.stats.requests.Load(), r.stats.invites.Load(), r.stats.inDialog.Load(), r.stats.rejected.Load(), r.stats.strays.Load())
	if r.sessions.len() != 0 {
		r.sessions.mu.Lock()
		for _, s := range r.sessions.byKey {
			t.Logf("session left: %s created %s", s.callID, s.created.Format("15:04:05.000"))
		}
		r.sessions.mu.Unlock()
	}
	require.Equal(t, 0, r.sessions.len(), "every session ended with its BYE")
	require.EqualValues(t, calls, r.member(t, "recorders", "sipp").Sessions)

	t.Logf("sipp %d calls, offered %d/s, at most %d concurrent (INVITE/200/ACK/BYE/200 over UDP on loopback)", calls, rate, limit)
	for _, s := range []sippRun{direct, proxied} {
		t.Logf("  %-8s %7.1f calls/s   INVITE->200 p50 %d ms  p99 %d ms  max %d ms", s.name, s.callsPerSec, s.p50, s.p99, s.max)
	}
	t.Logf("  added by the RM: p50 %+d ms, p99 %+d ms (sipp's clock moves in ~4 ms steps; BenchmarkProxyCall has µs figures)", proxied.p50-direct.p50, proxied.p99-direct.p99)
}

type sippRun struct {
	name          string
	callsPerSec   float64
	p50, p99, max int
}

func runSippUAC(t *testing.T, dir, scenarios, name, remote string, calls, rate, limit int) sippRun {
	t.Helper()
	sub := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(sub, 0o755))
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(calls/max(rate, 1)+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", "-sf", filepath.Join(scenarios, "uac.xml"), "-nostdin",
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(limit),
		"-trace_rtt", "-rtt_freq", "1", "-trace_err", "-trace_screen", "-max_socket", "1024", "-timer_resol", "1", "-buff_size", "4194304",
		"-timeout", "120s", "-timeout_error", remote)
	cmd.Dir = sub
	start := time.Now()
	out, err := cmd.CombinedOutput()
	elapsed := time.Since(start)
	if err != nil {
		errs, _ := filepath.Glob(filepath.Join(sub, "*.log"))
		for _, f := range errs {
			b, _ := os.ReadFile(f)
			t.Logf("%s:\n%s", f, tail(string(b), 3000))
		}
		t.Fatalf("sipp %s: %v\n%s", name, err, tail(string(out), 2000))
	}
	rtts := readRTT(t, sub)
	require.Len(t, rtts, calls, "one INVITE->200 time per call")
	slices.Sort(rtts)
	pct := func(p float64) int { return rtts[int(math.Ceil(p*float64(len(rtts))))-1] }
	return sippRun{name: name, callsPerSec: float64(calls) / elapsed.Seconds(), p50: pct(0.50), p99: pct(0.99), max: rtts[len(rtts)-1]}
}

// readRTT reads sipp's -trace_rtt file: "Date_ms;response_time_ms;rtd_no".
func readRTT(t *testing.T, dir string) []int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	require.NoError(t, err)
	require.Len(t, files, 1)
	f, err := os.Open(files[0])
	require.NoError(t, err)
	defer f.Close()
	var out []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(strings.TrimSpace(sc.Text()), ";")
		if len(parts) != 3 || parts[2] != "1" {
			continue
		}
		v, err := strconv.ParseFloat(parts[1], 64)
		if err != nil {
			continue
		}
		out = append(out, int(math.Round(v)))
	}
	require.NoError(t, sc.Err())
	return out
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
