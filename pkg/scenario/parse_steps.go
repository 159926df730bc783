package scenario

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

func (p *parser) steps(n *yaml.Node, sc *scope) {
	list := p.seq(n, "steps")
	if list != nil && len(list) == 0 {
		p.errorf(n, "steps is empty")
	}
	for i, c := range list {
		if p.overBudget() {
			return
		}
		if st := p.step(c, i+1, sc); st != nil {
			sc.s.Steps = append(sc.s.Steps, st)
		}
	}
}

var stepCommonKeys = []string{"name", "timeout"}

func (p *parser) step(n *yaml.Node, idx int, sc *scope) *Step {
	what := fmt.Sprintf("step %d", idx)
	errs := len(p.errs)
	m := p.mapping(n, what, append(append([]string(nil), stepCommonKeys...), stepKinds...), nil)
	if m == nil {
		return nil
	}
	badKeys := len(p.errs) > errs
	st := &Step{Index: idx, Pos: posOf(m.n)}
	var kinds []string
	for _, e := range m.entries {
		if contains(stepKinds, e.key) {
			kinds = append(kinds, e.key)
		}
	}
	switch len(kinds) {
	case 0:
		if !badKeys { // an unknown key already said what is wrong
			p.errorf(m.n, "%s does nothing: give it one of %s", what, strings.Join(stepKinds, ", "))
		}
		return nil
	case 1:
	default:
		p.errorf(m.keyNode(kinds[1]), "%s has both %s and %s: one action per step", what, kinds[0], kinds[1])
		return nil
	}
	st.Kind = kinds[0]
	if v := m.get("name"); v != nil {
		st.Name = p.nonEmpty(v, what+".name")
	}
	if v := m.get("timeout"); v != nil {
		if st.Timeout = p.duration(v, what+".timeout"); st.Timeout == 0 {
			p.errorf(v, "%s.timeout must be above 0", what)
		}
	}
	body := m.get(st.Kind)
	what += " (" + st.Kind + ")"
	sc.refs = nil
	errsBefore := len(p.errs)
	var defines []string
	switch st.Kind {
	case KindRegister:
		st.action = p.registerStep(body, what, sc)
	case KindCall:
		c := p.callStep(body, what, sc)
		st.action, defines = c, []string{c.id}
	case KindAnswer, KindReject:
		a := p.answerStep(body, what, sc, st.Kind == KindReject)
		st.action = a
		if a.declare {
			defines = []string{a.call}
		}
	case KindHold, KindResume:
		st.action = p.holdStep(body, what, sc, st.Kind == KindResume)
	case KindHangup:
		st.action = p.hangupStep(body, what, sc)
	case KindDTMF:
		st.action = p.dtmfStep(body, what, sc)
	case KindWait:
		w := p.waitStep(body, what, sc)
		st.action = w
		if w.event != nil && w.event.as != "" {
			defines = []string{w.event.as}
		}
		if w.declare {
			defines = []string{w.call}
		}
	case KindTLib:
		t := p.tlibStep(body, what, sc)
		st.action = t
		if t.as != "" {
			defines = []string{t.as}
		}
	case KindExpect:
		e := p.expectStep(body, what, sc)
		st.action = e
		defines = e.captures()
	}
	if len(p.errs) == errsBefore {
		p.checkRefs(sc)
	}
	for _, d := range defines {
		if d == "" {
			continue
		}
		sc.names[d] = true
	}
	if st.action == nil {
		return nil
	}
	if st.Name == "" {
		st.Name = st.action.defaultName()
	}
	if st.Timeout == 0 {
		st.Timeout = st.action.defaultTimeout()
	}
	return st
}

var partyFields = []string{"DN", "Addr", "Tone", "Name"}
var labFields = []string{"host", "tlib", "sip-udp", "sip-tcp", "sip-tls", "data-dir", "recorder"}

