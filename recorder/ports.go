package recorder

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned when every RTP port of the range is in use.
var ErrNoPorts = errors.New("no free RTP port")

// portPool hands out UDP sockets for received streams: from [min, max] (even ports, so the
// odd neighbour stays free for RTCP) or, with an empty range, ephemeral ports. Allocation
// goes round-robin so a port just released is not reused at once (late packets of the old
// stream would land in the new one).
type portPool struct {
	bind     netip.Addr
	min, max int
	mu       sync.Mutex
	next     int
	used     map[int]bool
}

func newPortPool(bind netip.Addr, min, max int) *portPool {
	if min%2 != 0 {
		min++
	}
	return &portPool{bind: bind, min: min, max: max, next: min, used: map[int]bool{}}
}

// open binds a socket for one stream.
func (p *portPool) open() (*net.UDPConn, error) {
	if p.min == 0 && p.max == 0 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, 0)))
		if err != nil {
			return nil, fmt.Errorf("rtp port: %w", err)
		}
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	span := (p.max-p.min)/2 + 1
	for range span {
		port := p.next
		p.next += 2
		if p.next > p.max {
			p.next = p.min
		}
		if p.used[port] {
			continue
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.bind, uint16(port))))
		if err != nil {
			continue // taken by another process
		}
		p.used[port] = true
		return c, nil
	}
	return nil, fmt.Errorf("%w in %d-%d", ErrNoPorts, p.min, p.max)
}

// release returns a port to the pool after its socket was closed.
func (p *portPool) release(port int) {
	p.mu.Lock()
	delete(p.used, port)
	p.mu.Unlock()
}
