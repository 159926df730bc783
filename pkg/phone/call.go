package phone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
)

// State is where a call is in its life.
type State int

// Call states.
const (
	StateCalling State = iota // outgoing INVITE sent, or incoming INVITE received
	StateRinging              // 180 sent or received
	StateEstablished
	StateEnded
)

func (s State) String() string {
	switch s {
	case StateCalling:
		return "calling"
	case StateRinging:
		return "ringing"
	case StateEstablished:
		return "established"
	case StateEnded:
		return "ended"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// CallError is a call that failed with a SIP final response.
type CallError struct {
	Code   int
	Reason string
}

func (e *CallError) Error() string { return fmt.Sprintf("call failed: %d %s", e.Code, e.Reason) }

// Call is one dialog of the phone and its media.
type Call struct {
	p        *Phone
	log      *slog.Logger
	outbound bool
	callID   string
	key      string

	// dialog: exactly one of uac and uas is set.
	uac *sipgo.DialogClientSession
	uas *sipgo.DialogServerSession

	// inDialog serialises the handling of requests inside the dialog and our own
	// re-INVITE and BYE, so their ordering is the order of the wire.
	inDialog sync.Mutex

	mu         sync.Mutex
	state      State
	changed    chan struct{} // closed and replaced on every state change
	remoteURI  sip.Uri
	from, to   string // user parts of the INVITE's From and To
	headers    map[string]string
	endCause   string
	endErr     error
	confirmed  chan struct{} // closed when the ACK of the initial INVITE is seen
	confOnce   sync.Once
	answerCh   chan answerDecision
	cancelDial context.CancelFunc

	media *callMedia
	// remoteCSeq is the highest CSeq of the far end's requests in this dialog.
	remoteCSeq uint32

	ctx    context.Context
	cancel context.CancelFunc
}

type answerDecision struct {
	code   int
	reason string
}

func newCall(p *Phone, outbound bool) *Call {
	c := &Call{
		p:         p,
		outbound:  outbound,
		changed:   make(chan struct{}),
		confirmed: make(chan struct{}),
		answerCh:  make(chan answerDecision, 1),
		headers:   map[string]string{},
	}
	c.ctx, c.cancel = context.WithCancel(p.ctx)
	return c
}

// ID is the call's Call-ID.
func (c *Call) ID() string { return c.callID }

// Outbound tells whether this phone placed the call.
func (c *Call) Outbound() bool { return c.outbound }

// From and To are the user parts of the INVITE's From and To (caller and callee).
func (c *Call) From() string { return c.from }

// To is the user part of the INVITE's To.
func (c *Call) To() string { return c.to }

// Header returns a header of the initial INVITE (incoming calls) or of the
// 200 OK (outgoing calls), or "".
func (c *Call) Header(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.headers[name]
}

// State returns the current state.
func (c *Call) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.ctx.Done() }

// Err says why the call ended: nil for a normal hang-up by either side.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endErr
}

// EndCause says who ended the call ("local bye", "remote bye", "cancelled", ...).
func (c *Call) EndCause() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.endCause
}

