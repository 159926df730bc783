// Package sipserver is the SIP Server of the lab: the B2BUA that owns the
// communication sessions, the DN table and its registrar, routing points, the
// T-lib server that desktops, routers and recorders use, and an HTTP status
// API (/healthz, /metrics, /api/calls, /api/registrations).
//
// # Calls
//
// A call is two legs, one SIP dialog per party, each with its own Call-ID,
// tags, CSeq space and header objects; only SDP bytes cross from one leg to
// the other (copied). Media flows end to end between the parties: the SIP
// Server relays SDP, it does not anchor RTP (the recording issue adds media
// anchoring through a media server). A call from an unregistered number to
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
// # Hooks for recording
//
// Each call keeps its legs with their last local and remote SDP, the route
// decision with its extensions (record, id, dest, ...) and the DN options;
// call.establishLocked is the point after answer where recording decisions
// attach. Recording requests (RequestPrivateService GSIP_RECORD_*) are
// refused with EventError until then.
//
// The behaviour, the T-lib mapping of SIP outcomes and the HTTP API are
// described in docs/sipserver.md.
package sipserver
