package sipserver

import (
	"context"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/arlab/arlab/tlib"
)

// side is one end of a call: the party that placed it or the one it went to.
type side int

const (
	sideOrigin side = iota
	sideDest
)

func (sd side) other() side { return 1 - sd }

func (sd side) String() string {
	if sd == sideOrigin {
		return "origin"
	}
	return "destination"
}

// callState is where a call is in its life.
type callState int

const (
	callDialing     callState = iota // the origin's INVITE is being handled
	callRouting                      // waiting at a routing point for a route
	callRinging                      // the destination rings
	callEstablished                  // the destination answered
	callReleased
)

func (st callState) String() string {
	return [...]string{"dialing", "routing", "ringing", "established", "released"}[st]
}

// party is what T-lib knows of one end of a call.
type party struct {
	number string // the DN, or the customer's number
	isDN   bool   // a configured DN: call events are published for it
	// announced is set once a call event went out for the party, so that
	// its EventReleased is owed.
	announced bool
	held      bool
}

// Route is the routing decision of a call that came to a routing point. The
// extensions (record, id, dest, ...) stay on the call: the recording
// decisions act on them.
type Route struct {
	Target     string            `json:"target"`
	Extensions map[string]string `json:"extensions,omitempty"`
	Default    bool              `json:"default,omitempty"`
	By         string            `json:"by,omitempty"` // application name of the router
}

// requester identifies the T-lib request that causes an event: the reply
// event goes to that client with its ReferenceID.
type requester struct {
	client tlib.ClientID
	ref    uint64
	dn     string
}

// releaseCause says why a call ends and how each side learns it.
type releaseCause struct {
	// by is the leg whose far end ended the call (BYE, CANCEL): it needs no
	// teardown from us.
	by *leg
	// code is the final response an unanswered incoming leg gets.
	code int
	// callState is the CallState of the EventReleased events. When it is
	// Ok and a party ended the call (endedBy), the other party's event says
	// RemoteRelease.
	callState string
	endedBy   side
	byParty   bool // endedBy is set
	// cause is the short "cause" of the events' Reasons (BYE, CANCEL,
	// RequestReleaseCall, "486 Busy Here"...); reason is for logs.
	cause  string
	reason string
	req    *requester
}

// callStateOf is the CallState the party on side sd sees.
func (rc releaseCause) callStateOf(sd side) string {
	if rc.callState == tlib.CallStateOK && rc.byParty && rc.endedBy != sd {
		return tlib.CallStateRemoteRelease
	}
	return rc.callState
}

// reasons is the Reasons attribute of the EventReleased events.
func (rc releaseCause) reasons() tlib.KVList {
	cause := rc.cause
	if cause == "" {
		cause = rc.reason
	}
	if cause == "" {
		return nil
	}
	return tlib.KVList{"cause": cause}
}

// maxUserData bounds the user data of one call: keys and total bytes.
const (
	maxUserDataKeys  = 200
	maxUserDataBytes = 32 << 10
)

