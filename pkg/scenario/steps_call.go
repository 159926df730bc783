package scenario

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/phone"
)

// callRT is one call of a running scenario: the dial in flight (when a
// party placed it) and each party's leg once a step needed it.
type callRT struct {
	id     string
	from   string // calling party; "" for a call declared by answer id:
	to     string // called party, "" when a number was dialled
	fromDN string // caller the callee legs must show ("" = any)

	// outcome is closed when the dial returned; nil when no party dialled.
	outcome    chan struct{}
	cancelDial context.CancelFunc
	expStatus  int
	expReason  *matcher

	mu     sync.Mutex
	legs   map[string]*phone.Call
	out    *phone.Call
	err    error
	status int
	reason string
}

func (c *callRT) finish(out *phone.Call, err error) {
	c.mu.Lock()
	c.out, c.err = out, err
	var ce *phone.CallError
	switch {
	case err == nil:
		c.status, c.reason = 200, "OK"
		c.legs[c.from] = out
	case errors.As(err, &ce):
		c.status, c.reason = ce.Code, ce.Reason
	}
	c.mu.Unlock()
	close(c.outcome)
}

// wait waits until the dial has returned.
func (c *callRT) wait(ctx context.Context) error {
	if c.outcome == nil {
		return nil
	}
	select {
	case <-c.outcome:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("call %s: no final answer to the INVITE yet: %w", c.id, ctx.Err())
	}
}

func (c *callRT) done() bool {
	if c.outcome == nil {
		return false
	}
	select {
	case <-c.outcome:
		return true
	default:
		return false
	}
}

// describe says how the dial ended.
func (c *callRT) describe() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.status != 0:
		return fmt.Sprintf("%d %s", c.status, c.reason)
	case c.err != nil:
		return c.err.Error()
	}
	return "pending"
}

// verify compares the dial's outcome with the call step's expect; want is
// the status required when the step set none (0: any).
func (c *callRT) verify(v *vars, want int) error {
	c.mu.Lock()
	status, reason := c.status, c.reason
	c.mu.Unlock()
	if c.expStatus != 0 {
		want = c.expStatus
	}
	if want != 0 && status != want {
		return fmt.Errorf("call %s: the INVITE got %s, expected %d", c.id, c.describe(), want)
	}
	if c.expReason != nil {
		ok, desc, err := c.expReason.match(reason, v)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("call %s: reason phrase %q, expected %s", c.id, reason, desc)
		}
	}
	return nil
}

func (rn *run) publishCall(c *callRT) {
	c.mu.Lock()
	fields := map[string]string{"id": c.id, "Status": fmt.Sprint(c.status), "Reason": c.reason}
	if c.out != nil {
		fields["SIPCallID"] = c.out.ID()
	}
	c.mu.Unlock()
	if c.from != "" {
		fields["From"] = rn.parties[c.from].spec.DN
	}
	rn.vars.set(c.id, fields)
}

// leg returns the party's side of the call, binding the party's next
// incoming call to it the first time.
func (rn *run) leg(ctx context.Context, c *callRT, party string) (*phone.Call, error) {
	c.mu.Lock()
	l := c.legs[party]
	c.mu.Unlock()
	if l != nil {
		return l, nil
	}
	if party == c.from {
		if err := c.wait(ctx); err != nil {
			return nil, err
		}
		c.mu.Lock()
		out := c.out
		c.mu.Unlock()
		if out == nil {
			return nil, fmt.Errorf("call %s was never answered (%s), so %s has no call", c.id, c.describe(), party)
		}
		return out, nil
	}
	pr := rn.parties[party]
	l, err := pr.bindIncoming(ctx, c.fromDN)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", c.id, err)
	}
	c.mu.Lock()
	c.legs[party] = l
	c.mu.Unlock()
	return l, nil
}

type callStep struct {
	id      string
	from    string
	to      string
	target  tmpl
	headers []kvPair
	wait    string
	status  int
	reason  *matcher
}

func (s *callStep) defaultName() string {
	to := s.to
	if to == "" {
		to = s.target.raw
	}
	return fmt.Sprintf("%s calls %s (%s)", s.from, to, s.id)
}

