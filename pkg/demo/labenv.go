package demo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/pkg/wav"
	"github.com/arlab/arlab/tlib"
)

// LabEnv is what the lab flows drive: a running lab's addresses, a T-lib
// client that sees every event and makes requests, and the recorder cluster.
type LabEnv struct {
	Cfg       *config.Config
	TLib      *tlib.Client
	Recorders recclient.Cluster
	// Kill, when set, SIGKILLs a lab service by name (fault-injection flows).
	Kill func(name string) error

	mu     sync.Mutex
	events []*tlib.Message
	notify chan struct{}
	stop   func()
}

// OpenLab connects to the lab described by cfg.
func OpenLab(ctx context.Context, cfg *config.Config) (*LabEnv, error) {
	c, err := tlib.Dial(ctx, cfg.SIPServer.TLib, tlib.ClientConfig{AppName: "arlab-demo", Password: cfg.SIPServer.TLibPassword})
	if err != nil {
		return nil, fmt.Errorf("demo: T-lib %s: %w", cfg.SIPServer.TLib, err)
	}
	if err := c.MonitorAll(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("demo: T-lib monitor-all: %w", err)
	}
	e := &LabEnv{Cfg: cfg, TLib: c, notify: make(chan struct{})}
	for _, r := range cfg.Recorders {
		e.Recorders = append(e.Recorders, recclient.New(r.HTTP, r.Token))
	}
	ch, cancel := c.Subscribe(nil)
	done := make(chan struct{})
	e.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		for ev := range ch {
			e.mu.Lock()
			e.events = append(e.events, ev)
			close(e.notify)
			e.notify = make(chan struct{})
			e.mu.Unlock()
		}
	}()
	return e, nil
}

// Close disconnects from the lab (it does not stop it).
func (e *LabEnv) Close() {
	e.stop()
	e.TLib.Close()
}

// WaitEvent waits for a T-lib event matching match, seen since the flow
// connected, and returns it.
func (e *LabEnv) WaitEvent(ctx context.Context, what string, match func(*tlib.Message) bool) (*tlib.Message, error) {
	seen := 0
	for {
		e.mu.Lock()
		evs, ch := e.events[seen:], e.notify
		seen = len(e.events)
		e.mu.Unlock()
		for _, ev := range evs {
			if match(ev) {
				return ev, nil
			}
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// Customer starts a customer phone with number dn dialling through the SIP
// Server (over TLS with SRTP when secure).
func (e *LabEnv) Customer(ctx context.Context, dn string, secure bool) (*phone.Phone, error) {
	cfg := phone.Config{DN: dn, Host: e.Cfg.Lab.Host, Proxy: e.Cfg.SIPServer.SIP.UDP, RecordAudio: true}
	var opts []phone.Option
	if secure {
		cfg.Transport, cfg.Proxy, cfg.SRTP = "tls", e.Cfg.SIPServer.SIP.TLS, true
		t := e.Cfg.Lab.TLS
		srv, cli, err := sipx.LoadTLS(t.Cert, t.Key, t.CA)
		if err != nil {
			return nil, err
		}
		opts = append(opts, phone.WithTLS(srv, cli))
	}
	return startPhone(ctx, cfg, opts...)
}

// CallInfo identifies a call as the SIP Server sees it.
type CallInfo struct {
	Call     *phone.Call
	CallUUID string
	ConnID   string
	AgentDN  string
}

// Call dials target from the customer and returns once the SIP Server
// reports the call established on an agent DN.
func (e *LabEnv) Call(ctx context.Context, customer *phone.Phone, target string) (*CallInfo, error) {
	c, err := customer.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", target, err)
	}
	ev, err := e.WaitEvent(ctx, "EventEstablished of the agent", func(m *tlib.Message) bool {
		return m.Name == tlib.EventEstablished && m.ANI == customer.DN() && m.ThisDN != customer.DN() && m.ThisDNRole == tlib.RoleDestination
	})
	if err != nil {
		c.Hangup(context.WithoutCancel(ctx))
		return nil, err
	}
	return &CallInfo{Call: c, CallUUID: ev.CallUUID, ConnID: ev.ConnID, AgentDN: ev.ThisDN}, nil
}

// Private sends a RequestPrivateService (recording control) for the call.
func (e *LabEnv) Private(ctx context.Context, thisDN, connID string, id int, ext map[string]string) error {
	req := &tlib.Message{Name: tlib.RequestPrivateService, ThisDN: thisDN, ConnID: connID, PrivateMsgID: id}
	if len(ext) > 0 {
		req.Extensions = ext
	}
	_, err := e.TLib.Request(ctx, req)
	return err
}

// IDs are the lab's recording PrivateMsgIDs.
func (e *LabEnv) IDs() (start, stop, pause, resume int) {
	p := e.Cfg.SIPServer.PrivateMsgIDs
	return p.RecordStart, p.RecordStop, p.RecordPause, p.RecordResume
}

// WaitRecordState waits until GSIP_RECORD of the call is want.
func (e *LabEnv) WaitRecordState(ctx context.Context, callUUID, want string) error {
	_, err := e.WaitEvent(ctx, "GSIP_RECORD="+want, func(m *tlib.Message) bool {
		return m.Name == tlib.EventAttachedDataChanged && m.CallUUID == callUUID && m.UserData[tlib.KeyRecord] == want
	})
	return err
}

// WaitRecordings waits until the cluster holds n recordings of the call in
// one of the states, and returns them.
func (e *LabEnv) WaitRecordings(ctx context.Context, callUUID string, n int, states ...string) ([]recclient.Found, error) {
	if len(e.Recorders) == 0 {
		return nil, errors.New("the lab has no recorder API to ask (external recorder?)")
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last []recclient.Found
	for {
		found, err := e.Recorders.Search(ctx, recclient.Query{CallUUID: callUUID, States: states})
		if err == nil && len(found) >= n {
			return found, nil
		}
		last = found
		select {
		case <-tick.C:
		case <-ctx.Done():
			return last, fmt.Errorf("waiting for %d recording(s) of %s in %v (have %d): %w", n, callUUID, states, len(last), ctx.Err())
		}
	}
}

// Verify downloads a recording and checks every channel carries its
// party's tone and pauses are silent.
func (e *LabEnv) Verify(ctx context.Context, f recclient.Found) (recclient.Verification, error) {
	var c *recclient.Client
	for _, rc := range e.Recorders {
		if rc.Base == f.Recorder {
			c = rc
		}
	}
	if c == nil {
		return recclient.Verification{}, fmt.Errorf("recording %s: recorder %s unknown", f.ID, f.Recorder)
	}
	body, err := c.Audio(ctx, f.ID, -1)
	if err != nil {
		return recclient.Verification{}, err
	}
	defer body.Close()
	file, err := wav.Read(body)
	if err != nil {
		return recclient.Verification{}, fmt.Errorf("recording %s: %w", f.ID, err)
	}
	v := recclient.VerifyTones(f.Recording, file)
	if !v.OK() {
		return v, fmt.Errorf("recording %s: %v", f.ID, v.Problems())
	}
	return v, nil
}
