package resourcemanager

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkProxyCall measures one whole recording session, INVITE / 200 /
// ACK / BYE / 200 over UDP on loopback, from a sipgo UAC to a sipgo UAS:
// "direct" without the RM and "proxied" through it, one call at a time. The
// difference of the two is what the RM adds per call; p50/p99 are the
// INVITE→200 times.
//
//	go test -run '^$' -bench BenchmarkProxyCall -benchtime 2000x ./resourcemanager/
func BenchmarkProxyCall(b *testing.B) {
	for _, via := range []string{"direct", "proxied"} {
		b.Run(via, func(b *testing.B) {
			rec := newStandin(b, "rec1", "udp")
			r := startRM(b, testConfig(recorders(PolicyRoundRobin, rec)))
			u := newUAC(b, "udp")
			ruri := r.testURI("record=bench", "udp")
			if via == "direct" {
				ruri = "sip:record=bench@" + rec.addr.String()
			}
			ctx := context.Background()
			setup := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				d, err := u.call(ctx, ruri)
				if err != nil {
					b.Fatal(err)
				}
				setup = append(setup, time.Since(start))
				if err := d.Bye(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportLatency(b, setup)
			b.ReportMetric(float64(len(setup))/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

// BenchmarkProxyCallParallel loads the RM with 8×GOMAXPROCS concurrent
// callers and reports the call rate it sustains.
//
//	go test -run '^$' -bench BenchmarkProxyCallParallel -benchtime 5000x ./resourcemanager/
func BenchmarkProxyCallParallel(b *testing.B) {
	for _, via := range []string{"direct", "proxied"} {
		b.Run(via, func(b *testing.B) {
			rec := newStandin(b, "rec1", "udp")
			r := startRM(b, testConfig(recorders(PolicyRoundRobin, rec)))
			u := newUAC(b, "udp")
			ruri := r.testURI("record=bench", "udp")
			if via == "direct" {
				ruri = "sip:record=bench@" + rec.addr.String()
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var failed atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					d, err := u.call(ctx, ruri)
					if err != nil {
						failed.Add(1)
						continue
					}
					if err := d.Bye(ctx); err != nil {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d calls failed", n)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
		})
	}
}

func reportLatency(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	b.ReportMetric(float64(at(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(at(0.99).Microseconds()), "p99-µs")
}
