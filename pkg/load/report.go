package load

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrFailed is wrapped by Report.Err when the run did not meet its checks.
var ErrFailed = errors.New("load run failed")

// maxItemProblems bounds the problems listed per recording and in the summary.
const maxProblems = 20

// Report is the outcome of a run, printable as text (WriteText) and JSON.
type Report struct {
	Mode       string          `json:"mode"`
	Target     string          `json:"target"`
	Started    time.Time       `json:"started"`
	ElapsedMs  int64           `json:"elapsed_ms"`
	Offered    Offered         `json:"offered"`
	Calls      CallStats       `json:"calls"`
	Setup      Latency         `json:"setup_latency"`                  // INVITE to 200 OK
	FirstMedia *Latency        `json:"first_packet_latency,omitempty"` // answer to first recorded packet (lab mode)
	Media      MediaStats      `json:"media"`
	Recordings *RecordingStats `json:"recordings,omitempty"` // nil without recorder API URLs
	Audio      *AudioStats     `json:"audio,omitempty"`
	Processes  []ProcessStats  `json:"processes"`
	Host       *HostStats      `json:"host,omitempty"`
	Problems   []string        `json:"problems"`
	Pass       bool            `json:"pass"`
}

// Offered is the load asked for.
type Offered struct {
	Calls          int     `json:"calls"`
	CPS            float64 `json:"cps"`
	HoldMs         int64   `json:"hold_ms"`
	MaxActive      int     `json:"max_active,omitempty"`
	StreamsPerCall int     `json:"streams_per_call"`
	// SetupP99LimitMs fails the run when the setup p99 exceeds it (0 = no limit).
	SetupP99LimitMs float64 `json:"setup_p99_limit_ms,omitempty"`
}

// CallStats are the signalling outcomes.
type CallStats struct {
	Attempted   int `json:"attempted"`
	Established int `json:"established"`
	Failed      int `json:"failed"`
	// Failures counts failed setups by SIP status code, or "timeout",
	// "transport", "cancelled", "refused-stream" (a 200 OK with a port-0 m-line).
	Failures    map[string]int `json:"failures"`
	EndedByPeer int            `json:"ended_by_peer"` // the far end sent BYE before the hold ended
	ByeFailed   int            `json:"bye_failed"`
	PeakActive  int            `json:"peak_active"`
	// SetupsPerSec is established calls per second from the first INVITE to
	// the last 200 OK.
	SetupsPerSec float64 `json:"setups_per_s"`
}

