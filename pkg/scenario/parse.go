package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// DefaultTimeout bounds a scenario that sets no timeout.
const DefaultTimeout = 2 * time.Minute

// ParseFile reads and validates a scenario file. Problems come back as an
// ErrorList (each naming file:line:column) wrapping ErrInvalid.
func ParseFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", path, ErrTooLarge, MaxFileSize)
	}
	return Parse(path, data)
}

// Parse parses and validates scenario text; name is used in positions and to
// resolve relative paths (lab configs, WAV files).
func Parse(name string, data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: %w (limit %d bytes)", name, ErrTooLarge, MaxFileSize)
	}
	out := &File{Path: name}
	p := &parser{file: name}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	names := map[string]Pos{}
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.errs = append(p.errs, yamlError(name, err))
			break
		}
		if len(doc.Content) == 0 || (doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null") {
			continue // an empty document, e.g. a trailing ---
		}
		p.nodes = 0
		s := p.scenario(doc.Content[0])
		if p.overBudget() {
			p.errs = append(p.errs, &Error{File: name, Pos: posOf(doc.Content[0]),
				Msg: fmt.Sprintf("document expands to more than %d nodes through aliases", maxNodes)})
			break
		}
		if s == nil {
			continue
		}
		if prev, dup := names[s.Name]; dup && s.Name != "" {
			p.errorAt(s.Pos, "scenario name %q is already used at line %d; names must be unique in a file", s.Name, prev.Line)
		}
		names[s.Name] = s.Pos
		out.Scenarios = append(out.Scenarios, s)
	}
	if len(p.errs) == 0 && len(out.Scenarios) == 0 {
		p.errorAt(Pos{Line: 1, Col: 1}, "no scenario in file")
	}
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i].Pos, p.errs[j].Pos
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, p.errs
	}
	return out, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a syntax error from the YAML parser into a positioned
// Error; the parser reports a line but no column.
func yamlError(file string, err error) *Error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Pos: Pos{Line: line}, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: file, Pos: Pos{Line: 1}, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

var scenarioKeys = []string{"name", "description", "requires", "timeout", "lab", "parties", "tlib", "steps"}

// scope is what names are defined at a point of a scenario, for checking
// references while steps are parsed in order.
type scope struct {
	s       *Scenario
	parties map[string]*Party
	clients map[string]*ClientSpec
	calls   []string
	names   map[string]bool // captured variable names (as:, call ids)
	refs    []varRef        // references made by the step being parsed
	hasTLS  bool
}

func (p *parser) scenario(n *yaml.Node) *Scenario {
	m := p.mapping(n, "scenario", scenarioKeys, nil)
	if m == nil {
		return nil
	}
	s := &Scenario{File: p.file, Pos: posOf(m.n), Timeout: DefaultTimeout}
	if v := m.get("name"); v != nil {
		s.Name = p.nonEmpty(v, "name")
	} else {
		p.errorf(m.n, "scenario has no name")
	}
	if v := m.get("description"); v != nil {
		s.Description = p.str(v, "description")
	}
	if v := m.get("requires"); v != nil {
		for _, r := range p.strList(v, "requires") {
			if r != "lab" {
				p.errorf(v, "requires: unknown requirement %q (known: lab)", r)
			}
			s.Requires = append(s.Requires, r)
		}
	}
	if v := m.get("timeout"); v != nil {
		if s.Timeout = p.duration(v, "timeout"); s.Timeout == 0 {
			p.errorf(v, "timeout must be above 0")
		}
	}
	s.Lab = p.lab(m.get("lab"))
	if s.Lab.Mode == ModeDirect && contains(s.Requires, "lab") {
		p.errorf(m.keyNode("requires"), "requires: lab, but lab mode is direct (phones only)")
	}
	sc := &scope{s: s, parties: map[string]*Party{}, clients: map[string]*ClientSpec{}, names: map[string]bool{}}
	p.parties(m.get("parties"), sc)
	p.clients(m.get("tlib"), sc)
	if v := m.get("steps"); v != nil {
		p.steps(v, sc)
	} else {
		p.errorf(m.n, "scenario %q has no steps", s.Name)
	}
	if s.Lab.Mode == ModeDirect {
		for _, c := range s.Clients {
			p.errorAt(c.Pos, "tlib client %q: lab mode direct has no T-lib server; use mode: lab", c.Name)
		}
	}
	return s
}

