package mediaserver

import (
	"encoding/binary"

	"github.com/arlab/arlab/pkg/audio"
)

const (
	rtpHeaderLen = 12
	// maxPacket is the largest datagram relayed; larger ones are dropped.
	maxPacket = 1500
	// srtpOverhead is room for the SRTP auth tag, so encryption never allocates.
	srtpOverhead = 16
	// sampleRate is the RTP clock of every G.711 stream.
	sampleRate   = 8000
	frameSamples = 160
)

// pktKind classifies a received payload type against the leg's negotiation.
type pktKind uint8

const (
	kindOther pktKind = iota
	kindAudio
	kindEvent
)

// packet is one received RTP packet. Each leg reuses one, so the hot path
// does not allocate; payload aliases the leg's read buffer.
type packet struct {
	ssrc    uint32
	seq     uint16
	ts      uint32
	pt      uint8
	marker  bool
	kind    pktKind
	law     audio.Law // for kindAudio
	payload []byte
	arrival int64 // monotonic nanoseconds (see nanotime)
}

// parseRTP fills p from datagram b; it reports false for anything that is
// not an RTP packet (RTCP, garbage, truncated headers or padding).
func parseRTP(b []byte, p *packet) bool {
	if len(b) < rtpHeaderLen || b[0]>>6 != 2 {
		return false
	}
	if b[1] >= 192 && b[1] <= 223 { // RTCP types 192-223 multiplexed on the RTP port
		return false
	}
	off := rtpHeaderLen + 4*int(b[0]&0x0f)
	if len(b) < off {
		return false
	}
	if b[0]&0x10 != 0 { // header extension
		if len(b) < off+4 {
			return false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(b[off+2:]))
		if len(b) < off {
			return false
		}
	}
	end := len(b)
	if b[0]&0x20 != 0 { // padding
		pad := int(b[end-1])
		if pad == 0 || off+pad > end {
			return false
		}
		end -= pad
	}
	p.marker = b[1]&0x80 != 0
	p.pt = b[1] & 0x7f
	p.seq = binary.BigEndian.Uint16(b[2:])
	p.ts = binary.BigEndian.Uint32(b[4:])
	p.ssrc = binary.BigEndian.Uint32(b[8:])
	p.payload = b[off:end]
	return true
}

// putHeader writes a 12-byte RTP header (no CSRC, no extension) into dst.
func putHeader(dst []byte, marker bool, pt uint8, seq uint16, ts, ssrc uint32) {
	dst[0] = 0x80
	dst[1] = pt & 0x7f
	if marker {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], seq)
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.BigEndian.PutUint32(dst[8:], ssrc)
}

// G.711 conversion tables: a leg that negotiated PCMA and one that negotiated
// PCMU are bridged byte by byte, without allocation.
var ulawToAlaw, alawToUlaw [256]byte

// silenceByte is the G.711 code of digital silence per law.
func silenceByte(l audio.Law) byte {
	if l == audio.Alaw {
		return 0xD5
	}
	return 0xFF
}

func init() {
	var pcm [1]int16
	for i := range 256 {
		audio.Ulaw.Decode(pcm[:], []byte{byte(i)})
		audio.Alaw.Encode(ulawToAlaw[i:i+1], pcm[:])
		audio.Alaw.Decode(pcm[:], []byte{byte(i)})
		audio.Ulaw.Encode(alawToUlaw[i:i+1], pcm[:])
	}
}

// convert copies G.711 payload src into dst changing law from -> to.
func convert(dst, src []byte, from, to audio.Law) {
	switch {
	case from == to:
		copy(dst, src)
	case from == audio.Ulaw:
		for i, b := range src {
			dst[i] = ulawToAlaw[b]
		}
	default:
		for i, b := range src {
			dst[i] = alawToUlaw[b]
		}
	}
}
