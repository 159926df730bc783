package sdp

import (
	"fmt"
	"net/netip"
	"strings"

	psdp "github.com/pion/sdp/v3"
)

// maxPtime bounds a=ptime; larger values are kept as plain attributes.
const maxPtime = 10000

// Parse parses an SDP body. It is tolerant of what real devices send: CRLF or
// LF line ends, lines out of RFC order, missing s= and t=, c= only at media
// level, static payload types without a=rtpmap, unknown attributes (kept in
// Attributes). Errors wrap ErrMalformed, or ErrTooLarge above MaxSize.
//
// Interpretation rules, chosen so that Parse(s.Marshal()) equals s:
//   - The first valid a=rtpmap/a=fmtp of a listed payload type, the first
//     non-empty a=label and the first valid a=ptime are interpreted; later
//     duplicates and invalid ones stay in Attributes.
//   - Direction attributes and a=rtcp-mux are flags: the first direction wins,
//     repeats are dropped.
//   - a=crypto lines with a supported suite go to Crypto, others stay in
//     Attributes.
//   - A c= address must be an IP literal (a host name is ErrMalformed); a
//     multicast TTL suffix is dropped.
func Parse(b []byte) (*Session, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	n, err := normalize(b)
	if err != nil {
		return nil, err
	}
	var d psdp.SessionDescription
	if err := d.UnmarshalString(n.text); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(d.MediaDescriptions) != len(n.media) {
		// Cannot happen: normalize emits one m= per recorded section.
		return nil, fmt.Errorf("%w: media count mismatch", ErrMalformed)
	}

	s := &Session{
		Origin: Origin{
			Username:       d.Origin.Username,
			SessionID:      d.Origin.SessionID,
			SessionVersion: d.Origin.SessionVersion,
			Addr:           originAddr(d.Origin.AddressType, d.Origin.UnicastAddress),
		},
		Name:      string(d.SessionName),
		Bandwidth: n.bandwidth,
	}
	if s.Addr, err = connAddr(d.ConnectionInformation); err != nil {
		return nil, err
	}
	var sessDir Direction
	for _, a := range d.Attributes {
		if dir, ok := directionAttr(a); ok {
			if sessDir == "" {
				sessDir = dir
			}
			continue
		}
		s.Attributes = append(s.Attributes, Attribute{Key: a.Key, Value: a.Value})
	}
	if sessDir == "" {
		sessDir = SendRecv
	}
	for i, md := range d.MediaDescriptions {
		m, err := convertMedia(md, n.media[i], s.Addr, sessDir)
		if err != nil {
			return nil, fmt.Errorf("m-line %d: %w", i, err)
		}
		s.Media = append(s.Media, m)
	}
	return s, nil
}

// convertMedia builds a Media from pion's description and the raw m= fields.
func convertMedia(md *psdp.MediaDescription, raw rawMedia, sessAddr netip.Addr, sessDir Direction) (Media, error) {
	m := Media{
		Type:      raw.typ,
		Port:      md.MediaName.Port.Value,
		Proto:     raw.proto,
		Addr:      sessAddr,
		Bandwidth: raw.bandwidth,
	}
	if md.ConnectionInformation != nil {
		addr, err := connAddr(md.ConnectionInformation)
		if err != nil {
			return Media{}, err
		}
		if addr.IsValid() {
			m.Addr = addr
		}
	}

	listed := make(map[uint8]int, len(md.MediaName.Formats)) // payload type -> index in Codecs
	for _, f := range md.MediaName.Formats {
		pt, ok := parsePT(f)
		if !ok {
			m.Formats = append(m.Formats, f)
			continue
		}
		if _, dup := listed[pt]; dup {
			continue
		}
		listed[pt] = len(m.Codecs)
		m.Codecs = append(m.Codecs, Codec{PayloadType: pt})
	}

	var (
		mapped   = make(map[uint8]bool, len(m.Codecs))
		withFmtp = make(map[uint8]bool, len(m.Codecs))
		dir      Direction
		ptimeSet bool
	)
	for _, a := range md.Attributes {
		if m.interpret(a, listed, mapped, withFmtp, &dir, &ptimeSet) {
			continue
		}
		m.Attributes = append(m.Attributes, Attribute{Key: a.Key, Value: a.Value})
	}
	for i, c := range m.Codecs {
		if mapped[c.PayloadType] {
			continue
		}
		if st, ok := staticCodecs[c.PayloadType]; ok {
			st.Fmtp = c.Fmtp
			m.Codecs[i] = st
		}
	}
	m.Direction = dir
	if m.Direction == "" {
		m.Direction = sessDir
	}
	return m, nil
}

// interpret stores a into the structured fields of m and reports whether it
// did; attributes it leaves alone are kept verbatim by the caller.
func (m *Media) interpret(a psdp.Attribute, listed map[uint8]int, mapped, withFmtp map[uint8]bool,
	dir *Direction, ptimeSet *bool,
) bool {
	if d, ok := directionAttr(a); ok {
		if *dir == "" {
			*dir = d
		}
		return true
	}
	switch a.Key {
	case "rtpmap":
		c, ok := parseRtpmap(a.Value)
		if !ok {
			return false
		}
		i, listedPT := listed[c.PayloadType]
		if !listedPT || mapped[c.PayloadType] {
			return false
		}
		c.Fmtp = m.Codecs[i].Fmtp
		m.Codecs[i] = c
		mapped[c.PayloadType] = true
		return true
	case "fmtp":
		pt, params, ok := parseFmtp(a.Value)
		if !ok {
			return false
		}
		i, listedPT := listed[pt]
		if !listedPT || withFmtp[pt] {
			return false
		}
		m.Codecs[i].Fmtp = params
		withFmtp[pt] = true
		return true
	case "rtcp-mux":
		if a.Value != "" {
			return false
		}
		m.RTCPMux = true
		return true
	case "label":
		if a.Value == "" || m.Label != "" {
			return false
		}
		m.Label = a.Value
		return true
	case "ptime":
		v, ok := parseDigits(a.Value, maxPtime)
		if !ok || v == 0 || *ptimeSet {
			return false
		}
		m.Ptime = int(v)
		*ptimeSet = true
		return true
	case "crypto":
		c, err := ParseCrypto(a.Value)
		if err != nil {
			return false
		}
		m.Crypto = append(m.Crypto, c)
		return true
	}
	return false
}

// directionAttr recognises a=sendrecv, a=sendonly, a=recvonly, a=inactive.
func directionAttr(a psdp.Attribute) (Direction, bool) {
	d := Direction(a.Key)
	if a.Value != "" || !d.Valid() {
		return "", false
	}
	return d, true
}

// connAddr returns the address of a c= line (zero if absent).
func connAddr(ci *psdp.ConnectionInformation) (netip.Addr, error) {
	if ci == nil || ci.Address == nil {
		return netip.Addr{}, nil
	}
	host := ci.Address.Address
	if i := strings.IndexByte(host, '/'); i >= 0 {
		host = host[:i] // multicast TTL / address count
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: c= address %q is not an IP literal", ErrMalformed, ci.Address.Address)
	}
	return addr, nil
}

// originAddr parses the o= address; host names become the unspecified
// address of the family since the field is informational only.
func originAddr(addrType, host string) netip.Addr {
	if addr, err := netip.ParseAddr(host); err == nil {
		return addr
	}
	if addrType == "IP6" {
		return netip.IPv6Unspecified()
	}
	return netip.IPv4Unspecified()
}
