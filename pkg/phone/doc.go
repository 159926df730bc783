// Package phone is a scriptable SIP user agent: it registers a DN, places and
// answers calls over UDP, TCP or TLS, follows re-INVITEs (hold, media moved to
// another address, codec or key changes), sends its DN's tone over RTP or SRTP,
// sends and receives RFC 4733 DTMF, and keeps what it receives so a test can
// prove which party it heard. Many calls run concurrently in one Phone. The lab
// runs phones as customers and agents; tests embed them.
//
// In-dialog requests of one call are handled one at a time: sipgo hands every
// message to its own goroutine, so an ACK and the re-INVITE right behind it
// would otherwise race (see go-style.md section 3).
package phone
