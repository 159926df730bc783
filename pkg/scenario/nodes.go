package scenario

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds how many YAML nodes one document may expand to, so aliases
// cannot be used to make the parser walk an exponential tree.
const maxNodes = 200_000

// parser walks yaml.Nodes of one file and collects positioned errors; it
// never stops at the first problem, so a user sees everything at once.
type parser struct {
	file  string
	errs  ErrorList
	nodes int
}

func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{Line: 1, Col: 1}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// maxErrors bounds the problems reported for one file.
const maxErrors = 100

func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.errorAt(posOf(n), format, args...)
}

func (p *parser) errorAt(pos Pos, format string, args ...any) {
	// Past the node budget the walk only unwinds; what it would report is noise.
	if p.quiet() {
		return
	}
	if len(p.errs) == maxErrors {
		format, args = "too many problems; fix these first", nil
	}
	p.errs = append(p.errs, &Error{File: p.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// nullNode stands for everything once the node budget is spent, so the walk
// ends quickly without nil checks at every caller.
var nullNode = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"}

// resolve follows aliases and counts nodes against the budget.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	if p.overBudget() {
		return nullNode
	}
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	p.nodes++
	return n
}

func (p *parser) overBudget() bool { return p.nodes > maxNodes }

// quiet tells that nothing more will be reported, so messages (and their
// suggestions) need not be built.
func (p *parser) quiet() bool { return p.overBudget() || len(p.errs) > maxErrors }

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "empty"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an alias"
}

// entry is one key/value pair of a mapping.
type entry struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

// mapping is a checked YAML mapping: duplicate and unknown keys are reported
// when it is built, and each value can then be read by key.
type mapping struct {
	n       *yaml.Node
	entries []entry
	byKey   map[string]*entry
}

func (m *mapping) has(key string) bool { _, ok := m.byKey[key]; return ok }

func (m *mapping) get(key string) *yaml.Node {
	if e, ok := m.byKey[key]; ok {
		return e.v
	}
	return nil
}

func (m *mapping) keyNode(key string) *yaml.Node {
	if e, ok := m.byKey[key]; ok {
		return e.k
	}
	return m.n
}

// mapping reads n as a mapping for `what`. When allowed is not nil, keys
// outside it and extra are reported with a did-you-mean; extra holds further
// acceptable keys that are too many to list in the message (T-lib
// attribute names).
func (p *parser) mapping(n *yaml.Node, what string, allowed, extra []string) *mapping {
	n = p.resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil {
			p.errorf(n, "%s must be a mapping, got %s", what, kindName(n))
		}
		return nil
	}
	m := &mapping{n: n, byKey: map[string]*entry{}}
	p.collect(m, n, what, allowed, extra, 0)
	return m
}

func (p *parser) collect(m *mapping, n *yaml.Node, what string, allowed, extra []string, depth int) {
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content) && !p.overBudget(); i += 2 {
		k, v := p.resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			p.errorf(k, "%s: keys must be plain words", what)
			continue
		}
		if k.Value == "<<" && k.Tag == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if _, dup := m.byKey[k.Value]; dup {
			if depth == 0 {
				p.errorf(k, "%s: key %q appears twice", what, k.Value)
			}
			continue
		}
		if allowed != nil && !contains(allowed, k.Value) && !contains(extra, k.Value) {
			if p.quiet() {
				continue
			}
			msg := fmt.Sprintf("%s: unknown key %q", what, k.Value)
			if s := suggest(k.Value, append(append([]string(nil), allowed...), extra...)); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			} else {
				msg += "; known keys: " + strings.Join(allowed, ", ")
			}
			p.errorf(k, "%s", msg)
			continue
		}
		m.entries = append(m.entries, entry{key: k.Value, k: k, v: v})
		m.byKey[k.Value] = &m.entries[len(m.entries)-1]
	}
	// YAML merge keys (<<: *base): keys written here win over merged ones.
	for _, mv := range merges {
		mv = p.resolve(mv)
		switch {
		case depth > 10:
			p.errorf(mv, "%s: merge keys nested too deep", what)
		case mv.Kind == yaml.MappingNode:
			p.collect(m, mv, what, allowed, extra, depth+1)
		case mv.Kind == yaml.SequenceNode:
			for _, c := range mv.Content {
				if c = p.resolve(c); c.Kind == yaml.MappingNode {
					p.collect(m, c, what, allowed, extra, depth+1)
				}
			}
		default:
			p.errorf(mv, "%s: << must merge a mapping", what)
		}
	}
	// Entries may have moved while appending; rebuild the index.
	for i := range m.entries {
		m.byKey[m.entries[i].key] = &m.entries[i]
	}
}

