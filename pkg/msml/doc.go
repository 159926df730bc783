// Package msml owns the MSML (RFC 5707) subset that arlab's SIP Server and
// media server exchange in SIP INFO bodies (Content-Type application/msml+xml):
// the requests that start, pause, resume and stop a recording and that join or
// unjoin a monitoring supervisor, the <result> the media server answers with,
// and the <event> it sends back when a recording destination starts, fails or
// is re-established.
//
// The client side (the SIP Server) builds documents with Request.Marshal and
// reads answers with ParseResult and ParseEvent; the server side (the media
// server) reads requests with ParseRequest, which is strict: anything outside
// the subset is refused with an *Error carrying the MSML response code
// (401 unknown element, 402 unsupported element, 406 unknown attribute,
// 408 missing attribute, 410 invalid value, 400 otherwise), so the sender sees
// exactly what was wrong. The subset and its codes are specified in
// docs/msml.md.
//
// Documents are untrusted input: they are limited to MaxSize bytes and 64
// levels of nesting, and DTDs are refused (no entity is ever expanded).
package msml
