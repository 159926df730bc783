package lab

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// The test binary doubles as a lab service: with LAB_TEST_CHILD set it
// behaves as the mode says instead of running tests.
func TestMain(m *testing.M) {
	switch os.Getenv("LAB_TEST_CHILD") {
	case "":
		goleak.VerifyTestMain(m)
	case "serve":
		child(true)
	case "stubborn":
		child(false)
	case "crash":
		fmt.Println("crashing on purpose")
		os.Exit(3)
	}
}

func child(obeyTerm bool) {
	sig := make(chan os.Signal, 1)
	if obeyTerm {
		signal.Notify(sig, syscall.SIGTERM)
	} else {
		signal.Ignore(syscall.SIGTERM)
	}
	if addr := os.Getenv("LAB_TEST_HTTP"); addr != "" {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			os.Exit(4)
		}
		go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
	}
	fmt.Println("child up", os.Getenv("ARLAB_SERVICE_NAME"))
	<-sig
	fmt.Println("child stopping")
	os.Exit(0)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func svc(t *testing.T, name, mode, httpAddr string) Service {
	t.Setenv("LAB_TEST_CHILD", mode) // inherited by children; restored after the test
	s := Service{Role: "test", Name: name, Args: []string{"-test.run=^$"}}
	if httpAddr != "" {
		s.Health = "http://" + httpAddr + "/healthz"
	}
	return s
}

func TestStartStatusStop(t *testing.T) {
	dir := t.TempDir()
	out := &syncBuf{}
	sup := &Supervisor{DataDir: dir, Out: out, Grace: 2 * time.Second}
	addr := freeAddr(t)
	t.Setenv("LAB_TEST_HTTP", addr)
	services := []Service{svc(t, "one", "serve", addr)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, sup.Start(ctx, services))

	st, statuses, err := CheckStatus(ctx, dir)
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), st.PID)
	require.Len(t, statuses, 1)
	assert.True(t, statuses[0].Alive)
	assert.True(t, statuses[0].Healthy)
	pid := statuses[0].PID

	require.Eventually(t, func() bool { return strings.Contains(out.String(), "one           | child up one") }, 5*time.Second, 10*time.Millisecond, out.String())

	err = sup.Start(ctx, services)
	assert.ErrorContains(t, err, "already runs", "a second lab on the same data dir is refused")

	sup.Stop()
	assert.False(t, alive(pid), "service still alive after Stop")
	assert.Contains(t, out.String(), "child stopping", "SIGTERM lets a service stop cleanly")
	_, err = ReadState(dir)
	assert.ErrorIs(t, err, ErrNotRunning)
}

func TestStubbornServiceIsKilled(t *testing.T) {
	sup := &Supervisor{DataDir: t.TempDir(), Grace: 300 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	require.NoError(t, sup.Start(ctx, []Service{svc(t, "stubborn", "stubborn", "")}))
	pid := sup.Services()[0].PID
	sup.Stop()
	assert.False(t, alive(pid))
}

func TestCrashDuringStartIsReported(t *testing.T) {
	out := &syncBuf{}
	sup := &Supervisor{DataDir: t.TempDir(), Out: out}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := sup.Start(ctx, []Service{svc(t, "crasher", "crash", "")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "crasher exited during start-up")
	assert.Contains(t, out.String(), "crashing on purpose")
}

func TestUnhealthyTimesOut(t *testing.T) {
	sup := &Supervisor{DataDir: t.TempDir(), Ready: 500 * time.Millisecond, Grace: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Health points at a port nobody serves.
	s := svc(t, "deaf", "serve", "")
	s.Health = "http://" + freeAddr(t) + "/healthz"
	err := sup.Start(ctx, []Service{s})
	assert.ErrorIs(t, err, ErrUnhealthy)
	assert.Empty(t, aliveServices(sup), "a failed start leaves nothing running")
}

func aliveServices(sup *Supervisor) []string {
	var out []string
	for _, s := range sup.Services() {
		if alive(s.PID) {
			out = append(out, s.Name)
		}
	}
	return out
}

func TestStatusWithoutLab(t *testing.T) {
	_, _, err := CheckStatus(context.Background(), t.TempDir())
	assert.ErrorIs(t, err, ErrNotRunning)
	assert.ErrorIs(t, Down(t.TempDir(), time.Second), ErrNotRunning)
}
