package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/tlib"
)

// MoreLabFlows are the flows for monitoring, several destinations, security
// and failure. Failover kills a recorder, so it comes last.
func MoreLabFlows(env func() *LabEnv) []Flow {
	flow := func(name, title, story string, run labRun) Flow { return labFlow(env, name, title, story, run) }
	return []Flow{
		flow("supervisor", "Recording while a supervisor monitors",
			`Supervisor 7100 asks to monitor 7001's next call (RequestMonitorNextCall, mute). A customer
calls 7001, which records full-time; the supervisor's phone is joined to the conference and
its stream and participant are added to the recording: three channels.`, supervisor),
		flow("multi-destination", "Two recording sessions plus a local file for one call",
			`A call to 7001 records full-time to the recorder cluster. The desktop also starts a second
recording of the customer's side with dest=the Resource Manager and dest2=file: (the media
server writes its own WAV). Each copy must hold both parties.`, multiDestination),
		flow("secure", "SIPS and SRTP: the customer calls over TLS with SRTP",
			`The customer's leg is SIP over TLS with SDES-keyed SRTP. The media server terminates SRTP
on that leg; the recording must be the same as in the clear.`, secure),
		flow("mediaserver-failover", "A media server dies mid-call: the SIP Server re-anchors the call",
			`A call to 7001 is recorded through the media server the Resource Manager chose. That media
server is killed (SIGKILL). The SIP Server's keepalive notices, re-anchors both parties on the
other media server and restarts the recording there with the same parameters; the call goes on.`, mediaServerFailover),
		flow("failover", "A recorder dies mid-call: the media server moves the session",
			`A call to 7001 is being recorded when the recorder holding it is killed (SIGKILL). The
media server sees the session fail and re-establishes it through the Resource Manager on the
other recorder under the same recording id (marked as a continuation). The call never drops.`, failover),
	}
}

