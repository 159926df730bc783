package scenario

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// tmpl is a string value that may use variables: ${name.field}. $$ is a
// literal dollar sign.
type tmpl struct {
	raw   string
	parts []tpart
	pos   Pos
}

type tpart struct {
	lit string
	ref *varRef
}

// varRef is one ${name.field}; field may itself contain dots
// (${ev.UserData.GSIP_RECORD}).
type varRef struct {
	name, field string
	pos         Pos
}

func (r varRef) String() string {
	if r.field == "" {
		return "${" + r.name + "}"
	}
	return "${" + r.name + "." + r.field + "}"
}

func lit(s string) tmpl { return tmpl{raw: s, parts: []tpart{{lit: s}}} }

func (t tmpl) isZero() bool { return t.raw == "" && len(t.parts) == 0 }

func (t tmpl) hasVars() bool {
	for _, p := range t.parts {
		if p.ref != nil {
			return true
		}
	}
	return false
}

func (t tmpl) refs() []varRef {
	var out []varRef
	for _, p := range t.parts {
		if p.ref != nil {
			out = append(out, *p.ref)
		}
	}
	return out
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// parseTemplate splits s into literal text and variable references.
func parseTemplate(s string, pos Pos) ([]tpart, error) {
	var parts []tpart
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			cur.WriteByte(s[i])
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '$':
			cur.WriteByte('$')
			i++
		case i+1 < len(s) && s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return nil, fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
			}
			body := s[i+2 : i+2+end]
			name, field, _ := strings.Cut(body, ".")
			if !validVarName(name) {
				return nil, fmt.Errorf("bad variable ${%s}: want ${name} or ${name.field}", body)
			}
			if cur.Len() > 0 {
				parts = append(parts, tpart{lit: cur.String()})
				cur.Reset()
			}
			parts = append(parts, tpart{ref: &varRef{name: name, field: field, pos: pos}})
			i += 2 + end
		default:
			cur.WriteByte('$')
		}
	}
	if cur.Len() > 0 || len(parts) == 0 {
		parts = append(parts, tpart{lit: cur.String()})
	}
	return parts, nil
}

// template reads a scalar that may use variables.
func (p *parser) template(n *yaml.Node, what string) tmpl {
	s, ok := p.scalar(n, what)
	if !ok {
		return tmpl{}
	}
	t := tmpl{raw: s.Value, pos: posOf(s)}
	parts, err := parseTemplate(s.Value, t.pos)
	if err != nil {
		p.errorf(s, "%s: %v", what, err)
		return tmpl{}
	}
	t.parts = parts
	return t
}

func (t tmpl) expand(v *vars) (string, error) {
	if len(t.parts) == 1 && t.parts[0].ref == nil {
		return t.parts[0].lit, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.ref == nil {
			b.WriteString(p.lit)
			continue
		}
		s, err := v.lookup(*p.ref)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

// vars holds what steps captured: name → field → value. Built-in names are
// env (process environment), the parties, lab and scenario.
type vars struct {
	mu sync.Mutex
	m  map[string]map[string]string
}

func newVars() *vars { return &vars{m: map[string]map[string]string{}} }

// set merges fields into name.
func (v *vars) set(name string, fields map[string]string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	cur := v.m[name]
	if cur == nil {
		cur = map[string]string{}
		v.m[name] = cur
	}
	for k, x := range fields {
		cur[k] = x
	}
}

func (v *vars) lookup(r varRef) (string, error) {
	if r.name == "env" {
		if r.field == "" {
			return "", fmt.Errorf("%s: name the environment variable, e.g. ${env.HOME}", r)
		}
		s, ok := os.LookupEnv(r.field)
		if !ok {
			return "", fmt.Errorf("%s: environment variable %s is not set", r, r.field)
		}
		return s, nil
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	fields, ok := v.m[r.name]
	if !ok {
		return "", fmt.Errorf("%s: %q has not been captured (yet)", r, r.name)
	}
	field := r.field
	if field == "" {
		field = "value"
	}
	s, ok := fields[field]
	if !ok {
		known := make([]string, 0, len(fields))
		for k := range fields {
			known = append(known, k)
		}
		sort.Strings(known)
		msg := fmt.Sprintf("%s: %q has no field %q", r, r.name, r.field)
		if sg := suggest(field, known); sg != "" {
			msg += fmt.Sprintf("; did you mean %q?", sg)
		} else if len(known) > 0 {
			msg += "; it has " + strings.Join(known, ", ")
		}
		return "", fmt.Errorf("%s", msg)
	}
	return s, nil
}
