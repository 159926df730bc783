package sipserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/mediaserver"
	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// waitHeardNew waits until c has received at least another half second of
// audio, ending with tone hz: audio that flows now, not what was heard
// before.
func waitHeardNew(t *testing.T, c *phone.Call, hz float64) {
	t.Helper()
	n0 := len(c.Media().Received())
	require.Eventually(t, func() bool {
		return len(c.Media().Received()) >= n0+4000 && heard(c, hz, 300*time.Millisecond)
	}, 10*time.Second, 20*time.Millisecond, "call %s does not hear %.0f Hz again", c.ID(), hz)
}

// mediaServerOf returns the media server anchoring a call.
func (lab *recLab) mediaServerOf(t *testing.T, connID string) *mediaserver.Server {
	t.Helper()
	ci := lab.callInfo(t, connID)
	require.NotNil(t, ci.Media, "call %s is not anchored", connID)
	for _, ms := range lab.ms {
		if ms.SIPAddr("tcp").String() == ci.Media.MediaServer {
			return ms
		}
	}
	t.Fatalf("no media server at %s", ci.Media.MediaServer)
	return nil
}

// TestReanchorOnMediaServerDeath: a recorded call's media server dies; the
// keepalive notices, the call moves to the other media server (re-INVITEs)
// and its recording restarts there with the same id. When no media server
// is left, the parties are connected end to end and the recording is
// reported FAILED; the call never drops.
func TestReanchorOnMediaServerDeath(t *testing.T) {
	lab := startLab(t, labOptions{mediaServers: 2})
	ctx := ctxFor(t)
	ag := lab.agent(t, "7009", true)
	desk := dialTLib(t, lab.s, "desk-7009", "7009")
	cust := lab.customer(t, "+15550000009")
	call, err := cust.Dial(ctx, "7009")
	require.NoError(t, err)
	est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
	expectRecordState(t, desk.Events(), tlib.RecordOn)
	ac := onlyCall(t, ag)
	waitHeard(t, call, audio.ToneForDN("7009"))
	waitHeard(t, ac, audio.ToneForDN("+15550000009"))
	time.Sleep(300 * time.Millisecond)

	first := lab.mediaServerOf(t, est.ConnID)
	require.NoError(t, first.Close())
	require.Eventually(t, func() bool {
		ci := lab.callInfo(t, est.ConnID)
		return ci.Media != nil && ci.Media.MediaServer != first.SIPAddr("tcp").String()
	}, 10*time.Second, 20*time.Millisecond, "re-anchored on the other media server")
	waitHeardNew(t, call, audio.ToneForDN("7009"))
	waitHeardNew(t, ac, audio.ToneForDN("+15550000009"))
	require.Eventually(t, func() bool {
		r := lab.recordings(t, est.CallUUID)
		return len(r) == 2 && r[0].Live()
	}, 10*time.Second, 20*time.Millisecond, "the recording restarted on the new media server")
	time.Sleep(300 * time.Millisecond)

	require.NoError(t, call.Hangup(ctx))
	// The desktop saw no change: the recording went on.
	expectRecordState(t, desk.Events(), tlib.RecordOff)
	expectEvents(t, desk.Events(), tlib.EventReleased)
	recs := lab.finished(t, est.CallUUID, 2)
	for _, f := range recs {
		assert.Equal(t, recs[0].SRCRecordID, f.SRCRecordID, "restarted with the same recording id")
		assert.Equal(t, "7009", f.RecordDN)
		lab.verify(t, f)
	}
	lab.noLeftovers(t)
	assert.EqualValues(t, 1, lab.s.metrics.reanchors.Load())

	t.Run("no-media-server-left", func(t *testing.T) {
		ctx := ctxFor(t)
		call, err := cust.Dial(ctx, "7009")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		ac := onlyCall(t, ag)
		waitHeard(t, ac, audio.ToneForDN("+15550000009"))
		require.NoError(t, lab.mediaServerOf(t, est.ConnID).Close())

		failed := expectRecordState(t, desk.Events(), tlib.RecordFailed)
		assert.Contains(t, failed.Reasons["reason"], "media server lost")
		assert.Nil(t, lab.callInfo(t, est.ConnID).Media, "connected end to end")
		waitHeardNew(t, call, audio.ToneForDN("7009"))
		waitHeardNew(t, ac, audio.ToneForDN("+15550000009"))
		assert.Equal(t, ac.Media().LocalAddr(), call.Media().RemoteAddr())
		require.NoError(t, call.Hangup(ctx))
		expectEvents(t, desk.Events(), tlib.EventReleased)
		requireNoCalls(t, lab.s)
	})
}

