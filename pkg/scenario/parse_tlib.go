package scenario

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/arlab/arlab/tlib"
)

// The T-lib side of the format: wait steps (a duration, a call state or an
// event), event matchers and their captures, and requests.

func (p *parser) waitStep(n *yaml.Node, what string, sc *scope) *waitStep {
	w := &waitStep{}
	r := p.resolve(n)
	if r != nil && r.Kind == yaml.ScalarNode {
		errs := len(p.errs)
		if w.d = p.duration(r, what); w.d == 0 && len(p.errs) == errs {
			p.errorf(r, "%s: wait for how long? (e.g. wait: 2s)", what)
		}
		return w
	}
	m := p.mapping(r, what, []string{"for", "until", "timeout"}, nil)
	if m == nil {
		return w
	}
	if v := m.get("for"); v != nil {
		w.d = p.duration(v, what+".for")
	}
	if v := m.get("timeout"); v != nil {
		w.timeout = p.duration(v, what+".timeout")
	}
	u := m.get("until")
	switch {
	case u == nil && m.get("for") == nil:
		p.errorf(m.n, "%s: give for: (a duration) or until: (an event or a call state)", what)
	case u != nil && m.get("for") != nil:
		p.errorf(u, "%s: for: and until: exclude each other", what)
	case u != nil:
		ur := p.resolve(u)
		if ur.Kind != yaml.MappingNode {
			p.errorf(ur, "%s.until must be a mapping, got %s", what, kindName(ur))
			return w
		}
		if hasKey(ur, "event") {
			cm := p.mapping(ur, what+".until", []string{"event", "as", "client", "dn"}, tlibAttrNames)
			ev := p.eventMatcher(cm, what+".until", sc)
			w.event = &ev
			w.client = p.clientRef(cm, what+".until", sc)
			if v := cm.get("dn"); v != nil {
				w.dn = p.tmplIn(v, what+".until.dn", sc)
			}
		} else {
			cm := p.mapping(ur, what+".until", []string{"call", "id", "from", "party", "state"}, nil)
			if cm == nil {
				return w
			}
			if v := cm.get("id"); v != nil {
				// A call the party receives from someone the scenario did not
				// dial (a supervisor's monitoring call, RequestMakeCall).
				if cm.get("call") != nil {
					p.errorf(v, "%s.until: call: names an existing call, id: declares a new one; not both", what)
				}
				w.call = p.declareCall(v, what+".until.id", sc)
				w.declare = true
				if fv := cm.get("from"); fv != nil {
					w.from = p.tmplIn(fv, what+".until.from", sc)
				}
			} else {
				w.call = p.callRef(cm, ur, what+".until", sc)
				if fv := cm.get("from"); fv != nil {
					p.errorf(fv, "%s.until: from: goes with id: (a new call)", what)
				}
			}
			if v := cm.get("party"); v != nil {
				w.party = p.partyRef(v, what+".until.party", sc)
			} else {
				p.errorf(ur, "%s.until: which party's side of the call? set party:", what)
			}
			if v := cm.get("state"); v != nil {
				w.state = p.oneOf(v, what+".until.state", "ringing", "established", "ended")
			} else {
				p.errorf(ur, "%s.until: state: (ringing, established, ended) or event: is missing", what)
			}
		}
		if w.timeout == 0 {
			w.timeout = 10 * time.Second
		}
	}
	return w
}

// eventMatcher reads {event: Name, as: var, Attr: matcher, UserData: {k: matcher}}.
func (p *parser) eventMatcher(m *mapping, what string, sc *scope) eventMatcher {
	em := eventMatcher{}
	if m == nil {
		return em
	}
	em.pos = posOf(m.n)
	if v := m.get("event"); v != nil {
		em.event = p.eventName(v, what+".event")
	} else {
		p.errorf(m.n, "%s: event: names the T-lib event to match", what)
	}
	if v := m.get("as"); v != nil {
		em.as = p.captureName(v, what+".as", sc)
	}
	for _, e := range m.entries {
		info, ok := tlibAttrs[e.key]
		if !ok {
			continue
		}
		if info.kind == attrKV {
			km := p.mapping(e.v, what+"."+e.key, nil, nil)
			if km == nil {
				continue
			}
			for _, ke := range km.entries {
				em.attrs = append(em.attrs, namedMatcher{name: e.key + "." + ke.key,
					m: p.matcherIn(ke.v, what+"."+e.key+"."+ke.key, sc)})
			}
			continue
		}
		em.attrs = append(em.attrs, namedMatcher{name: e.key, m: p.matcherIn(e.v, what+"."+e.key, sc)})
	}
	return em
}

// captureName reads an `as:` name; capturing into an existing call merges
// the fields into that call (e.g. its ConnID and CallUUID).
func (p *parser) captureName(n *yaml.Node, what string, sc *scope) string {
	s := p.nonEmpty(n, what)
	switch {
	case s == "":
	case !validVarName(s) || reserved(s) || sc.parties[s] != nil:
		p.errorf(n, "%s: %q cannot be a variable name (letters, digits, - and _; not a party, env, lab, scenario)", what, s)
	}
	return s
}

