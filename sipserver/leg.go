package sipserver

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// byeTimeout bounds one BYE transaction of a teardown.
const byeTimeout = 5 * time.Second

// confirmWait bounds how long an in-dialog request waits for the ACK of the
// leg's INVITE before it is handled anyway (BYE) or refused with 491.
const confirmWait = 2 * time.Second

// legDir says who sent the INVITE of a leg.
type legDir int

const (
	legIn  legDir = iota // the far end called us: we are the UAS
	legOut               // we called the far end: we are the UAC
)

// legState is where a leg's dialog is. It is guarded by the call's mu.
type legState int

const (
	legTrying    legState = iota // INVITE received or sent, no provisional yet
	legEarly                     // 18x sent or received
	legAnswered                  // 2xx sent or received, ACK pending
	legConfirmed                 // ACK received or sent
	legEnded                     // BYE, CANCEL or a failure response; or being torn down
)

func (st legState) String() string {
	return [...]string{"trying", "early", "answered", "confirmed", "ended"}[st]
}

// legKind says what a leg of a call connects to.
type legKind int

const (
	kindParty    legKind = iota // a party of the call (c.legs)
	kindMedia                   // a media-control leg to a media server, through the RM
	kindObserver                // the phone of a monitoring supervisor
)

func (k legKind) String() string {
	return [...]string{"party", "media", "observer"}[k]
}

// leg is one SIP dialog of a call, towards one party, a media server or a
// monitoring supervisor. Each leg has its own Call-ID, tags, CSeq space and
// header objects; nothing is shared with another leg except the SDP bytes,
// which are copied.
type leg struct {
	c         *call
	kind      legKind
	side      side
	dir       legDir
	dn        string // media legs: the dn= of the Request-URI; observer: the supervisor
	conf      string // media legs: the conference
	msKey     string // media legs: the media server (Contact host:port of its 200)
	key       string // dialog index key: Call-ID and our tag
	sipCallID string
	transport string // UDP, TCP or TLS
	dua       *sipgo.DialogUA

	uas *sipgo.DialogServerSession // dir == legIn
	uac *sipgo.DialogClientSession // dir == legOut

	confirmed chan struct{} // closed when the INVITE's 2xx is acknowledged
	confOnce  sync.Once
	// sendMu serialises the in-dialog requests we send on a media or
	// observer leg (keepalive OPTIONS and MSML INFO may cross): sipgo numbers
	// CSeq with a load and a store, not one atomic step.
	sendMu sync.Mutex
	// acks delivers the body of an ACK that answers an offer we sent in a
	// 2xx (late offer), for the initial INVITE and for re-INVITEs.
	acks chan []byte

	// Guarded by c.mu.
	state        legState
	remoteTarget sip.Uri
	remoteSDP    []byte // the last SDP the far end sent
	localSDP     []byte // the last SDP we sent
	remoteCSeq   uint32 // highest CSeq of the far end's requests
	held         bool   // the far end put the call on hold
}

func newLeg(c *call, sd side, dir legDir, transport string) *leg {
	return &leg{
		c: c, side: sd, dir: dir, transport: transport,
		dua:       c.s.dialogUA(transport),
		confirmed: make(chan struct{}),
		acks:      make(chan []byte, 1),
	}
}

func legKey(callID, localTag string) string { return callID + "|" + localTag }

// index adds l to the dialog index and counts it as a reference of its call.
// The caller holds c.mu.
func (l *leg) indexLocked() {
	s := l.c.s
	s.mu.Lock()
	s.legs[l.key] = l
	s.mu.Unlock()
	l.c.refs++
	s.metrics.legUp()
}

// drop removes an ended leg from the dialog index; its call goes when its
// last leg does.
func (l *leg) drop() {
	c := l.c
	c.mu.Lock()
	defer c.mu.Unlock()
	l.state = legEnded
	s := c.s
	s.mu.Lock()
	found := s.legs[l.key] == l
	if found {
		delete(s.legs, l.key)
	}
	s.mu.Unlock()
	if !found {
		return
	}
	s.metrics.legDown()
	if l.kind != kindParty {
		c.forgetExtraLocked(l)
	}
	if l.uac != nil {
		l.uac.Close()
	}
	if l.uas != nil {
		l.uas.Close()
	}
	c.unrefLocked()
}

// findLeg locates the leg an in-dialog request belongs to: our tag is in To.
func (s *Server) findLeg(req *sip.Request) *leg {
	to := req.To()
	if to == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[legKey(callIDOf(req), tag)]
}

func (l *leg) markConfirmed() { l.confOnce.Do(func() { close(l.confirmed) }) }

// waitConfirmed waits for the ACK of the leg's INVITE, so that a request
// right behind the ACK is handled after it (sipgo runs each on its own
// goroutine).
func (l *leg) waitConfirmed(d time.Duration) bool {
	select {
	case <-l.confirmed:
		return true
	default:
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-l.confirmed:
		return true
	case <-t.C:
		return false
	case <-l.c.ctx.Done():
		return false
	}
}

// bye ends an answered leg with BYE and drops it. A 481 means the far end
// had already ended it (BYE glare) and is fine.
func (l *leg) bye() {
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	var err error
	switch {
	case l.uac != nil:
		select {
		case <-l.confirmed:
		default:
			// Answered but not yet acknowledged (late offer still pending):
			// a BYE needs a confirmed dialog.
			_ = l.ackAnswer(nil)
		}
		err = l.uac.WriteBye(ctx, l.newRequest(sip.BYE, l.ackTarget()))
	case l.uas != nil:
		err = l.uas.WriteBye(ctx, l.newRequest(sip.BYE, l.ackTarget()))
	}
	var dr sipgo.ErrDialogResponse
	if errors.As(err, &dr) && (dr.Res.StatusCode == 481 || dr.Res.StatusCode == 408) {
		err = nil
	}
	if err != nil {
		l.c.log.Debug("BYE failed", "side", l.side.String(), "error", err)
	}
	l.drop()
}

// newRequest creates an in-dialog request of the leg (see Server.newRequest).
func (l *leg) newRequest(method sip.RequestMethod, target sip.Uri) *sip.Request {
	return l.c.s.newRequest(method, target, l.transport)
}

// do sends an in-dialog request on the leg and waits for its final response.
func (l *leg) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	if l.kind != kindParty {
		l.sendMu.Lock()
		defer l.sendMu.Unlock()
	}
	if l.uac != nil {
		return l.uac.Do(ctx, req)
	}
	return l.uas.Do(ctx, req)
}

// write sends an in-dialog request that has no transaction (ACK).
func (l *leg) write(req *sip.Request) error {
	if l.uac != nil {
		return l.uac.WriteRequest(req)
	}
	return l.uas.WriteRequest(req)
}

// acceptRemoteCSeqLocked checks that an in-dialog request from the far end is
// newer than the last one (RFC 3261 12.2.2). The far end's CSeq space is its
// own, so on a leg we started its first request sets the baseline.
func (l *leg) acceptRemoteCSeqLocked(seq uint32) bool {
	if l.remoteCSeq != 0 && seq <= l.remoteCSeq {
		return false
	}
	l.remoteCSeq = seq
	return true
}

func callIDOf(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}
