package sdp

import (
	"fmt"
	"net/netip"
	"strings"
)

// AnswerOptions describes what we accept when answering.
type AnswerOptions struct {
	Addr   netip.Addr // where we receive RTP; required
	Port   int        // RTP port, 1-65535 (AnswerAll: of the first m-line)
	Codecs []Codec    // what we support, in our preference; default PCMU, PCMA, telephone-event
	// Direction is our wish; "" derives it from the offer (its reverse). The
	// answer carries the intersection of the reversed offer and the wish.
	Direction Direction
	SRTP      bool   // accept RTP/SAVP offers (false: refuse them with ErrSRTPRequired)
	Username  string // o= user, default "arlab"
	// RequireSRTP refuses plain RTP/AVP offers with ErrSRTPNotOffered; it
	// implies SRTP.
	RequireSRTP bool
	// RTCPMux accepts a=rtcp-mux when offered.
	RTCPMux bool
	// Ptime is the ptime we ask for; 0 echoes the offer's (if any).
	Ptime int
}

// answerer holds validated AnswerOptions.
type answerer struct {
	o      AnswerOptions
	codecs []Codec
}

func newAnswerer(o AnswerOptions) (*answerer, error) {
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
	if o.Direction != "" && !o.Direction.Valid() {
		return nil, fmt.Errorf("%w: unknown direction %q", ErrBadOptions, o.Direction)
	}
	if o.Ptime < 0 || o.Ptime > maxPtime {
		return nil, fmt.Errorf("%w: ptime %d out of range", ErrBadOptions, o.Ptime)
	}
	if o.RequireSRTP {
		o.SRTP = true
	}
	return &answerer{o: o, codecs: codecs}, nil
}

// Answer answers the first usable audio m-line of offer; every other m-line
// is answered with port 0, so the answer has the same m-lines in the same
// order (RFC 3264 6). An audio m-line is usable when AnswerMedia accepts it;
// if none is, the error of the first one tried is returned (ErrNoMedia when
// there is no enabled audio m-line at all).
func Answer(offer *Session, o AnswerOptions) (*Session, error) {
	a, err := newAnswerer(o)
	if err != nil {
		return nil, err
	}
	if offer == nil {
		return nil, fmt.Errorf("%w: no offer", ErrNoMedia)
	}
	media := make([]Media, len(offer.Media))
	answered := false
	var firstErr error
	for i, m := range offer.Media {
		if !answered && m.Type == "audio" && m.Port != 0 {
			ans, err := a.answer(m, o.Port)
			if err == nil {
				media[i], answered = ans, true
				continue
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("m-line %d: %w", i, err)
			}
		}
		media[i] = reject(m, o.Addr)
	}
	if !answered {
		if firstErr == nil {
			firstErr = fmt.Errorf("%w: no enabled audio m-line", ErrNoMedia)
		}
		return nil, firstErr
	}
	return newSession(o.Username, o.Addr, media), nil
}

// AnswerAll answers every enabled audio m-line (a SIPREC recorder receives
// one per recorded party); m-line i gets port o.Port + 2*i. m-lines that are
// not audio, are disabled, or cannot be accepted get port 0. It fails only
// when no m-line is accepted, with the error of the first one tried.
func AnswerAll(offer *Session, o AnswerOptions) (*Session, error) {
	a, err := newAnswerer(o)
	if err != nil {
		return nil, err
	}
	if offer == nil {
		return nil, fmt.Errorf("%w: no offer", ErrNoMedia)
	}
	if n := len(offer.Media); n > 0 && o.Port+2*(n-1) > 65535 {
		return nil, fmt.Errorf("%w: %d m-lines from port %d exceed 65535", ErrBadOptions, n, o.Port)
	}
	media := make([]Media, len(offer.Media))
	accepted := 0
	var firstErr error
	for i, m := range offer.Media {
		if m.Type == "audio" && m.Port != 0 {
			ans, err := a.answer(m, o.Port+2*i)
			if err == nil {
				media[i] = ans
				accepted++
				continue
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("m-line %d: %w", i, err)
			}
		}
		media[i] = reject(m, o.Addr)
	}
	if accepted == 0 {
		if firstErr == nil {
			firstErr = fmt.Errorf("%w: no enabled audio m-line", ErrNoMedia)
		}
		return nil, firstErr
	}
	return newSession(o.Username, o.Addr, media), nil
}

