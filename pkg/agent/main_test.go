package agent

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/sipserver"
)

const waitFor = 5 * time.Second

func TestMain(m *testing.M) {
	sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	if os.Getenv("ARLAB_TEST_LOG") == "" {
		sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	goleak.VerifyTestMain(m)
}

func quiet() *slog.Logger {
	if os.Getenv("ARLAB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// startLab runs a SIP Server with agents 7001-7003 and routing point 5000.
func startLab(t *testing.T) *sipserver.Server {
	t.Helper()
	s, err := sipserver.New(sipserver.Config{
		SIP:          sipserver.Listen{UDP: "127.0.0.1:0"},
		TLib:         "127.0.0.1:0",
		RouteTimeout: 3 * time.Second,
		DNs: []sipserver.DN{
			{Number: "7001", AutoAnswer: true},
			{Number: "7002", AutoAnswer: true},
			{Number: "7003", AutoAnswer: true},
			{Number: "5000", Type: sipserver.RoutingPoint, DefaultRoute: "7001"},
		},
	}, sipserver.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

func startPhone(t *testing.T, s *sipserver.Server, cfg phone.Config) *phone.Phone {
	t.Helper()
	if cfg.Registrar == "" && cfg.Proxy == "" {
		cfg.Registrar = s.SIPAddr("udp").String()
	}
	p, err := phone.New(cfg, phone.WithLogger(quiet()))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { p.Close() })
	return p
}

func customer(t *testing.T, s *sipserver.Server) *phone.Phone {
	return startPhone(t, s, phone.Config{DN: "+15551230000", Proxy: s.SIPAddr("udp").String()})
}

// syncBuffer is an io.Writer the test can read while the desktop writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func waitOutput(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), want) }, waitFor, 5*time.Millisecond,
		"output lacks %q:\n%s", want, out.String())
}
