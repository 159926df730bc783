package sdp

import (
	"strconv"
	"strings"
)

// Codec is one RTP payload format.
type Codec struct {
	PayloadType uint8
	Name        string // encoding name as written (matching is case-insensitive)
	ClockRate   uint32
	Channels    int    // 1 unless the rtpmap says otherwise; 0 for an unmapped dynamic type
	Fmtp        string // a=fmtp parameters, "" if none
}

// The codecs arlab speaks.
var (
	PCMU           = Codec{0, "PCMU", 8000, 1, ""}
	PCMA           = Codec{8, "PCMA", 8000, 1, ""}
	TelephoneEvent = Codec{101, "telephone-event", 8000, 1, "0-16"}
)

// DefaultCodecs is the codec list offers and answers use when none is given.
func DefaultCodecs() []Codec { return []Codec{PCMU, PCMA, TelephoneEvent} }

// staticCodecs are the RFC 3551 static payload types, used when an m-line
// lists a static type without an a=rtpmap (most phones omit it for 0 and 8).
var staticCodecs = map[uint8]Codec{
	0:  {0, "PCMU", 8000, 1, ""},
	3:  {3, "GSM", 8000, 1, ""},
	4:  {4, "G723", 8000, 1, ""},
	5:  {5, "DVI4", 8000, 1, ""},
	6:  {6, "DVI4", 16000, 1, ""},
	7:  {7, "LPC", 8000, 1, ""},
	8:  {8, "PCMA", 8000, 1, ""},
	9:  {9, "G722", 8000, 1, ""},
	10: {10, "L16", 44100, 2, ""},
	11: {11, "L16", 44100, 1, ""},
	12: {12, "QCELP", 8000, 1, ""},
	13: {13, "CN", 8000, 1, ""},
	14: {14, "MPA", 90000, 1, ""},
	15: {15, "G728", 8000, 1, ""},
	16: {16, "DVI4", 11025, 1, ""},
	17: {17, "DVI4", 22050, 1, ""},
	18: {18, "G729", 8000, 1, ""},
	25: {25, "CelB", 90000, 1, ""},
	26: {26, "JPEG", 90000, 1, ""},
	28: {28, "nv", 90000, 1, ""},
	31: {31, "H261", 90000, 1, ""},
	32: {32, "MPV", 90000, 1, ""},
	33: {33, "MP2T", 90000, 1, ""},
	34: {34, "H263", 90000, 1, ""},
}

// StaticCodec returns the RFC 3551 codec for a static payload type.
func StaticCodec(pt uint8) (Codec, bool) {
	c, ok := staticCodecs[pt]
	return c, ok
}

// IsTelephoneEvent reports whether c is RFC 4733 DTMF.
func (c Codec) IsTelephoneEvent() bool { return strings.EqualFold(c.Name, "telephone-event") }

// isAuxiliary reports codecs that cannot carry a call on their own.
func (c Codec) isAuxiliary() bool {
	return c.IsTelephoneEvent() || strings.EqualFold(c.Name, "CN")
}

// channels returns the channel count with the RFC 4566 default of 1.
func (c Codec) channels() int {
	if c.Channels <= 0 {
		return 1
	}
	return c.Channels
}

// Matches reports whether c and o are the same format regardless of payload
// type number and fmtp: same encoding name (case-insensitive), clock rate and
// channel count.
func (c Codec) Matches(o Codec) bool {
	return c.Name != "" && strings.EqualFold(c.Name, o.Name) &&
		c.ClockRate == o.ClockRate && c.channels() == o.channels()
}

// rtpmapValue is the a=rtpmap value for c.
func (c Codec) rtpmapValue() string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(c.PayloadType)))
	b.WriteByte(' ')
	b.WriteString(c.Name)
	b.WriteByte('/')
	b.WriteString(strconv.FormatUint(uint64(c.ClockRate), 10))
	if c.Channels > 1 {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(c.Channels))
	}
	return b.String()
}

// parsePT parses an RTP payload type: 1-3 ASCII digits, at most 127.
func parsePT(s string) (uint8, bool) {
	n, ok := parseDigits(s, 127)
	return uint8(n), ok
}

// parseDigits parses a non-empty run of ASCII digits no larger than limit.
// Unlike strconv.Atoi it refuses signs, so values re-marshal identically.
func parseDigits(s string, limit uint64) (uint64, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
		if n > limit {
			return 0, false
		}
	}
	return n, true
}

// parseRtpmap parses "<pt> <name>/<clock>[/<channels>]".
func parseRtpmap(v string) (Codec, bool) {
	f := strings.Fields(v)
	if len(f) != 2 {
		return Codec{}, false
	}
	pt, ok := parsePT(f[0])
	if !ok {
		return Codec{}, false
	}
	parts := strings.Split(f[1], "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" {
		return Codec{}, false
	}
	clock, ok := parseDigits(parts[1], 1<<32-1)
	if !ok {
		return Codec{}, false
	}
	ch := uint64(1)
	if len(parts) == 3 {
		ch, ok = parseDigits(parts[2], 255)
		if !ok || ch == 0 {
			return Codec{}, false
		}
	}
	return Codec{PayloadType: pt, Name: parts[0], ClockRate: uint32(clock), Channels: int(ch)}, true
}

// parseFmtp splits "<pt> <params>"; params must be non-empty.
func parseFmtp(v string) (uint8, string, bool) {
	i := strings.IndexAny(v, " \t")
	if i < 0 {
		return 0, "", false
	}
	pt, ok := parsePT(v[:i])
	if !ok {
		return 0, "", false
	}
	params := strings.TrimLeft(v[i:], " \t")
	if params == "" {
		return 0, "", false
	}
	return pt, params, true
}