var labKeys = []string{"mode", "config", "host", "sip", "tlib", "tlib-password", "recorders", "recorder-token",
	"tls-ca", "data-dir"}

func (p *parser) lab(n *yaml.Node) LabSpec {
	l := LabSpec{Mode: ModeLab}
	if n == nil {
		return l
	}
	m := p.mapping(n, "lab", labKeys, nil)
	if m == nil {
		return l
	}
	l.Pos = posOf(m.n)
	if v := m.get("mode"); v != nil {
		l.Mode = p.oneOf(v, "lab.mode", ModeDirect, ModeLab)
	}
	if v := m.get("config"); v != nil {
		l.Config = p.relPath(p.nonEmpty(v, "lab.config"))
	}
	if v := m.get("host"); v != nil {
		l.Host = p.nonEmpty(v, "lab.host")
	}
	if v := m.get("sip"); v != nil {
		if sm := p.mapping(v, "lab.sip", []string{"udp", "tcp", "tls"}, nil); sm != nil {
			for key, dst := range map[string]*string{"udp": &l.SIP.UDP, "tcp": &l.SIP.TCP, "tls": &l.SIP.TLS} {
				if a := sm.get(key); a != nil {
					*dst = p.hostPort(a, "lab.sip."+key)
				}
			}
		}
	}
	if v := m.get("tlib"); v != nil {
		l.TLib = p.hostPort(v, "lab.tlib")
	}
	if v := m.get("tlib-password"); v != nil {
		l.TLibPassword = p.str(v, "lab.tlib-password")
	}
	if v := m.get("recorders"); v != nil {
		for _, r := range p.strList(v, "lab.recorders") {
			if !strings.HasPrefix(r, "http://") && !strings.HasPrefix(r, "https://") {
				p.errorf(v, "lab.recorders: %q must be the recorder API base URL, e.g. http://127.0.0.1:8090", r)
			}
			l.Recorders = append(l.Recorders, strings.TrimSuffix(r, "/"))
		}
	}
	if v := m.get("recorder-token"); v != nil {
		l.RecorderToken = p.str(v, "lab.recorder-token")
	}
	if v := m.get("tls-ca"); v != nil {
		l.TLSCA = p.relPath(p.nonEmpty(v, "lab.tls-ca"))
	}
	if v := m.get("data-dir"); v != nil {
		l.DataDir = p.relPath(p.nonEmpty(v, "lab.data-dir"))
	}
	if l.Mode == ModeDirect {
		for _, key := range []string{"config", "sip", "tlib", "tlib-password", "recorders", "recorder-token", "tls-ca"} {
			if m.has(key) {
				p.errorf(m.keyNode(key), "lab.%s makes no sense in mode direct (phones only)", key)
			}
		}
	}
	return l
}

// relPath resolves a path written in a scenario relative to the file.
func (p *parser) relPath(s string) string {
	if s == "" || filepath.IsAbs(s) {
		return s
	}
	return filepath.Join(filepath.Dir(p.file), s)
}

func (p *parser) hostPort(n *yaml.Node, what string) string {
	s := p.nonEmpty(n, what)
	if s == "" {
		return ""
	}
	host, port, err := splitHostPort(s)
	if err != nil || host == "" || port == 0 {
		p.errorf(n, "%s: %q is not host:port", what, s)
	}
	return s
}