// AnswerMedia answers one offered m-line on o.Addr:o.Port, for callers that
// manage ports per stream themselves. It applies the same rules as Answer.
func AnswerMedia(offer Media, o AnswerOptions) (Media, error) {
	a, err := newAnswerer(o)
	if err != nil {
		return Media{}, err
	}
	return a.answer(offer, o.Port)
}

// answer applies RFC 3264 answer rules to one m-line.
func (a *answerer) answer(offer Media, port int) (Media, error) {
	if offer.Type != "audio" {
		return Media{}, fmt.Errorf("%w: %q stream", ErrNoMedia, offer.Type)
	}
	if offer.Port == 0 {
		return Media{}, fmt.Errorf("%w: stream disabled (port 0)", ErrNoMedia)
	}
	secure := false
	switch strings.ToUpper(offer.Proto) {
	case ProtoRTP:
		if a.o.RequireSRTP {
			return Media{}, ErrSRTPNotOffered
		}
	case ProtoSRTP:
		if !a.o.SRTP {
			return Media{}, ErrSRTPRequired
		}
		secure = true
	default:
		return Media{}, fmt.Errorf("%w: %q", ErrUnsupportedProto, offer.Proto)
	}
	codecs, err := a.intersect(offer.Codecs)
	if err != nil {
		return Media{}, err
	}
	ans := Media{
		Type:      "audio",
		Port:      port,
		Proto:     offer.Proto,
		Codecs:    codecs,
		Direction: a.direction(offer),
		Label:     offer.Label,
		Addr:      a.o.Addr,
		Ptime:     a.o.Ptime,
		RTCPMux:   offer.RTCPMux && a.o.RTCPMux,
	}
	if ans.Ptime == 0 {
		ans.Ptime = offer.Ptime
	}
	if secure {
		c, err := answerCrypto(offer.Crypto)
		if err != nil {
			return Media{}, err
		}
		ans.Crypto = []Crypto{c}
	}
	return ans, nil
}

// intersect returns our codecs that the offer also has, in our order of
// preference but with the offer's payload type numbers (a dynamic
// telephone-event may be 96 rather than 101) and its fmtp when it has one.
func (a *answerer) intersect(offered []Codec) ([]Codec, error) {
	var out []Codec
	used := make(map[uint8]bool, len(offered))
	media := false
	for _, ours := range a.codecs {
		for _, oc := range offered {
			if used[oc.PayloadType] || !oc.Matches(ours) {
				continue
			}
			c := oc
			if c.Fmtp == "" {
				c.Fmtp = ours.Fmtp
			}
			out = append(out, c)
			used[oc.PayloadType] = true
			media = media || !c.isAuxiliary()
			break
		}
	}
	if !media {
		return nil, ErrNoCommonCodec
	}
	return out, nil
}

// direction intersects the reversed offer direction with our wish. An offer
// with an unspecified connection address (RFC 2543 hold) cannot receive, so
// it counts as not receiving whatever its attribute says.
func (a *answerer) direction(offer Media) Direction {
	receives := offer.Direction.Receives() && !(offer.Addr.IsValid() && offer.Addr.IsUnspecified())
	d := directionOf(offer.Direction.Sends(), receives).Reverse()
	if a.o.Direction != "" {
		d = d.Intersect(a.o.Direction)
	}
	return d
}

// answerCrypto picks the first offered line with a suite we support and
// returns our own fresh key for it under the same tag (RFC 4568 7.1.1).
func answerCrypto(offered []Crypto) (Crypto, error) {
	for _, c := range offered {
		if SupportedSuite(c.Suite) {
			return NewCrypto(c.Tag, c.Suite)
		}
	}
	return Crypto{}, fmt.Errorf("%w: no supported crypto suite offered", ErrBadCrypto)
}

// reject returns the port-0 answer to an m-line we do not accept. It keeps
// the offered formats, as RFC 3264 6 requires at least one.
func reject(offer Media, addr netip.Addr) Media {
	return Media{
		Type:      offer.Type,
		Port:      0,
		Proto:     offer.Proto,
		Codecs:    append([]Codec(nil), offer.Codecs...),
		Formats:   append([]string(nil), offer.Formats...),
		Direction: Inactive,
		Label:     offer.Label,
		Addr:      addr,
	}
}
