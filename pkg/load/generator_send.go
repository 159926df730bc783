package load

import (
	"errors"
)

// emitDue sends every packet due by the end of each tick whose slot has not
// been served since the last call (each slot at most once), then flushes the
// batches. Serving a whole tick, not just up to now, matters: a stream due late
// in tick t must not wait a full round (20 ms) because the scheduler woke early
// in t; a packet goes out at most one tick (2 ms) early instead.
func (g *Generator) emitDue(now int64) {
	tickNo := now / g.tick
	from := g.lastTick + 1
	if n := int64(len(g.slots)); tickNo-from >= n {
		from = tickNo - n + 1
	}
	for t := from; t <= tickNo; t++ {
		limit := (t + 1) * g.tick
		for _, st := range g.slots[t%int64(len(g.slots))] {
			g.emitStream(st, limit, now)
		}
	}
	g.lastTick = tickNo
	g.flushAll()
}

// emitStream queues every packet of st due before limit. A stream behind its
// schedule (the scheduler was starved) catches up; its timestamps stay true.
func (g *Generator) emitStream(st *Stream, limit, now int64) {
	for st.next < limit {
		if lag := now - st.next; lag > g.maxLag.Load() {
			g.maxLag.Store(lag)
		}
		s := st.sock
		i := s.n
		h := &s.hdrs[i]
		h[0] = 0x80
		h[1] = st.pt
		if st.marker {
			h[1] |= 0x80
			st.marker = false
		}
		h[2], h[3] = byte(st.seq>>8), byte(st.seq)
		h[4], h[5], h[6], h[7] = byte(st.ts>>24), byte(st.ts>>16), byte(st.ts>>8), byte(st.ts)
		h[8], h[9], h[10], h[11] = byte(st.ssrc>>24), byte(st.ssrc>>16), byte(st.ssrc>>8), byte(st.ssrc)
		m := &s.msgs[i]
		m.Buffers[0] = h[:]
		m.Buffers[1] = st.payload
		m.Addr = st.dest
		s.owners[i] = st
		s.n++
		st.seq++
		st.ts += st.samples
		st.next += g.period
		if s.n == len(s.msgs) {
			g.flush(s)
		}
	}
}

func (g *Generator) flushAll() {
	for _, s := range g.socks {
		if s.n > 0 {
			g.flush(s)
		}
	}
}

// flush sends a socket's batch. A message the kernel refuses is counted as a
// send error and skipped, so one bad destination does not stall the others.
func (g *Generator) flush(s *rtpSocket) {
	off := 0
	for off < s.n {
		n, err := s.bw.WriteBatch(s.msgs[off:s.n], 0)
		for i := off; i < off+n; i++ {
			s.owners[i].sent++
		}
		g.sent.Add(uint64(n))
		off += n
		if err == nil && n == 0 {
			err = errors.New("sendmmsg sent nothing")
		}
		if err != nil {
			if off < s.n {
				s.owners[off].sendErrs++
				off++
			}
			g.sendErrs.Add(1)
			g.log.Debug("rtp batch send failed", "err", err)
		}
	}
	for i := range s.n {
		s.owners[i] = nil
		s.msgs[i].Addr = nil
	}
	s.n = 0
}
