package load

import (
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkGeneratorEmit is the generator's send path alone: one op is one RTP
// packet queued and sent with sendmmsg (batches of 64) from 1,000 streams
// over 4 sockets to a sink nobody reads (the kernel drops what overflows).
func BenchmarkGeneratorEmit(b *testing.B) {
	sink := peer(b)
	streams := min(b.N, 1000)
	g := manualGenerator(b, streams, 4, addrOf(sink))
	sent0 := g.sent.Load()
	now := int64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N / streams {
		now += int64(framePeriod)
		g.emitDue(now)
	}
	b.StopTimer()
	if errs := g.sendErrs.Load(); errs > 0 {
		b.Fatalf("%d send errors", errs)
	}
	b.ReportMetric(float64(g.sent.Load()-sent0)/float64(b.N), "pkts/op")
}

// BenchmarkGeneratorRealtime runs the real scheduler with 2,000 streams
// (100,000 packets/s) for two seconds and reports how many streams one CPU
// second carries: packets sent per CPU-second of the whole process divided by
// 50, and the scheduler thread's own CPU per packet. One op is the whole run.
func BenchmarkGeneratorRealtime(b *testing.B) {
	const streams = 2000
	sink := peer(b)
	for range b.N {
		g, err := NewGenerator(GeneratorConfig{LocalIP: loopback, Sockets: 4, Logger: testLogger()})
		require.NoError(b, err)
		payload := make([]byte, 160)
		var all []*Stream
		for range streams {
			st, err := g.NewStream(StreamConfig{Payload: payload})
			require.NoError(b, err)
			all = append(all, st)
		}
		cpu0 := processCPU(b)
		for _, st := range all {
			st.Start(addrOf(sink))
		}
		time.Sleep(2 * time.Second) // a fixed real-time run is what is measured
		var sent uint64
		for _, s := range StopAll(all...) {
			sent += s.Sent
		}
		cpu := processCPU(b) - cpu0
		gs := g.Stats()
		require.NoError(b, g.Close())
		b.ReportMetric(float64(sent)/cpu.Seconds(), "pkts/cpu-s")
		b.ReportMetric(float64(sent)/cpu.Seconds()/50, "streams/cpu-s")
		b.ReportMetric(float64(cpu)/float64(sent), "cpu-ns/pkt")
		b.ReportMetric(float64(gs.CPU)/float64(sent), "sched-cpu-ns/pkt")
		b.ReportMetric(float64(gs.MaxLag)/1e6, "max-lag-ms")
	}
}

func processCPU(t testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
