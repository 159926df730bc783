package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// head is a valid scenario preamble for the table tests; steps follow.
const head = `name: t
lab: {mode: direct}
parties:
  customer: {dn: "+15551230001"}
  agent: {dn: "7001", auto-answer: true}
steps:
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // each a full "file:line:col: message" prefix or substring
	}{
		{"unknown top-level key with suggestion", "name: t\nstep:\n  - wait: 1s\n",
			[]string{`t.yaml:2:1: scenario: unknown key "step"; did you mean "steps"?`, `t.yaml:1:1: scenario "t" has no steps`}},
		{"unknown step kind", head + "  - hangpu: customer\n",
			[]string{`t.yaml:7:5: step 1: unknown key "hangpu"; did you mean "hangup"?`}},
		{"step without action", head + "  - name: nothing\n",
			[]string{`t.yaml:7:5: step 1 does nothing: give it one of register, call`}},
		{"two actions in a step", head + "  - wait: 1s\n    hangup: customer\n",
			[]string{`t.yaml:8:5: step 1 has both wait and hangup: one action per step`}},
		{"unknown party with suggestion", head + "  - call: {from: custmer, to: agent}\n",
			[]string{`t.yaml:7:18: step 1 (call).from: unknown party "custmer"; did you mean "customer"?`}},
		{"bad duration", head + "  - wait: 2 seconds\n",
			[]string{`t.yaml:7:11: step 1 (wait): "2 seconds" is not a duration (write e.g. 500ms, 2s, 1m30s)`}},
		{"negative duration", head + "  - wait: -1s\n",
			[]string{`t.yaml:7:11: step 1 (wait) must not be negative`}},
		{"unknown call", head + "  - call: {id: c1, from: customer, to: agent}\n  - hold: {party: customer, call: c2}\n",
			[]string{`t.yaml:8:35: step 2 (hold).call: no earlier step defines call "c2"; did you mean "c1"?`}},
		{"call needed before hold", head + "  - hold: customer\n",
			[]string{`t.yaml:7:11: step 1 (hold): no call has been made yet`}},
		{"ambiguous call", head + "  - call: {id: a, from: customer, to: agent}\n  - call: {id: b, from: agent, to: customer}\n  - hangup: agent\n",
			[]string{`t.yaml:9:13: step 3 (hangup): several calls exist (a, b): say which with call:`}},
		{"undefined variable", head + "  - call: {from: customer, to: agent, headers: {X-Id: \"${cal1.ConnID}\"}}\n",
			[]string{`t.yaml:7:55: ${cal1.ConnID}: no earlier step defines "cal1"`}},
		{"variable defined later", head + "  - call: {id: c1, from: customer, to: agent, headers: {X: \"${c2.id}\"}}\n  - call: {id: c2, from: agent, to: customer}\n",
			[]string{`no earlier step defines "c2"`}},
		{"bad party field", head + "  - call: {from: customer, to: agent, headers: {X: \"${agent.Dn}\"}}\n",
			[]string{`${agent.Dn}: party fields are DN, Addr, Tone, Name; did you mean "DN"?`}},
		{"unterminated variable", head + "  - call: {from: customer, to: agent, headers: {X: \"${agent\"}}\n",
			[]string{`unterminated ${`}},
		{"duplicate key", head + "  - wait: 1s\n    wait: 2s\n",
			[]string{`t.yaml:8:5: step 1: key "wait" appears twice`}},
		{"bad transport", "name: t\nlab: {mode: direct}\nparties:\n  a: {dn: \"1\", transport: sctp}\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:4:27: parties.a.transport must be one of udp, tcp, tls, got "sctp"`}},
		{"register in direct mode", "name: t\nlab: {mode: direct}\nparties:\n  a: {dn: \"1\", register: true}\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:4:26: parties.a.register: there is no registrar in lab mode direct`}},
		{"direct call to a number", head + "  - call: {from: customer, to: \"5000\"}\n",
			[]string{`t.yaml:7:32: step 1 (call).to: unknown party "5000"`}},
		{"answer by an auto-answer party", head + "  - call: {from: customer, to: agent, wait: ring}\n  - answer: agent\n",
			[]string{`t.yaml:8:13: step 2 (answer): party "agent" answers by itself (auto-answer: true)`}},
		{"unknown T-lib event", "name: t\ntlib: {clients: {d: {dns: [\"7001\"]}}}\nsteps:\n  - expect: {tlib: {events: [EventRinging, EventEstablised]}}\n",
			[]string{`t.yaml:4:44: step 1 (expect).tlib.events[1]: "EventEstablised" is not a T-lib event; did you mean "EventEstablished"?`}},
		{"unknown T-lib attribute", "name: t\ntlib: {clients: {d: {dns: [\"7001\"]}}}\nsteps:\n  - tlib: {request: RequestPrivateService, ThisDn: \"7001\"}\n",
			[]string{`t.yaml:4:44: step 1 (tlib): unknown key "ThisDn"; did you mean "ThisDN"?`}},
		{"unknown T-lib request", "name: t\ntlib: {clients: {d: {dns: [\"7001\"]}}}\nsteps:\n  - tlib: {request: RequestPrivateServce}\n",
			[]string{`is not a T-lib request; did you mean "RequestPrivateService"?`}},
		{"bad PrivateMsgID", "name: t\ntlib: {clients: {d: {dns: [\"7001\"]}}}\nsteps:\n  - tlib: {request: RequestPrivateService, PrivateMsgID: GSIP_RECORD_BEGIN}\n",
			[]string{`PrivateMsgID: "GSIP_RECORD_BEGIN" is not a number (or one of GSIP_RECORD_START`}},
		{"tlib without a client", "name: t\nsteps:\n  - tlib: {request: RequestMakeCall}\n",
			[]string{`t.yaml:3:11: step 1 (tlib): the scenario declares no T-lib client (tlib: clients:)`}},
		{"tlib client in direct mode", "name: t\nlab: {mode: direct}\ntlib: {clients: {d: {dns: [\"1\"]}}}\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:3:18: tlib client "d": lab mode direct has no T-lib server`}},
		{"bad regexp", head + "  - call: {id: c, from: customer, to: agent}\n  - expect: {sip: {call: c, reason: {re: \"(\"}}}\n",
			[]string{`t.yaml:8:42: step 2 (expect).sip.reason.re: error parsing regexp`}},
		{"audio checks nothing", head + "  - call: {from: customer, to: agent}\n  - expect: {audio: {party: agent}}\n",
			[]string{`t.yaml:8:21: step 2 (expect).audio checks nothing`}},
		{"bad tolerance", head + "  - call: {from: customer, to: agent}\n  - expect: {audio: {party: agent, silence: 1s±lots}}\n",
			[]string{`tolerance "lots" is not a duration`}},
		{"tone of an unknown party", head + "  - call: {from: customer, to: agent}\n  - expect: {audio: {party: agent, tone: custmer}}\n",
			[]string{`"custmer" is not a party; write a party name, {dn: "7001"} or {hz: 1800}; did you mean "customer"?`}},
		{"recording without key", "name: t\nsteps:\n  - expect: {recording: {state: complete}}\n",
			[]string{`t.yaml:3:25: step 1 (expect).recording: find the recording by call-uuid, conn-id, dn or id`}},
		{"recording state typo", "name: t\nsteps:\n  - expect: {recording: {id: x, state: compelte}}\n",
			[]string{`"compelte" is not a recording state (recording, paused, complete, tentative, recovered, failed); did you mean "complete"?`}},
		{"absent with checks", "name: t\nsteps:\n  - expect: {recording: {id: x, absent: true, channels: 2}}\n",
			[]string{`absent: true expects no recording; channels cannot be checked`}},
		{"unknown requirement", "name: t\nrequires: [lab, sipp]\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:2:11: requires: unknown requirement "sipp" (known: lab)`}},
		{"duplicate scenario names", "name: t\nsteps: [{wait: 1s}]\n---\nname: t\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:4:1: scenario name "t" is already used at line 1`}},
		{"yaml syntax error", "name: t\nsteps:\n  - wait: [1s\n",
			[]string{`t.yaml:2: YAML syntax: did not find expected ',' or ']'`}},
		{"not a mapping", "- just\n- a list\n", []string{`t.yaml:1:1: scenario must be a mapping, got a list`}},
		{"empty file", "", []string{`t.yaml:1:1: no scenario in file`}},
		{"mixed transports in direct mode", "name: t\nlab: {mode: direct}\nparties:\n  a: {dn: \"1\"}\n  b: {dn: \"2\", transport: tcp}\nsteps:\n  - call: {from: a, to: b}\n",
			[]string{`t.yaml:7:25: step 1 (call): in mode direct both phones must use one transport (a uses udp, b uses tcp)`}},
		{"direct mode with addresses", "name: t\nlab: {mode: direct, tlib: \"127.0.0.1:7000\"}\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:2:21: lab.tlib makes no sense in mode direct`}},
		{"bad host:port", "name: t\nlab: {tlib: \"localhost\"}\nsteps: [{wait: 1s}]\n",
			[]string{`t.yaml:2:13: lab.tlib: "localhost" is not host:port`}},
		{"bad recorder URL", "name: t\nlab: {recorders: [\"127.0.0.1:8090\"]}\nsteps: [{wait: 1s}]\n",
			[]string{`lab.recorders: "127.0.0.1:8090" must be the recorder API base URL`}},
		{"bad DTMF digits", head + "  - call: {from: customer, to: agent}\n  - dtmf: {party: customer, digits: \"12x\"}\n",
			[]string{`step 2 (dtmf).digits: "12x" has characters that are not DTMF`}},
		{"register party that does not register", "name: t\nparties:\n  a: {dn: \"1\", register: false}\nsteps:\n  - register: a\n",
			[]string{`t.yaml:5:15: step 1 (register): party "a" has register: false`}},
		{"scenario without name", "steps: [{wait: 1s}]\n", []string{`t.yaml:1:1: scenario has no name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.text))
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalid)
			var list ErrorList
			require.ErrorAs(t, err, &list)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			for _, e := range list {
				assert.Equal(t, "t.yaml", e.File)
				assert.Positive(t, e.Pos.Line, "every error has a line: %s", e)
			}
		})
	}
}

func TestParseValid(t *testing.T) {
	text := head + `  - call: {id: c1, from: customer, to: agent, headers: {X-Ref: "${customer.DN}-$$1"}}
  - wait: 1s
  - hold: customer
  - resume: {party: customer}
  - dtmf: {party: agent, digits: "12#"}
  - name: check
    timeout: 20s
    expect:
      dtmf: {party: customer, digits: "12#"}
      audio: {party: agent, tone: customer, silence: 0s±100ms}
  - hangup: customer
`
	f, err := Parse("t.yaml", []byte(text))
	require.NoError(t, err)
	require.Len(t, f.Scenarios, 1)
	s := f.Scenarios[0]
	assert.Equal(t, "t", s.Name)
	assert.Equal(t, ModeDirect, s.Lab.Mode)
	require.Len(t, s.Parties, 2)
	assert.Equal(t, "customer", s.Parties[0].Name)
	assert.False(t, s.Parties[0].Register, "direct mode parties do not register")
	assert.True(t, s.Parties[1].AutoAnswer)
	require.Len(t, s.Steps, 7)
	wantNames := []string{"customer calls agent (c1)", "wait 1s", "customer holds c1", "customer resumes c1",
		"agent sends DTMF 12# on c1", "check", "customer hangs up c1"}
	for i, st := range s.Steps {
		assert.Equal(t, i+1, st.Index)
		assert.Equal(t, wantNames[i], st.Name)
		assert.Positive(t, st.Timeout)
	}
	assert.Equal(t, Pos{Line: 7, Col: 5}, s.Steps[0].Pos)
	assert.Equal(t, "expect", s.Steps[5].Kind)
	assert.Equal(t, 20*1e9, float64(s.Steps[5].Timeout))

	// A variable and a $$ escape expand as written.
	c := s.Steps[0].action.(*callStep)
	v := newVars()
	v.set("customer", map[string]string{"DN": "+15551230001"})
	got, err := c.headers[0].val.expand(v)
	require.NoError(t, err)
	assert.Equal(t, "+15551230001-$1", got)
}

func TestParseLabDefaults(t *testing.T) {
	f, err := Parse("dir/t.yaml", []byte(`name: t
lab: {config: ../lab.yaml, recorders: ["http://127.0.0.1:8090/"], tls-ca: ca.pem}
parties:
  a: {dn: "7001"}
  b: {dn: "7002", register: false}
steps: [{wait: 10ms}]
`))
	require.NoError(t, err)
	s := f.Scenarios[0]
	assert.Equal(t, ModeLab, s.Lab.Mode)
	assert.Equal(t, "lab.yaml", s.Lab.Config, "paths are relative to the scenario file")
	assert.Equal(t, filepath.Join("dir", "ca.pem"), s.Lab.TLSCA)
	assert.Equal(t, []string{"http://127.0.0.1:8090"}, s.Lab.Recorders)
	assert.True(t, s.Parties[0].Register, "lab mode parties register by default")
	assert.False(t, s.Parties[1].Register)
	assert.Equal(t, DefaultTimeout, s.Timeout)
}

func TestParseMergeKeys(t *testing.T) {
	f, err := Parse("t.yaml", []byte(`name: t
lab: {mode: direct}
parties:
  a: &phone {dn: "1", transport: tcp, srtp: true}
  b: {<<: *phone, dn: "2"}
steps: [{wait: 10ms}]
`))
	require.NoError(t, err)
	b := f.Scenarios[0].Parties[1]
	assert.Equal(t, "2", b.DN, "keys written win over merged ones")
	assert.Equal(t, "tcp", b.Transport)
	assert.True(t, b.SRTP)
}

// Aliases and merge keys cannot make the parser walk an exponential tree:
// each level below merges the one above eight times (8^11 nodes expanded).
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: t\nlab: {mode: direct}\nsteps:\n  - &a0 {wait: 1s}\n")
	for i := 1; i < 12; i++ {
		b.WriteString("  - &a" + itoa(i) + " {<<: [")
		for j := 0; j < 8; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("  - [*a11, *a11, *a11]\n")
	start := time.Now()
	_, err := Parse("t.yaml", []byte(b.String()))
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "through aliases")
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseFileLimits(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.yaml")
	require.NoError(t, os.WriteFile(big, make([]byte, MaxFileSize+1), 0o644))
	_, err := ParseFile(big)
	assert.ErrorIs(t, err, ErrTooLarge)
	_, err = ParseFile(filepath.Join(dir, "missing.yaml"))
	assert.True(t, errors.Is(err, os.ErrNotExist))
}

// The shipped scenarios must always parse.
func TestShippedScenariosParse(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		sf, err := ParseFile(f)
		require.NoError(t, err, f)
		for _, s := range sf.Scenarios {
			if strings.HasPrefix(filepath.Base(f), "lab-") {
				assert.Equal(t, []string{"lab"}, s.Requires, "%s: lab flows are marked requires: lab", f)
			} else {
				assert.Equal(t, ModeDirect, s.Lab.Mode, "%s: phone flows run without a lab", f)
			}
		}
	}
}

// The errors of a deliberately invalid file are pinned in a golden file:
// every problem at once, in file order, each with file:line:column.
func TestInvalidGolden(t *testing.T) {
	_, err := ParseFile(filepath.Join("testdata", "invalid.yaml"))
	require.Error(t, err)
	golden(t, filepath.Join("testdata", "invalid.errors.golden"), []byte(err.Error()+"\n"))
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}
