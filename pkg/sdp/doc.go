// Package sdp owns the SDP side of every arlab SIP dialog: parsing what real
// devices send (tolerantly, on top of github.com/pion/sdp/v3), building offers,
// answering them with RFC 3264 rules (codec intersection that keeps the
// offerer's payload numbers, direction intersection, SDES-SRTP crypto
// selection) and writing SIP-style SDP back out.
//
// The model is deliberately small and SIP-shaped: a Session holds the origin,
// the session-level connection address and a list of Media. Anything the model
// does not interpret (ICE, rtcp-fb, vendor attributes, bandwidth lines) is kept
// verbatim in Attributes/Bandwidth so that a parsed description re-marshals
// without losing information. Lines the model drops on purpose (i=, u=, e=, p=,
// k=, r=, z=, and the values of t=) carry nothing a SIP call needs; Marshal
// always writes "t=0 0".
//
// Errors are sentinels (ErrMalformed, ErrNoCommonCodec, ...) wrapped with %w;
// the SIP layer maps all of them to 488 Not Acceptable Here.
package sdp
