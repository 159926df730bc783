package sdp

import (
	"net/netip"
	"strconv"
	"strings"
)

// Marshal returns the session as SIP-style SDP with CRLF line ends: v=0, o=,
// s= ("-" if empty), session c= (if set), b=, t=0 0, session attributes, then
// per media m=, c= (only when it differs from the session one), b=, rtpmap and
// fmtp per codec, ptime, crypto, rtcp-mux, label, direction and the remaining
// attributes in their original order.
func (s *Session) Marshal() []byte {
	var w strings.Builder
	w.Grow(256 + 256*len(s.Media))
	line := func(parts ...string) {
		for _, p := range parts {
			w.WriteString(oneLine(p))
		}
		w.WriteString("\r\n")
	}

	line("v=0")
	line("o=", token(s.Origin.Username, "-"), " ",
		strconv.FormatUint(s.Origin.SessionID, 10), " ",
		strconv.FormatUint(s.Origin.SessionVersion, 10), " ",
		addrField(s.originAddr()))
	name := s.Name
	if strings.Trim(name, " \t") == "" {
		name = "-"
	}
	line("s=", name)
	if s.Addr.IsValid() {
		line("c=", addrField(s.Addr))
	}
	for _, bw := range s.Bandwidth {
		line("b=", bw)
	}
	line("t=0 0")
	for _, a := range s.Attributes {
		line(attrLine(a))
	}
	for _, m := range s.Media {
		s.marshalMedia(line, m)
	}
	return []byte(w.String())
}

func (s *Session) marshalMedia(line func(...string), m Media) {
	var mline strings.Builder
	mline.WriteString("m=")
	mline.WriteString(token(m.Type, "audio"))
	mline.WriteByte(' ')
	mline.WriteString(strconv.Itoa(m.Port))
	mline.WriteByte(' ')
	mline.WriteString(token(m.Proto, "RTP/AVP"))
	for _, c := range m.Codecs {
		mline.WriteByte(' ')
		mline.WriteString(strconv.Itoa(int(c.PayloadType)))
	}
	for _, f := range m.Formats {
		mline.WriteByte(' ')
		mline.WriteString(token(f, "-"))
	}
	line(mline.String())
	if m.Addr.IsValid() && m.Addr != s.Addr {
		line("c=", addrField(m.Addr))
	}
	for _, bw := range m.Bandwidth {
		line("b=", bw)
	}
	for _, c := range m.Codecs {
		if c.Name != "" {
			line("a=rtpmap:", c.rtpmapValue())
		}
		if c.Fmtp != "" {
			line("a=fmtp:", strconv.Itoa(int(c.PayloadType)), " ", c.Fmtp)
		}
	}
	if m.Ptime > 0 {
		line("a=ptime:", strconv.Itoa(m.Ptime))
	}
	for _, c := range m.Crypto {
		line("a=crypto:", c.String())
	}
	if m.RTCPMux {
		line("a=rtcp-mux")
	}
	if m.Label != "" {
		line("a=label:", m.Label)
	}
	if m.Direction.Valid() {
		line("a=", string(m.Direction))
	}
	for _, a := range m.Attributes {
		line(attrLine(a))
	}
}

// originAddr picks the o= address: the origin's own, else the session or
// first media address, else 0.0.0.0.
func (s *Session) originAddr() netip.Addr {
	if s.Origin.Addr.IsValid() {
		return s.Origin.Addr
	}
	if s.Addr.IsValid() {
		return s.Addr
	}
	for _, m := range s.Media {
		if m.Addr.IsValid() {
			return m.Addr
		}
	}
	return netip.IPv4Unspecified()
}

// addrField renders "IN IP4 a" or "IN IP6 a".
func addrField(a netip.Addr) string {
	if a.Is4() {
		return "IN IP4 " + a.String()
	}
	return "IN IP6 " + a.String()
}

func attrLine(a Attribute) string {
	if a.Value == "" {
		if strings.HasSuffix(a.Key, " ") || strings.HasSuffix(a.Key, "\t") {
			// "a=key :" parsed to a key with a trailing blank; without the
			// colon the blank would be trimmed on re-parse.
			return "a=" + a.Key + ":"
		}
		return "a=" + a.Key
	}
	return "a=" + a.Key + ":" + a.Value
}

// oneLine keeps caller-built strings from injecting SDP lines.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(s)
}

// token returns s as a single SDP field: def when empty, blanks replaced.
func token(s, def string) string {
	if s == "" {
		return def
	}
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	return strings.NewReplacer(" ", "_", "\t", "_").Replace(s)
}
