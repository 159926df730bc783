package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/arlab/arlab/tlib"
)

// Recording actions of Record.
const (
	RecordStart  = "start"
	RecordStop   = "stop"
	RecordPause  = "pause"
	RecordResume = "resume"
)

// ErrBadAction is a recording action Record does not know.
var ErrBadAction = errors.New("agent: recording action must be start, stop, pause or resume")

// Record runs one recording control on call connID as cfg.DN, from a script
// (`arlab agent record start|stop|pause|resume`): RequestPrivateService with
// GSIP_RECORD_START/STOP/PAUSE/RESUME (cfg.RecordIDs). ext are the
// Extensions of a start (record=source|destination, id, dest, dest2). cfg.DN
// need not be on the call (a supervisor may record an agent's call). It
// returns the server's verdict: nil for EventACK, a *tlib.Error when refused.
// The recording's state then arrives as GSIP_RECORD in EventAttachedDataChanged.
func Record(ctx context.Context, cfg Config, action, connID string, ext map[string]string) error {
	id := cfg.recordID(action)
	if id == 0 {
		return fmt.Errorf("%w: %q", ErrBadAction, action)
	}
	if connID == "" {
		return errors.New("agent: no ConnID given")
	}
	req := &tlib.Message{Name: tlib.RequestPrivateService, ThisDN: cfg.DN, ConnID: connID, PrivateMsgID: id, Extensions: ext}
	if err := oneShot(ctx, cfg, "arlab-agent-record", req); err != nil {
		return fmt.Errorf("agent: record %s %s on %s: %w", action, connID, cfg.DN, err)
	}
	return nil
}

// Monitor makes cfg.DN (a supervisor) monitor agentDN, from a script
// (`arlab agent monitor`): mode mute (default) or coach, scope call (the
// agent's next call, default) or agent (every call until cancelled).
func Monitor(ctx context.Context, cfg Config, agentDN, mode, scope string) error {
	if err := oneShot(ctx, cfg, "arlab-agent-monitor", monitorRequest(cfg.DN, "next", agentDN, mode, scope)); err != nil {
		return fmt.Errorf("agent: monitor %s from %s: %w", agentDN, cfg.DN, err)
	}
	return nil
}

// CancelMonitor ends cfg.DN's monitoring of agentDN (`arlab agent monitor
// cancel`).
func CancelMonitor(ctx context.Context, cfg Config, agentDN string) error {
	if err := oneShot(ctx, cfg, "arlab-agent-monitor", monitorRequest(cfg.DN, "cancel", agentDN, "", "")); err != nil {
		return fmt.Errorf("agent: cancel monitoring of %s from %s: %w", agentDN, cfg.DN, err)
	}
	return nil
}

// monitorRequest builds RequestMonitorNextCall (action next) or
// RequestCancelMonitoring (cancel) for supervisor sup and agent.
func monitorRequest(sup, action, agent, mode, scope string) *tlib.Message {
	if action == "cancel" {
		return &tlib.Message{Name: tlib.RequestCancelMonitoring, ThisDN: sup, OtherDN: agent}
	}
	return &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: sup, OtherDN: agent, MonitorMode: mode, MonitorScope: scope}
}

// oneShot connects as cfg.DN, sends one request and returns the server's
// verdict.
func oneShot(ctx context.Context, cfg Config, app string, req *tlib.Message) error {
	if cfg.DN == "" {
		return ErrNoDN
	}
	cl, err := cfg.dial(ctx, app, false)
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	if err := cl.Register(rctx, cfg.DN); err != nil {
		return fmt.Errorf("register %s: %w", cfg.DN, err)
	}
	_, err = cl.Request(rctx, req)
	return err
}
