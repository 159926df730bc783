package load

import (
	"errors"
	"net"
	"net/netip"
)

// maxReadErrors bounds consecutive socket errors before a reader gives up, so
// a broken socket cannot spin it.
const maxReadErrors = 64

// read counts what arrives on a socket, per stream by source address. It
// ends when the socket is closed. It allocates nothing per packet.
func (g *Generator) read(s *rtpSocket) {
	defer g.readers.Done()
	buf := make([]byte, maxDatagram+1)
	errs := 0
	for {
		n, from, err := s.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if errs++; errs > maxReadErrors {
				g.log.Warn("rtp socket keeps failing; no longer reading it", "port", s.port, "err", err)
				return
			}
			continue
		}
		errs = 0
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if n < rtpHeaderLen || n > maxDatagram || buf[0]>>6 != 2 {
			g.unmatched.Add(1)
			continue
		}
		g.recvMu.RLock()
		st := g.byRemote[from]
		g.recvMu.RUnlock()
		if st == nil {
			g.unmatched.Add(1)
			continue
		}
		st.recv.Add(1)
		g.recv.Add(1)
	}
}