// call is one communication session: two parties, a leg (SIP dialog) per
// party, and what T-lib clients attached to it. Every field below mu is
// guarded by it, including the state of its legs, so that the order of the
// T-lib events of a call is the order of its state changes.
type call struct {
	s       *Server
	connID  string
	uuid    string
	callID  string // T-lib CallID
	typ     string // tlib.CallType*
	ani     string
	dnis    string
	created time.Time
	log     *slog.Logger

	// ctx ends when the call is released; the setup goroutine and every
	// transaction of the call watch it.
	ctx    context.Context
	cancel context.CancelFunc

	// offerMu admits one re-INVITE relay at a time; a crossing one gets 491.
	offerMu sync.Mutex

	mu       sync.Mutex
	state    callState
	parties  [2]party
	legs     [2]*leg
	rp       string       // the routing point the call came to, if any
	routeCh  chan Route   // the decision for the setup goroutine (cap 1)
	route    *Route       // decided route
	userData tlib.KVList  // attached data, shown on every event
	answered time.Time    // when the destination answered
	released bool         // release has run
	cause    releaseCause // why (valid once released)
	refs     int          // live legs plus a running setup goroutine
	noAnswer *time.Timer  // no-answer timer while ringing
	// answerReq is a pending RequestAnswerCall: its EventEstablished is the
	// reply. established is closed when the call is answered.
	answerReq   *requester
	established chan struct{}

	// Media anchoring, recording and monitoring (media.go, recording.go,
	// monitor.go), guarded by mu.
	media     *anchor         // where the parties' media is anchored; nil: end to end
	anchorGen int             // anchors made so far (conference ids are ConnID-gen)
	extra     []*leg          // media-control and observer legs, for teardown
	recs      [2]*recording   // the recording of each side, if any
	recSeq    int             // recording ids generated for this call
	mon       *monitorSession // the supervisor monitoring this call, if any
	// work is the call's queue of media work (anchoring, MSML requests,
	// supervisor joins), run in order by one worker goroutine at a time.
	work    []func()
	working bool
}

// newCall registers a call with one reference held by its setup goroutine.
// It fails when the server is closing or full.
func (s *Server) newCall(typ, ani, dnis string, origin, dest party) (*call, error) {
	connID, callID := s.ids.next()
	c := &call{
		s: s, connID: connID, uuid: newCallUUID(), callID: callID, typ: typ,
		ani: ani, dnis: dnis, created: time.Now(),
		parties:     [2]party{origin, dest},
		routeCh:     make(chan Route, 1),
		refs:        1,
		established: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.log = s.log.With("conn_id", connID, "ani", ani, "dnis", dnis)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.cancel()
		return nil, ErrClosed
	}
	if len(s.calls) >= s.cfg.MaxCalls {
		c.cancel()
		return nil, errCallLimit
	}
	s.calls[connID] = c
	s.metrics.callStarted()
	return c, nil
}

// lookupCall finds a call by ConnID (released calls whose legs are still
// hanging up included).
func (s *Server) lookupCall(connID string) *call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[connID]
}

// liveCalls returns the calls in the table.
func (s *Server) liveCalls() []*call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		out = append(out, c)
	}
	return out
}

// unrefLocked drops one reference; the last one of a released call removes
// it from the table.
func (c *call) unrefLocked() {
	c.refs--
	c.maybeRemoveLocked()
}

func (c *call) maybeRemoveLocked() {
	if c.refs > 0 || !c.released {
		return
	}
	s := c.s
	s.mu.Lock()
	if s.calls[c.connID] == c {
		delete(s.calls, c.connID)
	}
	s.mu.Unlock()
}

// unref is unrefLocked for a caller not holding mu.
func (c *call) unref() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.unrefLocked()
}

// release ends the call once: it publishes EventReleased for every DN that
// saw the call, cancels the call's context (which stops the setup goroutine,
// its routing wait and any unanswered outgoing INVITE with CANCEL) and sends
// BYE on every answered leg except the one that ended it. Unanswered legs
// belong to the setup goroutine, which finishes them with cause.code.
func (c *call) release(cause releaseCause) {
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		return
	}
	c.released = true
	c.cause = cause
	prev := c.state
	c.state = callReleased
	if c.noAnswer != nil {
		c.noAnswer.Stop()
	}
	c.endRecordingsLocked()
	if prev == callRouting && c.rp != "" {
		// The call was abandoned (or refused) while at the routing point.
		c.publishRPLocked(tlib.EventReleased, cause.req, func(m *tlib.Message) {
			m.CallState, m.Reasons = cause.callStateOf(sideDest), cause.reasons()
		})
	}
	for _, sd := range []side{sideDest, sideOrigin} {
		if p := c.parties[sd]; p.isDN && p.announced {
			c.publishLocked(tlib.EventReleased, sd, cause.req, func(m *tlib.Message) {
				m.CallState, m.Reasons = cause.callStateOf(sd), cause.reasons()
			})
		}
	}
	c.endMonitoringLocked()
	var bye []*leg
	for _, l := range c.legs {
		if l == nil || l == cause.by || l.state < legAnswered || l.state == legEnded {
			continue
		}
		l.state = legEnded
		bye = append(bye, l)
	}
	for _, l := range c.extra {
		if l == cause.by || l.state < legAnswered || l.state == legEnded {
			continue
		}
		l.state = legEnded
		bye = append(bye, l)
	}
	if cause.by != nil && cause.by.state != legEnded {
		cause.by.state = legEnded
	}
	c.maybeRemoveLocked()
	c.mu.Unlock()

	c.cancel()
	c.s.metrics.callReleased(prev == callEstablished)
	c.log.Info("call released", "reason", cause.reason, "state", prev.String(), "call_state", cause.callState)
	for _, l := range bye {
		c.s.spawn(func() { l.bye() })
	}
}

