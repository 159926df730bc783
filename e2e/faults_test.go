package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/realpeer"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
)

// srcSession is one long SIPREC session from sipp through the RM, with the
// test sending both parties' tones.
type srcSession struct {
	sipp     *realpeer.Proc
	stopRTP  func()
	callUUID string
}

func startSRC(t *testing.T, l *runningLab, callUUID string, hold time.Duration) *srcSession {
	t.Helper()
	return startSRCOn(t, l, "t1", l.cfg.ResourceManager.SIP.TCP, callUUID, hold)
}

// startSRCOn is startSRC over a sipp transport ("t1" TCP, "u1" UDP) to addr.
func startSRCOn(t *testing.T, l *runningLab, transport, addr, callUUID string, hold time.Duration) *srcSession {
	t.Helper()
	work := t.TempDir()
	scenario, err := filepath.Abs("testdata/siprec_long.xml")
	require.NoError(t, err)
	args := append([]string{addr, "-sf", scenario, "-t", transport, "-m", "1", "-l", "1", "-trace_msg",
		"-key", "callUUID", callUUID, "-d", strconv.Itoa(int(hold.Milliseconds()))},
		realpeer.SippArgs(realpeer.FreeUDPPort(t), hold+20*time.Second)...)
	p := realpeer.Start(t, work, hold+25*time.Second, "sipp", args...)
	ports := waitAnswerPorts(t, work, 10*time.Second)
	require.Len(t, ports, 2)
	stop := sendTones(t, ports, []string{"+15551230000", "7001"}, []audio.Law{audio.Ulaw, audio.Alaw})
	t.Cleanup(stop)
	return &srcSession{sipp: p, stopRTP: stop, callUUID: callUUID}
}

func (l *runningLab) cluster() recclient.Cluster {
	var cl recclient.Cluster
	for _, r := range l.cfg.Recorders {
		cl = append(cl, recclient.New(r.HTTP, ""))
	}
	return cl
}

// recorderOf waits until a recorder holds the call's recording and names it.
func (l *runningLab) recorderOf(ctx context.Context, t *testing.T, callUUID string) (string, recclient.Found) {
	t.Helper()
	var found []recclient.Found
	require.Eventually(t, func() bool {
		found, _ = l.cluster().Search(ctx, recclient.Query{CallUUID: callUUID})
		return len(found) == 1
	}, 10*time.Second, 50*time.Millisecond, "no recording of %s", callUUID)
	for _, r := range l.cfg.Recorders {
		if "http://"+r.HTTP == found[0].Recorder {
			return r.Name, found[0]
		}
	}
	t.Fatalf("recording on an unknown recorder %s", found[0].Recorder)
	return "", recclient.Found{}
}

func (l *runningLab) pidOf(t *testing.T, name string) int {
	for _, s := range l.state().Services {
		if s.Name == name {
			return s.PID
		}
	}
	t.Fatalf("no service %s", name)
	return 0
}

// TestRecorderKilledMidSession: two recording sessions land on the two
// recorders; one recorder is SIGKILLed. The other session completes intact,
// the RM sends the next session to the survivor, and the killed recorder,
// restarted, recovers its recording with the audio up to the kill.
func TestRecorderKilledMidSession(t *testing.T) {
	realpeer.Need(t, "sipp")
	l := startLab(t, "--no-phones")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	a := startSRC(t, l, "E2E-KILL-A", 6*time.Second)
	b := startSRC(t, l, "E2E-KILL-B", 3*time.Second)
	victim, recA := l.recorderOf(ctx, t, a.callUUID)
	survivor, _ := l.recorderOf(ctx, t, b.callUUID)
	require.NotEqual(t, victim, survivor, "round-robin puts the two sessions on different recorders")

	require.Eventually(t, func() bool {
		r, err := l.cluster().Search(ctx, recclient.Query{CallUUID: a.callUUID})
		return err == nil && len(r) == 1 && r[0].DurationMs >= 1500
	}, 10*time.Second, 50*time.Millisecond)
	killedAt := time.Now()
	require.NoError(t, syscall.Kill(l.pidOf(t, victim), syscall.SIGKILL))
	t.Logf("killed %s holding %s", victim, recA.ID)

	// The other session is not disturbed.
	require.NoError(t, b.sipp.Wait(), "session on the surviving recorder:\n%s", b.sipp.Output())
	b.stopRTP()
	var surv recclient.Cluster
	for _, c := range l.cluster() {
		if _, err := c.Search(ctx, recclient.Query{}); err == nil {
			surv = append(surv, c)
		}
	}
	require.Len(t, surv, 1)
	got, err := surv.Search(ctx, recclient.Query{CallUUID: b.callUUID, States: []string{"complete"}})
	require.NoError(t, err)
	require.Len(t, got, 1)
	verifyFound(ctx, t, surv[0], got[0])

	// The next session goes to the survivor (health check or INVITE failover).
	c := startSRC(t, l, "E2E-KILL-C", 1500*time.Millisecond)
	require.NoError(t, c.sipp.Wait(), "session after the kill:\n%s", c.sipp.Output())
	c.stopRTP()
	got, err = surv.Search(ctx, recclient.Query{CallUUID: c.callUUID, States: []string{"complete"}})
	require.NoError(t, err)
	require.Len(t, got, 1, "the session after the kill was not recorded by the survivor")
	verifyFound(ctx, t, surv[0], got[0])
	a.sipp.Stop()
	a.stopRTP()

	// Restarted, the killed recorder recovers what it had on disk.
	restart := exec.CommandContext(ctx, arlabBin, "-c", filepath.Join(l.cfg.Lab.DataDir, "lab.yaml"), "--log-level", "warn", "recorder", "--name", victim)
	require.NoError(t, restart.Start())
	defer func() { restart.Process.Signal(syscall.SIGTERM); restart.Wait() }()
	var victimClient *recclient.Client
	for _, r := range l.cfg.Recorders {
		if r.Name == victim {
			victimClient = recclient.New(r.HTTP, "")
		}
	}
	var rec *recclient.Found
	require.Eventually(t, func() bool {
		r, err := victimClient.Get(ctx, recA.ID)
		if err != nil {
			return false
		}
		rec = &recclient.Found{Recorder: victimClient.Base, Recording: *r}
		return true
	}, 15*time.Second, 100*time.Millisecond, "restarted recorder does not answer")
	assert.Equal(t, "recovered", string(rec.State))
	body, err := victimClient.Audio(ctx, rec.ID, -1)
	require.NoError(t, err)
	f, err := wav.Read(body)
	body.Close()
	require.NoError(t, err)
	upToKill := killedAt.Sub(rec.StartTime)
	assert.GreaterOrEqual(t, f.Duration(), upToKill-time.Second, "recovered audio must reach within 1 s of the kill")
	v := recclient.VerifyTones(rec.Recording, f)
	assert.True(t, v.OK(), "%v", v.Problems())
	t.Logf("recovered %s: %.2fs of audio, kill at %.2fs", rec.ID, f.Duration().Seconds(), upToKill.Seconds())
}

func verifyFound(ctx context.Context, t *testing.T, c *recclient.Client, f recclient.Found) {
	t.Helper()
	body, err := c.Audio(ctx, f.ID, -1)
	require.NoError(t, err)
	file, err := wav.Read(body)
	body.Close()
	require.NoError(t, err)
	v := recclient.VerifyTones(f.Recording, file)
	assert.True(t, v.OK(), "recording %s: %v", f.ID, v.Problems())
}
