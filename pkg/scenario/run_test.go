package scenario

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/tlib"
)

func newTestRunner(t *testing.T, lab *Lab) (*Runner, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	return NewRunner(Options{Lab: lab, Out: &out, Logger: quietLogger()}), &out
}

// The phone-level scenarios shipped in scenarios/ really run over loopback
// and pass. Scenarios run in parallel: each has its own phones and ports.
func TestDirectScenariosPass(t *testing.T) {
	files, err := filepath.Glob("../../scenarios/phone-*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, path := range files {
		f, err := ParseFile(path)
		require.NoError(t, err)
		for _, s := range f.Scenarios {
			t.Run(filepath.Base(path)+"/"+s.Name, func(t *testing.T) {
				t.Parallel()
				r, out := newTestRunner(t, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res := r.RunScenario(ctx, s)
				require.Equal(t, StatusPassed, res.Status, "%v\n%s", res.Err, out.String())
				assert.Len(t, res.Steps, len(s.Steps))
			})
		}
	}
}

// A deliberately broken scenario fails, and the failure names the step by
// index, name and file:line:column, in the error, the progress output and
// the JUnit report.
func TestBrokenScenarioNamesTheStep(t *testing.T) {
	r, out := newTestRunner(t, nil)
	path := filepath.Join("testdata", "broken.yaml")
	rep, err := r.Run(context.Background(), []string{path})
	require.ErrorIs(t, err, ErrFailed)
	res := rep.Files[0].Results[0]
	require.Equal(t, StatusFailed, res.Status)
	var se *StepError
	require.ErrorAs(t, res.Err, &se)
	assert.Equal(t, 5, se.Index)
	assert.Equal(t, "the customer hears itself", se.Name)
	assert.Equal(t, Pos{Line: 14, Col: 5}, se.Pos)
	msg := res.Err.Error()
	assert.Contains(t, msg, `step 5 "the customer hears itself" (testdata/broken.yaml:14:5): audio: customer heard the 2200 Hz tone for 0s`)
	assert.Contains(t, msg, "heard [")
	assert.Len(t, res.Steps, 5, "steps after the failing one do not run")
	assert.Contains(t, out.String(), "FAIL  5 the customer hears itself")

	var x bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&x))
	doc := decodeJUnit(t, x.Bytes())
	require.Len(t, doc.Suites, 1)
	c := doc.Suites[0].Cases[0]
	require.NotNil(t, c.Failure)
	assert.Contains(t, c.Failure.Message, `step 5 "the customer hears itself" (testdata/broken.yaml:14:5)`)
	assert.Equal(t, 1, doc.Failures)
	xmllint(t, x.Bytes())
}

func closedPorts(t *testing.T) (udp, tcp string) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	udp = pc.LocalAddr().String()
	require.NoError(t, pc.Close())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	tcp = ln.Addr().String()
	require.NoError(t, ln.Close())
	return udp, tcp
}

// With no lab reachable, the lab flows are reported skipped, with the
// reason, and the run does not fail; none of them passes.
func TestLabScenariosSkipWithoutLab(t *testing.T) {
	udp, tcp := closedPorts(t)
	lab := &Lab{SIP: SIPAddrs{UDP: udp, TCP: tcp, TLS: tcp}, TLib: tcp, Recorders: []string{"http://" + tcp}}
	files, err := filepath.Glob("../../scenarios/lab-*.yaml")
	require.NoError(t, err)
	r, out := newTestRunner(t, lab)
	rep, err := r.Run(context.Background(), files)
	require.NoError(t, err, out.String())
	total, failed, errored, skipped := rep.Counts()
	assert.Equal(t, total, skipped)
	assert.Zero(t, failed+errored)
	assert.GreaterOrEqual(t, total, 9)
	for _, f := range rep.Files {
		for _, res := range f.Results {
			assert.Contains(t, res.SkipReason, "no lab reachable: ")
			assert.Contains(t, res.SkipReason, "T-lib "+tcp)
			assert.Empty(t, res.Steps)
		}
	}
	assert.Contains(t, out.String(), "SKIP \"full-time recording of agent 7001\": no lab reachable")
}

// switchStub is a tiny T-lib Handler: RequestMakeCall makes call conn-1 ring
// and get established; RequestPrivateService on it attaches GSIP_RECORD=ON.
type switchStub struct{ srv *tlib.Server }

func (s *switchStub) KnownDN(dn string) bool { return dn == "7001" || dn == "7002" }