// Latency is a distribution in milliseconds (nearest-rank percentiles).
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P95   float64 `json:"p95_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// MediaStats are the generator's totals.
type MediaStats struct {
	Streams         int     `json:"streams"`
	Sockets         int     `json:"sockets"`
	PacketsSent     uint64  `json:"packets_sent"`
	SendErrors      uint64  `json:"send_errors"`
	PacketsReceived uint64  `json:"packets_received"`
	MaxLagMs        float64 `json:"max_lag_ms"`  // worst delay of a packet behind its schedule
	MaxTickMs       float64 `json:"max_tick_ms"` // longest scheduler iteration
	// SchedulerCPUSeconds is the generator's own CPU (its scheduler thread,
	// sendmmsg included): what sending cost, apart from SIP and verification.
	SchedulerCPUSeconds float64 `json:"scheduler_cpu_s"`
}

// RecordingStats compare what the recorders hold with what was sent.
type RecordingStats struct {
	Expected    int `json:"expected"` // established calls
	Found       int `json:"found"`
	Complete    int `json:"complete"`
	Missing     int `json:"missing"`
	NotComplete int `json:"not_complete"`
	// Per stream: sent by us, written by the recorder (accepted minus late).
	PacketsSent        uint64  `json:"packets_sent"`
	PacketsWritten     uint64  `json:"packets_written"`
	PacketsLost        uint64  `json:"packets_lost"`
	LossPct            float64 `json:"loss_pct"`
	RecordingsWithLoss int     `json:"recordings_with_loss"`
	// The recorders' own counters, summed.
	Late       uint64            `json:"late"`
	Duplicates uint64            `json:"duplicates"`
	Dropped    uint64            `json:"dropped"`
	SeqLost    int64             `json:"seq_lost"`
	Items      []RecordingResult `json:"items"`
}

// RecordingResult is one call's recording.
type RecordingResult struct {
	CallUUID   string         `json:"call_uuid"`
	ID         string         `json:"id,omitempty"` // "" when missing
	Recorder   string         `json:"recorder,omitempty"`
	State      string         `json:"state,omitempty"`
	DurationMs int64          `json:"duration_ms"`
	Streams    []StreamResult `json:"streams"`
	Problems   []string       `json:"problems,omitempty"`
}

// StreamResult is one recorded stream.
type StreamResult struct {
	Label   string `json:"label"`
	SSRC    uint32 `json:"ssrc"`
	Sent    uint64 `json:"sent"`
	Written uint64 `json:"written"`
	Lost    uint64 `json:"lost"`
}

// AudioStats are the audio checks of the sampled recordings.
type AudioStats struct {
	Sampled  int      `json:"sampled"`
	Passed   int      `json:"passed"`
	Problems []string `json:"problems"`
}

// ProcessStats is what the run cost one process.
type ProcessStats struct {
	Name            string  `json:"name"`
	PID             int     `json:"pid"`
	CPUSeconds      float64 `json:"cpu_s"`       // used during the run
	CPUSecondsTotal float64 `json:"cpu_s_total"` // since the process started
	CPUMsPerCall    float64 `json:"cpu_ms_per_call"`
	RSSStartBytes   int64   `json:"rss_start_bytes"`
	RSSPeakBytes    int64   `json:"rss_peak_bytes"` // highest sampled during the run
	HWMBytes        int64   `json:"hwm_bytes"`      // kernel's peak since the process started
	RSSBytesPerCall int64   `json:"rss_bytes_per_call"`
	Error           string  `json:"error,omitempty"`
}

// latencyOf summarises durations.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p/100*float64(len(s)))) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	return Latency{Count: len(s), Mean: round3(ms(sum) / float64(len(s))), P50: rank(50), P95: rank(95),
		P99: rank(99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

// finish derives Problems and Pass from the figures.
func (r *Report) finish() {
	r.Problems = r.Problems[:0:0]
	add := func(format string, args ...any) { r.Problems = append(r.Problems, fmt.Sprintf(format, args...)) }
	c := r.Calls
	if c.Failed > 0 {
		add("%d of %d calls failed (%s)", c.Failed, c.Attempted, failureList(c.Failures))
	}
	if c.EndedByPeer > 0 {
		add("%d calls ended by the far end before the hold time", c.EndedByPeer)
	}
	if lim := r.Offered.SetupP99LimitMs; lim > 0 && r.Setup.P99 > lim {
		add("INVITE-to-200 p99 %.1f ms is over the %.1f ms limit", r.Setup.P99, lim)
	}
	if c.ByeFailed > 0 {
		add("%d BYEs failed", c.ByeFailed)
	}
	if r.Media.SendErrors > 0 {
		add("%d RTP packets could not be sent", r.Media.SendErrors)
	}
	if rs := r.Recordings; rs != nil {
		if rs.Missing > 0 {
			add("%d of %d recordings missing", rs.Missing, rs.Expected)
		}
		if rs.NotComplete > 0 {
			add("%d recordings not complete", rs.NotComplete)
		}
		if rs.PacketsLost > 0 {
			add("%d of %d RTP packets not written (%.3f %%) in %d recordings", rs.PacketsLost, rs.PacketsSent, rs.LossPct, rs.RecordingsWithLoss)
		}
	}
	if a := r.Audio; a != nil && a.Passed < a.Sampled {
		add("audio verification failed on %d of %d sampled recordings", a.Sampled-a.Passed, a.Sampled)
	}
	r.Pass = len(r.Problems) == 0
}

func failureList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// Err returns nil when the run passed, else an error wrapping ErrFailed that
// lists the problems.
func (r *Report) Err() error {
	if r.Pass {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrFailed, strings.Join(r.Problems, "; "))
}

// JSON returns the report as indented JSON.
func (r *Report) JSON() ([]byte, error) {
	return json.MarshalIndent(r, "", "  ")
}

// WriteText writes the human-readable report (without per-recording items,
// except the problems of the first few).
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	o := r.Offered
	fmt.Fprintf(&b, "arlab load: %s mode, target %s, %s\n", r.Mode, r.Target, time.Duration(r.ElapsedMs)*time.Millisecond)
	rate := "all at once"
	if o.CPS > 0 {
		rate = fmt.Sprintf("%.1f/s", o.CPS)
	}
	fmt.Fprintf(&b, "offered      %d calls at %s, hold %s, %d streams each", o.Calls, rate,
		time.Duration(o.HoldMs)*time.Millisecond, o.StreamsPerCall)
	if o.MaxActive > 0 {
		fmt.Fprintf(&b, ", at most %d active", o.MaxActive)
	}
	b.WriteString("\n")
	c := r.Calls
	fmt.Fprintf(&b, "calls        %d established, %d failed", c.Established, c.Failed)
	if c.Failed > 0 {
		fmt.Fprintf(&b, " (%s)", failureList(c.Failures))
	}
	fmt.Fprintf(&b, ", peak %d active, %.1f setups/s\n", c.PeakActive, c.SetupsPerSec)
	writeLatency(&b, "INVITE→200  ", r.Setup)
	if r.FirstMedia != nil {
		writeLatency(&b, "answer→media", *r.FirstMedia)
	}
	m := r.Media
	fmt.Fprintf(&b, "media        %d streams on %d sockets, %d packets sent, %d send errors, worst lag %.1f ms (longest tick %.1f ms), scheduler %.2f CPU s",
		m.Streams, m.Sockets, m.PacketsSent, m.SendErrors, m.MaxLagMs, m.MaxTickMs, m.SchedulerCPUSeconds)
	if m.PacketsSent > 0 && m.SchedulerCPUSeconds > 0 {
		fmt.Fprintf(&b, " (%.1f µs/packet)", m.SchedulerCPUSeconds*1e6/float64(m.PacketsSent))
	}
	b.WriteString("\n")
	if rs := r.Recordings; rs != nil {
		fmt.Fprintf(&b, "recordings   %d/%d complete, %d missing, %d not complete\n", rs.Complete, rs.Expected, rs.Missing, rs.NotComplete)
		fmt.Fprintf(&b, "packets      %d sent, %d written, %d lost (%.3f %%) in %d recordings; recorder: %d late, %d duplicate, %d dropped, %d sequence gaps\n",
			rs.PacketsSent, rs.PacketsWritten, rs.PacketsLost, rs.LossPct, rs.RecordingsWithLoss, rs.Late, rs.Duplicates, rs.Dropped, rs.SeqLost)
		shown := 0
		for _, it := range rs.Items {
			if len(it.Problems) == 0 {
				continue
			}
			if shown == 5 {
				b.WriteString("  ...\n")
				break
			}
			shown++
			fmt.Fprintf(&b, "  %s %s: %s\n", it.CallUUID, it.ID, strings.Join(it.Problems, "; "))
		}
	} else {
		b.WriteString("recordings   not verified (no recorder API given)\n")
	}
	if a := r.Audio; a != nil {
		fmt.Fprintf(&b, "audio        %d/%d sampled recordings verified\n", a.Passed, a.Sampled)
		for i, p := range a.Problems {
			if i == 5 {
				b.WriteString("  ...\n")
				break
			}
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	if len(r.Processes) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "process\tpid\tcpu s\tcpu ms/call\trss start MiB\trss peak MiB\tKiB/call\t")
		var notes []string
		for _, p := range r.Processes {
			if p.Error != "" {
				notes = append(notes, fmt.Sprintf("  %s (pid %d): %s\n", p.Name, p.PID, p.Error))
			}
			if p.Error != "" && p.RSSPeakBytes == 0 {
				fmt.Fprintf(tw, "%s\t%d\t-\t-\t-\t-\t-\t\n", p.Name, p.PID)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.1f\t%.1f\t%.1f\t\n", p.Name, p.PID, p.CPUSeconds, p.CPUMsPerCall,
				mib(p.RSSStartBytes), mib(p.RSSPeakBytes), float64(p.RSSBytesPerCall)/1024)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range notes {
			b.WriteString(n)
		}
	}
	if h := r.Host; h != nil {
		fmt.Fprintf(&b, "host         %d CPUs busy %.1f s of %.1f s (%.0f %%), %.1f s not by these processes, %.1f s stolen\n",
			h.CPUs, h.BusySeconds, h.ElapsedSeconds*float64(h.CPUs), 100*h.BusySeconds/max(h.ElapsedSeconds*float64(h.CPUs), 1e-9),
			h.OtherSeconds, h.StealSeconds)
	}
	if r.Pass {
		b.WriteString("result       PASS\n")
	} else {
		b.WriteString("result       FAIL\n")
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  %s\n", p)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeLatency(b *strings.Builder, name string, l Latency) {
	fmt.Fprintf(b, "%s p50 %.1f ms, p95 %.1f ms, p99 %.1f ms, max %.1f ms (%d samples)\n", name, l.P50, l.P95, l.P99, l.Max, l.Count)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }
