package scenario

import (
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

type matchKind int

const (
	matchEq matchKind = iota
	matchRe
	matchPresent
	matchAbsent
	matchNot
	matchOneOf
	matchContains
)

// matcher checks one string value: a scalar means equality; a mapping with
// one of re, present, not, one-of, contains says how else to compare.
type matcher struct {
	kind matchKind
	val  tmpl
	vals []tmpl
	re   *regexp.Regexp
	pos  Pos
}

var matcherKeys = []string{"re", "present", "not", "one-of", "contains"}

func (p *parser) matcher(n *yaml.Node, what string) matcher {
	r := p.resolve(n)
	if r == nil {
		return matcher{}
	}
	if r.Kind != yaml.MappingNode {
		return matcher{kind: matchEq, val: p.template(r, what), pos: posOf(r)}
	}
	m := p.mapping(r, what, matcherKeys, nil)
	if m == nil {
		return matcher{}
	}
	if len(m.entries) != 1 {
		p.errorf(r, "%s: a matcher has exactly one of %s", what, strings.Join(matcherKeys, ", "))
		return matcher{}
	}
	e := m.entries[0]
	out := matcher{pos: posOf(e.k)}
	switch e.key {
	case "re":
		out.kind = matchRe
		out.val = p.template(e.v, what+".re")
		if !out.val.hasVars() && !out.val.isZero() {
			re, err := regexp.Compile(out.val.raw)
			if err != nil {
				p.errorf(e.v, "%s.re: %v", what, err)
			}
			out.re = re
		}
	case "present":
		out.kind = matchPresent
		if !p.boolean(e.v, what+".present") {
			out.kind = matchAbsent
		}
	case "not":
		out.kind = matchNot
		out.val = p.template(e.v, what+".not")
	case "contains":
		out.kind = matchContains
		out.val = p.template(e.v, what+".contains")
	case "one-of":
		out.kind = matchOneOf
		for _, c := range p.seq(e.v, what+".one-of") {
			out.vals = append(out.vals, p.template(c, what+".one-of entry"))
		}
	}
	return out
}

func (m matcher) refs() []varRef {
	out := m.val.refs()
	for _, v := range m.vals {
		out = append(out, v.refs()...)
	}
	return out
}

// match reports whether got satisfies m, and describes what was wanted.
func (m matcher) match(got string, v *vars) (bool, string, error) {
	switch m.kind {
	case matchPresent:
		return got != "", "present", nil
	case matchAbsent:
		return got == "", "absent", nil
	case matchOneOf:
		var want []string
		for _, t := range m.vals {
			s, err := t.expand(v)
			if err != nil {
				return false, "", err
			}
			if s == got {
				return true, "", nil
			}
			want = append(want, fmt.Sprintf("%q", s))
		}
		return false, "one of " + strings.Join(want, ", "), nil
	}
	want, err := m.val.expand(v)
	if err != nil {
		return false, "", err
	}
	switch m.kind {
	case matchRe:
		re := m.re
		if re == nil {
			if re, err = regexp.Compile(want); err != nil {
				return false, "", fmt.Errorf("re %q: %w", want, err)
			}
		}
		return re.MatchString(got), "matching /" + want + "/", nil
	case matchNot:
		return got != want, fmt.Sprintf("not %q", want), nil
	case matchContains:
		return strings.Contains(got, want), fmt.Sprintf("containing %q", want), nil
	}
	return got == want, fmt.Sprintf("%q", want), nil
}
