package e2e

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/lab"
)

// arlabBin is the binary under test, built once by TestMain.
var arlabBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped in -short mode")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "arlab-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	arlabBin = filepath.Join(dir, "arlab")
	build := exec.Command("go", "build", "-o", arlabBin, "../cmd/arlab")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building arlab:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ports hands out loopback ports free for both TCP and UDP, holding each
// until release so no two are the same.
type ports struct {
	t    *testing.T
	held []io.Closer
}

func (p *ports) next() string {
	p.t.Helper()
	for i := 0; i < 50; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(p.t, err)
		port := l.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			l.Close()
			continue
		}
		p.held = append(p.held, l, pc)
		return fmt.Sprintf("127.0.0.1:%d", port)
	}
	p.t.Fatal("no port free for both TCP and UDP")
	return ""
}

func (p *ports) release() {
	for _, c := range p.held {
		c.Close()
	}
}

// labConfig is the default lab moved to free ports, with its data under dir.
func labConfig(t *testing.T, dir string) string {
	t.Helper()
	pp := &ports{t: t}
	defer pp.release()
	p := pp.next
	ss, rm := p(), p()
	ms := []string{p(), p()}
	rec := []string{p(), p()}
	tlib := p()
	var b strings.Builder
	fmt.Fprintf(&b, "lab: {data-dir: %q}\n", filepath.Join(dir, "data"))
	fmt.Fprintf(&b, "sipserver:\n  sip: {udp: %q, tcp: %q, tls: %q}\n  tlib: %q\n  http: %q\n", ss, ss, p(), tlib, p())
	fmt.Fprintf(&b, "  media-control: {resource-manager: %q}\n", rm)
	fmt.Fprintf(&b, "resourcemanager:\n  sip: {udp: %q, tcp: %q, tls: %q}\n  http: %q\n  health: {interval: 1s, timeout: 500ms, down-after: 2, up-after: 1}\n  invite-timeout: 2s\n", rm, rm, p(), p())
	fmt.Fprintf(&b, "  groups:\n    - name: mediaservers\n      kind: mediaserver\n      policy: least-used\n      members:\n")
	for i, a := range ms {
		fmt.Fprintf(&b, "        - {name: ms%d, uri: \"sip:%s;transport=tcp\"}\n", i+1, a)
	}
	fmt.Fprintf(&b, "    - name: recorders\n      kind: recorder\n      policy: round-robin\n      members:\n")
	for i, a := range rec {
		fmt.Fprintf(&b, "        - {name: rec%d, uri: \"sip:%s;transport=tcp\"}\n", i+1, a)
	}
	b.WriteString("mediaservers:\n")
	for i, a := range ms {
		fmt.Fprintf(&b, "  - {name: ms%d, sip: {udp: %q, tcp: %q}, http: %q, rtp-ports: {min: 0, max: 0}, resource-manager: %q, default-destination: \"sip:record@%s;transport=tcp\", failover: true, keepalive: 1s}\n",
			i+1, a, a, p(), rm, rm)
	}
	b.WriteString("recorders:\n")
	for i, a := range rec {
		fmt.Fprintf(&b, "  - {name: rec%d, sip: {udp: %q, tcp: %q}, http: %q, tlib: {addr: %q}}\n", i+1, a, a, p(), tlib)
	}
	path := filepath.Join(dir, "lab.yaml")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	return path
}

// runningLab is `arlab lab up` running as a child process.
type runningLab struct {
	t      *testing.T
	cmd    *exec.Cmd
	cfg    *config.Config
	cfgArg string
	mu     sync.Mutex
	out    strings.Builder
	done   chan struct{}
}

func (l *runningLab) Output() string { l.mu.Lock(); defer l.mu.Unlock(); return l.out.String() }

// startLab runs `arlab -c cfg lab up` and waits until it says the lab is up.
func startLab(t *testing.T, extraArgs ...string) *runningLab {
	t.Helper()
	dir := t.TempDir()
	path := labConfig(t, dir)
	cfg, err := config.Load(path)
	require.NoError(t, err)
	require.NoError(t, cfg.Absolutize())
	l := &runningLab{t: t, cfg: cfg, cfgArg: path, done: make(chan struct{})}
	args := append([]string{"-c", path, "--log-level", "warn", "lab", "up"}, extraArgs...)
	l.cmd = exec.Command(arlabBin, args...)
	l.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	pr, pw := io.Pipe()
	l.cmd.Stdout, l.cmd.Stderr = pw, pw
	require.NoError(t, l.cmd.Start())
	up := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		once := sync.Once{}
		for sc.Scan() {
			l.mu.Lock()
			l.out.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
			if strings.HasPrefix(sc.Text(), "lab is up") {
				once.Do(func() { close(up) })
			}
		}
	}()
	go func() { l.cmd.Wait(); pw.Close(); close(l.done) }()
	t.Cleanup(func() {
		l.Stop()
		if t.Failed() {
			t.Logf("lab output:\n%s", l.Output())
		}
	})
	select {
	case <-up:
	case <-l.done:
		t.Fatalf("lab up exited:\n%s", l.Output())
	case <-time.After(60 * time.Second):
		t.Fatalf("lab not up within 60s:\n%s", l.Output())
	}
	return l
}

// Stop interrupts `lab up` as Ctrl-C would and waits for it; what is still
// alive after that is killed.
func (l *runningLab) Stop() {
	select {
	case <-l.done:
		return
	default:
	}
	_ = l.cmd.Process.Signal(os.Interrupt)
	select {
	case <-l.done:
	case <-time.After(20 * time.Second):
		_ = syscall.Kill(-l.cmd.Process.Pid, syscall.SIGKILL)
		<-l.done
	}
}

// state reads the running lab's state file.
func (l *runningLab) state() *lab.State {
	st, err := lab.ReadState(l.cfg.Lab.DataDir)
	require.NoError(l.t, err)
	return st
}

// arlab runs one arlab command against the lab's config.
func (l *runningLab) arlab(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, arlabBin, append([]string{"-c", l.cfgArg, "--log-level", "warn"}, args...)...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}
