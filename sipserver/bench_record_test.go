package sipserver

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/tlib"
)

// BenchmarkRecordedCallSetup measures recorded calls through the whole
// chain, in-process over loopback: a customer phone calls DN 7001 (record:
// true) b.N times with at most ARLAB_BENCH_CONCURRENCY (default 50) calls
// open, each held until its recording is ON (T-lib) plus ARLAB_BENCH_HOLD_MS
// (default 1000), then hung up. Every call
// is anchored on the media server through the Resource Manager before the
// answer and recorded by the recorder. It reports:
//
//   - calls/s: recorded calls set up (and torn down) per second;
//   - p50/p99/max-setup-ms: INVITE to 200 at the customer (media anchoring
//     included);
//   - p50/p99/max-rec-ms: from the answer (EventEstablished's Time) to the
//     first packet the recorder wrote (the recording's start time plus the
//     offset of its first audio on the timeline).
//
// Run it without -race:
//
//	go test -run '^$' -bench RecordedCallSetup -benchtime 500x ./sipserver
func BenchmarkRecordedCallSetup(b *testing.B) {
	conc := envInt("ARLAB_BENCH_CONCURRENCY", 50)
	hold := time.Duration(envInt("ARLAB_BENCH_HOLD_MS", 1000)) * time.Millisecond
	sip.SetTimers(500*time.Millisecond, 4*time.Second, 5*time.Second)
	defer sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	var logOut io.Writer = io.Discard
	if os.Getenv("ARLAB_BENCH_LOG") != "" {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lab := startLab(b, labOptions{logger: log})

	newPhone := func(cfg phone.Config) *phone.Phone {
		cfg.MaxCalls = 4 * conc
		p, err := phone.New(cfg, phone.WithLogger(log))
		require.NoError(b, err)
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(b, p.Start(ctx))
		b.Cleanup(func() { p.Close() })
		return p
	}
	newPhone(phone.Config{DN: "7001", AutoAnswer: true, Registrar: lab.s.SIPAddr("udp").String()})
	cust := newPhone(phone.Config{DN: "+15550000099", Proxy: lab.s.SIPAddr("udp").String()})

	// The answer times, from the monitor-all view every recorder has.
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	mon, err := tlib.Dial(ctx, lab.s.TLibAddr().String(), tlib.ClientConfig{AppName: "bench", Logger: log, EventBuffer: 1 << 16})
	require.NoError(b, err)
	require.NoError(b, mon.MonitorAll(ctx))
	cancel()
	defer mon.Close()
	var mu sync.Mutex
	answered := map[string]time.Time{}
	recOn := map[string]chan struct{}{} // closed at GSIP_RECORD=ON
	onChan := func(uuid string) chan struct{} {
		ch := recOn[uuid]
		if ch == nil {
			ch = make(chan struct{})
			recOn[uuid] = ch
		}
		return ch
	}
	monDone := make(chan struct{})
	go func() {
		defer close(monDone)
		for ev := range mon.Events() {
			mu.Lock()
			switch {
			case ev.Name == tlib.EventEstablished:
				answered[ev.CallUUID] = ev.Time
			case ev.Name == tlib.EventAttachedDataChanged && ev.UserData[tlib.KeyRecord] == tlib.RecordOn:
				ch := onChan(ev.CallUUID)
				select {
				case <-ch:
				default:
					close(ch)
				}
			}
			mu.Unlock()
		}
	}()

	n := b.N
	setups := make([]float64, 0, n)
	var failures, unrecorded int
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			t0 := time.Now()
			call, err := cust.Dial(ctx, "7001")
			d := time.Since(t0)
			mu.Lock()
			if err != nil {
				failures++
			} else {
				setups = append(setups, float64(d.Microseconds())/1000)
			}
			var on chan struct{}
			if err == nil {
				on = onChan(call.Header(headerCallUUID))
			}
			mu.Unlock()
			if err != nil {
				return
			}
			// Held until the recording is up, then for the hold time.
			select {
			case <-on:
			case <-ctx.Done():
				mu.Lock()
				unrecorded++
				mu.Unlock()
			}
			time.Sleep(hold)
			hctx, hcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer hcancel()
			_ = call.Hangup(hctx)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	require.Zero(b, failures, "calls failed")
	require.Zero(b, unrecorded, "calls whose recording never went ON")
	if !assert.Eventually(b, func() bool { return len(lab.s.Calls()) == 0 }, 30*time.Second, 50*time.Millisecond) {
		calls := lab.s.Calls()
		for _, c := range calls {
			b.Logf("left: %s state=%s media=%v recordings=%+v", c.ConnID, c.State, c.Media != nil, c.Recordings)
		}
		b.FailNow()
	}

	// Every call was recorded: find each recording's first packet.
	st := lab.recs[0].Store()
	var recs []*recorder.Recording
	if !assert.Eventually(b, func() bool {
		all, err := st.ListStates(context.Background(), recorder.StateComplete)
		recs = all
		return err == nil && len(recs) >= n
	}, 60*time.Second, 100*time.Millisecond, "every call recorded") {
		counts, err := st.Counts(context.Background())
		b.Fatalf("recordings by state: %v (%v), want %d complete; SIP Server metrics:\n%s", counts, err, n,
			lab.s.metrics.render(0, 0))
	}
	var toFirst []float64
	for _, r := range recs {
		mu.Lock()
		at, ok := answered[r.CallUUID]
		mu.Unlock()
		if !ok {
			continue
		}
		f, err := wav.ReadFile(st.Path(r, recorder.AudioFile))
		require.NoError(b, err)
		first := -1
		for _, ch := range f.Samples {
			for i, v := range ch {
				if v > 100 || v < -100 {
					if first < 0 || i < first {
						first = i
					}
					break
				}
			}
		}
		require.GreaterOrEqual(b, first, 0, "recording %s has no audio", r.ID)
		pkt := r.StartTime.Add(time.Duration(first) * time.Second / 8000)
		toFirst = append(toFirst, float64(pkt.Sub(at).Microseconds())/1000)
	}
	require.Len(b, toFirst, n, "answer times of every recorded call")
	mon.Close()
	<-monDone

	pct := func(v []float64, p float64) float64 {
		slices.Sort(v)
		return v[min(len(v)-1, int(p*float64(len(v))))]
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "calls/s")
	b.ReportMetric(pct(setups, 0.50), "p50-setup-ms")
	b.ReportMetric(pct(setups, 0.99), "p99-setup-ms")
	b.ReportMetric(pct(toFirst, 0.50), "p50-rec-ms")
	b.ReportMetric(pct(toFirst, 0.99), "p99-rec-ms")
	b.ReportMetric(toFirst[len(toFirst)-1], "max-rec-ms")
	b.ReportMetric(0, "ns/op")
}
