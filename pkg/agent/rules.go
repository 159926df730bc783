package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxRulesSize bounds a rules file.
const MaxRulesSize = 1 << 20

// ErrRules wraps every problem found in a rules file.
var ErrRules = errors.New("invalid routing rules")

// Rules is a routing strategy: the routing points it serves and its rules,
// tried in order for every call; the first that applies routes the call.
type Rules struct {
	RoutingPoints []string `json:"routing_points"`
	Rules         []Rule   `json:"rules"`
}

// Rule routes the calls it matches.
type Rule struct {
	Name string `json:"name"`
	// Match holds the patterns a call must match (all of them).
	Match Match `json:"match"`
	// Every makes the rule take only every Nth call it matches (the Nth,
	// 2Nth, ...); the others fall through to the next rules. 1 = all.
	Every int `json:"every"`
	// Target is the DN the call is routed to (OtherDN of RequestRouteCall).
	Target string `json:"target"`
	// Attach is user data attached to the call before routing.
	Attach map[string]string `json:"attach,omitempty"`
	// Extensions go with RequestRouteCall (record, id, dest, ...).
	Extensions map[string]string `json:"extensions,omitempty"`
	Line       int               `json:"line"`
}

// Match is a set of patterns. A pattern is a glob ("+1555*", "50??",
// "[57]000") or, prefixed with "re:", a regular expression matched against
// the whole value. An empty pattern matches anything.
type Match struct {
	ANI  string `json:"ani,omitempty"`
	DNIS string `json:"dnis,omitempty"`

	ani, dnis matcher
}

type matcher func(string) bool

var dnPattern = regexp.MustCompile(`^\+?[0-9A-Za-z_.-]{1,32}$`)

// LoadRules reads and parses a rules file.
func LoadRules(file string) (*Rules, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxRulesSize+1))
	if err != nil {
		return nil, fmt.Errorf("agent: %s: %w", file, err)
	}
	return ParseRules(b, file)
}

// ParseRules parses a rules document; name (the file) prefixes every error,
// with the line: "rules.yaml:7: rules[0].every: must be 1 or more".
func ParseRules(data []byte, name string) (*Rules, error) {
	if name == "" {
		name = "rules"
	}
	if len(data) > MaxRulesSize {
		return nil, fmt.Errorf("%w: %s: larger than %d bytes", ErrRules, name, MaxRulesSize)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrRules, name, err)
	}
	p := &parser{name: name}
	r := p.document(&doc)
	if len(p.errs) > 0 {
		return nil, fmt.Errorf("%w:\n%w", ErrRules, errors.Join(p.errs...))
	}
	return r, nil
}

type parser struct {
	name string
	errs []error
}

func (p *parser) bad(n *yaml.Node, key, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	where := p.name
	if line > 0 {
		where = fmt.Sprintf("%s:%d", p.name, line)
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", where, key, fmt.Sprintf(format, args...)))
}

// mapping returns the key/value pairs of a mapping node, in order.
func (p *parser) mapping(n *yaml.Node, key string) [][2]*yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.bad(n, key, "want a mapping")
		return nil
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out
}

func (p *parser) scalar(n *yaml.Node, key string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.bad(n, key, "want a single value")
		return "", false
	}
	return n.Value, true
}

func (p *parser) document(doc *yaml.Node) *Rules {
	r := &Rules{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.bad(doc, "rules", "the document is empty")
		return r
	}
	root := doc.Content[0]
	var rulesNode *yaml.Node
	for _, kv := range p.mapping(root, "document") {
		k, v := kv[0], kv[1]
		switch k.Value {
		case "routing-points":
			r.RoutingPoints = p.dnList(v, "routing-points")
		case "rules":
			rulesNode = v
			if v.Kind != yaml.SequenceNode {
				p.bad(v, "rules", "want a list of rules")
				continue
			}
			for i, item := range v.Content {
				r.Rules = append(r.Rules, p.rule(item, fmt.Sprintf("rules[%d]", i)))
			}
		default:
			p.bad(k, k.Value, "unknown key (want routing-points, rules)")
		}
	}
	if len(r.RoutingPoints) == 0 {
		p.bad(root, "routing-points", "list the routing points the router serves")
	}
	if len(r.Rules) == 0 && rulesNode == nil {
		p.bad(root, "rules", "no rules")
	}
	return r
}

