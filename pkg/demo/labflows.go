package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/tlib"
)

// LabFlows are the recording flows of the tour, run against a lab.
func LabFlows(env func() *LabEnv) []Flow {
	flow := func(name, title, story string, run labRun) Flow { return labFlow(env, name, title, story, run) }
	return []Flow{
		flow("full-time", "Full-time recording: every call on DN 7001 is recorded",
			`DN 7001 has record: true. A customer calls 7001; the SIP Server anchors the call on a
media server chosen by the Resource Manager, which opens a SIPREC session to a recorder.
The recording must hold both parties, each on its own channel.`, fullTime),
		flow("dynamic", "Dynamic recording with pause and resume, driven over T-lib",
			`A customer calls 7003 (not recorded). 1 s in, a desktop sends GSIP_RECORD_START; then
GSIP_RECORD_PAUSE (PCI: card number), GSIP_RECORD_RESUME, GSIP_RECORD_STOP. The paused span
must be silence on both channels, and GSIP_RECORD must follow ON, PAUSED, ON, OFF.`, dynamic),
		flow("selective", "Selective recording decided by a router at routing point 5000",
			`The demo registers as router on routing point 5000 and answers the customer's call with
RequestRouteCall to 7002 and extension record=destination.`, selective),
		flow("prerecord-kept", "Pre-recording kept: a start request during the call keeps it all",
			`DN 7004 pre-records: the recorder holds a tentative recording from call setup. The agent
asks to record 1.5 s into the call; the whole call, from the start, is kept.`, prerecordKept),
		flow("prerecord-discarded", "Pre-recording discarded: nobody asked, the recorder deletes it",
			`A call to 7004 ends without a start request. After the grace period the tentative
recording is deleted and never listed.`, prerecordDiscarded),
	}
}

// labRun is a flow body that drives a lab.
type labRun func(context.Context, *Reporter, *LabEnv) error

// labFlow binds a lab flow to the environment the command sets up before
// the flows run.
func labFlow(env func() *LabEnv, name, title, story string, run labRun) Flow {
	return Flow{Name: name, Title: title, Story: story, Run: func(ctx context.Context, r *Reporter) error { return run(ctx, r, env()) }}
}

const (
	talk      = 1500 * time.Millisecond
	waitState = 10 * time.Second
)

func dial(ctx context.Context, r *Reporter, e *LabEnv, customerDN, target string, secure bool) (*phone.Phone, *CallInfo, error) {
	cust, err := e.Customer(ctx, customerDN, secure)
	if err != nil {
		return nil, nil, err
	}
	ci, err := e.Call(ctx, cust, target)
	if err != nil {
		cust.Close()
		return nil, nil, err
	}
	r.Step("customer %s reached %s: CallUUID %s, ConnID %s", customerDN, ci.AgentDN, ci.CallUUID, ci.ConnID)
	return cust, ci, nil
}

func hangup(ctx context.Context, r *Reporter, ci *CallInfo) error {
	if err := ci.Call.Hangup(ctx); err != nil {
		return fmt.Errorf("hang up: %w", err)
	}
	r.Step("customer hung up")
	return nil
}

func expectRecording(ctx context.Context, r *Reporter, e *LabEnv, callUUID string, n int) ([]recclient.Found, error) {
	wctx, cancel := context.WithTimeout(ctx, waitState)
	defer cancel()
	found, err := e.WaitRecordings(wctx, callUUID, n, "complete")
	if err != nil {
		return nil, err
	}
	for _, f := range found {
		v, err := e.Verify(ctx, f)
		if err != nil {
			return nil, err
		}
		r.Step("recording %s on %s: %d channels, %.1fs, %d pause(s) — each channel carries its party's tone", f.ID, f.Recorder, len(v.Channels), v.Duration.Seconds(), len(f.Pauses))
		r.Artifact(f.ID)
	}
	return found, nil
}

// awaitRecord waits, at most waitState, for GSIP_RECORD of the call to be state.
func awaitRecord(ctx context.Context, e *LabEnv, callUUID, state string) error {
	wctx, cancel := context.WithTimeout(ctx, waitState)
	defer cancel()
	return e.WaitRecordState(wctx, callUUID, state)
}

