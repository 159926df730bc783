package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// maxEventLog bounds the events one client keeps; a scenario sees a few
// hundred at most.
const maxEventLog = 100_000

// clientRT is a T-lib client and the log of every event it received, which
// expectations read in order through per-DN cursors.
type clientRT struct {
	spec    *ClientSpec
	c       *tlib.Client
	mu      sync.Mutex
	log     []*tlib.Message
	changed chan struct{}
	cursors map[string]int
}

func (rn *run) openClient(ctx context.Context, spec *ClientSpec) (*clientRT, error) {
	c, err := tlib.Dial(ctx, rn.lab.TLib, tlib.ClientConfig{AppName: spec.AppName, Password: rn.lab.TLibPassword,
		Logger: rn.log.With("tlib_client", spec.Name)})
	if err != nil {
		return nil, err
	}
	cr := &clientRT{spec: spec, c: c, changed: make(chan struct{}), cursors: map[string]int{}}
	rn.wg.Add(1)
	go cr.collect(&rn.wg)
	for _, dn := range spec.DNs {
		if err := c.Register(ctx, dn); err != nil {
			c.Close()
			return nil, fmt.Errorf("register %s: %w", dn, err)
		}
	}
	if spec.MonitorAll {
		if err := c.MonitorAll(ctx); err != nil {
			c.Close()
			return nil, fmt.Errorf("monitor all: %w", err)
		}
	}
	return cr, nil
}

// collect appends events to the log until the client is closed.
func (cr *clientRT) collect(wg *sync.WaitGroup) {
	defer wg.Done()
	for ev := range cr.c.Events() {
		cr.mu.Lock()
		if len(cr.log) < maxEventLog {
			cr.log = append(cr.log, ev)
		}
		close(cr.changed)
		cr.changed = make(chan struct{})
		cr.mu.Unlock()
	}
}

type namedMatcher struct {
	name string
	m    matcher
}

// eventMatcher matches one T-lib message: its name and attributes.
type eventMatcher struct {
	event string
	attrs []namedMatcher
	as    string
	pos   Pos
}

func (em *eventMatcher) String() string {
	var parts []string
	for _, a := range em.attrs {
		parts = append(parts, a.name+"="+a.m.val.raw)
	}
	if len(parts) == 0 {
		return em.event
	}
	return em.event + " {" + strings.Join(parts, ", ") + "}"
}

// match reports whether m matches; when the name matches but an attribute
// does not, why says which.
func (em *eventMatcher) match(m *tlib.Message, v *vars) (ok bool, why string, err error) {
	if em.event != "" && m.Name != em.event {
		return false, "", nil
	}
	f := flatten(m)
	for _, a := range em.attrs {
		ok, desc, err := a.m.match(f[a.name], v)
		if err != nil {
			return false, "", err
		}
		if !ok {
			return false, fmt.Sprintf("%s is %q, want %s", a.name, f[a.name], desc), nil
		}
	}
	return true, "", nil
}

// await finds the matchers in order in the events of dn ("" = any), from
// the cursor of dn on, waiting for new events until ctx ends.
func (cr *clientRT) await(ctx context.Context, dn string, ms []eventMatcher, v *vars) error {
	cr.mu.Lock()
	pos := cr.cursors[dn]
	cr.mu.Unlock()
	for i := range ms {
		em := &ms[i]
		var closest string
		for {
			cr.mu.Lock()
			log, ch := cr.log, cr.changed
			cr.mu.Unlock()
			found := -1
			for ; pos < len(log); pos++ {
				ev := log[pos]
				if dn != "" && ev.ThisDN != dn {
					continue
				}
				ok, why, err := em.match(ev, v)
				if err != nil {
					return err
				}
				if ok {
					found = pos
					break
				}
				if why != "" {
					closest = ev.Name + ": " + why
				}
			}
			if found >= 0 {
				if em.as != "" {
					v.set(em.as, flatten(log[found]))
				}
				pos = found + 1
				break
			}
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return cr.missing(ctx, dn, ms, i, closest)
			}
		}
	}
	cr.mu.Lock()
	cr.cursors[dn] = pos
	cr.mu.Unlock()
	return nil
}

