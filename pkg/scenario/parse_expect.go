package scenario

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var expectKinds = []string{"tlib", "sip", "audio", "dtmf", "recording", "wav"}

func (p *parser) expectStep(n *yaml.Node, what string, sc *scope) *expectStep {
	e := &expectStep{}
	m := p.mapping(n, what, expectKinds, nil)
	if m == nil {
		return e
	}
	if len(m.entries) == 0 {
		p.errorf(m.n, "%s: expect what? one or more of %s", what, strings.Join(expectKinds, ", "))
	}
	for _, ent := range m.entries {
		// Each kind takes one mapping or a list of them.
		items := []*yaml.Node{ent.v}
		if r := p.resolve(ent.v); r != nil && r.Kind == yaml.SequenceNode && ent.key != "tlib" {
			items = r.Content
		}
		for i, it := range items {
			w := what + "." + ent.key
			if len(items) > 1 {
				w = fmt.Sprintf("%s[%d]", w, i)
			}
			var c check
			switch ent.key {
			case "tlib":
				c = p.tlibExpect(it, w, sc)
			case "sip":
				c = p.sipExpect(it, w, sc)
			case "audio":
				c = p.audioExpect(it, w, sc)
			case "dtmf":
				c = p.dtmfExpect(it, w, sc)
			case "recording":
				c = p.recordingExpect(it, w, sc)
			case "wav":
				c = p.wavExpect(it, w, sc)
			}
			if c != nil {
				e.checks = append(e.checks, c)
			}
		}
	}
	return e
}

func (p *parser) within(m *mapping, what string, def time.Duration) time.Duration {
	if v := m.get("within"); v != nil {
		return p.duration(v, what+".within")
	}
	return def
}

func (p *parser) tlibExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, []string{"client", "dn", "within", "events"}, nil)
	if m == nil {
		return nil
	}
	c := &tlibExpect{client: p.clientRef(m, what, sc), within: p.within(m, what, 5*time.Second)}
	if v := m.get("dn"); v != nil {
		c.dn = p.tmplIn(v, what+".dn", sc)
	}
	list := p.seq(m.get("events"), what+".events")
	if m.get("events") == nil || len(list) == 0 {
		p.errorf(m.n, "%s: events: lists the events expected, in order", what)
	}
	for i, it := range list {
		w := fmt.Sprintf("%s.events[%d]", what, i)
		r := p.resolve(it)
		if r.Kind == yaml.ScalarNode {
			c.events = append(c.events, eventMatcher{event: p.eventName(r, w), pos: posOf(r)})
			continue
		}
		em := p.eventMatcher(p.mapping(r, w, []string{"event", "as"}, tlibAttrNames), w, sc)
		if em.as != "" {
			sc.names[em.as] = true // later events of the same list may use it
		}
		c.events = append(c.events, em)
	}
	return c
}

func (p *parser) legOf(m *mapping, n *yaml.Node, what string, sc *scope) (party, call string) {
	if v := m.get("party"); v != nil {
		party = p.partyRef(v, what+".party", sc)
	} else {
		p.errorf(m.n, "%s: which party? set party:", what)
	}
	return party, p.callRef(m, n, what, sc)
}

func (p *parser) sipExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, []string{"call", "party", "status", "reason", "headers"}, nil)
	if m == nil {
		return nil
	}
	c := &sipExpect{call: p.callRef(m, n, what, sc)}
	if v := m.get("party"); v != nil {
		c.party = p.partyRef(v, what+".party", sc)
	}
	if v := m.get("status"); v != nil {
		c.status = p.integer(v, what+".status", 100, 699)
	}
	if v := m.get("reason"); v != nil {
		r := p.matcherIn(v, what+".reason", sc)
		c.reason = &r
	}
	if v := m.get("headers"); v != nil {
		if hm := p.mapping(v, what+".headers", nil, nil); hm != nil {
			for _, e := range hm.entries {
				c.headers = append(c.headers, namedMatcher{name: e.key, m: p.matcherIn(e.v, what+".headers."+e.key, sc)})
			}
		}
	}
	if c.status == 0 && c.reason == nil && len(c.headers) == 0 {
		p.errorf(m.n, "%s checks nothing: set status, reason or headers", what)
	}
	return c
}

