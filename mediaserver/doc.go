// Package mediaserver is the lab's Media Server (the media half of the
// recording client): a SIP user agent that anchors each party's RTP on its
// own legs (INVITE sip:msml=<conf-id>@host;dn=<DN>, third-party call control
// with or without an offer), bridges the two parties of a conference with
// sequence and timestamp continuity per output stream, feeds a monitoring
// supervisor the mix of both parties (coach mode: the supervisor is heard by
// the agent only), and replicates each party's audio to recorders as a SIPREC
// (RFC 7866) or Genesys-style recording client (SRC), and to local WAV files.
//
// Recording is driven by MSML (pkg/msml) in SIP INFO on a leg's dialog:
// start (one SIP dialog per destination, or per party), pause (stop copying
// first, then signal a=inactive; or stop RTP; or send silence), resume, stop
// (BYE), supervisor join/unjoin (re-INVITE with partial metadata). A failed
// recorder (rejection, timeout, BYE, keepalive loss) is reported to the SIP
// Server as an MSML <event> in INFO, and with failover on the session is
// re-established through the Resource Manager under the same recording id,
// marked as a continuation. Destinations are independent: one failing leaves
// the others and the call alone.
//
// The package owns the legs' and recording sessions' RTP sockets (from the
// configured port range), the SIP listeners, the local recording directory
// and the HTTP API (/healthz, /metrics, /api/conferences). The RTP hot path
// (one read goroutine per leg socket, fan-out to the other party and every
// recorder) does not allocate.
package mediaserver
