package sipserver

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/agent"
	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/tlib"
)

// privateReq builds a recording request (RequestPrivateService).
func privateReq(id int, dn, conn string, ext tlib.KVList) *tlib.Message {
	return &tlib.Message{Name: tlib.RequestPrivateService, PrivateMsgID: id, ThisDN: dn, ConnID: conn, Extensions: ext}
}

// requireACK sends a request that must be accepted with EventACK.
func requireACK(t *testing.T, c *tlib.Client, m *tlib.Message) {
	t.Helper()
	reply, terr := request(t, c, m)
	require.Nil(t, terr, "request %s %d refused", m.Name, m.PrivateMsgID)
	require.Equal(t, tlib.EventACK, reply.Name)
	assert.Equal(t, m.PrivateMsgID, reply.PrivateMsgID)
	assert.Equal(t, m.ConnID, reply.ConnID)
}

// requireError sends a request that must fail with code.
func requireError(t *testing.T, c *tlib.Client, m *tlib.Message, code tlib.ErrorCode) {
	t.Helper()
	_, terr := request(t, c, m)
	require.NotNil(t, terr, "request %s %d was accepted", m.Name, m.PrivateMsgID)
	require.Equal(t, code, terr.Code, "%s", terr.Message)
}

// TestRecordingFlows runs the acceptance flows of the recording issue
// against one lab (SIP Server, RM, media server, recorder), in parallel:
// each flow asserts the T-lib sequence its desktops see and the recording's
// audio.
func TestRecordingFlows(t *testing.T) {
	lab := startLab(t, labOptions{})

	t.Run("full-time", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7001", true)
		desk := dialTLib(t, lab.s, "desk-7001", "7001")
		cust := lab.customer(t, "+15550000001")
		call, err := cust.Dial(ctx, "7001")
		require.NoError(t, err)
		// Anchored before the answer: the caller's 200 already carries the
		// media server's address.
		remote := call.Media().RemoteAddr()
		ac := onlyCall(t, ag)
		assert.NotEqual(t, ac.Media().LocalAddr(), remote, "the caller talks to the media server, not the agent")
		assert.True(t, lab.hasLegAt(remote.String()), "the caller's RTP goes to a media server leg")

		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		fn := est.UserData[tlib.KeyRecordFilename]
		assert.True(t, strings.HasPrefix(fn, est.CallUUID+"_7001_+15550000001_7001_"), "GSIP_REC_FN on EventEstablished: %q", fn)
		on := expectRecordState(t, desk.Events(), tlib.RecordOn)
		assert.Equal(t, fn, on.UserData[tlib.KeyRecordFilename])
		ci := lab.callInfo(t, est.ConnID)
		require.NotNil(t, ci.Media)
		assert.Equal(t, lab.ms[0].SIPAddr("tcp").String(), ci.Media.MediaServer)
		assert.Len(t, ci.Media.Legs, 2)
		require.Len(t, ci.Recordings, 1)
		assert.Equal(t, RecordingInfo{ID: est.ConnID + "-1", Side: "destination", RecordDN: "7001", State: "ON", By: "dn", FileName: fn},
			ci.Recordings[0])

		waitHeard(t, call, audio.ToneForDN("7001"))
		waitHeard(t, ac, audio.ToneForDN("+15550000001"))
		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
		assert.Equal(t, tlib.CallStateRemoteRelease, rel.CallState)

		f := lab.finished(t, est.CallUUID, 1)[0]
		assert.Equal(t, "7001", f.RecordDN)
		assert.Equal(t, est.ConnID, f.ConnID)
		assert.ElementsMatch(t, []string{"7001", "+15550000001"}, channelParties(f))
		lab.verify(t, f)
	})

	t.Run("selective-by-router", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		rules, err := agent.ParseRules([]byte(`routing-points: ["5000"]
rules:
  - match: {ani: "+15550000002", dnis: "5000"}
    target: "7003"
    extensions: {record: destination, id: sel-rec-1}
`), "rules.yaml")
		require.NoError(t, err)
		rctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- agent.RunRouter(rctx, agent.Config{Addr: lab.s.TLibAddr().String(), Logger: testLogger()}, rules)
		}()
		defer func() {
			cancel()
			require.NoError(t, <-done)
		}()
		require.Eventually(t, func() bool { return len(lab.s.tsrv.Registered("5000")) == 1 }, waitFor, 5*time.Millisecond)

		ag := lab.agent(t, "7003", true)
		desk := dialTLib(t, lab.s, "desk-7003", "7003")
		cust := lab.customer(t, "+15550000002")
		call, err := cust.Dial(ctx, "5000")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		assert.Contains(t, est.UserData[tlib.KeyRecordFilename], "__sel-rec-1")
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		ac := onlyCall(t, ag)
		waitHeard(t, call, audio.ToneForDN("7003"))
		waitHeard(t, ac, audio.ToneForDN("+15550000002"))
		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		expectEvents(t, desk.Events(), tlib.EventReleased)

		f := lab.finished(t, est.CallUUID, 1)[0]
		assert.Equal(t, "7003", f.RecordDN, "record=destination records the agent's side")
		assert.Equal(t, "sel-rec-1", f.SRCRecordID)
		lab.verify(t, f)
	})

	t.Run("dynamic-pause-resume-stop", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7002", true)
		desk := dialTLib(t, lab.s, "desk-7002", "7002")
		cust := lab.customer(t, "+15550000003")
		call, err := cust.Dial(ctx, "7002")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		assert.Empty(t, est.UserData[tlib.KeyRecord])
		ac := onlyCall(t, ag)
		assert.Equal(t, ac.Media().LocalAddr(), call.Media().RemoteAddr(), "unrecorded: media end to end")
		waitHeard(t, call, audio.ToneForDN("7002"))
		waitHeard(t, ac, audio.ToneForDN("+15550000003"))
		ids := lab.s.cfg.PrivateMsgIDs

		requireACK(t, desk, privateReq(ids.RecordStart, "7002", est.ConnID, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		assert.NotEqual(t, ac.Media().LocalAddr(), call.Media().RemoteAddr(), "anchored by re-INVITEs")
		waitHeard(t, call, audio.ToneForDN("7002"))
		waitHeard(t, ac, audio.ToneForDN("+15550000003"))
		time.Sleep(300 * time.Millisecond)

		requireACK(t, desk, privateReq(ids.RecordPause, "7002", est.ConnID, nil))
		expectRecordState(t, desk.Events(), tlib.RecordPaused)
		time.Sleep(700 * time.Millisecond) // the paused span
		requireACK(t, desk, privateReq(ids.RecordResume, "7002", est.ConnID, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		time.Sleep(700 * time.Millisecond)
		requireACK(t, desk, privateReq(ids.RecordStop, "7002", est.ConnID, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOff)

		// Moving the media onto the media server mid-call did not drop audio
		// for more than 100 ms either way.
		assert.LessOrEqual(t, longestGap(call.Media().Received()), 100*time.Millisecond, "customer side")
		assert.LessOrEqual(t, longestGap(ac.Media().Received()), 100*time.Millisecond, "agent side")

		require.NoError(t, call.Hangup(ctx))
		expectEvents(t, desk.Events(), tlib.EventReleased)

		f := lab.finished(t, est.CallUUID, 1)[0]
		require.Len(t, f.Pauses, 1, "one paused span")
		pause := time.Duration(f.Pauses[0].EndMs-f.Pauses[0].StartMs) * time.Millisecond
		assert.InDelta(t, 700, pause.Milliseconds(), 250, "paused span %v", pause)
		lab.verify(t, f) // includes: silence over the pause
	})

	t.Run("prerecord-kept-during-call", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		lab.agent(t, "7004", true)
		desk := dialTLib(t, lab.s, "desk-7004", "7004")
		cust := lab.customer(t, "+15550000004")
		call, err := cust.Dial(ctx, "7004")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		expectRecordState(t, desk.Events(), tlib.RecordPrerecord)
		waitHeard(t, call, audio.ToneForDN("7004"))
		live := lab.recordings(t, est.CallUUID)
		require.Len(t, live, 1)
		assert.Equal(t, "tentative", string(live[0].State))
		startedAt := time.Now()

		requireACK(t, lab.dialDesk(t, "7004"), privateReq(lab.s.cfg.PrivateMsgIDs.RecordStart, "7004", est.ConnID, nil))
		kept := expectRecordState(t, desk.Events(), tlib.RecordOn)
		assert.Equal(t, "prerecord-kept", kept.Reasons["cause"])
		time.Sleep(300 * time.Millisecond)
		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		expectEvents(t, desk.Events(), tlib.EventReleased)

		f := lab.finished(t, est.CallUUID, 1)[0]
		assert.Equal(t, "complete", string(f.State))
		assert.True(t, f.Kept)
		assert.True(t, f.StartTime.Before(startedAt.Add(-200*time.Millisecond)), "the whole call is kept, from before the start request")
		lab.verify(t, f)
	})

	t.Run("prerecord-kept-after-call", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7005", true)
		desk := dialTLib(t, lab.s, "desk-7005", "7005")
		cust := lab.customer(t, "+15550000005")
		call, err := cust.Dial(ctx, "7005")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		expectRecordState(t, desk.Events(), tlib.RecordPrerecord)
		waitHeard(t, onlyCall(t, ag), audio.ToneForDN("+15550000005"))
		waitHeard(t, call, audio.ToneForDN("7005"))
		require.NoError(t, call.Hangup(ctx))
		// Still PRERECORD: no OFF, the pre-recording waits for a start.
		expectEvents(t, desk.Events(), tlib.EventReleased)
		ended := time.Now()
		require.Eventually(t, func() bool {
			r := lab.recordings(t, est.CallUUID)
			return len(r) == 1 && !r[0].Live() && r[0].State == "tentative"
		}, 5*time.Second, 50*time.Millisecond)

		time.Sleep(time.Until(ended.Add(5 * time.Second)))
		requireACK(t, desk, privateReq(lab.s.cfg.PrivateMsgIDs.RecordStart, "7005", est.ConnID, nil))
		kept := expectRecordState(t, desk.Events(), tlib.RecordOn)
		assert.Equal(t, est.CallUUID, kept.CallUUID)
		// A second start finds it kept already; other services find no call.
		requireError(t, desk, privateReq(lab.s.cfg.PrivateMsgIDs.RecordStart, "7005", est.ConnID, nil), tlib.ErrInvalidState)
		requireError(t, desk, privateReq(lab.s.cfg.PrivateMsgIDs.RecordStop, "7005", est.ConnID, nil), tlib.ErrInvalidConnID)
		var f recclient.Found
		require.Eventually(t, func() bool {
			r := lab.recordings(t, est.CallUUID)
			if len(r) == 1 && r[0].State == "complete" {
				f = r[0]
				return true
			}
			return false
		}, 5*time.Second, 50*time.Millisecond, "kept after the call")
		assert.True(t, f.Kept)
		lab.verify(t, f)
	})

	t.Run("prerecord-not-kept", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7006", true)
		desk := dialTLib(t, lab.s, "desk-7006", "7006")
		cust := lab.customer(t, "+15550000006")
		call, err := cust.Dial(ctx, "7006")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		expectRecordState(t, desk.Events(), tlib.RecordPrerecord)
		waitHeard(t, onlyCall(t, ag), audio.ToneForDN("+15550000006"))
		require.NoError(t, call.Hangup(ctx))
		expectEvents(t, desk.Events(), tlib.EventReleased)
		// Tentative until the grace period is over, then deleted: it is never
		// listed as a recording.
		var id string
		deadline := time.Now().Add(prerecordGrace + 5*time.Second)
		for {
			r := lab.recordings(t, est.CallUUID)
			if len(r) == 0 && id != "" {
				break
			}
			if len(r) == 1 {
				id = r[0].ID
				require.Equal(t, "tentative", string(r[0].State), "a pre-recording not kept is never a recording")
			}
			require.True(t, time.Now().Before(deadline), "the pre-recording was not deleted")
			time.Sleep(100 * time.Millisecond)
		}
		_, _, err = lab.api.Find(ctx, id)
		assert.True(t, errors.Is(err, recclient.ErrNotFound), "%v", err)
		// Too late to keep it now.
		requireError(t, desk, privateReq(lab.s.cfg.PrivateMsgIDs.RecordStart, "7006", est.ConnID, nil), tlib.ErrInvalidConnID)
	})

	t.Run("monitored-then-recorded", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7007", true)
		sup := lab.agent(t, "7101", true)
		desk := dialTLib(t, lab.s, "desk-7007", "7007")
		supDesk := dialTLib(t, lab.s, "desk-7101", "7101")
		reply, terr := request(t, supDesk, &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7101", OtherDN: "7007", MonitorMode: tlib.MonitorModeMute})
		require.Nil(t, terr)
		assert.Equal(t, tlib.EventMonitoringNextCall, reply.Name)
		mn := expectEvents(t, desk.Events(), tlib.EventMonitoringNextCall)[0]
		assert.Equal(t, "7101", mn.ThirdPartyDN)

		cust := lab.customer(t, "+15550000007")
		call, err := cust.Dial(ctx, "7007")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		obs := expectEvents(t, supDesk.Events(), tlib.EventMonitoringNextCall, tlib.EventEstablished)[1]
		assert.Equal(t, tlib.RoleObserver, obs.ThisDNRole)
		assert.Equal(t, "7007", obs.OtherDN)
		assert.Equal(t, est.ConnID, obs.ConnID)
		sc := onlyCall(t, sup)
		ac := onlyCall(t, ag)
		// The supervisor hears both parties; nobody hears him (mute).
		require.Eventually(t, func() bool {
			return hearsBoth(sc.Media().Received(), audio.ToneForDN("7007"), audio.ToneForDN("+15550000007"))
		}, 5*time.Second, 20*time.Millisecond, "the supervisor hears the mix")
		waitHeard(t, ac, audio.ToneForDN("+15550000007"))
		waitHeard(t, call, audio.ToneForDN("7007"))

		// The supervisor starts the recording of the agent's call.
		requireACK(t, supDesk, privateReq(lab.s.cfg.PrivateMsgIDs.RecordStart, "7101", est.ConnID, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		expectRecordState(t, supDesk.Events(), tlib.RecordOn)
		require.Eventually(t, func() bool {
			r := lab.recordings(t, est.CallUUID)
			return len(r) == 1 && len(r[0].Channels) == 3
		}, 5*time.Second, 20*time.Millisecond, "the supervisor's stream is added to the recording")
		time.Sleep(500 * time.Millisecond)
		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		expectEvents(t, desk.Events(), tlib.EventReleased, tlib.EventMonitoringCancelled)
		expectRecordState(t, supDesk.Events(), tlib.RecordOff)
		expectEvents(t, supDesk.Events(), tlib.EventReleased, tlib.EventMonitoringCancelled)
		waitDone(t, sc)

		f := lab.finished(t, est.CallUUID, 1)[0]
		assert.ElementsMatch(t, []string{"7007", "+15550000007", "7101"}, channelParties(f))
		assert.Equal(t, "7007", f.RecordDN, "the supervisor asked for the agent's side")
		lab.verify(t, f)
	})

	t.Run("recorded-then-coached", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7010", true) // record: true
		sup := lab.agent(t, "7100", true)
		desk := dialTLib(t, lab.s, "desk-7010", "7010")
		supDesk := dialTLib(t, lab.s, "desk-7100", "7100")
		// Scope agent: every call of 7010 until cancelled; coach mode.
		_, terr := request(t, supDesk, &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7100", OtherDN: "7010",
			MonitorMode: tlib.MonitorModeCoach, MonitorScope: tlib.MonitorScopeAgent})
		require.Nil(t, terr)
		expectEvents(t, desk.Events(), tlib.EventMonitoringNextCall)
		expectEvents(t, supDesk.Events(), tlib.EventMonitoringNextCall)
		// Another supervisor cannot take 7010; connect mode is not offered.
		other := dialTLib(t, lab.s, "desk-7101b", "7101")
		requireError(t, other, &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7101", OtherDN: "7010"}, tlib.ErrInvalidState)
		requireError(t, other, &tlib.Message{Name: tlib.RequestMonitorNextCall, ThisDN: "7101", OtherDN: "7011", MonitorMode: tlib.MonitorModeConnect}, tlib.ErrInvalidAttribute)
		requireError(t, other, &tlib.Message{Name: tlib.RequestCancelMonitoring, ThisDN: "7101", OtherDN: "7010"}, tlib.ErrInvalidState)

		cust := lab.customer(t, "+15550000010")
		call, err := cust.Dial(ctx, "7010")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		expectEvents(t, supDesk.Events(), tlib.EventEstablished)
		sc, ac := onlyCall(t, sup), onlyCall(t, ag)
		// Coach: the agent hears the customer and the supervisor, the
		// customer hears the agent alone.
		require.Eventually(t, func() bool {
			return hearsBoth(ac.Media().Received(), audio.ToneForDN("7100"), audio.ToneForDN("+15550000010"))
		}, 5*time.Second, 20*time.Millisecond, "the agent hears the coach")
		waitHeardNew(t, call, audio.ToneForDN("7010"))
		require.Eventually(t, func() bool {
			r := lab.recordings(t, est.CallUUID)
			return len(r) == 1 && len(r[0].Channels) == 3
		}, 5*time.Second, 20*time.Millisecond, "the supervisor joins the running recording")
		time.Sleep(400 * time.Millisecond)

		// Cancelled mid-call: the supervisor leaves, the call and its
		// recording go on.
		reply, terr := request(t, supDesk, &tlib.Message{Name: tlib.RequestCancelMonitoring, ThisDN: "7100", OtherDN: "7010"})
		require.Nil(t, terr)
		assert.Equal(t, tlib.EventMonitoringCancelled, reply.Name)
		// The supervisor may have seen GSIP_RECORD=ON after joining (the
		// recording and the join race).
		assert.Equal(t, tlib.EventMonitoringCancelled, skipData(t, supDesk.Events()).Name)
		expectEvents(t, supDesk.Events(), tlib.EventReleased)
		expectEvents(t, desk.Events(), tlib.EventMonitoringCancelled)
		waitDone(t, sc)
		waitHeardNew(t, ac, audio.ToneForDN("+15550000010"))
		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		expectEvents(t, desk.Events(), tlib.EventReleased)
		noEvent(t, supDesk.Events(), 100*time.Millisecond)

		f := lab.finished(t, est.CallUUID, 1)[0]
		assert.ElementsMatch(t, []string{"7010", "+15550000010", "7100"}, channelParties(f))
		lab.verify(t, f)
	})

	t.Run("errors-leave-the-call-alone", func(t *testing.T) {
		t.Parallel()
		ctx := ctxFor(t)
		ag := lab.agent(t, "7008", true)
		desk := dialTLib(t, lab.s, "desk-7008", "7008")
		cust := lab.customer(t, "+15550000008")
		call, err := cust.Dial(ctx, "7008")
		require.NoError(t, err)
		est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
		conn, ids := est.ConnID, lab.s.cfg.PrivateMsgIDs
		ac := onlyCall(t, ag)

		requireError(t, desk, privateReq(ids.RecordPause, "7008", conn, nil), tlib.ErrInvalidState)
		requireError(t, desk, privateReq(ids.RecordResume, "7008", conn, nil), tlib.ErrInvalidState)
		requireError(t, desk, privateReq(ids.RecordStop, "7008", conn, nil), tlib.ErrInvalidState)
		requireError(t, desk, privateReq(4711, "7008", conn, nil), tlib.ErrInvalidPrivateMsgID)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", "00000000deadbeef", nil), tlib.ErrInvalidConnID)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", "", nil), tlib.ErrMissingAttribute)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", conn, tlib.KVList{"record": "both"}), tlib.ErrInvalidAttribute)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", conn, tlib.KVList{"id": "../etc"}), tlib.ErrInvalidAttribute)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", conn, tlib.KVList{"dest": "http://x"}), tlib.ErrInvalidAttribute)
		assert.Nil(t, lab.callInfo(t, conn).Media, "rejected requests did not anchor the call")

		requireACK(t, desk, privateReq(ids.RecordStart, "7008", conn, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOn)
		requireError(t, desk, privateReq(ids.RecordStart, "7008", conn, nil), tlib.ErrInvalidState)
		requireError(t, desk, privateReq(ids.RecordResume, "7008", conn, nil), tlib.ErrInvalidState)
		requireACK(t, desk, privateReq(ids.RecordPause, "7008", conn, nil))
		expectRecordState(t, desk.Events(), tlib.RecordPaused)
		requireError(t, desk, privateReq(ids.RecordPause, "7008", conn, nil), tlib.ErrInvalidState)
		requireACK(t, desk, privateReq(ids.RecordResume, "7008", conn, nil))
		expectRecordState(t, desk.Events(), tlib.RecordOn)

		// Nothing of that disturbed the call.
		waitHeardNew(t, call, audio.ToneForDN("7008"))
		waitHeardNew(t, ac, audio.ToneForDN("+15550000008"))
		assert.Equal(t, phone.StateEstablished, call.State())

		require.NoError(t, call.Hangup(ctx))
		expectRecordState(t, desk.Events(), tlib.RecordOff)
		expectEvents(t, desk.Events(), tlib.EventReleased)
		requireError(t, desk, privateReq(ids.RecordStop, "7008", conn, nil), tlib.ErrInvalidConnID)
		requireError(t, desk, privateReq(ids.RecordPause, "7008", conn, nil), tlib.ErrInvalidConnID)
		noEvent(t, desk.Events(), 100*time.Millisecond)
		lab.verify(t, lab.finished(t, est.CallUUID, 1)[0])
	})
}