// establishLocked marks the call answered and publishes EventEstablished to
// both parties. Recordings and monitoring decided at setup start here.
func (c *call) establishLocked() {
	c.state = callEstablished
	c.answered = time.Now()
	if c.noAnswer != nil {
		c.noAnswer.Stop()
	}
	c.s.metrics.callAnswered(c.answered.Sub(c.created))
	// Recordings decided before the answer get their file name now, so
	// EventEstablished carries GSIP_REC_FN; their media work is queued.
	c.startPlannedLocked()
	c.publishLocked(tlib.EventEstablished, sideDest, c.answerReq, nil)
	c.publishLocked(tlib.EventEstablished, sideOrigin, nil, nil)
	c.answerReq = nil
	close(c.established)
}

// mergeMode says how user data is applied.
type mergeMode int

const (
	mergeAttach mergeMode = iota // add keys; existing keys keep their value
	mergeUpdate                  // add keys and overwrite existing ones
	mergeDelete                  // remove the keys
)

// reservedPrefix marks the user data keys only the SIP Server sets
// (GSIP_RECORD, GSIP_REC_FN).
const reservedPrefix = "GSIP_"

// checkUserDataKeys refuses reserved keys from T-lib clients.
func checkUserDataKeys(kv tlib.KVList) error {
	for k := range kv {
		if strings.HasPrefix(k, reservedPrefix) {
			return tlib.Errorf(tlib.ErrInvalidAttribute, "user data key %s is reserved for the SIP Server", k)
		}
		if k == "" {
			return tlib.Errorf(tlib.ErrInvalidAttribute, "empty user data key")
		}
	}
	return nil
}

// mergeUserDataLocked applies kv to the call's user data. It refuses data
// beyond the per-call limits.
func (c *call) mergeUserDataLocked(kv tlib.KVList, mode mergeMode) error {
	next := maps.Clone(c.userData)
	if next == nil {
		next = tlib.KVList{}
	}
	for k, v := range kv {
		switch mode {
		case mergeDelete:
			delete(next, k)
		case mergeAttach:
			if _, ok := next[k]; !ok {
				next[k] = v
			}
		case mergeUpdate:
			next[k] = v
		}
	}
	size := 0
	for k, v := range next {
		size += len(k) + len(v)
	}
	if len(next) > maxUserDataKeys || size > maxUserDataBytes {
		return tlib.Errorf(tlib.ErrInvalidAttribute, "user data would exceed %d keys or %d bytes", maxUserDataKeys, maxUserDataBytes)
	}
	c.userData = next
	return nil
}

// partyOfLocked returns the side whose DN is dn.
func (c *call) partyOfLocked(dn string) (side, bool) {
	for _, sd := range []side{sideOrigin, sideDest} {
		if p := c.parties[sd]; p.isDN && p.number == dn {
			return sd, true
		}
	}
	return 0, false
}

// otherLegLocked returns the leg opposite l.
func (c *call) otherLegLocked(l *leg) *leg {
	return c.legs[l.side.other()]
}