// checkRefs reports variables that no earlier step defines.
func (p *parser) checkRefs(sc *scope) {
	for _, r := range sc.refs {
		switch {
		case r.name == "env":
			if r.field == "" {
				p.errorAt(r.pos, "%s: name the environment variable, e.g. ${env.HOME}", r)
			}
		case r.name == "scenario":
			if r.field != "name" {
				p.errorAt(r.pos, "%s: scenario has only the field name", r)
			}
		case r.name == "lab":
			if !contains(labFields, r.field) {
				p.errorAt(r.pos, "%s: lab fields are %s", r, strings.Join(labFields, ", "))
			}
		case sc.parties[r.name] != nil:
			if r.field != "" && !contains(partyFields, r.field) {
				msg := fmt.Sprintf("%s: party fields are %s", r, strings.Join(partyFields, ", "))
				if s := suggest(r.field, partyFields); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				}
				p.errorAt(r.pos, "%s", msg)
			}
		case sc.names[r.name]:
		default:
			known := []string{"env", "lab", "scenario"}
			for k := range sc.names {
				known = append(known, k)
			}
			for k := range sc.parties {
				known = append(known, k)
			}
			sort.Strings(known)
			msg := fmt.Sprintf("%s: no earlier step defines %q", r, r.name)
			if s := suggest(r.name, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.errorAt(r.pos, "%s", msg)
		}
	}
}

// tmplIn is template that records its variable references for checkRefs.
func (p *parser) tmplIn(n *yaml.Node, what string, sc *scope) tmpl {
	t := p.template(n, what)
	sc.refs = append(sc.refs, t.refs()...)
	return t
}

func (p *parser) matcherIn(n *yaml.Node, what string, sc *scope) matcher {
	m := p.matcher(n, what)
	sc.refs = append(sc.refs, m.refs()...)
	return m
}

func (p *parser) partyRef(n *yaml.Node, what string, sc *scope) string {
	name := p.nonEmpty(n, what)
	if name == "" {
		return ""
	}
	if sc.parties[name] == nil {
		known := make([]string, 0, len(sc.parties))
		for k := range sc.parties {
			known = append(known, k)
		}
		sort.Strings(known)
		msg := fmt.Sprintf("%s: unknown party %q", what, name)
		if s := suggest(name, known); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		} else if len(known) > 0 {
			msg += " (parties: " + strings.Join(known, ", ") + ")"
		} else {
			msg += " (the scenario has no parties:)"
		}
		p.errorf(n, "%s", msg)
	}
	return name
}