func supervisor(ctx context.Context, r *Reporter, e *LabEnv) error {
	_, err := e.TLib.Request(ctx, &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7100", OtherDN: "7001",
		MonitorMode: tlib.MonitorModeMute, MonitorScope: tlib.MonitorScopeCall})
	if err != nil {
		return fmt.Errorf("RequestMonitorNextCall: %w", err)
	}
	r.Step("supervisor 7100 will monitor 7001's next call (mute)")
	cust, ci, err := dial(ctx, r, e, "+15551230006", "7001", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	if _, err := e.WaitEvent(ctx, "the supervisor joining", func(m *tlib.Message) bool {
		return m.ThisDN == "7100" && m.CallUUID == ci.CallUUID && (m.Name == tlib.EventEstablished || m.Name == tlib.EventPartyChanged)
	}); err != nil {
		return err
	}
	r.Step("the supervisor's phone joined the conference")
	if err := wait(ctx, 2*talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	found, err := expectRecording(ctx, r, e, ci.CallUUID, 1)
	if err != nil {
		return err
	}
	if n := found[0].Audio.Channels; n != 3 {
		return fmt.Errorf("recording %s has %d channels, want 3 (customer, agent, supervisor)", found[0].ID, n)
	}
	return nil
}

func multiDestination(ctx context.Context, r *Reporter, e *LabEnv) error {
	start, _, _, _ := e.IDs()
	cust, ci, err := dial(ctx, r, e, "+15551230007", "7001", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	id := fmt.Sprintf("demo-multi-%d", time.Now().UnixNano())
	rm := "sip:record@" + e.Cfg.ResourceManager.SIP.TCP + ";transport=tcp"
	if err := e.Private(ctx, ci.AgentDN, ci.ConnID, start, map[string]string{"record": "destination", "id": id, "dest": rm, "dest2": "file:"}); err != nil {
		// 7001's own side already records full-time: record the customer's side instead.
		if err := e.Private(ctx, ci.AgentDN, ci.ConnID, start, map[string]string{"record": "source", "id": id, "dest": rm, "dest2": "file:"}); err != nil {
			return fmt.Errorf("second recording: %w", err)
		}
	}
	r.Step("second recording %s started: dest=%s, dest2=file:", id, rm)
	if err := wait(ctx, 2*talk); err != nil {
		return err
	}
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	found, err := expectRecording(ctx, r, e, ci.CallUUID, 2)
	if err != nil {
		return err
	}
	recorders := map[string]bool{}
	for _, f := range found {
		recorders[f.Recorder] = true
	}
	r.Step("%d recordings on %d recorder(s)", len(found), len(recorders))
	path, err := findLocalFile(e, id)
	if err != nil {
		return err
	}
	f, err := wav.ReadFile(path)
	if err != nil {
		return fmt.Errorf("local file %s: %w", path, err)
	}
	want := map[float64]bool{audio.ToneForDN("+15551230007"): true, audio.ToneForDN("7001"): true}
	cands := []float64{audio.ToneForDN("+15551230007"), audio.ToneForDN("7001")}
	got := map[float64]bool{}
	for ch, s := range f.Samples {
		tone, ok := audio.DominantTone(s, cands)
		if !ok || !want[tone] {
			return fmt.Errorf("local file %s channel %d carries no party's tone", path, ch)
		}
		got[tone] = true
	}
	if len(got) != 2 {
		return fmt.Errorf("local file %s does not hold both parties", path)
	}
	r.Step("local file %s: %d channels, %.1fs, both parties' tones", path, len(f.Samples), f.Duration().Seconds())
	r.Artifact(path)
	return nil
}

func findLocalFile(e *LabEnv, id string) (string, error) {
	for _, m := range e.Cfg.MediaServers {
		for _, name := range []string{id + ".wav", id + "-0.wav"} {
			p := filepath.Join(m.LocalDir, name)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no local recording %s.wav under any media server's local-dir", id)
}

func secure(ctx context.Context, r *Reporter, e *LabEnv) error {
	cust, ci, err := dial(ctx, r, e, "+15551230008", "7001", true)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	m, _ := ci.Call.Media().Remote().Audio()
	r.Step("customer leg: SIP over TLS, media %s", m.Proto)
	if m.Proto != "RTP/SAVP" {
		return fmt.Errorf("the customer's media is %s, not SRTP", m.Proto)
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

// anchoringMediaServer names the media server holding a conference.
func anchoringMediaServer(ctx context.Context, e *LabEnv) (string, error) {
	for _, m := range e.Cfg.MediaServers {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.HTTP+"/api/conferences", nil)
		if err != nil {
			return "", err
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue
		}
		var confs []json.RawMessage
		err = json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&confs)
		res.Body.Close()
		if err == nil && len(confs) > 0 {
			return m.Name, nil
		}
	}
	return "", errors.New("no media server holds the call's conference")
}

func mediaServerFailover(ctx context.Context, r *Reporter, e *LabEnv) error {
	if e.Kill == nil || len(e.Cfg.MediaServers) < 2 {
		return errors.New("media server failover needs a lab the demo controls, with two media servers")
	}
	cust, ci, err := dial(ctx, r, e, "+15551230010", "7001", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	victim, err := anchoringMediaServer(ctx, e)
	if err != nil {
		return err
	}
	if err := wait(ctx, talk); err != nil {
		return err
	}
	if err := e.Kill(victim); err != nil {
		return err
	}
	r.Step("killed %s, which anchored the call", victim)
	before := ci.Call.Media().RecvStats().Packets
	if err := wait(ctx, 3*talk); err != nil {
		return err
	}
	if ci.Call.State().String() != "established" {
		return fmt.Errorf("the call dropped with the media server: %s", ci.Call.EndCause())
	}
	if after := ci.Call.Media().RecvStats().Packets; after < before+50 {
		return fmt.Errorf("the customer's audio did not come back after re-anchoring (%d packets in 4.5 s)", after-before)
	}
	r.Step("the call is still up and the customer hears the agent again")
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	// The first recording lost its media server with no BYE and stays live
	// on its recorder; the restarted one completes with the call.
	if _, err := expectRecording(ctx, r, e, ci.CallUUID, 1); err != nil {
		return fmt.Errorf("the recording restarted on the surviving media server: %w", err)
	}
	return nil
}

func failover(ctx context.Context, r *Reporter, e *LabEnv) error {
	if e.Kill == nil || len(e.Cfg.Recorders) < 2 {
		return errors.New("failover needs a lab the demo controls, with two recorders")
	}
	cust, ci, err := dial(ctx, r, e, "+15551230009", "7001", false)
	if err != nil {
		return err
	}
	defer cust.Close()
	if err := awaitRecord(ctx, e, ci.CallUUID, tlib.RecordOn); err != nil {
		return err
	}
	live, err := e.WaitRecordings(ctx, ci.CallUUID, 1, "recording")
	if err != nil {
		return err
	}
	victim := ""
	for _, rc := range e.Cfg.Recorders {
		if "http://"+rc.HTTP == live[0].Recorder {
			victim = rc.Name
		}
	}
	if err := wait(ctx, talk); err != nil {
		return err
	}
	if err := e.Kill(victim); err != nil {
		return err
	}
	r.Step("killed %s, which held recording %s", victim, live[0].ID)
	if err := wait(ctx, 2*talk); err != nil {
		return err
	}
	if ci.Call.State().String() != "established" {
		return fmt.Errorf("the call dropped when the recorder died: %s", ci.Call.EndCause())
	}
	r.Step("the call is still up")
	if err := hangup(ctx, r, ci); err != nil {
		return err
	}
	var alive recclient.Cluster
	for _, c := range e.Recorders {
		if c.Base != live[0].Recorder {
			alive = append(alive, c)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, waitState)
	defer cancel()
	survivor := &LabEnv{Cfg: e.Cfg, Recorders: alive}
	found, err := survivor.WaitRecordings(wctx, ci.CallUUID, 1, "complete")
	if err != nil {
		return fmt.Errorf("no continuation on the surviving recorder: %w", err)
	}
	v, err := survivor.Verify(ctx, found[0])
	if err != nil {
		return err
	}
	r.Step("recording continued on %s as %s: %d channels, %.1fs", found[0].Recorder, found[0].ID, len(v.Channels), v.Duration.Seconds())
	r.Artifact(found[0].ID)
	return nil
}
