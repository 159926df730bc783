package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Sentinel errors.
var (
	ErrNotRunning = errors.New("no lab is running")
	ErrUnhealthy  = errors.New("service did not become healthy")
)

// StateFile is the name of the file, under the data directory, that records a
// running lab.
const StateFile = "lab.json"

// Service is one process of the lab.
type Service struct {
	Role string   `json:"role"`
	Name string   `json:"name"`
	Args []string `json:"args"` // after the binary
	// Health is an http(s) URL answering 200 when the service is ready; empty
	// means ready once the process has run for a moment without exiting.
	Health string            `json:"health,omitempty"`
	Addrs  map[string]string `json:"addrs,omitempty"` // shown in the table: SIP, HTTP, T-lib...
	PID    int               `json:"pid,omitempty"`
}

// State is what a running lab records.
type State struct {
	DataDir  string    `json:"data_dir"`
	Started  time.Time `json:"started"`
	Services []Service `json:"services"`
	PID      int       `json:"pid"` // the supervisor
}

// Supervisor runs a set of services.
type Supervisor struct {
	Bin     string        // the binary to run (default: this executable)
	DataDir string        // where the state file and logs go
	Out     io.Writer     // prefixed service logs
	Ready   time.Duration // how long each service may take to become healthy (default 20 s)
	Grace   time.Duration // SIGTERM to SIGKILL (default 5 s)

	mu    sync.Mutex
	procs []*proc
	wg    sync.WaitGroup
}

type proc struct {
	svc  Service
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start launches the services in order and waits for each to be healthy
// before the next. On failure it stops what it started.
func (s *Supervisor) Start(ctx context.Context, services []Service) error {
	if s.Bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		s.Bin = exe
	}
	if s.Ready == 0 {
		s.Ready = 20 * time.Second
	}
	if s.Grace == 0 {
		s.Grace = 5 * time.Second
	}
	if s.Out == nil {
		s.Out = io.Discard
	}
	if err := os.MkdirAll(s.DataDir, 0o755); err != nil {
		return fmt.Errorf("lab: data dir: %w", err)
	}
	if st, err := ReadState(s.DataDir); err == nil && alive(st.PID) {
		return fmt.Errorf("lab: a lab (supervisor pid %d) already runs with data dir %s; `arlab lab down` first", st.PID, s.DataDir)
	}
	for _, svc := range services {
		p, err := s.spawn(svc)
		if err != nil {
			s.Stop()
			return err
		}
		if err := s.waitHealthy(ctx, p); err != nil {
			s.Stop()
			return err
		}
	}
	return s.writeState()
}

func (s *Supervisor) spawn(svc Service) (*proc, error) {
	cmd := exec.Command(s.Bin, svc.Args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), "ARLAB_SERVICE_NAME="+svc.Name)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", svc.Name, err)
	}
	svc.PID = cmd.Process.Pid
	p := &proc{svc: svc, cmd: cmd, done: make(chan struct{})}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.pipe(svc.Name, stdout)
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// pipe copies a service's output to Out, each line prefixed with its name.
func (s *Supervisor) pipe(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	prefix := fmt.Sprintf("%-14s| ", name)
	for sc.Scan() {
		s.mu.Lock()
		fmt.Fprintln(s.Out, prefix+sc.Text())
		s.mu.Unlock()
	}
}

func (s *Supervisor) waitHealthy(ctx context.Context, p *proc) error {
	deadline := time.NewTimer(s.Ready)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	settled := time.Now().Add(300 * time.Millisecond)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-p.done:
			return fmt.Errorf("lab: %s exited during start-up (%v); see its log lines above", p.svc.Name, p.err)
		case <-deadline.C:
			return fmt.Errorf("lab: %s: %w within %v (%s)", p.svc.Name, ErrUnhealthy, s.Ready, p.svc.Health)
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			if p.svc.Health == "" {
				if time.Now().After(settled) {
					return nil
				}
				continue
			}
			if healthy(ctx, client, p.svc.Health) {
				return nil
			}
		}
	}
}

func healthy(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	res, err := client.Do(req)
	if err != nil {
		return false
	}
	res.Body.Close()
	return res.StatusCode == http.StatusOK
}

// Services returns the running services with their pids.
func (s *Supervisor) Services() []Service {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Service, len(s.procs))
	for i, p := range s.procs {
		out[i] = p.svc
	}
	return out
}

// Exited returns a channel that receives the name of the first service that
// exits on its own.
func (s *Supervisor) Exited() <-chan string {
	ch := make(chan string, 1)
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for _, p := range procs {
		go func() {
			<-p.done
			select {
			case ch <- p.svc.Name:
			default:
			}
		}()
	}
	return ch
}

// Stop stops every service in reverse start order: SIGTERM to its process
// group, SIGKILL after Grace. It removes the state file.
func (s *Supervisor) Stop() {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		stopProc(procs[i], s.Grace)
	}
	s.wg.Wait()
	_ = os.Remove(filepath.Join(s.DataDir, StateFile))
}

func stopProc(p *proc, grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

func (s *Supervisor) writeState() error {
	st := State{DataDir: s.DataDir, Started: time.Now().UTC(), Services: s.Services(), PID: os.Getpid()}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(s.DataDir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.DataDir, StateFile))
}

// ReadState reads the state file of a lab started with dataDir.
func ReadState(dataDir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (no %s in %s)", ErrNotRunning, StateFile, dataDir)
	}
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("lab: %s: %w", StateFile, err)
	}
	return &st, nil
}

// Status is one service's state as seen from outside.
type Status struct {
	Service
	Alive   bool
	Healthy bool
}

// CheckStatus reports each service of a running lab.
func CheckStatus(ctx context.Context, dataDir string) (*State, []Status, error) {
	st, err := ReadState(dataDir)
	if err != nil {
		return nil, nil, err
	}
	client := &http.Client{Timeout: time.Second}
	out := make([]Status, len(st.Services))
	for i, svc := range st.Services {
		out[i] = Status{Service: svc, Alive: alive(svc.PID)}
		out[i].Healthy = out[i].Alive && (svc.Health == "" || healthy(ctx, client, svc.Health))
	}
	return st, out, nil
}

// Down stops a lab started elsewhere: it signals the supervisor, which stops
// its services; what is still alive after grace is killed.
func Down(dataDir string, grace time.Duration) error {
	st, err := ReadState(dataDir)
	if err != nil {
		return err
	}
	if alive(st.PID) {
		_ = syscall.Kill(st.PID, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace + 2*time.Second)
	for time.Now().Before(deadline) {
		if !anyAlive(st) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, svc := range st.Services {
		if alive(svc.PID) {
			_ = syscall.Kill(-svc.PID, syscall.SIGKILL)
		}
	}
	_ = os.Remove(filepath.Join(dataDir, StateFile))
	return nil
}

func anyAlive(st *State) bool {
	if alive(st.PID) {
		return true
	}
	for _, svc := range st.Services {
		if alive(svc.PID) {
			return true
		}
	}
	return false
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
