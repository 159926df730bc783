package recorder

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"go.uber.org/goleak"
)

// childEnv makes the test binary run a recorder instead of the tests (see kill_test.go):
// the re-exec trick lets a test SIGKILL a real recorder process.
const childEnv = "ARLAB_RECORDER_CHILD_CONFIG"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(childEnv); cfg != "" {
		os.Exit(runChild(cfg))
	}
	goleak.VerifyTestMain(m)
}

// runChild runs a recorder from a JSON Config, prints its addresses on one line and serves
// until it is killed or gets SIGTERM.
func runChild(cfgJSON string) int {
	var cfg Config
	if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	r, err := New(cfg, WithLogger(testLogger()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := r.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child start:", err)
		return 2
	}
	ready, _ := json.Marshal(map[string]string{"tcp": r.SIPAddr("tcp").String(), "udp": r.SIPAddr("udp").String(),
		"http": r.HTTPAddr().String()})
	fmt.Printf("READY %s\n", ready)
	<-ctx.Done()
	_ = r.Close()
	return 0
}
