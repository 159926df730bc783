package agent

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/arlab/arlab/tlib"
)

// ErrNoDN is returned when a desktop or a release names no DN.
var ErrNoDN = errors.New("agent: no DN given")

// Config says how to reach the T-lib server and as whom.
type Config struct {
	// Addr is the T-lib server, host:port.
	Addr string
	// AppName is the ApplicationName of RequestOpen; defaults per role.
	AppName string
	// Password, when the server requires one.
	Password string
	// TLS, when the server speaks T-lib over TLS.
	TLS *tls.Config
	// DN is the desktop's (or the release's) DN.
	DN string
	// Logger; default slog.Default().
	Logger *slog.Logger
	// RecordIDs are the SIP Server's PrivateMsgIDs of the recording
	// services; zero values take the defaults (3013-3016).
	RecordIDs RecordIDs
}

// RecordIDs are the RequestPrivateService ids of GSIP_RECORD_START, STOP,
// PAUSE and RESUME (sipserver private-msg-ids).
type RecordIDs struct {
	Start, Stop, Pause, Resume int
}

// id returns the PrivateMsgID of a recording action (start, stop, pause,
// resume), 0 for anything else.
func (c Config) recordID(action string) int {
	pick := func(v, def int) int {
		if v > 0 {
			return v
		}
		return def
	}
	switch action {
	case "start":
		return pick(c.RecordIDs.Start, tlib.PrivateRecordStart)
	case "stop":
		return pick(c.RecordIDs.Stop, tlib.PrivateRecordStop)
	case "pause":
		return pick(c.RecordIDs.Pause, tlib.PrivateRecordPause)
	case "resume":
		return pick(c.RecordIDs.Resume, tlib.PrivateRecordResume)
	}
	return 0
}

func (c Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

// dial opens a reconnecting client; ctx bounds the first connection.
func (c Config) dial(ctx context.Context, defaultApp string, reconnect bool) (*tlib.Client, error) {
	if c.Addr == "" {
		return nil, errors.New("agent: no T-lib address given")
	}
	app := c.AppName
	if app == "" {
		app = defaultApp
	}
	cl, err := tlib.Dial(ctx, c.Addr, tlib.ClientConfig{
		AppName: app, Password: c.Password, TLS: c.TLS, Reconnect: reconnect, Logger: c.logger(),
	})
	if err != nil {
		return nil, fmt.Errorf("agent: T-lib %s: %w", c.Addr, err)
	}
	return cl, nil
}
