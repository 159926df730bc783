// Package e2e runs the whole lab as separate processes of the arlab binary on
// free loopback ports, and checks it the way a user would: calls from phones,
// T-lib clients, the recorder API, faults injected by killing processes, and
// real peers (sipp, tshark) on the wire.
package e2e
