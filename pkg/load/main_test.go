package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/recorder"
)

// childEnv makes the test binary run a recorder instead of the tests, so a
// measurement can put the recorder in its own process (capacity_test.go).
const childEnv = "ARLAB_LOAD_RECORDER_CHILD"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runRecorderChild(cfg))
	}
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}

// testLogger is quiet unless ARLAB_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("ARLAB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runRecorderChild runs a recorder from a JSON config, prints its addresses on
// one line and serves until SIGTERM.
func runRecorderChild(cfgJSON string) int {
	var cfg recorder.Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	r, err := recorder.New(cfg, recorder.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	servePprof()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := r.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child start:", err)
		return 2
	}
	ready, _ := json.Marshal(map[string]string{"tcp": r.SIPAddr("tcp").String(), "http": r.HTTPAddr().String()})
	fmt.Printf("READY %s\n", ready)
	<-ctx.Done()
	_ = r.Close()
	return 0
}
