package phone

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/realpeer"
)

// TestSippCallsPhone: sipp's built-in UAC scenario (INVITE, 200, ACK, BYE)
// against an auto-answering phone.
func TestSippCallsPhone(t *testing.T) {
	realpeer.Need(t, "sipp")
	callee := startPhone(t, Config{DN: agentDN, AutoAnswer: true})
	args := append([]string{"-sn", "uac", "-s", agentDN, callee.Addr().String(), "-m", "1", "-d", "500"},
		realpeer.SippArgs(realpeer.FreeUDPPort(t), 15*time.Second)...)
	sipp := realpeer.Start(t, t.TempDir(), 20*time.Second, "sipp", args...)
	require.NoError(t, sipp.Wait(), "sipp UAC failed:\n%s", sipp.Output())
	assert.Contains(t, sipp.Output(), "Successful call")
	require.Eventually(t, func() bool { return len(callee.Calls()) == 0 }, 3*time.Second, 10*time.Millisecond)
}

// TestPhoneCallsSipp: a phone calls sipp's built-in UAS scenario and hangs up.
func TestPhoneCallsSipp(t *testing.T) {
	realpeer.Need(t, "sipp")
	port := realpeer.FreeUDPPort(t)
	args := append([]string{"-sn", "uas", "-m", "1"}, realpeer.SippArgs(port, 15*time.Second)...)
	sipp := realpeer.Start(t, t.TempDir(), 20*time.Second, "sipp", args...)

	caller := startPhone(t, Config{DN: callerDN})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var c *Call
	var err error
	// sipp needs a moment to bind; retry while the port still refuses.
	require.Eventually(t, func() bool {
		dctx, dcancel := context.WithTimeout(ctx, 2*time.Second)
		defer dcancel()
		c, err = caller.Dial(dctx, fmt.Sprintf("sip:service@127.0.0.1:%d", port))
		return err == nil
	}, 8*time.Second, 100*time.Millisecond, "dial sipp: %v", err)
	m, ok := c.Media().Remote().Audio()
	require.True(t, ok)
	assert.Equal(t, uint8(0), m.Codecs[0].PayloadType)
	require.NoError(t, c.Hangup(ctx))
	require.NoError(t, sipp.Wait(), "sipp UAS failed:\n%s", sipp.Output())
}
