package scenario

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// check is one expectation of an expect step.
type check interface {
	kind() string
	// timeout is how long the check may wait for what it expects.
	timeout() time.Duration
	// capture lists the variables the check defines.
	capture() []string
	check(ctx context.Context, rn *run) error
}

type expectStep struct {
	checks []check
}

func (s *expectStep) captures() []string {
	var out []string
	for _, c := range s.checks {
		out = append(out, c.capture()...)
	}
	return out
}

func (s *expectStep) defaultName() string {
	var kinds []string
	for _, c := range s.checks {
		if !contains(kinds, c.kind()) {
			kinds = append(kinds, c.kind())
		}
	}
	return "expect " + strings.Join(kinds, ", ")
}

func (s *expectStep) defaultTimeout() time.Duration {
	d := 10 * time.Second
	for _, c := range s.checks {
		d += c.timeout()
	}
	return d
}

func (s *expectStep) run(ctx context.Context, rn *run) error {
	for _, c := range s.checks {
		if err := c.check(ctx, rn); err != nil {
			return fmt.Errorf("%s: %w", c.kind(), err)
		}
	}
	return nil
}

type sipExpect struct {
	call, party string
	status      int
	reason      *matcher
	headers     []namedMatcher
}

func (c *sipExpect) kind() string           { return "sip" }
func (c *sipExpect) timeout() time.Duration { return 10 * time.Second }
func (c *sipExpect) capture() []string      { return nil }

func (c *sipExpect) check(ctx context.Context, rn *run) error {
	call, err := rn.call(c.call)
	if err != nil {
		return err
	}
	party := c.party
	if party == "" {
		party = call.from
	}
	if party == "" {
		return fmt.Errorf("call %s was not placed by a party: say whose side with party:", c.call)
	}
	if party == call.from {
		if err := call.wait(ctx); err != nil {
			return err
		}
		call.mu.Lock()
		status, reason, out := call.status, call.reason, call.out
		call.mu.Unlock()
		if c.status != 0 && status != c.status {
			return fmt.Errorf("the INVITE of %s got %s, expected %d", c.call, call.describe(), c.status)
		}
		if c.reason != nil {
			ok, desc, err := c.reason.match(reason, rn.vars)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("reason phrase %q, expected %s", reason, desc)
			}
		}
		if len(c.headers) > 0 {
			if out == nil {
				return fmt.Errorf("the INVITE of %s got %s: there is no 200 OK to read headers from", c.call, call.describe())
			}
			return matchHeaders(c.headers, out.Header, "200 OK", rn.vars)
		}
		return nil
	}
	if c.status != 0 || c.reason != nil {
		return fmt.Errorf("status and reason are the caller's (%s) view; %s received the INVITE", call.from, party)
	}
	leg, err := rn.leg(ctx, call, party)
	if err != nil {
		return err
	}
	return matchHeaders(c.headers, leg.Header, "INVITE received by "+party, rn.vars)
}

func matchHeaders(hs []namedMatcher, get func(string) string, what string, v *vars) error {
	for _, h := range hs {
		got := get(h.name)
		ok, desc, err := h.m.match(got, v)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("header %s of the %s is %q, expected %s", h.name, what, got, desc)
		}
	}
	return nil
}

type dtmfExpect struct {
	party, call string
	digits      tmpl
	within      time.Duration
}

func (c *dtmfExpect) kind() string           { return "dtmf" }
func (c *dtmfExpect) timeout() time.Duration { return c.within }
func (c *dtmfExpect) capture() []string      { return nil }

// dtmfPoll is how often received digits are looked at; the phone keeps
// them without notifying.
const dtmfPoll = 20 * time.Millisecond

func (c *dtmfExpect) check(ctx context.Context, rn *run) error {
	want, err := c.digits.expand(rn.vars)
	if err != nil {
		return err
	}
	call, err := rn.call(c.call)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.within)
	defer cancel()
	leg, err := rn.leg(ctx, call, c.party)
	if err != nil {
		return err
	}
	t := time.NewTicker(dtmfPoll)
	defer t.Stop()
	for {
		got := leg.Media().DTMF()
		switch {
		case got == want:
			return nil
		case !strings.HasPrefix(want, got):
			return fmt.Errorf("%s received DTMF %q, expected %q", c.party, got, want)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%s received DTMF %q within %s, expected %q", c.party, got, c.within, want)
		}
	}
}