func splitHostPort(s string) (string, int, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return "", 0, errors.New("no port")
	}
	port, err := strconv.Atoi(s[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	return strings.Trim(s[:i], "[]"), port, nil
}

var partyKeys = []string{"dn", "display-name", "transport", "srtp", "register", "auto-answer", "answer-delay",
	"tone", "username", "password"}

var dnRe = regexp.MustCompile(`^\+?[0-9A-Za-z_.*#-]{1,32}$`)

func (p *parser) parties(n *yaml.Node, sc *scope) {
	if n == nil {
		return
	}
	m := p.mapping(n, "parties", nil, nil)
	if m == nil {
		return
	}
	dns := map[string]string{}
	for _, e := range m.entries {
		if !validVarName(e.key) || reserved(e.key) {
			p.errorf(e.k, "party name %q: use letters, digits, - and _ (not env, lab, scenario)", e.key)
			continue
		}
		what := "parties." + e.key
		pm := p.mapping(e.v, what, partyKeys, nil)
		if pm == nil {
			continue
		}
		pt := &Party{Name: e.key, Transport: "udp", Pos: posOf(e.k), Register: sc.s.Lab.Mode == ModeLab}
		if v := pm.get("dn"); v != nil {
			pt.DN = p.nonEmpty(v, what+".dn")
			if pt.DN != "" && !dnRe.MatchString(pt.DN) {
				p.errorf(v, "%s.dn: %q is not a directory number", what, pt.DN)
			}
			if other, dup := dns[pt.DN]; dup {
				p.errorf(v, "%s.dn: %s is also the DN of party %q", what, pt.DN, other)
			}
			dns[pt.DN] = e.key
		} else {
			p.errorf(e.k, "%s has no dn", what)
		}
		if v := pm.get("display-name"); v != nil {
			pt.DisplayName = p.str(v, what+".display-name")
		}
		if v := pm.get("transport"); v != nil {
			pt.Transport = p.oneOf(v, what+".transport", "udp", "tcp", "tls")
		}
		if pt.Transport == "tls" {
			sc.hasTLS = true
		}
		if v := pm.get("srtp"); v != nil {
			pt.SRTP = p.boolean(v, what+".srtp")
		}
		if v := pm.get("register"); v != nil {
			pt.Register = p.boolean(v, what+".register")
			if pt.Register && sc.s.Lab.Mode == ModeDirect {
				p.errorf(v, "%s.register: there is no registrar in lab mode direct", what)
			}
		}
		if v := pm.get("auto-answer"); v != nil {
			pt.AutoAnswer = p.boolean(v, what+".auto-answer")
		}
		if v := pm.get("answer-delay"); v != nil {
			pt.AnswerDelay = p.duration(v, what+".answer-delay")
			if !pt.AutoAnswer {
				p.errorf(v, "%s.answer-delay needs auto-answer: true", what)
			}
		}
		if v := pm.get("tone"); v != nil {
			pt.ToneHz = p.number(v, what+".tone", 100, 3900)
		}
		if v := pm.get("username"); v != nil {
			pt.Username = p.str(v, what+".username")
		}
		if v := pm.get("password"); v != nil {
			pt.Password = p.str(v, what+".password")
		}
		sc.s.Parties = append(sc.s.Parties, pt)
		sc.parties[pt.Name] = pt
	}
}

func reserved(name string) bool {
	switch name {
	case "env", "lab", "scenario":
		return true
	}
	return false
}

func (p *parser) clients(n *yaml.Node, sc *scope) {
	if n == nil {
		return
	}
	m := p.mapping(n, "tlib", []string{"clients"}, nil)
	if m == nil || m.get("clients") == nil {
		return
	}
	cm := p.mapping(m.get("clients"), "tlib.clients", nil, nil)
	if cm == nil {
		return
	}
	for _, e := range cm.entries {
		what := "tlib.clients." + e.key
		if !validVarName(e.key) {
			p.errorf(e.k, "client name %q: use letters, digits, - and _", e.key)
			continue
		}
		em := p.mapping(e.v, what, []string{"app-name", "dns", "monitor-all"}, nil)
		if em == nil {
			continue
		}
		c := &ClientSpec{Name: e.key, AppName: "arlab-scenario-" + e.key, Pos: posOf(e.k)}
		if v := em.get("app-name"); v != nil {
			c.AppName = p.nonEmpty(v, what+".app-name")
		}
		if v := em.get("dns"); v != nil {
			for _, dn := range p.strList(v, what+".dns") {
				if !dnRe.MatchString(dn) {
					p.errorf(v, "%s.dns: %q is not a directory number", what, dn)
				}
				c.DNs = append(c.DNs, dn)
			}
		}
		if v := em.get("monitor-all"); v != nil {
			c.MonitorAll = p.boolean(v, what+".monitor-all")
		}
		if len(c.DNs) == 0 && !c.MonitorAll {
			p.errorf(e.k, "%s registers nothing: set dns or monitor-all: true", what)
		}
		sc.s.Clients = append(sc.s.Clients, c)
		sc.clients[c.Name] = c
	}
}