func (p *parser) clientRef(m *mapping, what string, sc *scope) string {
	if v := m.get("client"); v != nil {
		name := p.nonEmpty(v, what+".client")
		if name != "" && sc.clients[name] == nil {
			known := make([]string, 0, len(sc.clients))
			for k := range sc.clients {
				known = append(known, k)
			}
			sort.Strings(known)
			msg := fmt.Sprintf("%s.client: unknown T-lib client %q", what, name)
			if s := suggest(name, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.errorf(v, "%s", msg)
		}
		return name
	}
	switch len(sc.s.Clients) {
	case 0:
		p.errorf(m.n, "%s: the scenario declares no T-lib client (tlib: clients:)", what)
	case 1:
		return sc.s.Clients[0].Name
	default:
		p.errorf(m.n, "%s: several T-lib clients: say which with client:", what)
	}
	return ""
}

// callRef reads `call:` or, when absent, picks the only call defined so far.
func (p *parser) callRef(m *mapping, n *yaml.Node, what string, sc *scope) string {
	if m != nil && m.get("call") != nil {
		v := m.get("call")
		name := p.nonEmpty(v, what+".call")
		if name != "" && !contains(sc.calls, name) {
			msg := fmt.Sprintf("%s.call: no earlier step defines call %q", what, name)
			if s := suggest(name, sc.calls); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else if len(sc.calls) > 0 {
				msg += " (calls: " + strings.Join(sc.calls, ", ") + ")"
			}
			p.errorf(v, "%s", msg)
		}
		return name
	}
	switch len(sc.calls) {
	case 0:
		p.errorf(n, "%s: no call has been made yet (a call step, or answer with id:, defines one)", what)
	case 1:
		return sc.calls[0]
	default:
		p.errorf(n, "%s: several calls exist (%s): say which with call:", what, strings.Join(sc.calls, ", "))
	}
	return ""
}

func (p *parser) declareCall(n *yaml.Node, what string, sc *scope) string {
	id := p.nonEmpty(n, what)
	switch {
	case id == "":
	case !validVarName(id) || reserved(id):
		p.errorf(n, "%s: %q must be a name of letters, digits, - and _", what, id)
	case contains(sc.calls, id) || sc.parties[id] != nil || sc.names[id]:
		p.errorf(n, "%s: %q is already used", what, id)
	default:
		sc.calls = append(sc.calls, id)
	}
	return id
}

// partyOrMap reads the shorthand `kind: party` or a mapping with the keys.
func (p *parser) partyOrMap(n *yaml.Node, what string, keys []string, sc *scope) (string, *mapping) {
	r := p.resolve(n)
	if r != nil && r.Kind == yaml.ScalarNode {
		return p.partyRef(r, what, sc), nil
	}
	m := p.mapping(r, what, keys, nil)
	if m == nil {
		return "", nil
	}
	party := ""
	if v := m.get("party"); v != nil {
		party = p.partyRef(v, what+".party", sc)
	} else {
		p.errorf(m.n, "%s: which party? set party:", what)
	}
	return party, m
}

func (p *parser) registerStep(n *yaml.Node, what string, sc *scope) *registerStep {
	party, m := p.partyOrMap(n, what, []string{"party", "expect"}, sc)
	s := &registerStep{party: party}
	if m != nil && m.get("expect") != nil {
		em := p.mapping(m.get("expect"), what+".expect", []string{"status"}, nil)
		if em != nil && em.get("status") != nil {
			s.status = p.integer(em.get("status"), what+".expect.status", 200, 699)
		}
	}
	if pt := sc.parties[party]; pt != nil && !pt.Register {
		p.errorf(n, "%s: party %q has register: false; a register step re-registers a party that registers at start", what, party)
	}
	return s
}

var callKeys = []string{"id", "from", "to", "headers", "wait", "expect"}

func (p *parser) callStep(n *yaml.Node, what string, sc *scope) *callStep {
	c := &callStep{wait: "answer"}
	m := p.mapping(n, what, callKeys, nil)
	if m == nil {
		return c
	}
	if v := m.get("from"); v != nil {
		c.from = p.partyRef(v, what+".from", sc)
	} else {
		p.errorf(m.n, "%s: from: is the calling party", what)
	}
	if v := m.get("to"); v != nil {
		c.target = p.tmplIn(v, what+".to", sc)
		if sc.parties[c.target.raw] != nil {
			c.to = c.target.raw
		} else if sc.s.Lab.Mode == ModeDirect {
			p.partyRef(v, what+".to", sc) // reports the unknown party with a suggestion
		} else if s := suggest(c.target.raw, keysOf(sc.parties)); s != "" && !dnRe.MatchString(c.target.raw) {
			p.errorf(v, "%s.to: %q is neither a party nor a number; did you mean %q?", what, c.target.raw, s)
		}
	} else {
		p.errorf(m.n, "%s: to: is the party or number to call", what)
	}
	if c.from != "" && c.from == c.to {
		p.errorf(m.get("to"), "%s: a party cannot call itself", what)
	}
	if from, to := sc.parties[c.from], sc.parties[c.to]; sc.s.Lab.Mode == ModeDirect && from != nil && to != nil {
		if from.Transport != to.Transport {
			p.errorf(m.get("to"), "%s: in mode direct both phones must use one transport (%s uses %s, %s uses %s)",
				what, from.Name, from.Transport, to.Name, to.Transport)
		}
		if from.SRTP != to.SRTP {
			p.errorf(m.get("to"), "%s: in mode direct both phones must agree on srtp", what)
		}
	}
	if v := m.get("wait"); v != nil {
		c.wait = p.oneOf(v, what+".wait", "answer", "ring", "none")
		if c.wait == "ring" && c.to == "" {
			p.errorf(v, "%s.wait: ring needs to: to be a party (whose phone rings)", what)
		}
	}
	if v := m.get("headers"); v != nil {
		if hm := p.mapping(v, what+".headers", nil, nil); hm != nil {
			for _, e := range hm.entries {
				c.headers = append(c.headers, kvPair{key: e.key, val: p.tmplIn(e.v, what+".headers."+e.key, sc)})
			}
		}
	}
	if v := m.get("expect"); v != nil {
		if em := p.mapping(v, what+".expect", []string{"status", "reason"}, nil); em != nil {
			if sv := em.get("status"); sv != nil {
				c.status = p.integer(sv, what+".expect.status", 200, 699)
			}
			if rv := em.get("reason"); rv != nil {
				r := p.matcherIn(rv, what+".expect.reason", sc)
				c.reason = &r
			}
		}
	}
	if c.status == 0 && c.wait == "answer" {
		c.status = 200
	}
	if v := m.get("id"); v != nil {
		c.id = p.declareCall(v, what+".id", sc)
	} else {
		c.id = p.declareCall(&yaml.Node{Kind: yaml.ScalarNode, Value: fmt.Sprintf("call%d", len(sc.calls)+1),
			Line: m.n.Line, Column: m.n.Column}, what+".id", sc)
	}
	return c
}

func keysOf[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (p *parser) answerStep(n *yaml.Node, what string, sc *scope, reject bool) *answerStep {
	keys := []string{"party", "call", "id", "from"}
	if reject {
		keys = append(keys, "code", "reason")
	}
	party, m := p.partyOrMap(n, what, keys, sc)
	a := &answerStep{party: party, reject: reject}
	if pt := sc.parties[party]; pt != nil && pt.AutoAnswer {
		p.errorf(n, "%s: party %q answers by itself (auto-answer: true); drop the step or set auto-answer: false", what, party)
	}
	if m != nil && m.get("id") != nil {
		if m.get("call") != nil {
			p.errorf(m.get("id"), "%s: call: names an existing call, id: declares a new one; not both", what)
		}
		a.call = p.declareCall(m.get("id"), what+".id", sc)
		a.declare = true
	} else {
		a.call = p.callRef(m, n, what, sc)
	}
	if m == nil {
		return a
	}
	if v := m.get("from"); v != nil {
		a.from = p.tmplIn(v, what+".from", sc)
	}
	if v := m.get("code"); v != nil {
		a.code = p.integer(v, what+".code", 300, 699)
	}
	if v := m.get("reason"); v != nil {
		a.reason = p.str(v, what+".reason")
	}
	return a
}

func (p *parser) holdStep(n *yaml.Node, what string, sc *scope, resume bool) *holdStep {
	party, m := p.partyOrMap(n, what, []string{"party", "call"}, sc)
	return &holdStep{party: party, call: p.callRef(m, n, what, sc), resume: resume}
}

func (p *parser) hangupStep(n *yaml.Node, what string, sc *scope) *hangupStep {
	party, m := p.partyOrMap(n, what, []string{"party", "call"}, sc)
	return &hangupStep{party: party, call: p.callRef(m, n, what, sc)}
}

var dtmfDigits = "0123456789*#ABCDabcd"

func (p *parser) dtmfStep(n *yaml.Node, what string, sc *scope) *dtmfStep {
	party, m := p.partyOrMap(n, what, []string{"party", "call", "digits", "duration"}, sc)
	d := &dtmfStep{party: party, call: p.callRef(m, n, what, sc)}
	if m == nil {
		return d
	}
	if v := m.get("digits"); v != nil {
		d.digits = p.nonEmpty(v, what+".digits")
		if strings.Trim(d.digits, dtmfDigits) != "" {
			p.errorf(v, "%s.digits: %q has characters that are not DTMF (0-9 * # A-D)", what, d.digits)
		}
		if len(d.digits) > 64 {
			p.errorf(v, "%s.digits: at most 64 digits", what)
		}
	} else {
		p.errorf(m.n, "%s: digits: is missing", what)
	}
	if v := m.get("duration"); v != nil {
		d.duration = p.duration(v, what+".duration")
		if d.duration > 0 && (d.duration < 40*time.Millisecond || d.duration > 5*time.Second) {
			p.errorf(v, "%s.duration must be between 40ms and 5s", what)
		}
	}
	return d
}

// hasKey reports whether a mapping node has key, without checking anything.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}