func (s *switchStub) HandleRequest(_ context.Context, c *tlib.ClientInfo, req *tlib.Message) error {
	call := func(name, this, other string) *tlib.Message {
		return &tlib.Message{Name: name, ThisDN: this, OtherDN: other, ConnID: "conn-1", CallUUID: "uuid-1"}
	}
	switch req.Name {
	case tlib.RequestMakeCall:
		dialing := call(tlib.EventDialing, req.ThisDN, req.OtherDN)
		dialing.ReferenceID = req.ReferenceID
		s.srv.PublishReply(c.ID, dialing)
		s.srv.Publish(call(tlib.EventRinging, req.OtherDN, req.ThisDN))
		s.srv.Publish(call(tlib.EventEstablished, req.OtherDN, req.ThisDN))
		s.srv.Publish(call(tlib.EventEstablished, req.ThisDN, req.OtherDN))
		return nil
	case tlib.RequestPrivateService:
		if req.ConnID != "conn-1" {
			return tlib.Errorf(tlib.ErrInvalidConnID, "no call %s", req.ConnID)
		}
		if req.PrivateMsgID != 4013 {
			return tlib.ErrInvalidPrivateMsgID
		}
		ev := call(tlib.EventAttachedDataChanged, req.ThisDN, "")
		ev.UserData = tlib.KVList{"GSIP_RECORD": "ON", "GSIP_REC_FN": "uuid-1_7001"}
		s.srv.Publish(ev)
		return nil
	}
	return tlib.ErrInvalidState
}