func (p *parser) eventName(n *yaml.Node, what string) string {
	s := p.nonEmpty(n, what)
	if s != "" && !tlib.IsEvent(s) {
		msg := fmt.Sprintf("%s: %q is not a T-lib event", what, s)
		if sg := suggest(s, tlibEventNames); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		}
		p.errorf(n, "%s", msg)
	}
	return s
}

var tlibEventNames = []string{tlib.EventServerInfo, tlib.EventRegistered, tlib.EventUnregistered, tlib.EventRinging,
	tlib.EventDialing, tlib.EventEstablished, tlib.EventReleased, tlib.EventHeld, tlib.EventRetrieved,
	tlib.EventPartyChanged, tlib.EventAttachedDataChanged, tlib.EventRouteRequest, tlib.EventRouteUsed,
	tlib.EventMonitoringNextCall, tlib.EventMonitoringCancelled, tlib.EventPrivateInfo, tlib.EventACK,
	tlib.EventError, tlib.EventLinkDisconnected, tlib.EventLinkConnected}

var tlibRequestNames = []string{tlib.RequestOpen, tlib.RequestRegisterAddress, tlib.RequestUnregisterAddress,
	tlib.RequestRouteCall, tlib.RequestPrivateService, tlib.RequestMonitorNextCall, tlib.RequestCancelMonitoring,
	tlib.RequestAttachUserData, tlib.RequestUpdateUserData, tlib.RequestDeleteUserData, tlib.RequestReleaseCall,
	tlib.RequestMakeCall, tlib.RequestAnswerCall, tlib.RequestHoldCall, tlib.RequestRetrieveCall}

func (p *parser) tlibStep(n *yaml.Node, what string, sc *scope) *tlibStep {
	t := &tlibStep{}
	m := p.mapping(n, what, []string{"client", "request", "expect", "as"}, tlibAttrNames)
	if m == nil {
		return t
	}
	t.client = p.clientRef(m, what, sc)
	if v := m.get("request"); v != nil {
		t.request = p.nonEmpty(v, what+".request")
		if t.request != "" && !tlib.IsRequest(t.request) {
			msg := fmt.Sprintf("%s.request: %q is not a T-lib request", what, t.request)
			if sg := suggest(t.request, tlibRequestNames); sg != "" {
				msg += fmt.Sprintf("; did you mean %q?", sg)
			}
			p.errorf(v, "%s", msg)
		}
		if t.request == tlib.RequestOpen {
			p.errorf(v, "%s.request: the client opens itself; RequestOpen is not a step", what)
		}
	} else {
		p.errorf(m.n, "%s: request: names the T-lib request (e.g. RequestPrivateService)", what)
	}
	for _, e := range m.entries {
		info, ok := tlibAttrs[e.key]
		if !ok {
			continue
		}
		aw := what + "." + e.key
		a := reqAttr{info: info, pos: posOf(e.k)}
		switch {
		case e.key == "ReferenceID":
			p.errorf(e.k, "%s: the client assigns ReferenceID", aw)
			continue
		case info.kind == attrTime:
			p.errorf(e.k, "%s: the server sets Time", aw)
			continue
		case info.kind == attrKV:
			km := p.mapping(e.v, aw, nil, nil)
			if km == nil {
				continue
			}
			for _, ke := range km.entries {
				a.kv = append(a.kv, kvPair{key: ke.key, val: p.tmplIn(ke.v, aw+"."+ke.key, sc)})
			}
		default:
			a.val = p.tmplIn(e.v, aw, sc)
			if !a.val.hasVars() && (info.kind == attrInt || info.kind == attrUint) {
				if _, err := strconv.ParseUint(a.val.raw, 10, 31); err != nil &&
					!(e.key == "PrivateMsgID" && contains(privateMsgNames, a.val.raw)) {
					msg := fmt.Sprintf("%s: %q is not a number", aw, a.val.raw)
					if e.key == "PrivateMsgID" {
						msg += " (or one of " + strings.Join(privateMsgNames, ", ") + ")"
					}
					p.errorf(e.v, "%s", msg)
				}
			}
		}
		t.attrs = append(t.attrs, a)
	}
	if v := m.get("expect"); v != nil {
		r := p.resolve(v)
		if r.Kind == yaml.ScalarNode {
			t.expect = &eventMatcher{event: p.eventName(r, what+".expect"), pos: posOf(r)}
		} else {
			em := p.eventMatcher(p.mapping(r, what+".expect", []string{"event"}, tlibAttrNames), what+".expect", sc)
			t.expect = &em
		}
	}
	if v := m.get("as"); v != nil {
		t.as = p.captureName(v, what+".as", sc)
	}
	return t
}
