package tlib

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowClientIsDisconnectedOthersGetEverything: 50 clients on one DN, one
// of which never reads. 10,000 events are published; the 49 readers must get
// all of them, in order, and the slow one must be disconnected.
//
// Events are published in bursts smaller than the per-client queue, waiting
// for the readers between bursts: Publish never blocks, so an unbounded burst
// would (by design) also overflow healthy clients that are merely scheduled
// later than the publisher on a 2-core machine.
func TestSlowClientIsDisconnectedOthersGetEverything(t *testing.T) {
	const (
		readers = 49
		total   = 10_000
		burst   = 500
	)
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("7001"))
	ctx := ctxT(t)

	// The slow client: opens, registers, never reads again; a small receive
	// buffer keeps the kernel from absorbing the whole stream.
	slow := dialRaw(t, addr)
	require.NoError(t, slow.nc.(*net.TCPConn).SetReadBuffer(4096))
	slow.open("")
	slow.sendMsg(&Message{Name: RequestRegisterAddress, ReferenceID: 2, ThisDN: "7001"})
	require.Equal(t, EventRegistered, slow.read().Name)

	var (
		counts   [readers]atomic.Int64
		progress = make(chan struct{}, 1)
		failures = make(chan string, readers)
		wg       sync.WaitGroup
	)
	clients := make([]*Client, readers)
	for i := range readers {
		c := dial(t, addr, ClientConfig{AppName: "reader-" + strconv.Itoa(i)})
		require.NoError(t, c.Register(ctx, "7001"))
		clients[i] = c
		wg.Go(func() {
			for ev := range c.Events() {
				n := counts[i].Load()
				if ev.Name != EventRinging || ev.ConnID != strconv.FormatInt(n, 10) {
					failures <- "reader " + strconv.Itoa(i) + " got " + ev.Name + "/" + ev.ConnID + " want #" + strconv.FormatInt(n, 10)
					return
				}
				counts[i].Store(n + 1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		})
	}
	require.Len(t, srv.Registered("7001"), readers+1)

	ev := &Message{Name: EventRinging, ThisDN: "7001", OtherDN: "+15551230000", CallUUID: "01ABCDEF",
		ThisDNRole: RoleDestination, CallType: CallTypeInbound, UserData: KVList{"queue": "sales"}}
	deadline := time.After(60 * time.Second)
	start := time.Now()
	for sent := 0; sent < total; {
		for range burst {
			ev.ConnID = strconv.Itoa(sent)
			srv.Publish(ev)
			sent++
		}
		for !allAtLeast(counts[:], int64(sent)) {
			select {
			case <-progress:
			case f := <-failures:
				t.Fatal(f)
			case <-deadline:
				t.Fatalf("readers stalled at %d/%d", minCount(counts[:]), sent)
			}
		}
	}
	require.Eventually(t, func() bool { return len(srv.Registered("7001")) == readers },
		waitFor, 5*time.Millisecond, "the slow client must be disconnected")
	slow.expectClosedAfterDraining()
	t.Logf("%d events to %d readers in %v", total, readers, time.Since(start))

	for i, c := range clients {
		assert.Equal(t, int64(total), counts[i].Load())
		assert.Zero(t, c.Dropped())
		require.NoError(t, c.Close())
	}
	wg.Wait()
	select {
	case f := <-failures:
		t.Fatal(f)
	default:
	}
}

func allAtLeast(c []atomic.Int64, n int64) bool {
	return minCount(c) >= n
}

func minCount(c []atomic.Int64) int64 {
	m := int64(-1)
	for i := range c {
		if v := c[i].Load(); m < 0 || v < m {
			m = v
		}
	}
	return m
}
