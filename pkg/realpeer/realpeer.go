package realpeer

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Need skips the test, with a message saying how to install it, when tool
// is not on PATH.
func Need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		pkg := map[string]string{"sipp": "sip-tester", "tshark": "tshark", "xmllint": "libxml2-utils", "sox": "sox", "soxi": "sox"}[tool]
		if pkg == "" {
			pkg = tool
		}
		t.Skipf("%s is not installed (apt-get install %s); skipping the real-peer test", tool, pkg)
	}
	return p
}

// FreeUDPPort returns a loopback UDP port that was free a moment ago, for
// tools that cannot bind port 0 and report it.
func FreeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Proc is a running tool.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	out    bytes.Buffer
	mu     sync.Mutex
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// Start runs tool with args (from dir, when not empty) for at most limit;
// the test's cleanup kills it if it is still running.
func Start(t testing.TB, dir string, limit time.Duration, tool string, args ...string) *Proc {
	t.Helper()
	path := Need(t, tool)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	p := &Proc{Name: filepath.Base(tool), done: make(chan struct{}), cancel: cancel}
	p.cmd = exec.CommandContext(ctx, path, args...)
	p.cmd.Dir = dir
	p.cmd.Stdout = &lockedWriter{p: p}
	p.cmd.Stderr = &lockedWriter{p: p}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Cancel = func() error { return syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", tool, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		cancel()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output:\n%s", p.Name, p.Output())
		}
	})
	return p
}

// Wait waits for the tool to exit and returns its error (nil on exit 0).
func (p *Proc) Wait() error {
	<-p.done
	return p.err
}

// Done is closed when the tool has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop kills the tool and its children if still running.
func (p *Proc) Stop() {
	select {
	case <-p.done:
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// Interrupt asks the tool to finish (SIGINT, so a capture flushes its file)
// and kills it if it has not exited within grace.
func (p *Proc) Interrupt(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.Stop()
	}
}

// Output returns what the tool printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.out.Write(b)
}

// SippArgs are the flags every non-interactive sipp run needs: bind on
// loopback at port, no keyboard, a global timeout that fails the run.
func SippArgs(port int, timeout time.Duration) []string {
	return []string{"-i", "127.0.0.1", "-p", strconv.Itoa(port), "-nostdin",
		"-timeout", fmt.Sprintf("%ds", int(timeout.Seconds())), "-timeout_error"}
}

// WriteFile writes content under t.TempDir and returns the path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
