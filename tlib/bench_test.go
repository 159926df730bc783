package tlib

import (
	"net"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

var benchEvent = &Message{Name: EventRinging, ConnID: "007102719818001f", CallUUID: "01RCC3AB0000000V",
	ThisDN: "7001", ThisDNRole: RoleDestination, OtherDN: "+15551230000", OtherDNRole: RoleOrigination,
	ANI: "+15551230000", DNIS: "7001", CallType: CallTypeInbound, UserData: KVList{"queue": "sales", "tier": "2"}, Time: t0}

// BenchmarkPublish measures the fan-out path of Publish to n registered
// clients: one encode per event, then one queue send per client. Writers
// are replaced by drainers so the figure is the publisher's own cost.
func BenchmarkPublish(b *testing.B) {
	for _, n := range []int{1, 10, 50} {
		b.Run("clients="+strconv.Itoa(n), func(b *testing.B) {
			s := NewServer(ServerConfig{SendQueue: 1 << 14}, newTestHandler("7001"), WithLogger(testLogger()))
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for range n {
				p1, p2 := net.Pipe()
				b.Cleanup(func() { _ = p1.Close(); _ = p2.Close() })
				c := s.newConn(p1)
				c.opened.Store(true)
				c.dns["7001"] = ModeShare
				if s.byDN["7001"] == nil {
					s.byDN["7001"] = map[ClientID]*conn{}
				}
				s.byDN["7001"][c.id] = c
				s.conns[c.id] = c
				wg.Go(func() {
					for {
						select {
						case <-c.out:
						case <-stop:
							return
						}
					}
				})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s.Publish(benchEvent)
			}
			b.StopTimer()
			close(stop)
			wg.Wait()
			for _, c := range s.conns {
				require.False(b, c.overflow.Load(), "a drainer fell behind")
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		if _, err := Encode(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	line, err := Encode(benchEvent)
	require.NoError(b, err)
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for range b.N {
		if _, err := Decode(line); err != nil {
			b.Fatal(err)
		}
	}
}