// toneRef reads `agent` (a party's tone), {dn: "7001"} (the lab tone of a DN)
// or {hz: 1800}.
func (p *parser) toneRef(n *yaml.Node, what string, sc *scope) toneRef {
	r := p.resolve(n)
	if r == nil {
		return toneRef{}
	}
	t := toneRef{pos: posOf(r)}
	if r.Kind == yaml.ScalarNode {
		if sc.parties[r.Value] == nil {
			msg := fmt.Sprintf("%s: %q is not a party; write a party name, {dn: \"7001\"} or {hz: 1800}", what, r.Value)
			if s := suggest(r.Value, keysOf(sc.parties)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			p.errorf(r, "%s", msg)
		}
		t.party = r.Value
		return t
	}
	m := p.mapping(r, what, []string{"dn", "hz"}, nil)
	if m == nil {
		return t
	}
	switch {
	case len(m.entries) != 1:
		p.errorf(r, "%s: give one of dn: or hz:", what)
	case m.get("dn") != nil:
		t.dn = p.nonEmpty(m.get("dn"), what+".dn")
	default:
		t.hz = p.number(m.get("hz"), what+".hz", 100, 3900)
	}
	return t
}

// approx reads "1s±200ms" (also "1s +- 200ms"); a bare duration takes the
// default tolerance.
func (p *parser) approx(n *yaml.Node, what string, defTol time.Duration) approx {
	s, ok := p.scalar(n, what)
	if !ok {
		return approx{}
	}
	raw := strings.ReplaceAll(s.Value, " ", "")
	base, tol, found := strings.Cut(raw, "±")
	if !found {
		base, tol, found = strings.Cut(raw, "+-")
	}
	a := approx{set: true, tol: defTol}
	var err error
	if a.d, err = parseDur(base); err != nil {
		p.errorf(s, "%s: %q is not a duration with optional tolerance (e.g. 1s±200ms)", what, s.Value)
		return approx{}
	}
	if found {
		if a.tol, err = parseDur(tol); err != nil {
			p.errorf(s, "%s: tolerance %q is not a duration (e.g. 1s±200ms)", what, tol)
			return approx{}
		}
	}
	return a
}

func parseDur(s string) (time.Duration, error) {
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		err = fmt.Errorf("negative")
	}
	return d, err
}

var audioKeys = []string{"party", "call", "tone", "min-tone", "silence", "max-other", "timeline"}

func (p *parser) audioExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, audioKeys, nil)
	if m == nil {
		return nil
	}
	c := &audioExpect{minTone: time.Second, maxOther: 60 * time.Millisecond}
	c.party, c.call = p.legOf(m, n, what, sc)
	if v := m.get("tone"); v != nil {
		t := p.toneRef(v, what+".tone", sc)
		c.tone = &t
	}
	if v := m.get("min-tone"); v != nil {
		c.minTone = p.duration(v, what+".min-tone")
	}
	if v := m.get("max-other"); v != nil {
		c.maxOther = p.duration(v, what+".max-other")
	}
	if v := m.get("silence"); v != nil {
		a := p.approx(v, what+".silence", 200*time.Millisecond)
		c.silence = &a
	}
	if v := m.get("timeline"); v != nil {
		for i, it := range p.seq(v, what+".timeline") {
			w := fmt.Sprintf("%s.timeline[%d]", what, i)
			im := p.mapping(it, w, []string{"tone", "silence", "duration"}, nil)
			if im == nil {
				continue
			}
			var seg segSpec
			switch {
			case im.get("tone") != nil && im.get("silence") == nil:
				t := p.toneRef(im.get("tone"), w+".tone", sc)
				seg.tone = &t
				if dv := im.get("duration"); dv != nil {
					seg.dur = p.approx(dv, w+".duration", 300*time.Millisecond)
				}
			case im.get("silence") != nil && im.get("tone") == nil:
				seg.dur = p.approx(im.get("silence"), w+".silence", 200*time.Millisecond)
				if im.get("duration") != nil {
					p.errorf(im.get("duration"), "%s: write silence: 1s±200ms, not a separate duration", w)
				}
			default:
				p.errorf(im.n, "%s: a segment is tone: X or silence: DURATION", w)
			}
			c.timeline = append(c.timeline, seg)
		}
	}
	if c.tone == nil && c.silence == nil && len(c.timeline) == 0 {
		p.errorf(m.n, "%s checks nothing: set tone, silence or timeline", what)
	}
	return c
}

func (p *parser) dtmfExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, []string{"party", "call", "digits", "within"}, nil)
	if m == nil {
		return nil
	}
	c := &dtmfExpect{within: p.within(m, what, 5*time.Second)}
	c.party, c.call = p.legOf(m, n, what, sc)
	if v := m.get("digits"); v != nil {
		c.digits = p.tmplIn(v, what+".digits", sc)
	} else {
		p.errorf(m.n, "%s: digits: is missing", what)
	}
	return c
}

var recordingKeys = []string{"call-uuid", "conn-id", "dn", "id", "recorder", "within", "absent", "state", "channels",
	"channel-tones", "pauses", "silent-over-pauses", "tolerance", "participants", "duration", "prerecord", "kept", "as"}

