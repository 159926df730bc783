package resourcemanager

import (
	"bytes"
	"fmt"
)

// metrics renders the Prometheus text exposition (format 0.0.4). The RM has a
// few dozen series, so it is built on demand from the same snapshots as the
// JSON API rather than with a metrics library. Label values are group and
// member names, which Validate limits to [A-Za-z0-9_.:[]-], so %q quotes them
// exactly as the format wants.
func (r *RM) metrics() []byte {
	var b bytes.Buffer
	groups := r.Groups()

	type memberMetric struct {
		name, help, kind string
		val              func(MemberStatus) float64
	}
	bool01 := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	memberMetrics := []memberMetric{
		{"arlab_rm_member_up", "1 when the member's last health checks succeeded.", "gauge", func(m MemberStatus) float64 { return bool01(m.State == "up") }},
		{"arlab_rm_member_available", "1 when the member can take a new session now.", "gauge", func(m MemberStatus) float64 { return bool01(m.Available) }},
		{"arlab_rm_member_draining", "1 when the member is drained (no new sessions).", "gauge", func(m MemberStatus) float64 { return bool01(m.Draining) }},
		{"arlab_rm_member_busy", "1 when the member answered 480/486/503 lately.", "gauge", func(m MemberStatus) float64 { return bool01(m.Busy) }},
		{"arlab_rm_member_active_sessions", "Sessions placed on the member and not ended.", "gauge", func(m MemberStatus) float64 { return float64(m.Active) }},
		{"arlab_rm_member_capacity", "Configured capacity of the member (0 = unlimited).", "gauge", func(m MemberStatus) float64 { return float64(m.Capacity) }},
		{"arlab_rm_member_attempts_total", "INVITEs sent to the member.", "counter", func(m MemberStatus) float64 { return float64(m.Attempts) }},
		{"arlab_rm_member_sessions_total", "INVITEs the member answered 2xx.", "counter", func(m MemberStatus) float64 { return float64(m.Sessions) }},
		{"arlab_rm_member_failures_total", "Tries on the member that failed over.", "counter", func(m MemberStatus) float64 { return float64(m.Failures) }},
	}
	for _, mm := range memberMetrics {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", mm.name, mm.help, mm.name, mm.kind)
		for _, g := range groups {
			for _, m := range g.Members {
				fmt.Fprintf(&b, "%s{group=%q,member=%q} %g\n", mm.name, g.Name, m.Name, mm.val(m))
			}
		}
	}
	groupMetrics := []struct {
		name, help, kind string
		val              func(GroupStatus) float64
	}{
		{"arlab_rm_group_available_members", "Members of the group that can take a session now.", "gauge", func(g GroupStatus) float64 { return float64(g.Available) }},
		{"arlab_rm_group_rejected_total", "INVITEs answered 503 because no member took them.", "counter", func(g GroupStatus) float64 { return float64(g.Rejected) }},
		{"arlab_rm_group_conferences", "Conferences pinned to a media server.", "gauge", func(g GroupStatus) float64 { return float64(g.Conferences) }},
	}
	for _, gm := range groupMetrics {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", gm.name, gm.help, gm.name, gm.kind)
		for _, g := range groups {
			fmt.Fprintf(&b, "%s{group=%q} %g\n", gm.name, g.Name, gm.val(g))
		}
	}
	for _, c := range []struct {
		name, help, kind string
		val              uint64
	}{
		{"arlab_rm_sessions", "Sessions (dialogs) the proxy tracks.", "gauge", uint64(r.sessions.len())},
		{"arlab_rm_requests_total", "SIP requests received.", "counter", r.stats.requests.Load()},
		{"arlab_rm_invites_total", "Initial INVITEs placed on a group.", "counter", r.stats.invites.Load()},
		{"arlab_rm_in_dialog_requests_total", "Requests routed inside a dialog.", "counter", r.stats.inDialog.Load()},
		{"arlab_rm_rejected_total", "Requests the proxy answered with an error itself.", "counter", r.stats.rejected.Load()},
		{"arlab_rm_stray_dialogs_total", "Dialogs answered after the proxy gave up, ended with ACK and BYE.", "counter", r.stats.strays.Load()},
		{"arlab_rm_expired_sessions_total", "Sessions forgotten because their member went down or they outlived session-ttl.", "counter", r.stats.expired.Load()},
		{"arlab_rm_probe_failures_total", "OPTIONS health checks that failed.", "counter", r.stats.probeFails.Load()},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", c.name, c.help, c.name, c.kind, c.name, c.val)
	}
	return b.Bytes()
}
