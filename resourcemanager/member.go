package resourcemanager

import (
	"time"

	"github.com/emiago/sipgo/sip"
)

// memberState is what the health checks and failed tries think of a member.
type memberState int

const (
	// stateUnknown: not probed yet. Eligible, so a fresh RM places sessions
	// before its first probe round completes.
	stateUnknown memberState = iota
	stateUp
	// stateSuspect: failed fewer than down-after times in a row. Tried only
	// when no up member is left, so a member that just died gets no new
	// session from the first failed probe on.
	stateSuspect
	// stateDown: failed down-after times in a row; never tried, its sessions
	// are forgotten.
	stateDown
)

func (s memberState) String() string {
	switch s {
	case stateUp:
		return "up"
	case stateSuspect:
		return "suspect"
	case stateDown:
		return "down"
	}
	return "unknown"
}

// member is one instance of a group. Its mutable fields are guarded by the
// group's mutex.
type member struct {
	name      string
	uri       sip.Uri // as configured
	addr      string  // host:port requests are sent to
	transport string  // Via transport token: UDP, TCP or TLS
	capacity  int     // 0 = unlimited
	weight    int
	index     int // position in the group, the hunt order

	state      memberState
	fails      int // consecutive failures (probes and tries)
	oks        int // consecutive successful probes
	busyUntil  time.Time
	draining   bool
	active     int // sessions placed and not ended (pending tries included)
	lastError  string
	lastChange time.Time
	lastProbe  time.Time
	curWeight  int // smooth weighted round-robin state

	attempts uint64 // INVITEs sent to it
	placed   uint64 // INVITEs it answered 2xx
	failures uint64 // tries that failed over
}

// available reports whether the member may take a new session now as a first
// choice: up (or not yet probed), not draining, not busy, below capacity.
func (m *member) available(now time.Time) bool {
	return (m.state == stateUp || m.state == stateUnknown) && m.usable(now)
}

// usable is available minus the health state: what a suspect member needs to
// be a last resort.
func (m *member) usable(now time.Time) bool {
	return !m.draining && !now.Before(m.busyUntil) && !m.full()
}

func (m *member) full() bool {
	return m.capacity > 0 && m.active >= m.capacity
}

// unavailableReason says why a member is not tried, for the Warning header.
func (m *member) unavailableReason(now time.Time) string {
	switch {
	case m.state == stateDown:
		return "down"
	case m.draining:
		return "draining"
	case now.Before(m.busyUntil):
		return "busy"
	case m.full():
		return "full"
	case m.state == stateSuspect:
		return "suspect"
	}
	return "available"
}

// healthOK records a successful probe. Callers hold the group lock.
func (m *member) healthOK(now time.Time, upAfter int) {
	m.lastProbe = now
	m.fails = 0
	m.oks++
	m.busyUntil = time.Time{}
	switch m.state {
	case stateUnknown, stateSuspect:
		m.setState(stateUp, now)
	case stateDown:
		if m.oks >= upAfter {
			m.setState(stateUp, now)
		}
	}
}

// answered records that the member answered a forwarded request: proof of
// life that clears a run of failed probes (which get lost first under load),
// so a member that takes sessions is not declared down by its OPTIONS. A
// down member still needs its probes to come back. Callers hold the group lock.
func (m *member) answered(now time.Time) {
	m.fails = 0
	if m.state == stateSuspect || m.state == stateUnknown {
		m.setState(stateUp, now)
	}
}

// healthFail records a failed probe or try; it reports whether the member
// just went down. Callers hold the group lock.
func (m *member) healthFail(now time.Time, downAfter int, reason string) (wentDown bool) {
	m.oks = 0
	m.fails++
	m.lastError = reason
	if m.state == stateDown {
		return false
	}
	if m.fails >= downAfter {
		m.setState(stateDown, now)
		return true
	}
	m.setState(stateSuspect, now)
	return false
}

// markBusy keeps the member out of placement until the given time (a 503).
func (m *member) markBusy(until time.Time, reason string) {
	if until.After(m.busyUntil) {
		m.busyUntil = until
	}
	m.lastError = reason
}

func (m *member) setState(s memberState, now time.Time) {
	if m.state != s {
		m.state = s
		m.lastChange = now
	}
}
