// Package sipserver is the SIP Server of the lab: the B2BUA that owns the
// communication sessions, the DN table and registrations, routing points, the
// recording decisions per call and side, and the T-lib server that desktops,
// routers and recorders use. This file set so far holds its configuration; the
// call handling lands with the SIP Server issue.
package sipserver
