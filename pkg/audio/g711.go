package audio

import (
	"fmt"

	"github.com/zaf/g711"
)

// EncodeUlaw encodes pcm into dst as G.711 µ-law, one byte per sample. It encodes min(len(dst), len(pcm))
// samples and returns that count. It does not allocate.
func EncodeUlaw(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = g711.EncodeUlawFrame(s)
	}
	return n
}

// DecodeUlaw decodes G.711 µ-law bytes from src into dst. It decodes min(len(dst), len(src)) samples and
// returns that count. It does not allocate.
func DecodeUlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
	return n
}

// EncodeAlaw encodes pcm into dst as G.711 A-law, one byte per sample. It encodes min(len(dst), len(pcm))
// samples and returns that count. It does not allocate.
func EncodeAlaw(dst []byte, pcm []int16) int {
	n := min(len(dst), len(pcm))
	dst, pcm = dst[:n], pcm[:n]
	for i, s := range pcm {
		dst[i] = g711.EncodeAlawFrame(s)
	}
	return n
}

// DecodeAlaw decodes G.711 A-law bytes from src into dst. It decodes min(len(dst), len(src)) samples and
// returns that count. It does not allocate.
func DecodeAlaw(dst []int16, src []byte) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	for i, b := range src {
		dst[i] = g711.DecodeAlawFrame(b)
	}
	return n
}

// Law is a G.711 companding law. Its value is the static RTP payload type that carries it (RFC 3551), so a
// Law converts to and from a payload type without a table.
type Law uint8

const (
	// Ulaw is G.711 µ-law, RTP payload type 0 (PCMU).
	Ulaw Law = 0
	// Alaw is G.711 A-law, RTP payload type 8 (PCMA).
	Alaw Law = 8
)

// LawForPayloadType returns the law carried by a static RTP payload type; ok is false for anything but 0 and 8.
func LawForPayloadType(pt uint8) (law Law, ok bool) {
	switch Law(pt) {
	case Ulaw, Alaw:
		return Law(pt), true
	default:
		return 0, false
	}
}

// Valid reports whether l is Ulaw or Alaw.
func (l Law) Valid() bool { return l == Ulaw || l == Alaw }

// PayloadType returns the static RTP payload type of l.
func (l Law) PayloadType() uint8 { return uint8(l) }

// String returns the SDP encoding name (PCMU, PCMA).
func (l Law) String() string {
	switch l {
	case Ulaw:
		return "PCMU"
	case Alaw:
		return "PCMA"
	default:
		return fmt.Sprintf("Law(%d)", uint8(l))
	}
}

// Encode encodes pcm into dst with law l and returns the number of samples encoded. An invalid law encodes
// nothing and returns 0, so a misconfigured stream sends nothing rather than noise.
func (l Law) Encode(dst []byte, pcm []int16) int {
	switch l {
	case Ulaw:
		return EncodeUlaw(dst, pcm)
	case Alaw:
		return EncodeAlaw(dst, pcm)
	default:
		return 0
	}
}

// Decode decodes src into dst with law l and returns the number of samples decoded; an invalid law decodes
// nothing and returns 0.
func (l Law) Decode(dst []int16, src []byte) int {
	switch l {
	case Ulaw:
		return DecodeUlaw(dst, src)
	case Alaw:
		return DecodeAlaw(dst, src)
	default:
		return 0
	}
}