func startSwitch(t *testing.T) *tlib.Server {
	t.Helper()
	h := &switchStub{}
	srv := tlib.NewServer(tlib.ServerConfig{Listen: "127.0.0.1:0"}, h, tlib.WithLogger(quietLogger()))
	h.srv = srv
	require.NoError(t, srv.Start(context.Background()))
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

const tlibScenario = `name: T-lib requests, events and captures
requires: lab
tlib:
  clients:
    desk: {dns: ["7001"]}
    other: {dns: ["7002"]}
steps:
  - tlib: {client: desk, request: RequestMakeCall, ThisDN: "7001", OtherDN: "7002",
           expect: {event: EventDialing, ConnID: {present: true}}, as: dial}
  - expect:
      tlib:
        client: other
        events:
          - {event: EventRinging, OtherDN: "7001", as: call1}
          - {event: EventEstablished, ConnID: "${call1.ConnID}", CallUUID: {re: "^uuid-"}}
  - name: start recording
    tlib: {client: desk, request: RequestPrivateService, ThisDN: "7001", ConnID: "${dial.ConnID}",
           PrivateMsgID: GSIP_RECORD_START, Extensions: {record: source}, expect: EventACK}
  - expect:
      tlib:
        client: desk
        dn: "7001"
        events:
          - event: EventAttachedDataChanged
            UserData: {GSIP_RECORD: "ON", GSIP_REC_FN: {contains: "${call1.CallUUID}"}}
  - name: an unknown call is refused
    tlib: {client: desk, request: RequestPrivateService, ThisDN: "7001", ConnID: nope, PrivateMsgID: 4013,
           expect: {event: EventError, ErrorCode: "1"}, as: refusal}
  - wait: {until: {event: EventEstablished, client: desk, ThisDN: "7001", CallUUID: "${call1.CallUUID}"}, timeout: 2s}
`

func TestTLibSteps(t *testing.T) {
	srv := startSwitch(t)
	lab := &Lab{TLib: srv.Addr().String(), PrivateMsgIDs: map[string]int{"GSIP_RECORD_START": 4013}}
	f, err := Parse("tlib.yaml", []byte(tlibScenario))
	require.NoError(t, err)
	r, out := newTestRunner(t, lab)
	res := r.RunScenario(context.Background(), f.Scenarios[0])
	require.Equal(t, StatusPassed, res.Status, "%v\n%s", res.Err, out.String())
	assert.Len(t, res.Steps, 6)
}

func TestTLibStepFailures(t *testing.T) {
	srv := startSwitch(t)
	lab := &Lab{TLib: srv.Addr().String(), PrivateMsgIDs: map[string]int{"GSIP_RECORD_START": 4013}}
	tests := []struct {
		name, steps string
		want        []string
	}{
		{"event never comes", `
  - tlib: {request: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"}
  - expect: {tlib: {within: 300ms, events: [EventEstablished, EventReleased]}}`,
			[]string{`step 2 "expect tlib" (t.yaml:7:5): tlib: T-lib client desk: expected EventReleased (event 2 of 2, line 7)`,
				"received: EventDialing ThisDN=7001 OtherDN=7002 ConnID=conn-1, EventEstablished ThisDN=7001"}},
		{"attribute differs", `
  - tlib: {request: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"}
  - expect: {tlib: {within: 300ms, events: [{event: EventEstablished, OtherDN: "7005"}]}}`,
			[]string{`closest: EventEstablished: OtherDN is "7002", want "7005"`}},
		{"request refused", `
  - tlib: {request: RequestPrivateService, ThisDN: "7001", ConnID: nope, PrivateMsgID: 3013}`,
			[]string{`step 1 "desk sends RequestPrivateService" (t.yaml:6:5): RequestPrivateService was refused: EventError ErrorCode=1`}},
		{"wrong error code", `
  - tlib: {request: RequestPrivateService, ThisDN: "7001", ConnID: conn-1, PrivateMsgID: 3013, expect: {event: EventError, ErrorCode: "1"}}`,
			[]string{`expected EventError {ErrorCode=1}; ErrorCode is "6", want "1"`}},
		{"variable never captured", `
  - tlib: {request: RequestMakeCall, ThisDN: "7001", OtherDN: "7002", as: dial}
  - tlib: {request: RequestPrivateService, ThisDN: "7001", ConnID: "${dial.ConnId}", PrivateMsgID: 3013}`,
			[]string{`${dial.ConnId}: "dial" has no field "ConnId"; did you mean "ConnID"?`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := "name: t\ntlib:\n  clients:\n    desk: {dns: [\"7001\"]}\nsteps:" + tc.steps + "\n"
			f, err := Parse("t.yaml", []byte(text))
			require.NoError(t, err)
			r, out := newTestRunner(t, lab)
			res := r.RunScenario(context.Background(), f.Scenarios[0])
			require.Equal(t, StatusFailed, res.Status, out.String())
			for _, w := range tc.want {
				assert.Contains(t, res.Err.Error(), w)
			}
		})
	}
}

// A scenario that cannot start (no T-lib server) is an error, not a failure.
func TestSetupError(t *testing.T) {
	_, tcp := closedPorts(t)
	f, err := Parse("t.yaml", []byte("name: t\ntlib: {clients: {d: {dns: [\"7001\"]}}}\nsteps: [{wait: 10ms}]\n"))
	require.NoError(t, err)
	r, _ := newTestRunner(t, &Lab{TLib: tcp})
	res := r.RunScenario(context.Background(), f.Scenarios[0])
	assert.Equal(t, StatusError, res.Status)
	assert.ErrorContains(t, res.Err, "setup: T-lib client d:")
}

func TestScenarioTimeout(t *testing.T) {
	f, err := Parse("t.yaml", []byte("name: t\nlab: {mode: direct}\ntimeout: 200ms\nsteps:\n  - wait: 5s\n"))
	require.NoError(t, err)
	r, _ := newTestRunner(t, nil)
	start := time.Now()
	res := r.RunScenario(context.Background(), f.Scenarios[0])
	assert.Less(t, time.Since(start), 2*time.Second)
	require.Equal(t, StatusFailed, res.Status)
	assert.ErrorContains(t, res.Err, "the scenario's timeout (200ms) ran out")
	assert.True(t, errors.Is(res.Err, context.DeadlineExceeded))
}

func TestRunInvalidFileAndOnly(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("name: x\nsteps: [{wiat: 1s}]\n"), 0o644))
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte("name: a\nlab: {mode: direct}\nsteps: [{wait: 1ms}]\n---\n"+
		"name: b\nlab: {mode: direct}\nsteps: [{wait: 1ms}]\n"), 0o644))
	var out bytes.Buffer
	rep, err := Run(context.Background(), []string{bad, good}, Options{Out: &out, Only: []string{"b"}})
	require.ErrorIs(t, err, ErrFailed)
	require.Len(t, rep.Files, 2)
	assert.ErrorIs(t, rep.Files[0].Err, ErrInvalid)
	require.Len(t, rep.Files[1].Results, 1)
	assert.Equal(t, "b", rep.Files[1].Results[0].Scenario)
	assert.Contains(t, out.String(), bad+": INVALID\n    "+bad+`:2:10: step 1: unknown key "wiat"; did you mean "wait"?`)
	assert.Contains(t, out.String(), "2 scenarios: 1 passed, 0 failed, 1 errors, 0 skipped")
}