func fullTime(ctx context.Context, r *Reporter, e *LabEnv) error {
	cust, ci, err := dial(ctx, r, e, "+15551230001", "7001", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	r.Step("GSIP_RECORD=ON announced in EventAttachedDataChanged")
	if err := wait(ctx, 2*talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	_, err = expectRecording(ctx, r, e, ci.CallUUID, 1)
	return err
}

func dynamic(ctx context.Context, r *Reporter, e *LabEnv) error {
	start, stop, pause, resume := e.IDs()
	cust, ci, err := dial(ctx, r, e, "+15551230003", "7003", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	steps := []struct {
		name  string
		id    int
		state string
	}{{"GSIP_RECORD_START", start, tlib.RecordOn}, {"GSIP_RECORD_PAUSE", pause, tlib.RecordPaused},
		{"GSIP_RECORD_RESUME", resume, tlib.RecordOn}, {"GSIP_RECORD_STOP", stop, tlib.RecordOff}}
	for _, s := range steps {
		if err := wait(ctx, talk); err != nil {
			return err
		}
		if err := e.Private(ctx, ci.AgentDN, ci.ConnID, s.id, nil); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if err := awaitRecord(ctx, e, ci.CallUUID, s.state); err != nil {
			return err
		}
		r.Step("%s -> EventACK, GSIP_RECORD=%s", s.name, s.state)
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	found, err := expectRecording(ctx, r, e, ci.CallUUID, 1)
	if err != nil {
		return err
	}
	if len(found[0].Pauses) != 1 {
		return fmt.Errorf("recording %s has %d pause spans, want 1", found[0].ID, len(found[0].Pauses))
	}
	return nil
}

func selective(ctx context.Context, r *Reporter, e *LabEnv) error {
	router, err := tlib.Dial(ctx, e.Cfg.SIPServer.TLib, tlib.ClientConfig{AppName: "demo-router", Password: e.Cfg.SIPServer.TLibPassword})
	if err != nil {
		return err
	}
	defer router.Close()
	if err := router.Register(ctx, "5000"); err != nil {
		return fmt.Errorf("register routing point: %w", err)
	}
	reqs, cancel := router.Subscribe(func(m *tlib.Message) bool { return m.Name == tlib.EventRouteRequest })
	defer cancel()
	routed := make(chan error, 1)
	go func() {
		select {
		case ev := <-reqs:
			_, err := router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: ev.ConnID,
				OtherDN: "7002", Extensions: tlib.KVList{"record": "destination"}})
			routed <- err
		case <-ctx.Done():
			routed <- ctx.Err()
		}
	}()
	cust, ci, err := dial(ctx, r, e, "+15551230002", "5000", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := <-routed; err != nil {
		return fmt.Errorf("RequestRouteCall: %w", err)
	}
	r.Step("router answered EventRouteRequest: route to 7002 with record=destination")
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	if err := wait(ctx, 2*talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	_, err = expectRecording(ctx, r, e, ci.CallUUID, 1)
	return err
}

func prerecordKept(ctx context.Context, r *Reporter, e *LabEnv) error {
	start, _, _, _ := e.IDs()
	cust, ci, err := dial(ctx, r, e, "+15551230004", "7004", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordPrerecord); err != nil {
		return err
	}
	r.Step("GSIP_RECORD=PRERECORD: recording tentatively from call setup")
	if err := wait(ctx, talk); err != nil {
		return err
	}
	if err := e.Private(ctx, ci.AgentDN, ci.ConnID, start, nil); err != nil {
		return fmt.Errorf("GSIP_RECORD_START: %w", err)
	}
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	r.Step("agent asked to record: GSIP_RECORD=ON, the pre-recording is kept")
	if err := wait(ctx, talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	found, err := expectRecording(ctx, r, e, ci.CallUUID, 1)
	if err != nil {
		return err
	}
	if d := time.Duration(found[0].DurationMs) * time.Millisecond; d < 2*talk {
		return fmt.Errorf("kept recording lasts %v: the audio before the start request is missing", d)
	}
	return nil
}

func prerecordDiscarded(ctx context.Context, r *Reporter, e *LabEnv) error {
	cust, ci, err := dial(ctx, r, e, "+15551230005", "7004", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordPrerecord); err != nil {
		return err
	}
	if err := wait(ctx, talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	var grace time.Duration
	for _, rc := range e.Cfg.Recorders {
		grace = max(grace, rc.PrerecordGrace)
	}
	r.Step("call ended with no start request; waiting out the %v grace period", grace)
	if err := wait(ctx, grace+2*time.Second); err != nil {
		return err
	}
	found, err := e.Recorders.Search(ctx, recclient.Query{CallUUID: ci.CallUUID})
	if err != nil {
		return err
	}
	if len(found) != 0 {
		return fmt.Errorf("the discarded pre-recording is still listed: %s (%s)", found[0].ID, found[0].State)
	}
	r.Step("the tentative recording is gone: no recording of %s is listed", ci.CallUUID)
	return nil
}
