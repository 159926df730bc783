package phone

import (
	"io"
	"log/slog"

	"github.com/arlab/arlab/pkg/sipx"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Short SIP timers keep failure cases fast; set once, they are globals.
	sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	sipx.SetSIPLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	goleak.VerifyTestMain(m)
}
