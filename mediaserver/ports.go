package mediaserver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// ErrNoPorts is returned when no RTP port of the configured range is free.
var ErrNoPorts = errors.New("mediaserver: no free RTP port")

// portPool hands out UDP sockets for RTP: from the configured range (even
// ports, the odd one above left for RTCP), or OS-chosen ports when the range
// is 0..0. Binding is the test of freedom, so ports held by other processes
// are skipped.
type portPool struct {
	ip       netip.Addr
	min, max int

	mu   sync.Mutex
	next int
}

func newPortPool(ip netip.Addr, r PortRange) *portPool {
	p := &portPool{ip: ip, min: r.Min, max: r.Max}
	if p.min%2 == 1 {
		p.min++
	}
	p.next = p.min
	return p
}

// listen binds one RTP socket.
func (p *portPool) listen() (*net.UDPConn, error) {
	if p.min == 0 && p.max == 0 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, 0)))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoPorts, err)
		}
		return c, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	span := (p.max - p.min + 1) / 2
	for range span {
		port := p.next
		p.next += 2
		if p.next+1 > p.max {
			p.next = p.min
		}
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.ip, uint16(port))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w in %d..%d", ErrNoPorts, p.min, p.max)
}
