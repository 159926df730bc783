// Package tlib owns arlab's T-lib protocol: the message model and its
// newline-delimited JSON codec, the server that the SIP Server embeds
// (connections, RequestOpen/authentication, DN registrations, request
// correlation and event fan-out) and the client used by the recorder,
// `arlab agent` and tests (request/reply correlation by ReferenceID, event
// subscriptions, reconnect with re-registration).
//
// Message and attribute names follow Genesys T-lib (RequestRegisterAddress,
// EventEstablished, ThisDN, ConnID, ...). Nothing in this package knows about
// SIP: call requests are performed by a Handler supplied by the embedding
// service. The wire protocol is specified in docs/tlib.md.
package tlib
