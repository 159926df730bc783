package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel ABI fixes it,
// whatever CONFIG_HZ is).
const clockTicks = 100

// maxProcFile bounds what is read from one /proc file.
const maxProcFile = 64 << 10

// ErrProcFormat is a /proc file that does not parse.
var ErrProcFormat = errors.New("unreadable /proc file")

// procSample is one reading of a process.
type procSample struct {
	CPU time.Duration // user + system since the process started
	RSS int64         // resident set now, bytes
	HWM int64         // peak resident set since the process started, bytes
}

// parseStat returns utime+stime from the content of /proc/<pid>/stat. The
// command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%w: stat has no command field", ErrProcFormat)
	}
	// After ") ": field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("%w: stat has %d fields after the command", ErrProcFormat, len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 63)
	st, err2 := strconv.ParseUint(f[12], 10, 63)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%w: stat times: %w", ErrProcFormat, err)
	}
	ticks := ut + st
	if ticks > uint64(1<<62)/uint64(time.Second/clockTicks) {
		return 0, fmt.Errorf("%w: stat times out of range", ErrProcFormat)
	}
	return time.Duration(ticks) * (time.Second / clockTicks), nil
}

// parseStatus returns VmRSS and VmHWM (bytes) from /proc/<pid>/status.
func parseStatus(b []byte) (rss, hwm int64, err error) {
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		case strings.HasPrefix(line, "VmHWM:"):
			dst = &hwm
		default:
			continue
		}
		f := strings.Fields(line[6:])
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%w: status line %q", ErrProcFormat, line)
		}
		kb, perr := strconv.ParseInt(f[0], 10, 64)
		if perr != nil || kb < 0 || kb > 1<<40 {
			return 0, 0, fmt.Errorf("%w: status line %q", ErrProcFormat, line)
		}
		*dst = kb << 10
		found++
	}
	if found < 2 {
		// Kernel threads and zombies have no Vm lines.
		return 0, 0, fmt.Errorf("%w: status has no VmRSS/VmHWM", ErrProcFormat)
	}
	return rss, hwm, nil
}

// readProc samples a process from /proc.
func readProc(pid int) (procSample, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	stat, err := readSmall(dir + "stat")
	if err != nil {
		return procSample{}, err
	}
	status, err := readSmall(dir + "status")
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStat(stat)
	if err != nil {
		return procSample{}, err
	}
	rss, hwm, err := parseStatus(status)
	if err != nil {
		return procSample{}, err
	}
	return procSample{CPU: cpu, RSS: rss, HWM: hwm}, nil
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxProcFile))
}

// procWatch follows the CPU and RSS of a set of processes over a run.
type procWatch struct {
	mu    sync.Mutex
	procs []*watched
}

type watched struct {
	Process
	start, last procSample
	peakRSS     int64
	ok          bool // the first sample succeeded
	err         error
}

func newProcWatch(procs []Process) *procWatch {
	w := &procWatch{}
	for _, p := range procs {
		wp := &watched{Process: p}
		s, err := readProc(p.PID)
		if err != nil {
			wp.err = err
		} else {
			wp.ok, wp.start, wp.last, wp.peakRSS = true, s, s, s.RSS
		}
		w.procs = append(w.procs, wp)
	}
	return w
}

// sample reads every process again, keeping the highest RSS seen.
func (w *procWatch) sample() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.procs {
		if !p.ok {
			continue
		}
		s, err := readProc(p.PID)
		if err != nil {
			p.err = err // the process ended: keep its last figures
			continue
		}
		p.last = s
		p.peakRSS = max(p.peakRSS, s.RSS)
	}
}

// stats returns each process's figures; calls divides the per-call costs.
func (w *procWatch) stats(calls, peakActive int) []ProcessStats {
	w.sample()
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]ProcessStats, 0, len(w.procs))
	for _, p := range w.procs {
		ps := ProcessStats{Name: p.Name, PID: p.PID}
		if !p.ok {
			ps.Error = p.err.Error()
			out = append(out, ps)
			continue
		}
		if p.err != nil {
			ps.Error = p.err.Error()
		}
		ps.CPUSeconds = (p.last.CPU - p.start.CPU).Seconds()
		ps.CPUSecondsTotal = p.last.CPU.Seconds()
		ps.RSSStartBytes = p.start.RSS
		ps.RSSPeakBytes = p.peakRSS
		ps.HWMBytes = p.last.HWM
		if calls > 0 {
			ps.CPUMsPerCall = ps.CPUSeconds * 1000 / float64(calls)
		}
		if peakActive > 0 {
			ps.RSSBytesPerCall = max(0, p.peakRSS-p.start.RSS) / int64(peakActive)
		}
		out = append(out, ps)
	}
	return out
}
