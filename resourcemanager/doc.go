// Package resourcemanager is the Resource Manager: a stateful SIP proxy that
// places media-control dialogs (Request-URI user `msml=<conf-id>`) on a media
// server and recording sessions (user `record…` or a SIPREC INVITE) on a
// recorder, chosen from configured resource groups.
//
// It owns: the groups and their placement policies (round-robin, least-used,
// weighted, hash, hunt), conference affinity, OPTIONS health checks, per-member
// capacity and active-session counts taken from the dialogs it proxied, serial
// failover of an INVITE across members (timeout, 408, 5xx, 480, 486, transport
// failure) with the members tried reported back in a Warning header, drain, and
// the HTTP API (/api/groups, /metrics, /healthz).
//
// The proxy Record-Routes every dialog it places, so ACK, BYE, INFO and
// re-INVITE come back through it and are routed to the chosen member by their
// Route header; sipgo's transaction layer does retransmissions.
package resourcemanager
