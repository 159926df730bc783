package media

import (
	"encoding/binary"
	"fmt"
	"time"
)

// DefaultEventPayloadType is the telephone-event payload type used until SetEventPayloadType (the common
// dynamic value; the SDP answer decides the real one).
const DefaultEventPayloadType = 101

// DefaultDTMFDuration is the tone duration sent for a DTMFEvent without one.
const DefaultDTMFDuration = 100 * time.Millisecond

// DTMFEvent is one RFC 4733 telephone event (a DTMF digit).
type DTMFEvent struct {
	// Digit is '0'-'9', '*', '#' or 'A'-'D' (lower case accepted when sending).
	Digit rune
	// Duration is the tone duration: wanted when sending (0 means DefaultDTMFDuration; rounded up to whole
	// packet intervals, capped at what 16 bits of timestamp hold), reported when received.
	Duration time.Duration
	// End is true when the event's end packet was received (false for an event cut short by loss).
	End bool
	// Volume is the power level in -dBm0, 0..63 (RFC 4733 2.3.4); larger is quieter.
	Volume uint8
}

// eventCode maps a digit to its RFC 4733 event code.
func eventCode(d rune) (uint8, error) {
	switch {
	case d >= '0' && d <= '9':
		return uint8(d - '0'), nil
	case d == '*':
		return 10, nil
	case d == '#':
		return 11, nil
	case d >= 'A' && d <= 'D':
		return uint8(d-'A') + 12, nil
	case d >= 'a' && d <= 'd':
		return uint8(d-'a') + 12, nil
	default:
		return 0, fmt.Errorf("%w: %q", ErrInvalidDigit, d)
	}
}

// eventDigit maps an RFC 4733 DTMF event code back to its digit; ok is false for non-DTMF events.
func eventDigit(code uint8) (d rune, ok bool) {
	switch {
	case code <= 9:
		return rune('0' + code), true
	case code == 10:
		return '*', true
	case code == 11:
		return '#', true
	case code <= 15:
		return rune('A' + code - 12), true
	default:
		return 0, false
	}
}

// eventPayload is the 4-byte RFC 4733 payload: event, E|R|volume, duration.
type eventPayload struct {
	code     uint8
	end      bool
	volume   uint8
	duration uint16 // timestamp units
}

func (e eventPayload) marshal(b *[4]byte) {
	b[0] = e.code
	b[1] = e.volume & 0x3f
	if e.end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], e.duration)
}

func parseEventPayload(p []byte) (eventPayload, bool) {
	// Several events may be stacked in one packet (RFC 4733 2.5.1.3 redundancy via RFC 2198 is not used
	// here); the first 4 bytes are the current event.
	if len(p) < 4 {
		return eventPayload{}, false
	}
	return eventPayload{
		code:     p[0],
		end:      p[1]&0x80 != 0,
		volume:   p[1] & 0x3f,
		duration: binary.BigEndian.Uint16(p[2:]),
	}, true
}

// eventTx is one outgoing event spread over packet intervals: RFC 4733 sends an update every interval with
// the duration so far, then the final (E bit) packet three times at the same interval. All packets carry the
// event's start timestamp; the event occupies frames+2 intervals of the stream's timeline.
type eventTx struct {
	code    uint8
	volume  uint8
	ts      uint32 // event start timestamp
	frames  int    // intervals of tone
	samples uint32 // timestamp units per interval
	step    int    // packets sent so far
}

// endRetransmits is how many times the final packet is sent (RFC 4733 2.5.1.4).
const endRetransmits = 3

// ticks returns the number of packet intervals the event occupies.
func (e *eventTx) ticks() int { return e.frames + endRetransmits - 1 }

// next returns the payload of the next packet and whether it carries the marker; done is true after the
// last one.
func (e *eventTx) next() (p eventPayload, marker, done bool) {
	e.step++
	k := min(e.step, e.frames)
	p = eventPayload{
		code:     e.code,
		volume:   e.volume,
		duration: uint16(uint32(k) * e.samples),
		end:      e.step >= e.frames,
	}
	return p, e.step == 1, e.step >= e.ticks()
}

// newEventTx plans ev for a stream with the given interval size; ts is filled by the session.
func newEventTx(ev DTMFEvent, samplesPerFrame uint32, frameDur time.Duration) (*eventTx, error) {
	code, err := eventCode(ev.Digit)
	if err != nil {
		return nil, err
	}
	d := ev.Duration
	if d <= 0 {
		d = DefaultDTMFDuration
	}
	frames := int((d + frameDur - 1) / frameDur)
	maxFrames := int(0xffff / samplesPerFrame)
	frames = max(1, min(frames, maxFrames))
	return &eventTx{code: code, volume: min(ev.Volume, 63), frames: frames, samples: samplesPerFrame}, nil
}
