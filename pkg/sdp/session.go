package sdp

import (
	"net/netip"
	"slices"
	"strings"
)

// MaxSize is the largest SDP body Parse accepts.
const MaxSize = 64 << 10

// Attribute is an a= line the model does not interpret, kept verbatim.
// Value is "" both for "a=key" and "a=key:".
type Attribute struct{ Key, Value string }

// Origin is the o= line.
type Origin struct {
	Username                  string
	SessionID, SessionVersion uint64
	// Addr is the origin address; a host name (which o= allows) parses as the
	// unspecified address of its family because the field is informational.
	Addr netip.Addr
}

// Media is one m= section.
type Media struct {
	Type   string  // "audio"; others ("video", "image", ...) are preserved on parse
	Port   int     // 0 = rejected/disabled stream
	Proto  string  // "RTP/AVP" or "RTP/SAVP"; others preserved on parse
	Codecs []Codec // RTP payload formats in m= line order (duplicates dropped)
	// Direction defaults to sendrecv when absent; a session-level direction
	// applies to media without their own.
	Direction Direction
	Label     string   // a=label (RFC 4574), "" if none
	Crypto    []Crypto // supported SDES lines, in order; others stay in Attributes
	// Addr is the effective connection address: the media c= if present,
	// else the session c=. Marshal omits the media c= when it equals the
	// session one.
	Addr    netip.Addr
	Ptime   int // ms, 0 if absent
	RTCPMux bool
	// Attributes holds all other attributes in order, so nothing is lost on
	// re-marshal. Marshal writes them after the ones above.
	Attributes []Attribute
	// Formats holds m= formats that are not RTP payload types (T.38 "t38",
	// "webrtc-datachannel", "*"); Marshal writes them after the codecs.
	Formats []string
	// Bandwidth holds b= values ("AS:64") verbatim.
	Bandwidth []string
}

// Session is one SDP session description.
type Session struct {
	Origin Origin
	Name   string     // s=; Marshal writes "-" when empty
	Addr   netip.Addr // session-level c=, zero if absent
	Media  []Media
	// Attributes holds session-level attributes other than the direction
	// (which Parse folds into each Media).
	Attributes []Attribute
	// Bandwidth holds session-level b= values verbatim.
	Bandwidth []string
}

// RTPAddr returns Addr:Port, where the far end receives RTP.
func (m Media) RTPAddr() netip.AddrPort { return netip.AddrPortFrom(m.Addr, uint16(m.Port)) }

// Codec returns the codec for payload type pt.
func (m Media) Codec(pt uint8) (Codec, bool) {
	for _, c := range m.Codecs {
		if c.PayloadType == pt {
			return c, true
		}
	}
	return Codec{}, false
}

// TelephoneEvent returns the first 8 kHz telephone-event codec, which
// carries DTMF for narrowband calls.
func (m Media) TelephoneEvent() (Codec, bool) {
	for _, c := range m.Codecs {
		if c.IsTelephoneEvent() && c.ClockRate == 8000 {
			return c, true
		}
	}
	return Codec{}, false
}

// CryptoByTag returns the crypto line with the given tag: after answering,
// the offer's line with the answer's tag is the key the offerer sends with.
func (m Media) CryptoByTag(tag int) (Crypto, bool) {
	for _, c := range m.Crypto {
		if c.Tag == tag {
			return c, true
		}
	}
	return Crypto{}, false
}

// Attribute returns the value of the first uninterpreted attribute named key.
func (m Media) Attribute(key string) (string, bool) {
	return findAttr(m.Attributes, key)
}

// IsSecure reports whether the transport is SRTP (RTP/SAVP or a SAVPF variant).
func (m Media) IsSecure() bool { return strings.Contains(strings.ToUpper(m.Proto), "SAVP") }

// Attribute returns the value of the first uninterpreted session attribute
// named key.
func (s *Session) Attribute(key string) (string, bool) {
	return findAttr(s.Attributes, key)
}

func findAttr(attrs []Attribute, key string) (string, bool) {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

// Audio returns the first audio media with a non-zero port.
func (s *Session) Audio() (Media, bool) {
	for _, m := range s.Media {
		if m.Type == "audio" && m.Port != 0 {
			return m, true
		}
	}
	return Media{}, false
}

// IsHold reports whether the first audio m-line puts the other side on hold:
// RFC 3264 style (sendonly or inactive), RFC 2543 style (c=0.0.0.0 or ::), or
// a disabled stream (port 0). A session without audio is not on hold.
func (s *Session) IsHold() bool {
	for _, m := range s.Media {
		if m.Type != "audio" {
			continue
		}
		return m.Port == 0 || m.Direction == SendOnly || m.Direction == Inactive ||
			(m.Addr.IsValid() && m.Addr.IsUnspecified())
	}
	return false
}

// NextVersion increments the o= version, as every re-offer must (RFC 3264 8).
func (s *Session) NextVersion() { s.Origin.SessionVersion++ }

// Follow makes s the next description after prev in the same dialog, for a
// re-offer or an answer to a re-INVITE (RFC 3264 8): s takes prev's origin,
// and the version goes up by one only if anything else differs from prev.
// A nil prev leaves s unchanged.
func (s *Session) Follow(prev *Session) {
	if prev == nil {
		return
	}
	s.Origin = prev.Origin
	if string(s.Marshal()) != string(prev.Marshal()) {
		s.NextVersion()
	}
}

// Clone returns a deep copy of s.
func (s *Session) Clone() *Session {
	if s == nil {
		return nil
	}
	c := *s
	c.Attributes = slices.Clone(s.Attributes)
	c.Bandwidth = slices.Clone(s.Bandwidth)
	if s.Media != nil {
		c.Media = make([]Media, len(s.Media))
		for i, m := range s.Media {
			c.Media[i] = m.Clone()
		}
	}
	return &c
}

// Clone returns a deep copy of m.
func (m Media) Clone() Media {
	m.Codecs = slices.Clone(m.Codecs)
	m.Attributes = slices.Clone(m.Attributes)
	m.Formats = slices.Clone(m.Formats)
	m.Bandwidth = slices.Clone(m.Bandwidth)
	if m.Crypto != nil {
		cr := make([]Crypto, len(m.Crypto))
		for i, c := range m.Crypto {
			cr[i] = c.clone()
		}
		m.Crypto = cr
	}
	return m
}

// String returns the marshalled SDP, for logs.
func (s *Session) String() string { return string(s.Marshal()) }
