package load

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// HostStats is the whole machine's CPU during the run, so a figure measured
// while other work shared the cores can be recognised as such.
type HostStats struct {
	CPUs int `json:"cpus"`
	// BusySeconds is CPU time spent by anything (all CPUs together).
	BusySeconds float64 `json:"busy_s"`
	// StealSeconds is time the hypervisor gave to other guests.
	StealSeconds float64 `json:"steal_s"`
	// OtherSeconds is busy time not spent by the listed processes: other
	// work on the machine, plus the kernel's softirq work charged to no one.
	OtherSeconds float64 `json:"other_s"`
	// ElapsedSeconds is the wall time the figures cover.
	ElapsedSeconds float64 `json:"elapsed_s"`
}

// hostCPU is the aggregate line of /proc/stat.
type hostCPU struct {
	busy, steal time.Duration
}

// parseProcStat reads the aggregate "cpu" line of /proc/stat: user nice system
// idle iowait irq softirq steal (guest time is already in user).
func parseProcStat(b []byte) (hostCPU, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return hostCPU{}, fmt.Errorf("%w: cpu line has %d fields", ErrProcFormat, len(f))
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 63)
			if err != nil || n > 1<<40 {
				return hostCPU{}, fmt.Errorf("%w: cpu field %d %q", ErrProcFormat, i+1, f[i+1])
			}
			v[i] = n
		}
		tick := time.Second / clockTicks
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		return hostCPU{busy: time.Duration(busy) * tick, steal: time.Duration(v[7]) * tick}, nil
	}
	return hostCPU{}, fmt.Errorf("%w: no cpu line", ErrProcFormat)
}

func readHostCPU() (hostCPU, error) {
	b, err := readSmall("/proc/stat")
	if err != nil {
		return hostCPU{}, err
	}
	return parseProcStat(b)
}

// hostWatch measures the machine between start and stats.
type hostWatch struct {
	start   hostCPU
	started time.Time
	ok      bool
}

func newHostWatch() *hostWatch {
	h := &hostWatch{started: time.Now()}
	var err error
	h.start, err = readHostCPU()
	h.ok = err == nil
	return h
}

// stats returns the machine's CPU since start (nil when /proc/stat is not
// readable); procs are the accounted processes.
func (h *hostWatch) stats(procs []ProcessStats) *HostStats {
	end, err := readHostCPU()
	if !h.ok || err != nil {
		return nil
	}
	hs := &HostStats{CPUs: runtime.NumCPU(), BusySeconds: round3((end.busy - h.start.busy).Seconds()),
		StealSeconds: round3((end.steal - h.start.steal).Seconds()), ElapsedSeconds: round3(time.Since(h.started).Seconds())}
	other := hs.BusySeconds
	for _, p := range procs {
		other -= p.CPUSeconds
	}
	hs.OtherSeconds = round3(max(other, 0))
	return hs
}
