package agent

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestRulesGolden parses every testdata/rules/*.yaml and compares the result
// (the parsed rules as JSON, or the error text) with its .golden file.
func TestRulesGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "rules", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rules, err := LoadRules(f)
			var got string
			if err != nil {
				got = strings.ReplaceAll(err.Error(), filepath.ToSlash(f), filepath.Base(f)) + "\n"
			} else {
				b, err := json.MarshalIndent(rules, "", "  ")
				require.NoError(t, err)
				got = string(b) + "\n"
			}
			golden := strings.TrimSuffix(f, ".yaml") + ".golden"
			if *update {
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), got)
		})
	}
}

func TestParseRulesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		want      []string
	}{
		{"not yaml", "rules: [", []string{"rules.yaml: yaml:"}},
		{"top is a list", "- a\n", []string{"rules.yaml:1: document: want a mapping"}},
		{"rp not a list", "routing-points: 5000\nrules: []\n", []string{"rules.yaml:1: routing-points: want a list of DNs"}},
		{"bad rp", "routing-points: ['5 0']\nrules: [{target: '1'}]\n", []string{`rules.yaml:1: routing-points[0]: "5 0" is not a DN`}},
		{"rule not a map", "routing-points: [5000]\nrules:\n  - 7001\n", []string{"rules.yaml:3: rules[0]: want a mapping", "rules.yaml:3: rules[0].target: a rule needs a target DN"}},
		{"every text", "routing-points: [5000]\nrules:\n  - {target: '1', every: many}\n", []string{`rules.yaml:3: rules[0].every: "many": want a whole number from 1`}},
		{"match list", "routing-points: [5000]\nrules:\n  - {target: '1', match: {ani: [1]}}\n", []string{"rules.yaml:3: rules[0].match.ani: want a single value"}},
		{"empty key", "routing-points: [5000]\nrules:\n  - {target: '1', attach: {'': x}}\n", []string{"rules.yaml:3: rules[0].attach: empty key"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tc.doc), "rules.yaml")
			require.Error(t, err)
			require.ErrorIs(t, err, ErrRules)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
	_, err := ParseRules(make([]byte, MaxRulesSize+1), "big.yaml")
	require.ErrorIs(t, err, ErrRules)
	_, err = LoadRules(filepath.Join(t.TempDir(), "missing.yaml"))
	require.Error(t, err)
}

func TestRouterDecide(t *testing.T) {
	rules, err := LoadRules(filepath.Join("testdata", "rules", "good.yaml"))
	require.NoError(t, err)
	r := NewRouter(rules)

	d, ok := r.Decide("+15551230000", "5000")
	require.True(t, ok)
	assert.Equal(t, "vip", d.Rule)
	assert.Equal(t, "7001", d.Target)
	assert.Equal(t, map[string]string{"segment": "gold", "vip": "yes"}, d.Attach)
	assert.Equal(t, map[string]string{"record": "destination", "id": "vip-rec"}, d.Extensions)
	d.Attach["segment"] = "changed" // decisions are copies
	d, _ = r.Decide("+15551239999", "5000")
	assert.Equal(t, "gold", d.Attach["segment"])

	// Other callers: every third call to 5000/5001 goes to 7003, the others
	// fall through to the catch-all.
	var targets []string
	for range 6 {
		d, ok := r.Decide("+4930000", "5001")
		require.True(t, ok)
		targets = append(targets, d.Target)
	}
	assert.Equal(t, []string{"7002", "7002", "7003", "7002", "7002", "7003"}, targets)
	d, _ = r.Decide("+4930000", "6000") // matches only the catch-all
	assert.Equal(t, "7002", d.Target)
	assert.Equal(t, "rules[2]", d.Rule)

	none := NewRouter(&Rules{RoutingPoints: []string{"5000"}, Rules: []Rule{{Target: "1", Every: 1, Match: mustMatch(t, "+1*", "")}}})
	_, ok = none.Decide("+49", "5000")
	assert.False(t, ok)
}

func mustMatch(t *testing.T, ani, dnis string) Match {
	t.Helper()
	a, err := compilePattern(ani)
	require.NoError(t, err)
	d, err := compilePattern(dnis)
	require.NoError(t, err)
	return Match{ANI: ani, DNIS: dnis, ani: a, dnis: d}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, value string
		want           bool
	}{
		{"", "anything", true},
		{"+1555*", "+15551230000", true},
		{"+1555*", "+4930", false},
		{"50??", "5001", true},
		{"50??", "501", false},
		{"[57]000", "7000", true},
		{"re:\\+1(555|800)\\d+", "+18001234", true},
		{"re:\\+1(555|800)\\d+", "x+18001234", false},
		{"re:5", "55", false}, // anchored
	} {
		m, err := compilePattern(tc.pattern)
		require.NoError(t, err, tc.pattern)
		assert.Equal(t, tc.want, m(tc.value), "%q ~ %q", tc.pattern, tc.value)
	}
}

func FuzzParseRules(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "rules", "*.yaml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("routing-points: [5000]\nrules:\n  - {target: '1', every: 2, match: {ani: 're:.*'}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := ParseRules(data, "fuzz.yaml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.yaml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if len(rules.RoutingPoints) == 0 {
			t.Fatal("accepted rules without routing points")
		}
		r := NewRouter(rules)
		for _, rule := range rules.Rules {
			if rule.Every < 1 || !dnPattern.MatchString(rule.Target) {
				t.Fatalf("accepted a bad rule %+v", rule)
			}
		}
		r.Decide("+15551230000", "5000")
	})
}
