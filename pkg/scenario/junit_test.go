package scenario

import (
	"bytes"
	"encoding/xml"
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/realpeer"
)

// sampleReport has one of every outcome, with fixed times.
func sampleReport() *Report {
	start := time.Date(2025, 3, 4, 10, 20, 30, 0, time.UTC)
	stepErr := &StepError{File: "scenarios/flow.yaml", Index: 3, Name: "customer hears the agent", Kind: "expect",
		Pos: Pos{Line: 21, Col: 5}, Err: errors.New("audio: customer heard the 1800 Hz tone for 0s, expected at least 1s")}
	return &Report{Files: []FileResult{
		{Path: "scenarios/flow.yaml", Start: start, Duration: 7250 * time.Millisecond, Results: []Result{
			{Scenario: "call with hold", File: "scenarios/flow.yaml", Pos: Pos{Line: 1, Col: 1}, Status: StatusPassed,
				Start: start, Duration: 4 * time.Second, Steps: []StepResult{
					{Index: 1, Name: "customer calls agent (call1)", Kind: "call", Duration: 12 * time.Millisecond},
					{Index: 2, Name: "wait 1s", Kind: "wait", Duration: time.Second}}},
			{Scenario: "broken <on> \"purpose\" & more", File: "scenarios/flow.yaml", Pos: Pos{Line: 30, Col: 1},
				Status: StatusFailed, Err: stepErr, Start: start, Duration: 3250 * time.Millisecond, Steps: []StepResult{
					{Index: 1, Name: "call", Kind: "call", Duration: time.Millisecond},
					{Index: 2, Name: "wait 1s", Kind: "wait", Duration: time.Second},
					{Index: 3, Name: "customer hears the agent", Kind: "expect", Err: stepErr}}},
			{Scenario: "full-time", File: "scenarios/flow.yaml", Pos: Pos{Line: 50, Col: 1}, Status: StatusSkipped,
				SkipReason: "no lab reachable: T-lib 127.0.0.1:7000: connection refused", Start: start},
			{Scenario: "needs a server", File: "scenarios/flow.yaml", Pos: Pos{Line: 60, Col: 1}, Status: StatusError,
				Err: errors.New("setup: T-lib client d: connection refused"), Start: start},
		}},
		{Path: "scenarios/bad.yaml", Start: start, Duration: time.Millisecond,
			Err: ErrorList{{File: "scenarios/bad.yaml", Pos: Pos{Line: 2, Col: 10}, Msg: `step 1: unknown key "wiat"; did you mean "wait"?`},
				{File: "scenarios/bad.yaml", Pos: Pos{Line: 4}, Msg: "YAML syntax: found a tab character"}}},
	}}
}

func TestJUnitGolden(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteJUnit(&b))
	golden(t, filepath.Join("testdata", "junit.golden.xml"), b.Bytes())
	xmllint(t, b.Bytes())
}

// The structure a CI server relies on, checked by decoding.
func TestJUnitStructure(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sampleReport().WriteJUnit(&b))
	doc := decodeJUnit(t, b.Bytes())
	assert.Equal(t, 5, doc.Tests)
	assert.Equal(t, 1, doc.Failures)
	assert.Equal(t, 2, doc.Errors)
	assert.Equal(t, 1, doc.Skipped)
	require.Len(t, doc.Suites, 2)
	s := doc.Suites[0]
	assert.Equal(t, "scenarios/flow.yaml", s.Name)
	assert.Equal(t, "7.250", s.Time)
	assert.Equal(t, "2025-03-04T10:20:30", s.Timestamp)
	require.Len(t, s.Cases, 4)
	assert.Nil(t, s.Cases[0].Failure)
	assert.Nil(t, s.Cases[0].Error)
	assert.Nil(t, s.Cases[0].Skipped)
	assert.Equal(t, "scenarios/flow", s.Cases[0].Classname)
	require.NotNil(t, s.Cases[1].Failure)
	assert.Equal(t, `step 3 "customer hears the agent" (scenarios/flow.yaml:21:5): audio: customer heard the 1800 Hz tone for 0s, expected at least 1s`,
		s.Cases[1].Failure.Message)
	assert.Equal(t, "broken <on> \"purpose\" & more", s.Cases[1].Name, "names survive escaping")
	require.NotNil(t, s.Cases[1].SystemOut)
	assert.Contains(t, s.Cases[1].SystemOut.Text, "FAIL step 3 customer hears the agent (expect)")
	require.NotNil(t, s.Cases[2].Skipped)
	assert.Contains(t, s.Cases[2].Skipped.Message, "no lab reachable")
	require.NotNil(t, s.Cases[3].Error)
	bad := doc.Suites[1]
	require.Len(t, bad.Cases, 1)
	require.NotNil(t, bad.Cases[0].Error)
	assert.Equal(t, "InvalidScenario", bad.Cases[0].Error.Type)
	assert.Contains(t, bad.Cases[0].Error.Text, "scenarios/bad.yaml:4: YAML syntax")
}

func decodeJUnit(t *testing.T, b []byte) junitSuites {
	t.Helper()
	var doc junitSuites
	require.NoError(t, xml.Unmarshal(b, &doc))
	sum := 0
	for _, s := range doc.Suites {
		assert.Len(t, s.Cases, s.Tests, "suite %s: tests counts its testcases", s.Name)
		n := 0
		for _, c := range s.Cases {
			outcomes := 0
			for _, m := range []*junitMsg{c.Skipped, c.Error, c.Failure} {
				if m != nil {
					outcomes++
				}
			}
			assert.LessOrEqual(t, outcomes, 1, "one outcome per testcase")
			if c.Failure != nil {
				n++
			}
		}
		assert.Equal(t, s.Failures, n)
		sum += s.Tests
	}
	assert.Equal(t, doc.Tests, sum)
	return doc
}

// xmllint checks well-formedness (--noout) and the JUnit schema.
func xmllint(t *testing.T, b []byte) {
	t.Helper()
	bin := realpeer.Need(t, "xmllint")
	path := realpeer.WriteFile(t, "report.xml", string(b))
	out, err := exec.Command(bin, "--noout", path).CombinedOutput()
	require.NoError(t, err, "xmllint --noout: %s", out)
	out, err = exec.Command(bin, "--noout", "--schema", filepath.Join("testdata", "junit.xsd"), path).CombinedOutput()
	require.NoError(t, err, "xmllint --schema: %s", out)
}
