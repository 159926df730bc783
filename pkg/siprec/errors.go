package siprec

import "errors"

// Sentinel errors, matchable with errors.Is.
var (
	// ErrMalformed: the input is not well-formed XML / MIME, or not SIPREC at all.
	ErrMalformed = errors.New("siprec: malformed")
	// ErrTooLarge: the input exceeds MaxMetadataSize or MaxBodySize.
	ErrTooLarge = errors.New("siprec: input too large")
	// ErrEntity: the metadata carries a DTD or entity declaration.
	ErrEntity = errors.New("siprec: DTD and entity declarations are not accepted")
	// ErrNoSDP: the body carries no SDP part.
	ErrNoSDP = errors.New("siprec: no SDP in body")
	// ErrInvalid: Marshal was asked to write a document missing a required id.
	ErrInvalid = errors.New("siprec: invalid metadata")
)
