package media

import "errors"

var (
	// ErrInvalidConfig reports an unusable Config or StreamConfig.
	ErrInvalidConfig = errors.New("media: invalid config")
	// ErrNoRemote is returned by writes while the session has no remote address yet (not configured, not
	// learned from a received packet).
	ErrNoRemote = errors.New("media: no remote address")
	// ErrPayloadTooLarge is returned by WriteFrame when the packet would exceed Config.MaxPacket.
	ErrPayloadTooLarge = errors.New("media: payload too large")
	// ErrShortBuffer is returned by ReadPacket when buf cannot hold an RTP header.
	ErrShortBuffer = errors.New("media: read buffer too short")
	// ErrSRTPSuite reports an SRTP crypto suite this package does not implement.
	ErrSRTPSuite = errors.New("media: unsupported SRTP suite")
	// ErrSRTPKey reports SRTP key material of the wrong length or encoding.
	ErrSRTPKey = errors.New("media: bad SRTP key")
	// ErrInvalidDigit reports a DTMF digit outside 0-9, *, #, A-D.
	ErrInvalidDigit = errors.New("media: invalid DTMF digit")
	// ErrClosed is returned by operations on a closed Session or Stream.
	ErrClosed = errors.New("media: closed")
	// ErrNotSending is returned by Stream.SendDTMF while the stream is on hold (SetSending(false)) or not started.
	ErrNotSending = errors.New("media: stream is not sending")
)

// Reasons a datagram is dropped by ReadPacket; sentinels so the drop path does not allocate.
var (
	errNotRTP = errors.New("media: not an RTP packet")
	errRTCP   = errors.New("media: RTCP packet on the RTP port")
	errSize   = errors.New("media: oversize datagram")
)