func (s *callStep) defaultTimeout() time.Duration { return 15 * time.Second }

func (s *callStep) run(ctx context.Context, rn *run) error {
	caller := rn.parties[s.from]
	target, err := s.target.expand(rn.vars)
	if err != nil {
		return err
	}
	c := &callRT{id: s.id, from: s.from, to: s.to, fromDN: caller.spec.DN, outcome: make(chan struct{}),
		expStatus: s.status, expReason: s.reason, legs: map[string]*phone.Call{}}
	if s.to != "" {
		callee := rn.parties[s.to]
		target = callee.spec.DN
		if rn.s.Lab.Mode == ModeDirect {
			target = fmt.Sprintf("sip:%s@%s", callee.spec.DN, callee.ph.Addr())
		}
	}
	var opts []phone.DialOption
	for _, h := range s.headers {
		v, err := h.val.expand(rn.vars)
		if err != nil {
			return err
		}
		opts = append(opts, phone.WithHeader(h.key, v))
	}
	// The dial belongs to the scenario, not to this step: with wait ring or
	// none it goes on after the step.
	dctx, cancel := context.WithCancel(rn.ctx)
	c.cancelDial = cancel
	rn.addCall(c)
	rn.vars.set(c.id, map[string]string{"id": c.id, "From": caller.spec.DN, "To": target})
	rn.wg.Add(1)
	go func() {
		defer rn.wg.Done()
		out, err := caller.ph.Dial(dctx, target, opts...)
		c.finish(out, err)
		rn.publishCall(c)
	}()

	switch s.wait {
	case "answer":
		if err := c.wait(ctx); err != nil {
			cancel()
			return err
		}
		return c.verify(rn.vars, 0)
	case "ring":
		// Ringing is the callee's phone holding the call; a dial that fails
		// first ends the wait.
		rctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			select {
			case <-c.outcome:
				stop()
			case <-rctx.Done():
			}
		}()
		if _, err := rn.leg(rctx, c, s.to); err != nil {
			if c.done() {
				return fmt.Errorf("call %s ended before %s's phone rang: %s", c.id, s.to, c.describe())
			}
			cancel()
			return err
		}
	}
	return nil
}

type answerStep struct {
	party   string
	call    string
	declare bool
	from    tmpl
	reject  bool
	code    int
	reason  string
}

func (s *answerStep) defaultName() string {
	if s.reject {
		return fmt.Sprintf("%s rejects %s", s.party, s.call)
	}
	return fmt.Sprintf("%s answers %s", s.party, s.call)
}

func (s *answerStep) defaultTimeout() time.Duration { return 10 * time.Second }

func (s *answerStep) run(ctx context.Context, rn *run) error {
	c, leg, err := rn.callLeg(ctx, s.call, s.declare, s.from, s.party)
	if err != nil {
		return err
	}
	if s.reject {
		code := s.code
		if code == 0 {
			code = 486
		}
		if err := leg.Reject(code, s.reason); err != nil {
			return err
		}
		if c.outcome != nil {
			if err := c.wait(ctx); err != nil {
				return err
			}
			return c.verify(rn.vars, code)
		}
		select {
		case <-leg.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("the rejected call did not end: %w", ctx.Err())
		}
	}
	if err := leg.Answer(); err != nil {
		return err
	}
	if err := leg.WaitState(ctx, phone.StateEstablished); err != nil {
		return err
	}
	if c.outcome != nil {
		if err := c.wait(ctx); err != nil {
			return err
		}
		return c.verify(rn.vars, 200)
	}
	return nil
}

type holdStep struct {
	party, call string
	resume      bool
}

func (s *holdStep) defaultName() string {
	if s.resume {
		return fmt.Sprintf("%s resumes %s", s.party, s.call)
	}
	return fmt.Sprintf("%s holds %s", s.party, s.call)
}

func (s *holdStep) defaultTimeout() time.Duration { return 10 * time.Second }

