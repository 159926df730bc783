package media

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/pion/rtp"
)

const rtpHeaderSize = 12

// WriteFrame sends one packet carrying payload with the session's payload type, then advances the sequence
// number by one and the timestamp by samples (160 for 20 ms of 8 kHz audio). The timestamp advances even when
// nothing could be sent (no remote yet), because time passed; the sequence number only counts packets handed
// to the socket. It does not allocate with a *net.UDPConn.
func (s *Session) WriteFrame(payload []byte, samples uint32, marker bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ts := s.ts
	s.ts += samples
	return s.writeLocked(uint8(s.pt.Load()), ts, marker, payload)
}

// AdvanceTimestamp moves the timestamp on by samples without sending, for time in which nothing is sent
// (hold, silence suppression), so the receiver sees a gap rather than compressed time.
func (s *Session) AdvanceTimestamp(samples uint32) {
	s.wmu.Lock()
	s.ts += samples
	s.wmu.Unlock()
}

// writeLocked builds, protects and sends one packet. Caller holds wmu.
func (s *Session) writeLocked(pt uint8, ts uint32, marker bool, payload []byte) error {
	remote := s.remote.Load()
	if remote == nil || !remote.IsValid() {
		return ErrNoRemote
	}
	if rtpHeaderSize+len(payload) > s.maxPacket {
		return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	h := rtp.Header{
		Version:        2,
		Marker:         marker,
		PayloadType:    pt,
		SequenceNumber: s.seq,
		Timestamp:      ts,
		SSRC:           s.ssrc,
	}
	n, err := h.MarshalTo(s.wbuf)
	if err != nil {
		return fmt.Errorf("media: marshal: %w", err)
	}
	n += copy(s.wbuf[n:], payload)
	pkt := s.wbuf[:n]
	if ctx := s.sendSRTP.Load(); ctx != nil {
		// In place: wbuf has srtpMaxOverhead spare bytes for the tag, so pion does not allocate.
		if pkt, err = ctx.EncryptRTP(pkt, pkt, &s.encHdr); err != nil {
			return fmt.Errorf("media: srtp encrypt: %w", err)
		}
	}
	s.seq++
	if err := s.writeTo(pkt, *remote); err != nil {
		return fmt.Errorf("media: write to %s: %w", *remote, err)
	}
	s.sentPackets.Add(1)
	s.sentBytes.Add(uint64(len(payload)))
	return nil
}

func (s *Session) writeTo(b []byte, to netip.AddrPort) error {
	if s.udp != nil {
		_, err := s.udp.WriteToUDPAddrPort(b, to)
		return err
	}
	_, err := s.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// samplesPer returns the timestamp units in d at the session's clock rate.
func (s *Session) samplesPer(d time.Duration) uint32 {
	return uint32(int64(d) * int64(s.clockRate) / int64(time.Second))
}

// eventInterval is the update interval of WriteEvent (RFC 4733 suggests 50 ms or the audio ptime; the lab
// uses its 20 ms ptime).
const eventInterval = 20 * time.Millisecond

// beginEvent plans ev and reserves its span of the timeline: the event starts at the current timestamp, and
// following audio continues after its last packet interval.
func (s *Session) beginEvent(ev DTMFEvent, interval time.Duration) (*eventTx, error) {
	spf := s.samplesPer(interval)
	if spf == 0 {
		return nil, fmt.Errorf("%w: event interval %v", ErrInvalidConfig, interval)
	}
	tx, err := newEventTx(ev, spf, interval)
	if err != nil {
		return nil, err
	}
	s.wmu.Lock()
	tx.ts = s.ts
	s.ts += uint32(tx.ticks()) * spf
	s.wmu.Unlock()
	return tx, nil
}

// writeEventStep sends the next packet of tx; done is true after its last packet.
func (s *Session) writeEventStep(tx *eventTx) (done bool, err error) {
	p, marker, done := tx.next()
	var b [4]byte
	p.marshal(&b)
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return done, s.writeLocked(uint8(s.eventPT.Load()), tx.ts, marker, b[:])
}

// WriteEvent sends ev as RFC 4733 telephone-event packets paced in real time every 20 ms: the first with
// the marker bit, updates with the growing duration, then the final packet three times. It blocks for the
// event (duration rounded up to 20 ms, plus 40 ms for the retransmitted end) and reserves that span of the
// timestamp line, so audio written afterwards continues in step with the wall clock. Audio should not be
// written concurrently (Stream.SendDTMF interleaves correctly). It returns early with ErrClosed on Close.
func (s *Session) WriteEvent(ev DTMFEvent) error {
	tx, err := s.beginEvent(ev, eventInterval)
	if err != nil {
		return err
	}
	start := time.Now()
	timer := time.NewTimer(eventInterval)
	defer timer.Stop()
	for k := 1; ; k++ {
		done, err := s.writeEventStep(tx)
		if err != nil {
			return err
		}
		timer.Reset(time.Until(start.Add(time.Duration(k) * eventInterval)))
		select {
		case <-timer.C:
		case <-s.done:
			return ErrClosed
		}
		if done {
			return nil
		}
	}
}
