package sdp

import "errors"

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so SIP handlers can match with errors.Is and answer 488.
var (
	// ErrMalformed: the body is not SDP we can read.
	ErrMalformed = errors.New("sdp: malformed")
	// ErrTooLarge: the body exceeds MaxSize. It does not wrap ErrMalformed.
	ErrTooLarge = errors.New("sdp: too large")
	// ErrNoMedia: the offer has no audio stream we could answer (none at all,
	// all rejected with port 0, or only non-audio streams).
	ErrNoMedia = errors.New("sdp: no usable media")
	// ErrNoCommonCodec: no audio codec in common (telephone-event or CN alone
	// do not count).
	ErrNoCommonCodec = errors.New("sdp: no common codec")
	// ErrSRTPRequired: the offer is RTP/SAVP but SRTP is not enabled for us.
	ErrSRTPRequired = errors.New("sdp: offer requires SRTP")
	// ErrSRTPNotOffered: we require SRTP (AnswerOptions.RequireSRTP) and the
	// offer is plain RTP/AVP.
	ErrSRTPNotOffered = errors.New("sdp: SRTP required but not offered")
	// ErrBadCrypto: an a=crypto value is invalid (syntax, base64, key length,
	// unsupported suite), or an SRTP offer carries no crypto line we support.
	ErrBadCrypto = errors.New("sdp: bad crypto")
	// ErrUnsupportedProto: the m-line transport is neither RTP/AVP nor
	// RTP/SAVP (for example UDP/TLS/RTP/SAVPF from WebRTC).
	ErrUnsupportedProto = errors.New("sdp: unsupported media transport")
	// ErrBadOptions: OfferOptions/AnswerOptions are unusable (missing address,
	// port out of range, unknown direction, invalid codec list).
	ErrBadOptions = errors.New("sdp: bad options")
)