// missing explains an expected event that did not come.
func (cr *clientRT) missing(ctx context.Context, dn string, ms []eventMatcher, i int, closest string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "T-lib client %s", cr.spec.Name)
	if dn != "" {
		fmt.Fprintf(&b, " (DN %s)", dn)
	}
	fmt.Fprintf(&b, ": expected %s", ms[i].String())
	if len(ms) > 1 {
		fmt.Fprintf(&b, " (event %d of %d, line %d)", i+1, len(ms), ms[i].pos.Line)
	}
	if closest != "" {
		fmt.Fprintf(&b, "; closest: %s", closest)
	}
	cr.mu.Lock()
	var seen []string
	for _, ev := range cr.log[cr.cursors[dn]:] {
		if dn == "" || ev.ThisDN == dn {
			seen = append(seen, describeEvent(ev))
		}
	}
	cr.mu.Unlock()
	if len(seen) > 12 {
		seen = append(seen[:12], fmt.Sprintf("... %d more", len(seen)-12))
	}
	if len(seen) == 0 {
		b.WriteString("; no events received")
	} else {
		b.WriteString("; received: " + strings.Join(seen, ", "))
	}
	return fmt.Errorf("%s: %w", b.String(), ctx.Err())
}

type tlibStep struct {
	client  string
	request string
	attrs   []reqAttr
	expect  *eventMatcher
	as      string
}

func (s *tlibStep) defaultName() string { return fmt.Sprintf("%s sends %s", s.client, s.request) }

func (s *tlibStep) defaultTimeout() time.Duration { return 5 * time.Second }

func (s *tlibStep) run(ctx context.Context, rn *run) error {
	req, err := buildRequest(s.request, s.attrs, rn.vars, rn.lab.PrivateMsgIDs)
	if err != nil {
		return err
	}
	reply, err := rn.clients[s.client].c.Request(ctx, req)
	var te *tlib.Error
	if errors.As(err, &te) {
		reply = &tlib.Message{Name: tlib.EventError, ErrorCode: te.Code, ErrorMessage: te.Message}
	} else if err != nil {
		return fmt.Errorf("%s: %w", s.request, err)
	}
	if s.as != "" {
		rn.vars.set(s.as, flatten(reply))
	}
	if s.expect == nil {
		if reply.Name == tlib.EventError {
			return fmt.Errorf("%s was refused: %s", s.request, describeEvent(reply))
		}
		return nil
	}
	ok, why, err := s.expect.match(reply, rn.vars)
	if err != nil {
		return err
	}
	if !ok {
		if why == "" {
			why = "got " + describeEvent(reply)
		}
		return fmt.Errorf("%s: expected %s; %s", s.request, s.expect.String(), why)
	}
	return nil
}

type waitStep struct {
	d       time.Duration
	timeout time.Duration
	// until a T-lib event
	event  *eventMatcher
	client string
	dn     tmpl
	// until a call state; declare makes call a new call bound to the
	// party's next incoming call (from whoever, or from).
	call, party, state string
	declare            bool
	from               tmpl
}

func (s *waitStep) defaultName() string {
	switch {
	case s.event != nil:
		return "wait for " + s.event.event
	case s.state != "":
		return fmt.Sprintf("wait until %s's %s is %s", s.party, s.call, s.state)
	}
	return "wait " + s.d.String()
}

func (s *waitStep) defaultTimeout() time.Duration {
	if s.d > 0 {
		return s.d + 5*time.Second
	}
	return s.timeout + time.Second
}

func (s *waitStep) run(ctx context.Context, rn *run) error {
	if s.d > 0 {
		t := time.NewTimer(s.d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if s.event != nil {
		dn, err := s.dn.expand(rn.vars)
		if err != nil {
			return err
		}
		return rn.clients[s.client].await(ctx, dn, []eventMatcher{*s.event}, rn.vars)
	}
	_, leg, err := rn.callLeg(ctx, s.call, s.declare, s.from, s.party)
	if err != nil {
		return err
	}
	switch s.state {
	case "ended":
		select {
		case <-leg.Done():
			return nil
		case <-ctx.Done():
			return fmt.Errorf("%s's side of %s is still %s: %w", s.party, s.call, leg.State(), ctx.Err())
		}
	case "established":
		return leg.WaitState(ctx, phone.StateEstablished)
	}
	return leg.WaitState(ctx, phone.StateRinging)
}

type tlibExpect struct {
	client string
	dn     tmpl
	within time.Duration
	events []eventMatcher
}

func (c *tlibExpect) kind() string           { return "tlib" }
func (c *tlibExpect) timeout() time.Duration { return c.within }
func (c *tlibExpect) capture() []string {
	var out []string
	for _, e := range c.events {
		if e.as != "" {
			out = append(out, e.as)
		}
	}
	return out
}

func (c *tlibExpect) check(ctx context.Context, rn *run) error {
	dn, err := c.dn.expand(rn.vars)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.within)
	defer cancel()
	return rn.clients[c.client].await(ctx, dn, c.events, rn.vars)
}
