package sipserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// TestMakeCall: RequestMakeCall drives the auto-answer phone of 7001 to call
// 7002 (third-party call control); both talk, and T-lib shows the call.
func TestMakeCall(t *testing.T) {
	s := startServer(t, nil)
	p1 := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true, RecordAudio: true})
	p2 := startAgent(t, s, phone.Config{DN: "7002", AutoAnswer: true, RecordAudio: true})
	d1 := dialTLib(t, s, "desk-7001", "7001")
	d2 := dialTLib(t, s, "desk-7002", "7002")
	ctx := ctxFor(t)

	reply, err := d1.Request(ctx, &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: "7001", OtherDN: "7002",
		UserData: tlib.KVList{"case": "42"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventDialing, reply.Name)
	assert.Equal(t, "7001", reply.ThisDN)
	assert.Equal(t, "7002", reply.OtherDN)
	assert.Equal(t, tlib.CallTypeInternal, reply.CallType)
	assert.Equal(t, "42", reply.UserData["case"])
	connID := reply.ConnID
	require.Len(t, connID, 16)

	in := expectEvents(t, d2.Events(), tlib.EventRinging, tlib.EventEstablished)
	for _, m := range in {
		assert.Equal(t, connID, m.ConnID)
		assert.Equal(t, "7002", m.ThisDN)
		assert.Equal(t, "7001", m.OtherDN)
		assert.Equal(t, "42", m.UserData["case"])
	}
	expectEvents(t, d1.Events(), tlib.EventDialing, tlib.EventEstablished)

	c1, c2 := onlyCall(t, p1), onlyCall(t, p2)
	assert.Equal(t, "7002", c1.From(), "the originator's phone shows whom it calls")
	require.Eventually(t, func() bool {
		return c1.Media().RecvStats().Packets > 30 && c2.Media().RecvStats().Packets > 30
	}, waitFor, 10*time.Millisecond)
	f, ok := audio.DominantTone(c2.Media().Received(), []float64{p1.ToneHz(), p2.ToneHz()})
	require.True(t, ok)
	assert.Equal(t, p1.ToneHz(), f)
	f, ok = audio.DominantTone(c1.Media().Received(), []float64{p1.ToneHz(), p2.ToneHz()})
	require.True(t, ok)
	assert.Equal(t, p2.ToneHz(), f)
	calls := s.Calls()
	require.Len(t, calls, 1)
	assert.Equal(t, "out", calls[0].Legs[0].Direction, "both legs are ours")
	assert.Equal(t, "out", calls[0].Legs[1].Direction)

	_, err = d2.Request(ctx, &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7002", ConnID: connID})
	require.NoError(t, err)
	expectEvents(t, d1.Events(), tlib.EventReleased)
	requireNoCalls(t, s)
	requirePhoneIdle(t, p1)
	requirePhoneIdle(t, p2)
}

// TestMakeCallRefusals: only auto-answer, registered DNs can be driven.
func TestMakeCallRefusals(t *testing.T) {
	s := startServer(t, nil)
	d := dialTLib(t, s, "desk", "7001", "7003", "5000")
	ctx := ctxFor(t)
	for _, tc := range []struct {
		this, other string
		want        tlib.ErrorCode
	}{
		{"7003", "7001", tlib.ErrInvalidState}, // no auto-answer
		{"7001", "7002", tlib.ErrInvalidState}, // 7001 has no phone
		{"5000", "7001", tlib.ErrInvalidState}, // a routing point
	} {
		_, err := d.Request(ctx, &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: tc.this, OtherDN: tc.other})
		var te *tlib.Error
		require.ErrorAs(t, err, &te, "%s -> %s", tc.this, tc.other)
		assert.Equal(t, tc.want, te.Code, "%s -> %s: %s", tc.this, tc.other, te.Message)
	}
	startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	_, err := d.Request(ctx, &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: "7001", OtherDN: "7002"})
	require.ErrorIs(t, err, tlib.ErrInvalidDestination, "7002 has no phone")
	_, err = d.Request(ctx, &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: "7001", OtherDN: "+15550000000"})
	require.ErrorIs(t, err, tlib.ErrInvalidDestination, "no trunk")
	requireNoCalls(t, s)
}

// TestMakeCallToBusyDN: the destination refuses; the originator is hung up.
func TestMakeCallToBusyDN(t *testing.T) {
	s := startServer(t, nil)
	p1 := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	p3 := startAgent(t, s, phone.Config{DN: "7003"})
	d := dialTLib(t, s, "desk", "7001")
	ctx := ctxFor(t)
	_, err := d.Request(ctx, &tlib.Message{Name: tlib.RequestMakeCall, ThisDN: "7001", OtherDN: "7003"})
	require.NoError(t, err)
	select {
	case in := <-p3.Incoming():
		require.NoError(t, in.Reject(486, ""))
	case <-time.After(waitFor):
		t.Fatal("7003 did not ring")
	}
	rel := expectEvents(t, d.Events(), tlib.EventDialing, tlib.EventReleased)[1]
	assert.Equal(t, tlib.CallStateBusy, rel.CallState)
	requireNoCalls(t, s)
	requirePhoneIdle(t, p1)
}