// hearsBoth reports whether the last 400 ms of rx hold both tones.
func hearsBoth(rx []int16, a, b float64) bool {
	const n = 3200
	if len(rx) < n {
		return false
	}
	tail := rx[len(rx)-n:]
	pa, pb := audio.Goertzel(tail, a), audio.Goertzel(tail, b)
	other := audio.Goertzel(tail, 3300)
	return pa > 10*other && pb > 10*other && pa > pb/10 && pb > pa/10
}

// hasLegAt reports whether a media server has a leg whose RTP is at addr.
func (lab *recLab) hasLegAt(addr string) bool {
	for _, ms := range lab.ms {
		for _, c := range ms.Conferences() {
			for _, l := range c.Legs {
				if l.LocalRTP == addr {
					return true
				}
			}
		}
	}
	return false
}

// callInfo returns the call with connID from the SIP Server's table.
func (lab *recLab) callInfo(t *testing.T, connID string) CallInfo {
	t.Helper()
	for _, c := range lab.s.Calls() {
		if c.ConnID == connID {
			return c
		}
	}
	t.Fatalf("no call %s", connID)
	return CallInfo{}
}

// dialDesk opens another T-lib client registered on dn.
func (lab *recLab) dialDesk(t *testing.T, dn string) *tlib.Client {
	t.Helper()
	return dialTLib(t, lab.s, "desk2-"+dn, dn)
}

// skipData returns the next event on ch that is not EventAttachedDataChanged.
func skipData(t *testing.T, ch <-chan *tlib.Message) *tlib.Message {
	t.Helper()
	for {
		if m := nextEvent(t, ch); m.Name != tlib.EventAttachedDataChanged {
			return m
		}
	}
}
