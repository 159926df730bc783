package sdp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
)

// DefaultUsername is the o= user name of descriptions we build.
const DefaultUsername = "arlab"

// DefaultPtime is the packetisation time we offer, in ms.
const DefaultPtime = 20

// OfferOptions describes the single audio stream of an offer.
type OfferOptions struct {
	Addr      netip.Addr // where we receive RTP; required
	Port      int        // RTP port, 1-65535
	Codecs    []Codec    // default PCMU, PCMA, telephone-event
	Direction Direction  // default sendrecv
	Label     string     // a=label, e.g. for SIPREC streams
	SRTP      bool       // RTP/SAVP with one fresh AES_CM_128_HMAC_SHA1_80 key
	Ptime     int        // default 20
	Username  string     // o= user, default "arlab"
	RTCPMux   bool       // offer a=rtcp-mux
}

// NewOffer builds an offer with one audio m-line.
func NewOffer(o OfferOptions) (*Session, error) {
	if err := checkEndpoint(o.Addr, o.Port); err != nil {
		return nil, err
	}
	codecs := o.Codecs
	if len(codecs) == 0 {
		codecs = DefaultCodecs()
	}
	if err := checkCodecs(codecs); err != nil {
		return nil, err
	}
	dir := o.Direction
	if dir == "" {
		dir = SendRecv
	}
	if !dir.Valid() {
		return nil, fmt.Errorf("%w: unknown direction %q", ErrBadOptions, dir)
	}
	ptime := o.Ptime
	if ptime == 0 {
		ptime = DefaultPtime
	}
	if ptime < 0 || ptime > maxPtime {
		return nil, fmt.Errorf("%w: ptime %d out of range", ErrBadOptions, ptime)
	}
	m := Media{
		Type:      "audio",
		Port:      o.Port,
		Proto:     ProtoRTP,
		Codecs:    append([]Codec(nil), codecs...),
		Direction: dir,
		Label:     o.Label,
		Addr:      o.Addr,
		Ptime:     ptime,
		RTCPMux:   o.RTCPMux,
	}
	if o.SRTP {
		c, err := NewCrypto(1, SuiteAES128SHA1_80)
		if err != nil {
			return nil, err
		}
		m.Proto = ProtoSRTP
		m.Crypto = []Crypto{c}
	}
	return newSession(o.Username, o.Addr, []Media{m}), nil
}

// Transport protocols this package answers.
const (
	ProtoRTP  = "RTP/AVP"
	ProtoSRTP = "RTP/SAVP"
)

// newSession wraps media in a session with a fresh origin.
func newSession(user string, addr netip.Addr, media []Media) *Session {
	if user == "" {
		user = DefaultUsername
	}
	// Small positive ids: some stacks read them into signed 32-bit fields.
	id := uint64(rand.Uint32()>>1) + 1
	return &Session{
		Origin: Origin{Username: user, SessionID: id, SessionVersion: id, Addr: addr},
		Name:   "-",
		Addr:   addr,
		Media:  media,
	}
}

func checkEndpoint(addr netip.Addr, port int) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: no media address", ErrBadOptions)
	}
	if port <= 0 || port > 65535 {
		return fmt.Errorf("%w: port %d out of range", ErrBadOptions, port)
	}
	return nil
}

// checkCodecs rejects codec lists that would produce an invalid m-line.
func checkCodecs(codecs []Codec) error {
	seen := make(map[uint8]bool, len(codecs))
	for _, c := range codecs {
		if c.PayloadType > 127 {
			return fmt.Errorf("%w: payload type %d out of range", ErrBadOptions, c.PayloadType)
		}
		if seen[c.PayloadType] {
			return fmt.Errorf("%w: payload type %d listed twice", ErrBadOptions, c.PayloadType)
		}
		seen[c.PayloadType] = true
		if c.Name == "" || c.ClockRate == 0 {
			return fmt.Errorf("%w: codec %d needs a name and clock rate", ErrBadOptions, c.PayloadType)
		}
	}
	return nil
}