func (s *holdStep) run(ctx context.Context, rn *run) error {
	c, err := rn.call(s.call)
	if err != nil {
		return err
	}
	leg, err := rn.leg(ctx, c, s.party)
	if err != nil {
		return err
	}
	if s.resume {
		return leg.Resume(ctx)
	}
	return leg.Hold(ctx)
}

type hangupStep struct {
	party, call string
}

func (s *hangupStep) defaultName() string { return fmt.Sprintf("%s hangs up %s", s.party, s.call) }

func (s *hangupStep) defaultTimeout() time.Duration { return 10 * time.Second }

func (s *hangupStep) run(ctx context.Context, rn *run) error {
	c, err := rn.call(s.call)
	if err != nil {
		return err
	}
	if s.party == c.from && !c.done() {
		// Still ringing: hanging up is cancelling the INVITE.
		c.cancelDial()
		if err := c.wait(ctx); err != nil {
			return err
		}
	} else {
		leg, err := rn.leg(ctx, c, s.party)
		if err != nil {
			return err
		}
		if err := leg.Hangup(ctx); err != nil {
			return err
		}
	}
	// The far end must see the call end too, so that what it heard is
	// complete before anything checks it.
	if c.to != "" && c.to != s.party {
		if _, err := rn.leg(ctx, c, c.to); err != nil {
			return err
		}
	}
	c.mu.Lock()
	legs := make(map[string]*phone.Call, len(c.legs))
	for k, v := range c.legs {
		legs[k] = v
	}
	c.mu.Unlock()
	for party, l := range legs {
		select {
		case <-l.Done():
		case <-ctx.Done():
			return fmt.Errorf("%s's side of %s did not end after the hang-up: %w", party, c.id, ctx.Err())
		}
	}
	return nil
}

type dtmfStep struct {
	party, call string
	digits      string
	duration    time.Duration
}

func (s *dtmfStep) defaultName() string {
	return fmt.Sprintf("%s sends DTMF %s on %s", s.party, s.digits, s.call)
}

func (s *dtmfStep) defaultTimeout() time.Duration { return 10 * time.Second }

func (s *dtmfStep) run(ctx context.Context, rn *run) error {
	c, err := rn.call(s.call)
	if err != nil {
		return err
	}
	leg, err := rn.leg(ctx, c, s.party)
	if err != nil {
		return err
	}
	return leg.SendDTMF(s.digits, s.duration)
}

type registerStep struct {
	party  string
	status int
}

func (s *registerStep) defaultName() string { return fmt.Sprintf("%s registers", s.party) }

func (s *registerStep) defaultTimeout() time.Duration { return 10 * time.Second }

func (s *registerStep) run(ctx context.Context, rn *run) error {
	err := rn.parties[s.party].ph.Register(ctx)
	var re *phone.RegisterError
	switch {
	case err == nil && (s.status == 0 || s.status < 300):
		return nil
	case err == nil:
		return fmt.Errorf("REGISTER was accepted, expected %d", s.status)
	case errors.As(err, &re) && re.Code == s.status:
		return nil
	}
	return fmt.Errorf("REGISTER: %w", err)
}

// callLeg returns the party's leg of call id. With declare, id is a call
// the scenario did not dial (a monitoring call, RequestMakeCall): it is made
// of the party's next incoming call from `from` (anyone when empty).
func (rn *run) callLeg(ctx context.Context, id string, declare bool, from tmpl, party string) (*callRT, *phone.Call, error) {
	var c *callRT
	if declare {
		dn, err := from.expand(rn.vars)
		if err != nil {
			return nil, nil, err
		}
		c = &callRT{id: id, fromDN: dn, legs: map[string]*phone.Call{}}
		rn.addCall(c)
	} else {
		var err error
		if c, err = rn.call(id); err != nil {
			return nil, nil, err
		}
	}
	leg, err := rn.leg(ctx, c, party)
	if err != nil {
		return nil, nil, err
	}
	if declare {
		rn.vars.set(c.id, map[string]string{"id": c.id, "SIPCallID": leg.ID(), "From": leg.From(), "To": leg.To()})
	}
	return c, leg, nil
}