func (p *parser) dnList(n *yaml.Node, key string) []string {
	if n.Kind != yaml.SequenceNode {
		p.bad(n, key, "want a list of DNs")
		return nil
	}
	var out []string
	for i, item := range n.Content {
		k := fmt.Sprintf("%s[%d]", key, i)
		if v, ok := p.scalar(item, k); ok {
			if !dnPattern.MatchString(v) {
				p.bad(item, k, "%q is not a DN", v)
				continue
			}
			out = append(out, v)
		}
	}
	return out
}

func (p *parser) rule(n *yaml.Node, key string) Rule {
	r := Rule{Every: 1, Line: n.Line}
	for _, kv := range p.mapping(n, key) {
		k, v := kv[0], kv[1]
		fk := key + "." + k.Value
		switch k.Value {
		case "name":
			r.Name, _ = p.scalar(v, fk)
		case "match":
			r.Match = p.match(v, fk)
		case "every":
			s, ok := p.scalar(v, fk)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1_000_000 {
				p.bad(v, fk, "%q: want a whole number from 1", s)
				continue
			}
			r.Every = n
		case "target":
			s, ok := p.scalar(v, fk)
			if ok && !dnPattern.MatchString(s) {
				p.bad(v, fk, "%q is not a DN", s)
			}
			r.Target = s
		case "attach":
			r.Attach = p.kv(v, fk)
		case "extensions":
			r.Extensions = p.kv(v, fk)
		default:
			p.bad(k, fk, "unknown key (want name, match, every, target, attach, extensions)")
		}
	}
	if r.Target == "" {
		p.bad(n, key+".target", "a rule needs a target DN")
	}
	if r.Name == "" {
		r.Name = key
	}
	if r.Match.ani == nil {
		r.Match.ani = func(string) bool { return true }
	}
	if r.Match.dnis == nil {
		r.Match.dnis = func(string) bool { return true }
	}
	return r
}

func (p *parser) match(n *yaml.Node, key string) Match {
	var m Match
	for _, kv := range p.mapping(n, key) {
		k, v := kv[0], kv[1]
		fk := key + "." + k.Value
		s, ok := p.scalar(v, fk)
		if !ok {
			continue
		}
		mt, err := compilePattern(s)
		if err != nil {
			p.bad(v, fk, "%v", err)
			continue
		}
		switch k.Value {
		case "ani":
			m.ANI, m.ani = s, mt
		case "dnis":
			m.DNIS, m.dnis = s, mt
		default:
			p.bad(k, fk, "unknown key (want ani, dnis)")
		}
	}
	return m
}

func (p *parser) kv(n *yaml.Node, key string) map[string]string {
	out := map[string]string{}
	for _, kv := range p.mapping(n, key) {
		k, v := kv[0], kv[1]
		fk := key + "." + k.Value
		if k.Value == "" {
			p.bad(k, key, "empty key")
			continue
		}
		if s, ok := p.scalar(v, fk); ok {
			out[k.Value] = s
		}
	}
	return out
}

// compilePattern turns a glob or "re:" pattern into a matcher.
func compilePattern(s string) (matcher, error) {
	if s == "" {
		return func(string) bool { return true }, nil
	}
	if expr, ok := strings.CutPrefix(s, "re:"); ok {
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			return nil, fmt.Errorf("bad regular expression %q: %w", expr, err)
		}
		return re.MatchString, nil
	}
	if _, err := path.Match(s, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", s, err)
	}
	return func(v string) bool {
		ok, _ := path.Match(s, v)
		return ok
	}, nil
}
