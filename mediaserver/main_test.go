package mediaserver

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/pkg/sipx"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadgenEnv) != "" {
		os.Exit(runLoadgen())
	}
	// Short SIP timers keep failure cases fast; set once, they are globals.
	sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	sipx.SetSIPLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m,
		// sipgo v1.7.3's ConnectionPool.Clear skips a client UDP connection
		// whose reference count already dropped to zero, so its reader can
		// outlive UserAgent.Close (seen about once in ten runs). The media
		// server's own goroutines are all checked.
		goleak.IgnoreAnyFunction("github.com/emiago/sipgo/sip.(*TransportUDP).readUDPConnection"))
}

// testLogger logs to stderr with ARLAB_TEST_LOG=1, else nowhere.
func testLogger() *slog.Logger {
	if os.Getenv("ARLAB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