func (p *parser) recordingExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, recordingKeys, nil)
	if m == nil {
		return nil
	}
	c := &recordingExpect{recorder: "any", within: p.within(m, what, 20*time.Second), pauses: -1,
		tolerance: 40 * time.Millisecond}
	for key, dst := range map[string]*tmpl{"call-uuid": &c.callUUID, "conn-id": &c.connID, "dn": &c.dn, "id": &c.id} {
		if v := m.get(key); v != nil {
			*dst = p.tmplIn(v, what+"."+key, sc)
		}
	}
	if c.callUUID.isZero() && c.connID.isZero() && c.dn.isZero() && c.id.isZero() {
		p.errorf(m.n, "%s: find the recording by call-uuid, conn-id, dn or id", what)
	}
	if v := m.get("recorder"); v != nil {
		c.recorder = p.str(v, what+".recorder")
		if c.recorder != "any" && c.recorder != "all" {
			if _, err := fmt.Sscanf(c.recorder, "%d", new(int)); err != nil {
				p.errorf(v, "%s.recorder: any, all, or the index of a recorder in lab.recorders (0, 1...)", what)
			}
		}
	}
	if v := m.get("absent"); v != nil {
		c.absent = p.boolean(v, what+".absent")
	}
	if v := m.get("state"); v != nil {
		for _, s := range p.strList(v, what+".state") {
			if !contains(recordingStates, s) {
				msg := fmt.Sprintf("%s.state: %q is not a recording state (%s)", what, s, strings.Join(recordingStates, ", "))
				if sg := suggest(s, recordingStates); sg != "" {
					msg += fmt.Sprintf("; did you mean %q?", sg)
				}
				p.errorf(v, "%s", msg)
			}
			c.states = append(c.states, s)
		}
	}
	if v := m.get("channels"); v != nil {
		c.channels = p.integer(v, what+".channels", 1, 16)
	}
	if v := m.get("channel-tones"); v != nil {
		for i, it := range p.seq(v, what+".channel-tones") {
			c.channelTones = append(c.channelTones, p.toneRef(it, fmt.Sprintf("%s.channel-tones[%d]", what, i), sc))
		}
	}
	if v := m.get("pauses"); v != nil {
		c.pauses = p.integer(v, what+".pauses", 0, 1000)
	}
	if v := m.get("silent-over-pauses"); v != nil {
		c.silentOverPauses = p.boolean(v, what+".silent-over-pauses")
	}
	if v := m.get("tolerance"); v != nil {
		c.tolerance = p.duration(v, what+".tolerance")
	}
	if v := m.get("participants"); v != nil {
		for _, it := range p.seq(v, what+".participants") {
			c.participants = append(c.participants, p.tmplIn(it, what+".participants entry", sc))
		}
	}
	if v := m.get("duration"); v != nil {
		a := p.approx(v, what+".duration", 500*time.Millisecond)
		c.duration = &a
	}
	for key, dst := range map[string]**bool{"prerecord": &c.prerecord, "kept": &c.kept} {
		if v := m.get(key); v != nil {
			b := p.boolean(v, what+"."+key)
			*dst = &b
		}
	}
	if v := m.get("as"); v != nil {
		c.as = p.captureName(v, what+".as", sc)
	}
	if c.absent {
		for _, key := range recordingKeys[6:] {
			if key != "absent" && key != "as" && m.has(key) {
				p.errorf(m.keyNode(key), "%s: absent: true expects no recording; %s cannot be checked", what, key)
			}
		}
	}
	return c
}

var recordingStates = []string{"recording", "paused", "complete", "tentative", "recovered", "failed"}

func (p *parser) wavExpect(n *yaml.Node, what string, sc *scope) check {
	m := p.mapping(n, what, []string{"path", "within", "channels", "channel-tones", "duration"}, nil)
	if m == nil {
		return nil
	}
	c := &wavExpect{within: p.within(m, what, 20*time.Second)}
	if v := m.get("path"); v != nil {
		c.path = p.tmplIn(v, what+".path", sc)
		c.dir = p.relPath(".")
	} else {
		p.errorf(m.n, "%s: path: (a file or glob) is missing", what)
	}
	if v := m.get("channels"); v != nil {
		c.channels = p.integer(v, what+".channels", 1, 16)
	}
	if v := m.get("channel-tones"); v != nil {
		for i, it := range p.seq(v, what+".channel-tones") {
			c.channelTones = append(c.channelTones, p.toneRef(it, fmt.Sprintf("%s.channel-tones[%d]", what, i), sc))
		}
	}
	if v := m.get("duration"); v != nil {
		a := p.approx(v, what+".duration", 500*time.Millisecond)
		c.duration = &a
	}
	return c
}