// WaitState waits until the call reaches s (or a later state).
func (c *Call) WaitState(ctx context.Context, s State) error {
	for {
		c.mu.Lock()
		cur, ch := c.state, c.changed
		c.mu.Unlock()
		if cur >= s {
			if cur == StateEnded && s != StateEnded {
				return fmt.Errorf("%w before %s: %s", ErrCallEnded, s, c.EndCause())
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (now %s): %w", s, cur, ctx.Err())
		}
	}
}

func (c *Call) setState(s State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == StateEnded || s <= c.state && s != StateEnded {
		return
	}
	c.state = s
	close(c.changed)
	c.changed = make(chan struct{})
}

// end moves the call to Ended once, stops its media and removes it. The call
// leaves the phone's list before anyone waiting on the state sees Ended.
func (c *Call) end(cause string, err error) {
	c.mu.Lock()
	if c.state == StateEnded {
		c.mu.Unlock()
		return
	}
	c.state = StateEnded
	c.endCause, c.endErr = cause, err
	c.mu.Unlock()

	c.p.removeCall(c)
	c.media.stop()
	if c.uac != nil {
		c.uac.Close()
	}
	if c.uas != nil {
		c.uas.Close()
	}
	c.cancel()

	c.mu.Lock()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	c.log.Debug("call ended", "cause", cause, "error", err)
}

// acceptRemoteCSeq checks that an in-dialog request from the far end is newer
// than the last (RFC 3261 12.2.2); the far end's CSeq space is its own, so the
// first request of a dialog we started sets the baseline.
func (c *Call) acceptRemoteCSeq(seq uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.remoteCSeq != 0 && seq <= c.remoteCSeq {
		return false
	}
	c.remoteCSeq = seq
	return true
}

func (c *Call) markConfirmed() { c.confOnce.Do(func() { close(c.confirmed) }) }

// awaitConfirmed waits until the initial INVITE transaction is complete: for
// a call we answered, until the 200 OK has been acknowledged (RFC 3261 15: no
// BYE before that). sipgo's dialog is only ours to use from then on.
func (c *Call) awaitConfirmed(ctx context.Context) error {
	select {
	case <-c.confirmed:
		return nil
	case <-c.ctx.Done():
		return nil
	case <-ctx.Done():
		return fmt.Errorf("phone: waiting for the ACK of the call: %w", ctx.Err())
	}
}

// waitConfirmed waits for the ACK of the initial INVITE, so a re-INVITE or
// BYE right behind it is handled after it.
func (c *Call) waitConfirmed(d time.Duration) bool {
	select {
	case <-c.confirmed:
		return true
	case <-time.After(d):
		return false
	case <-c.ctx.Done():
		return false
	}
}

// Answer answers an incoming call that was not auto-answered.
func (c *Call) Answer() error { return c.decide(answerDecision{code: 200}) }

// Reject refuses an incoming call with code (486 Busy Here when 0).
func (c *Call) Reject(code int, reason string) error {
	if code == 0 {
		code = 486
	}
	if code < 300 || code > 699 {
		return fmt.Errorf("phone: reject code %d is not a failure", code)
	}
	return c.decide(answerDecision{code: code, reason: reason})
}

func (c *Call) decide(d answerDecision) error {
	if c.outbound {
		return errors.New("phone: only incoming calls are answered")
	}
	select {
	case c.answerCh <- d:
		return nil
	default:
		return errors.New("phone: call already answered or rejected")
	}
}

// Hangup ends the call: CANCEL while an outgoing call rings, 480 for an
// unanswered incoming call, BYE otherwise.
func (c *Call) Hangup(ctx context.Context) error {
	switch c.State() {
	case StateEnded:
		return nil
	case StateCalling, StateRinging:
		if c.outbound {
			c.mu.Lock()
			cancel := c.cancelDial
			c.mu.Unlock()
			if cancel != nil {
				cancel()
			}
			return c.WaitState(ctx, StateEnded)
		}
		if err := c.decide(answerDecision{code: 480, reason: "Temporarily Unavailable"}); err == nil {
			return c.WaitState(ctx, StateEnded)
		}
	}
	if err := c.awaitConfirmed(ctx); err != nil {
		return err
	}
	c.inDialog.Lock()
	defer c.inDialog.Unlock()
	if c.State() == StateEnded {
		return nil
	}
	var err error
	bye := c.p.newRequest(sip.BYE, c.remoteTarget())
	if c.uac != nil {
		err = c.uac.WriteBye(ctx, bye)
	} else if c.uas != nil {
		err = c.uas.WriteBye(ctx, bye)
	}
	var dr sipgo.ErrDialogResponse
	if errors.As(err, &dr) && dr.Res.StatusCode == 481 {
		err = nil // the far end had already ended it
	}
	c.end("local bye", nil)
	if err != nil {
		return fmt.Errorf("phone: bye: %w", err)
	}
	return nil
}

// Hold puts the far end on hold (re-INVITE with a=sendonly, RFC 3264).
func (c *Call) Hold(ctx context.Context) error { return c.reoffer(ctx, sdp.SendOnly) }

// Resume takes the call off hold (re-INVITE with a=sendrecv).
func (c *Call) Resume(ctx context.Context) error { return c.reoffer(ctx, sdp.SendRecv) }

// reoffer sends a re-INVITE with our media in direction dir and applies the answer.
func (c *Call) reoffer(ctx context.Context, dir sdp.Direction) error {
	if c.State() != StateEstablished {
		return fmt.Errorf("phone: re-INVITE needs an established call, this one is %s", c.State())
	}
	if err := c.awaitConfirmed(ctx); err != nil {
		return err
	}
	c.inDialog.Lock()
	defer c.inDialog.Unlock()
	_, err := c.sendReinvite(ctx, c.media.reoffer(dir))
	return err
}

// sendReinvite sends offer in a re-INVITE, acknowledges the answer and
// applies it. The caller holds inDialog.
func (c *Call) sendReinvite(ctx context.Context, offer *sdp.Session) (*sdp.Session, error) {
	req := c.p.newRequest(sip.INVITE, c.remoteTarget())
	req.SetBody(offer.Marshal())
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	var (
		res *sip.Response
		err error
	)
	if c.uac != nil {
		res, err = c.uac.Do(ctx, req)
	} else {
		res, err = c.uas.Do(ctx, req)
	}
	if err != nil {
		c.media.rollback()
		return nil, fmt.Errorf("phone: re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		c.media.rollback()
		return nil, &CallError{Code: res.StatusCode, Reason: res.Reason}
	}
	ack := c.p.newRequest(sip.ACK, c.remoteTarget())
	if c.uac != nil {
		err = c.uac.WriteRequest(ack)
	} else {
		err = c.uas.WriteRequest(ack)
	}
	if err != nil {
		return nil, fmt.Errorf("phone: ACK of re-INVITE: %w", err)
	}
	answer, err := sdp.Parse(res.Body())
	if err != nil {
		return nil, fmt.Errorf("phone: re-INVITE answer: %w", err)
	}
	return answer, c.media.applyAnswer(answer)
}

// remoteTarget is the far end's Contact.
func (c *Call) remoteTarget() sip.Uri {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remoteURI
}

// SendDTMF sends digits as RFC 4733 events, each lasting d (100 ms when 0).
func (c *Call) SendDTMF(digits string, d time.Duration) error {
	if c.State() != StateEstablished {
		return fmt.Errorf("phone: DTMF needs an established call, this one is %s", c.State())
	}
	return c.media.sendDTMF(c.ctx, digits, d)
}

// Media gives access to the call's RTP: statistics and received audio.
func (c *Call) Media() *CallMedia { return &CallMedia{m: c.media} }
