package sipserver

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// setupBuckets are the upper bounds (seconds) of the call setup histogram:
// from the caller's INVITE to the destination's answer.
var setupBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// metrics holds the SIP Server's counters; /metrics renders them in the
// Prometheus text format (0.0.4). There are few series, so no library.
type metrics struct {
	callsStarted  atomic.Uint64
	callsAnswered atomic.Uint64
	callsFailed   atomic.Uint64 // released before an answer
	legs          atomic.Int64
	events        atomic.Uint64
	tlibRequests  atomic.Uint64
	tlibErrors    atomic.Uint64
	mediaLegs     atomic.Uint64 // media-control legs opened
	midAnchors    atomic.Uint64 // calls anchored after the answer (re-INVITEs)
	reanchors     atomic.Uint64 // calls moved off a lost media server
	recStarted    atomic.Uint64
	recFailed     atomic.Uint64

	mu           sync.Mutex
	setupCounts  []uint64 // per bucket, not cumulative
	setupSum     float64
	setupSamples uint64
}

func newMetrics() *metrics {
	return &metrics{setupCounts: make([]uint64, len(setupBuckets))}
}

func (m *metrics) callStarted() { m.callsStarted.Add(1) }
func (m *metrics) legUp()       { m.legs.Add(1) }
func (m *metrics) legDown()     { m.legs.Add(-1) }
func (m *metrics) event()       { m.events.Add(1) }

func (m *metrics) mediaLeg()         { m.mediaLegs.Add(1) }
func (m *metrics) anchoredMidCall()  { m.midAnchors.Add(1) }
func (m *metrics) reanchored()       { m.reanchors.Add(1) }
func (m *metrics) recordingStarted() { m.recStarted.Add(1) }
func (m *metrics) recordingFailed()  { m.recFailed.Add(1) }

func (m *metrics) callReleased(answered bool) {
	if !answered {
		m.callsFailed.Add(1)
	}
}

func (m *metrics) tlibRequest(failed bool) {
	m.tlibRequests.Add(1)
	if failed {
		m.tlibErrors.Add(1)
	}
}

// callAnswered records a setup time.
func (m *metrics) callAnswered(setup time.Duration) {
	m.callsAnswered.Add(1)
	sec := setup.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setupSum += sec
	m.setupSamples++
	for i, ub := range setupBuckets {
		if sec <= ub {
			m.setupCounts[i]++
			return
		}
	}
}

// render writes the exposition; calls and registrations are gauges read now.
func (m *metrics) render(calls, registrations int) []byte {
	var b bytes.Buffer
	for _, c := range []struct {
		name, help, kind string
		val              float64
	}{
		{"arlab_sipserver_calls", "Calls in the call table (live, or released with legs still hanging up).", "gauge", float64(calls)},
		{"arlab_sipserver_legs", "SIP dialogs (call legs) the B2BUA tracks.", "gauge", float64(m.legs.Load())},
		{"arlab_sipserver_registrations", "DNs with a live registered contact.", "gauge", float64(registrations)},
		{"arlab_sipserver_calls_started_total", "Calls accepted (INVITE from a phone or RequestMakeCall).", "counter", float64(m.callsStarted.Load())},
		{"arlab_sipserver_calls_answered_total", "Calls the destination answered.", "counter", float64(m.callsAnswered.Load())},
		{"arlab_sipserver_calls_failed_total", "Calls released before an answer (busy, no answer, cancelled, refused).", "counter", float64(m.callsFailed.Load())},
		{"arlab_sipserver_tlib_events_total", "Call events published to T-lib clients.", "counter", float64(m.events.Load())},
		{"arlab_sipserver_tlib_requests_total", "T-lib call requests performed.", "counter", float64(m.tlibRequests.Load())},
		{"arlab_sipserver_tlib_request_errors_total", "T-lib call requests answered with EventError.", "counter", float64(m.tlibErrors.Load())},
		{"arlab_sipserver_media_legs_total", "Media-control legs opened to media servers.", "counter", float64(m.mediaLegs.Load())},
		{"arlab_sipserver_midcall_anchors_total", "Calls moved onto a media server by re-INVITEs after the answer.", "counter", float64(m.midAnchors.Load())},
		{"arlab_sipserver_reanchors_total", "Calls re-anchored because their media server was lost.", "counter", float64(m.reanchors.Load())},
		{"arlab_sipserver_recordings_started_total", "Recordings started (full-time, selective, dynamic, pre-recording).", "counter", float64(m.recStarted.Load())},
		{"arlab_sipserver_recordings_failed_total", "Recordings reported GSIP_RECORD=FAILED.", "counter", float64(m.recFailed.Load())},
	} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n%s %g\n", c.name, c.help, c.name, c.kind, c.name, c.val)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	const h = "arlab_sipserver_call_setup_seconds"
	fmt.Fprintf(&b, "# HELP %s Time from the caller's INVITE to the destination's answer.\n# TYPE %s histogram\n", h, h)
	var cum uint64
	for i, ub := range setupBuckets {
		cum += m.setupCounts[i]
		fmt.Fprintf(&b, "%s_bucket{le=\"%g\"} %d\n", h, ub, cum)
	}
	fmt.Fprintf(&b, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %g\n%s_count %d\n", h, m.setupSamples, h, m.setupSum, h, m.setupSamples)
	return b.Bytes()
}
