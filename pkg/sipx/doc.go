// Package sipx is the SIP plumbing every arlab service shares on top of sipgo:
// handlers that return errors and one adapter that answers them, typed errors
// carrying a SIP status, listeners whose real (port 0) addresses are known and
// whose serve goroutines are owned, the raised UDP size limit SIPREC needs, and
// the lab's TLS material.
package sipx
