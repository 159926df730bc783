package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/realpeer"
	"github.com/arlab/arlab/pkg/recclient"
)

// TestRMRestart: the Resource Manager is killed while a recording session
// it placed is running, then restarted on the same addresses. The session's
// media never went through the RM, and its BYE finds the recorder through
// the restarted RM (Route header); new sessions are placed as before.
func TestRMRestart(t *testing.T) {
	realpeer.Need(t, "sipp")
	l := startLab(t, "--no-phones")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Over UDP: sipp gives up a call whose one TCP connection drops, where a
	// real SRC would connect again.
	rm := l.cfg.ResourceManager.SIP.UDP
	a := startSRCOn(t, l, "u1", rm, "E2E-RM-A", 5*time.Second)
	_, _ = l.recorderOf(ctx, t, a.callUUID)
	require.NoError(t, syscall.Kill(l.pidOf(t, "rm"), syscall.SIGKILL))

	restart := exec.CommandContext(ctx, arlabBin, "-c", filepath.Join(l.cfg.Lab.DataDir, "lab.yaml"), "--log-level", "warn", "resourcemanager")
	require.NoError(t, restart.Start())
	defer func() { restart.Process.Signal(syscall.SIGTERM); restart.Wait() }()

	require.NoError(t, a.sipp.Wait(), "the session's BYE through the restarted RM:\n%s", a.sipp.Output())
	a.stopRTP()
	b := startSRCOn(t, l, "u1", rm, "E2E-RM-B", 1500*time.Millisecond)
	require.NoError(t, b.sipp.Wait(), "a new session through the restarted RM:\n%s", b.sipp.Output())
	b.stopRTP()

	for _, id := range []string{a.callUUID, b.callUUID} {
		var found []recclient.Found
		require.Eventually(t, func() bool {
			found, _ = l.cluster().Search(ctx, recclient.Query{CallUUID: id, States: []string{"complete"}})
			return len(found) == 1
		}, 10*time.Second, 100*time.Millisecond, "recording of %s not complete", id)
		for _, c := range l.cluster() {
			if c.Base == found[0].Recorder {
				verifyFound(ctx, t, c, found[0])
			}
		}
	}
}