// TestRecordingRaces: a recorder failing while the recording is set up, a
// caller cancelling while the media is being anchored, a BYE while the call
// is being re-anchored. Each leaves no half-open call, media leg or
// recording.
func TestRecordingRaces(t *testing.T) {
	lab := startLab(t, labOptions{})
	ids := lab.s.cfg.PrivateMsgIDs

	t.Run("recorder-fails-at-setup", func(t *testing.T) {
		ctx := ctxFor(t)
		ag := lab.agent(t, "7011", true)
		desk := dialTLib(t, lab.s, "desk-7011", "7011")
		cust := lab.customer(t, "+15550000011")
		call, err := cust.Dial(ctx, "7011")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		dest := fmt.Sprintf("sip:record@%s;group=broken;transport=tcp", lab.s.cfg.MediaControl.ResourceManager)
		requireACK(t, desk, privateReq(ids.RecordStart, "7011", est.ConnID, tlib.KVList{"dest": dest}))
		failed := expectRecordState(t, desk.Events(), tlib.RecordFailed)
		assert.Equal(t, "record.failed", failed.Reasons["cause"])
		assert.NotEmpty(t, failed.Reasons["reason"])
		ac := onlyCall(t, ag)
		waitHeardNew(t, call, audio.ToneForDN("7011"))
		waitHeardNew(t, ac, audio.ToneForDN("+15550000011"))
		require.NoError(t, call.Hangup(ctx))
		expectEvents(t, desk.Events(), tlib.EventReleased)
		lab.noLeftovers(t)
		assert.Empty(t, lab.recordings(t, est.CallUUID))
	})

	t.Run("cancel-during-setup", func(t *testing.T) {
		ag := lab.agent(t, "7012", false)
		desk := dialTLib(t, lab.s, "desk-7012", "7012")
		cust := lab.customer(t, "+15550000012")
		// Cancelled while ringing: the caller's media leg is up already.
		ctx, cancel := context.WithCancel(ctxFor(t))
		done := make(chan error, 1)
		go func() {
			_, err := cust.Dial(ctx, "7012")
			done <- err
		}()
		var in *phone.Call
		select {
		case in = <-ag.Incoming():
		case <-time.After(waitFor):
			t.Fatal("the agent's phone did not ring")
		}
		require.NoError(t, in.WaitState(ctxFor(t), phone.StateRinging))
		expectEvents(t, desk.Events(), tlib.EventRinging)
		require.Eventually(t, func() bool { return len(lab.ms[0].Conferences()) == 1 }, waitFor, 5*time.Millisecond)
		cancel()
		require.Error(t, <-done)
		expectEvents(t, desk.Events(), tlib.EventReleased)
		lab.noLeftovers(t)

		// Cancelled at every moment of the setup: before, during and after
		// the media-control INVITE.
		for _, d := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond, 8 * time.Millisecond} {
			ctx, cancel := context.WithCancel(ctxFor(t))
			go func() {
				_, err := cust.Dial(ctx, "7012")
				done <- err
			}()
			time.Sleep(d)
			cancel()
			require.Error(t, <-done)
			lab.noLeftovers(t)
			requirePhoneIdle(t, ag)
		}
		for len(ag.Incoming()) > 0 {
			<-ag.Incoming()
		}
	})

	t.Run("bye-during-reanchor", func(t *testing.T) {
		ag := lab.agent(t, "7010", true)
		desk := dialTLib(t, lab.s, "desk-7010", "7010")
		cust := lab.customer(t, "+15550000010")
		for _, d := range []time.Duration{0, 2 * time.Millisecond, 10 * time.Millisecond, 30 * time.Millisecond} {
			ctx := ctxFor(t)
			call, err := cust.Dial(ctx, "7010")
			require.NoError(t, err)
			est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
			expectRecordState(t, desk.Events(), tlib.RecordOn)
			waitHeard(t, onlyCall(t, ag), audio.ToneForDN("+15550000010"))
			c := lab.s.lookupCall(est.ConnID)
			require.NotNil(t, c)
			c.mu.Lock()
			gen := c.media.gen
			c.enqueueLocked(func() { lab.s.reanchor(c, gen, "test") })
			c.mu.Unlock()
			time.Sleep(d)
			require.NoError(t, call.Hangup(ctx))
			for {
				m := nextEvent(t, desk.Events())
				if m.Name == tlib.EventReleased {
					break
				}
				require.Equal(t, tlib.EventAttachedDataChanged, m.Name)
			}
			lab.noLeftovers(t)
			requirePhoneIdle(t, ag)
			requirePhoneIdle(t, cust)
		}
	})
}
