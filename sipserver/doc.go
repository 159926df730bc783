// Package sipserver is the SIP Server of the lab: the B2BUA that owns the
// communication sessions, the DN table and its registrar, routing points, the
// recording decisions and their state per call × side, media anchoring on
// media servers through the Resource Manager, supervisor monitoring, the
// T-lib server that desktops, routers and recorders use, and an HTTP status
// API (/healthz, /metrics, /api/calls, /api/registrations).
//
// # Calls
//
// A call is two legs, one SIP dialog per party, each with its own Call-ID,
// tags, CSeq space and header objects; only SDP bytes cross from one leg to
// the other (copied). A call from an unregistered number to
// sip:<DN>@sipserver is Inbound; a call from a configured DN is Internal.
// A call to a routing point waits there for RequestRouteCall, for the DN's
// default route after route-timeout, or takes the default route at once
// when no client is registered on the routing point.
//
// The INVITE handler of the caller owns the setup and the caller's final
// response; release (BYE, CANCEL, T-lib, failures) is decided once, under
// the call's lock, which also orders its T-lib events. In-dialog requests of
// a leg wait for the leg's ACK (sipgo hands every message to its own
// goroutine), and one offer/answer exchange runs per call at a time (491
// otherwise). Re-INVITEs (hold/retrieve), offer-less re-INVITEs and INFO are
// relayed to the other party.
//
// # Recording, media anchoring, monitoring
//
// Media flows end to end unless the call is recorded or monitored: then
// each party has a media-control leg to a media server chosen by the
// Resource Manager (sip:msml=<conf>@rm;dn=<DN>, third-party call control),
// set up before the caller's 200 when the recording starts at the answer
// (full-time DN, route extensions, pre-recording, monitoring) or by
// re-INVITEs mid-call (GSIP_RECORD_START). Recordings are driven with MSML
// in INFO on those legs; the media server's events (record.started,
// record.failed) come back in INFO. The recording state machine runs per
// call × recorded side and is announced as GSIP_RECORD / GSIP_REC_FN user
// data. A keepalive (in-dialog OPTIONS per media server) notices a media
// server that died and re-anchors its calls on another, restarting their
// recordings. A monitoring supervisor's phone is a third media-control leg
// joined to the conference.
//
// Media work blocks on SIP transactions, so it never runs in a handler: each
// call has a FIFO of work items and one worker goroutine at a time; T-lib
// handlers validate, answer EventACK and queue. Every leg of a call (party,
// media-control, supervisor) counts as a reference of the call and is torn
// down by its release.
//
// The behaviour, the T-lib mapping of SIP outcomes, recording and the HTTP
// API are described in docs/sipserver.md.
package sipserver