func (p *parser) seq(n *yaml.Node, what string) []*yaml.Node {
	n = p.resolve(n)
	if n == nil {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errorf(n, "%s must be a list, got %s", what, kindName(n))
		return nil
	}
	return n.Content
}

func (p *parser) scalar(n *yaml.Node, what string) (*yaml.Node, bool) {
	n = p.resolve(n)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errorf(n, "%s must be a single value, got %s", what, kindName(n))
		return n, false
	}
	return n, true
}

func (p *parser) str(n *yaml.Node, what string) string {
	s, ok := p.scalar(n, what)
	if !ok {
		return ""
	}
	return s.Value
}

func (p *parser) nonEmpty(n *yaml.Node, what string) string {
	s, ok := p.scalar(n, what)
	if !ok {
		return ""
	}
	if s.Value == "" {
		p.errorf(s, "%s must not be empty", what)
	}
	return s.Value
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	s, ok := p.scalar(n, what)
	if !ok {
		return false
	}
	var b bool
	if s.Tag != "!!bool" || s.Decode(&b) != nil {
		p.errorf(s, "%s must be true or false, got %q", what, s.Value)
	}
	return b
}

func (p *parser) integer(n *yaml.Node, what string, min, max int) int {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(s.Value)
	if err != nil {
		p.errorf(s, "%s must be a whole number, got %q", what, s.Value)
		return 0
	}
	if v < min || v > max {
		p.errorf(s, "%s must be between %d and %d, got %d", what, min, max, v)
	}
	return v
}

func (p *parser) number(n *yaml.Node, what string, min, max float64) float64 {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	v, err := strconv.ParseFloat(s.Value, 64)
	if err != nil {
		p.errorf(s, "%s must be a number, got %q", what, s.Value)
		return 0
	}
	if v < min || v > max {
		p.errorf(s, "%s must be between %g and %g, got %g", what, min, max, v)
	}
	return v
}

// duration reads a Go duration ("1.5s", "200ms"); a bare 0 is accepted.
func (p *parser) duration(n *yaml.Node, what string) time.Duration {
	s, ok := p.scalar(n, what)
	if !ok {
		return 0
	}
	if s.Value == "0" {
		return 0
	}
	d, err := time.ParseDuration(s.Value)
	if err != nil {
		p.errorf(s, "%s: %q is not a duration (write e.g. 500ms, 2s, 1m30s)", what, s.Value)
		return 0
	}
	if d < 0 {
		p.errorf(s, "%s must not be negative", what)
	}
	if d > 24*time.Hour {
		p.errorf(s, "%s: %s is longer than a day", what, d)
	}
	return d
}

// strList reads a list of strings, or one string as a list of one.
func (p *parser) strList(n *yaml.Node, what string) []string {
	r := p.resolve(n)
	if r == nil {
		return nil
	}
	if r.Kind == yaml.ScalarNode {
		return []string{p.str(r, what)}
	}
	var out []string
	for _, c := range p.seq(r, what) {
		out = append(out, p.str(c, what+" entry"))
	}
	return out
}

func (p *parser) oneOf(n *yaml.Node, what string, choices ...string) string {
	s := p.str(n, what)
	if n != nil && !contains(choices, s) {
		msg := fmt.Sprintf("%s must be one of %s, got %q", what, strings.Join(choices, ", "), s)
		if sg := suggest(s, choices); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		}
		p.errorf(n, "%s", msg)
	}
	return s
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest returns the known word closest to s, if it is close enough to be a
// likely typo (case differences count as a match).
func suggest(s string, known []string) string {
	best, bestD := "", 1<<30
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	for _, k := range sorted {
		if strings.EqualFold(k, s) {
			return k
		}
		d := editDistance(strings.ToLower(s), strings.ToLower(k))
		if d < bestD {
			best, bestD = k, d
		}
	}
	limit := 2
	if len(s) > 8 {
		limit = len(s) / 4
	}
	if bestD <= limit && bestD < len(s) {
		return best
	}
	return ""
}

func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return 1 << 20 // not a typo of a keyword
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
