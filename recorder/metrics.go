package recorder

import (
	"context"
	"fmt"
	"io"
	"sort"
	"sync/atomic"
)

// metrics are the recorder's counters, exposed in the Prometheus text format. Per-packet
// figures are not counted on the hot path: live sessions are summed at scrape time and
// finished ones are added to the totals when they end.
type metrics struct {
	invites, accepted, rejected, overload atomic.Int64
	recovered, kept, discarded            atomic.Int64
	writeErrors, tlibEvents               atomic.Int64

	packets, bytes, lost, late, dups, dropped atomic.Int64
	finishedByState                           [6]atomic.Int64
}

var stateIndex = map[State]int{StateRecording: 0, StatePaused: 1, StateComplete: 2, StateTentative: 3, StateRecovered: 4, StateFailed: 5}

func (m *metrics) finished(rec *Recording) {
	for _, c := range rec.Channels {
		m.packets.Add(int64(c.Stats.Packets))
		m.bytes.Add(int64(c.Stats.Bytes))
		m.lost.Add(c.Stats.Lost)
		m.late.Add(int64(c.Stats.Late))
		m.dups.Add(int64(c.Stats.Duplicates))
		m.dropped.Add(int64(c.Stats.Dropped))
	}
	if i, ok := stateIndex[rec.State]; ok {
		m.finishedByState[i].Add(1)
	}
}

// writeMetrics writes the Prometheus text exposition.
func (r *Recorder) writeMetrics(ctx context.Context, w io.Writer) {
	m := &r.metrics
	var p, b, lost, late, dups, dropped int64
	live := r.liveSessions()
	for _, s := range live {
		snap := s.tl.Snapshot()
		for _, c := range snap.Channels {
			p += int64(c.Stats.Packets)
			b += int64(c.Stats.Bytes)
			lost += c.Stats.Lost
			late += int64(c.Stats.Late)
			dups += int64(c.Stats.Duplicates)
			dropped += int64(c.Stats.Dropped)
		}
		s.mu.Lock()
		for _, st := range s.streams {
			if st != nil {
				dropped += int64(st.ms.DropCount())
			}
		}
		s.mu.Unlock()
	}
	metric := func(name, typ, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", name, help, name, typ, name, v)
	}
	metric("arlab_recorder_sessions_active", "gauge", "Live recording sessions.", int64(len(live)))
	metric("arlab_recorder_sessions_max", "gauge", "Configured session limit.", int64(r.cfg.MaxSessions))
	metric("arlab_recorder_invites_total", "counter", "Initial INVITEs received.", m.invites.Load())
	metric("arlab_recorder_sessions_accepted_total", "counter", "Recording sessions accepted.", m.accepted.Load())
	metric("arlab_recorder_sessions_rejected_total", "counter", "Recording sessions refused (any reason).", m.rejected.Load())
	metric("arlab_recorder_sessions_overload_total", "counter", "Recording sessions refused with 503 at the session limit.", m.overload.Load())
	metric("arlab_recorder_recovered_total", "counter", "Recordings repaired at start-up.", m.recovered.Load())
	metric("arlab_recorder_prerecord_kept_total", "counter", "Pre-recordings kept.", m.kept.Load())
	metric("arlab_recorder_prerecord_discarded_total", "counter", "Pre-recordings deleted after the grace period.", m.discarded.Load())
	metric("arlab_recorder_write_errors_total", "counter", "Audio write or flush errors.", m.writeErrors.Load())
	metric("arlab_recorder_tlib_events_total", "counter", "T-lib call events joined.", m.tlibEvents.Load())
	metric("arlab_recorder_rtp_packets_total", "counter", "RTP packets accepted.", m.packets.Load()+p)
	metric("arlab_recorder_rtp_bytes_total", "counter", "RTP payload bytes accepted.", m.bytes.Load()+b)
	metric("arlab_recorder_rtp_lost_total", "counter", "RTP packets lost (RFC 3550 expected minus received).", m.lost.Load()+lost)
	metric("arlab_recorder_rtp_late_total", "counter", "RTP packets that arrived after their jitter window.", m.late.Load()+late)
	metric("arlab_recorder_rtp_duplicates_total", "counter", "Duplicate RTP packets dropped.", m.dups.Load()+dups)
	metric("arlab_recorder_rtp_dropped_total", "counter", "Datagrams dropped (garbage, SRTP auth failure, unknown payload, inactive stream).", m.dropped.Load()+dropped)
	fmt.Fprintf(w, "# HELP arlab_recorder_sessions_finished_total Recording sessions finished, by final state.\n# TYPE arlab_recorder_sessions_finished_total counter\n")
	for _, st := range []State{StateRecording, StatePaused, StateComplete, StateTentative, StateRecovered, StateFailed} {
		if v := m.finishedByState[stateIndex[st]].Load(); v > 0 {
			fmt.Fprintf(w, "arlab_recorder_sessions_finished_total{state=%q} %d\n", st, v)
		}
	}
	if counts, err := r.store.Counts(ctx); err == nil {
		fmt.Fprintf(w, "# HELP arlab_recorder_recordings Recordings in the index, by state.\n# TYPE arlab_recorder_recordings gauge\n")
		states := make([]string, 0, len(counts))
		for st := range counts {
			states = append(states, string(st))
		}
		sort.Strings(states)
		for _, st := range states {
			fmt.Fprintf(w, "arlab_recorder_recordings{state=%q} %d\n", st, counts[State(st)])
		}
	}
}
