package resourcemanager

import (
	"context"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"
)

// startHealth starts one prober per member. Each probes at once, then every
// interval, so a fresh RM knows its members within one timeout.
func (r *RM) startHealth() {
	for _, g := range r.groups {
		for _, m := range g.members {
			r.goBG(func() { r.probeLoop(g, m) })
		}
	}
}

func (r *RM) probeLoop(g *group, m *member) {
	t := time.NewTicker(r.cfg.Health.Interval)
	defer t.Stop()
	for {
		r.probe(g, m)
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe sends one OPTIONS to m and records the outcome: any answer but 408,
// 503 and 5xx means alive; 503 (or 480/486) alive but busy until the next good
// probe; 5xx, 408, timeout and transport errors count as failures.
func (r *RM) probe(g *group, m *member) {
	if r.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.Health.Timeout)
	defer cancel()
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: m.uri.Scheme, Host: m.uri.Host, Port: m.uri.Port, UriParams: m.uri.UriParams.Clone()})
	if req.Recipient.Scheme == "" {
		req.Recipient.Scheme = "sip"
	}
	req.SetTransport(m.transport)
	req.SetDestination(m.addr)
	if m.transport == "UDP" {
		req.Laddr = r.udpLaddr
	}
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	// No options: sipgo fills From, To, Call-ID, CSeq, Max-Forwards and Via
	// (host from the client, port from the connection).
	res, err := r.cli.Do(ctx, req)
	if r.ctx.Err() != nil {
		return // stopping: not the member's fault
	}
	now := time.Now()
	var (
		failure  string
		busy     bool
		wentDown bool
	)
	switch {
	case err != nil:
		failure = "OPTIONS: " + describeProbeErr(ctx, err)
	case res.StatusCode == 503 || res.StatusCode == 486 || res.StatusCode == 480:
		busy = true
	case res.StatusCode == 408 || res.StatusCode >= 500:
		failure = "OPTIONS: " + strconv.Itoa(res.StatusCode) + " " + res.Reason
	}
	g.mu.Lock()
	prev := m.state
	switch {
	case failure != "":
		wentDown = m.healthFail(now, r.cfg.Health.DownAfter, failure)
		m.lastProbe = now
	case busy:
		// Alive (so it does not go down) but not taking sessions.
		m.healthOK(now, r.cfg.Health.UpAfter)
		m.markBusy(now.Add(r.cfg.Health.Interval+r.cfg.Health.Timeout), "OPTIONS: "+strconv.Itoa(res.StatusCode)+" "+res.Reason)
	default:
		m.healthOK(now, r.cfg.Health.UpAfter)
	}
	state := m.state
	g.mu.Unlock()
	if failure != "" {
		r.stats.probeFails.Add(1)
	}
	if wentDown {
		r.memberDown(g, m)
	} else if state != prev {
		r.log.Info("member state", "group", g.name, "member", m.name, "from", prev.String(), "to", state.String(), "last_error", failure)
	}
}

func describeProbeErr(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return "timeout"
	}
	return describeTxErr(err)
}
