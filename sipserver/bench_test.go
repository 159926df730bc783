package sipserver

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/realpeer"
)

// BenchmarkSippCallSetup measures call setups through the SIP Server: a sipp
// UAC places b.N calls (INVITE, 200, ACK, BYE) to DN 7001, whose phone is a
// sipp UAS, at up to -sipp-rate calls per second with at most -sipp-limit
// open calls. It reports the setup rate and the INVITE->200 time (sipp's
// response-time trace). Run it without -race:
//
//	go test -run '^$' -bench SippCallSetup -benchtime 5000x ./sipserver
func BenchmarkSippCallSetup(b *testing.B) {
	realpeer.Need(b, "sipp")
	rate := envInt("ARLAB_BENCH_RATE", 1000)
	limit := envInt("ARLAB_BENCH_LIMIT", 200)
	// RFC 3261 timers for the measurement (TestMain shortens them for tests).
	sip.SetTimers(500*time.Millisecond, 4*time.Second, 5*time.Second)
	defer sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)

	cfg := testConfig()
	cfg.SIP.TCP, cfg.HTTP = "", ""
	var logOut io.Writer = io.Discard
	if os.Getenv("ARLAB_BENCH_LOG") != "" {
		logOut = os.Stderr
	}
	s, err := New(cfg, WithLogger(slog.New(slog.NewTextHandler(logOut, nil))))
	require.NoError(b, err)
	require.NoError(b, s.Start(context.Background()))
	defer s.Close()

	n := b.N
	timeout := time.Duration(n/max(rate/2, 1))*time.Second + 60*time.Second
	uasPort := realpeer.FreeUDPPort(b)
	uas := realpeer.Start(b, b.TempDir(), timeout, "sipp", append([]string{"-sf", scenario(b, "agent_uas.xml"), "-m", strconv.Itoa(n),
		"-mp", strconv.Itoa(realpeer.FreeUDPPort(b))}, realpeer.SippArgs(uasPort, timeout)...)...)
	registerContact(b, s, "7001", fmt.Sprintf("sip:7001@127.0.0.1:%d", uasPort))

	dir := b.TempDir()
	b.ResetTimer()
	start := time.Now()
	uac := realpeer.Start(b, dir, timeout, "sipp", append([]string{"-sn", "uac", "-s", "7001", s.SIPAddr("udp").String(),
		"-m", strconv.Itoa(n), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(limit), "-d", "0",
		"-trace_rtt", "-rtt_freq", "1", "-mp", strconv.Itoa(realpeer.FreeUDPPort(b))},
		realpeer.SippArgs(realpeer.FreeUDPPort(b), timeout)...)...)
	err = uac.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.NoError(b, err, "sipp UAC:\n%s", uac.Output())
	require.NoError(b, uas.Wait(), "sipp UAS:\n%s", uas.Output())

	rtts := readRTT(b, dir)
	require.NotEmpty(b, rtts)
	slices.Sort(rtts)
	pct := func(p float64) float64 { return rtts[min(len(rtts)-1, int(p*float64(len(rtts))))] }
	b.ReportMetric(float64(n)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(pct(0.50), "p50-setup-ms")
	b.ReportMetric(pct(0.99), "p99-setup-ms")
	b.ReportMetric(rtts[len(rtts)-1], "max-setup-ms")
	b.ReportMetric(0, "ns/op")
	require.Eventually(b, func() bool { return len(s.Calls()) == 0 }, 30*time.Second, 50*time.Millisecond)
}

// readRTT reads the response times (ms) sipp's -trace_rtt wrote in dir.
func readRTT(tb testing.TB, dir string) []float64 {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	require.NoError(tb, err)
	var out []float64
	for _, f := range files {
		fh, err := os.Open(f)
		require.NoError(tb, err)
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			// Date_ms;response_time_ms;rtd_no
			parts := strings.Split(sc.Text(), ";")
			if len(parts) < 2 {
				continue
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(parts[1]), 64)
			if err != nil {
				continue // the header
			}
			out = append(out, v)
		}
		fh.Close()
	}
	return out
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
