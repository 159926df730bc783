package sipserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// TestCancelDuringRinging: the customer hangs up while the agent's phone
// rings: the agent's INVITE is cancelled and the DN sees the call go.
func TestCancelDuringRinging(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001"}) // rings until told
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cust.Dial(dctx, "7001")
		done <- err
	}()
	ring := expectEvents(t, desk.Events(), tlib.EventRinging)[0]
	var in *phone.Call
	select {
	case in = <-agent.Incoming():
	case <-time.After(waitFor):
		t.Fatal("the agent's phone did not ring")
	}
	require.Equal(t, "ringing", s.Calls()[0].State)
	cancel()
	require.Error(t, <-done)
	rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
	assert.Equal(t, ring.ConnID, rel.ConnID)
	assert.Equal(t, tlib.CallStateRemoteRelease, rel.CallState)
	assert.Equal(t, "CANCEL", rel.Reasons["cause"])
	select {
	case <-in.Done():
	case <-time.After(waitFor):
		t.Fatal("the agent's call was not cancelled")
	}
	requireNoCalls(t, s)
	requirePhoneIdle(t, agent)
	requirePhoneIdle(t, cust)
}

// TestByeFromBothSides: both parties hang up at the same moment, many
// times; whatever the interleaving, nothing is left.
func TestByeFromBothSides(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	for i := range 8 {
		call, err := cust.Dial(ctx, "7001")
		require.NoError(t, err, "call %d", i)
		expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
		agentCall := onlyCall(t, agent)
		require.NoError(t, agentCall.WaitState(ctx, phone.StateEstablished))

		start := make(chan struct{})
		var wg sync.WaitGroup
		for _, c := range []*phone.Call{call, agentCall} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_ = c.Hangup(ctx) // one of them may see 481: the other BYE won
			}()
		}
		close(start)
		wg.Wait()
		rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
		assert.Contains(t, []string{tlib.CallStateOK, tlib.CallStateRemoteRelease}, rel.CallState, "whichever BYE won")
		requireNoCalls(t, s)
		requirePhoneIdle(t, agent)
		requirePhoneIdle(t, cust)
	}
	noEvent(t, desk.Events(), 50*time.Millisecond)
}

// TestDestinationFailures maps the agent phone's refusals to the caller and
// to T-lib.
func TestDestinationFailures(t *testing.T) {
	for _, tc := range []struct {
		code      int
		callState string
	}{
		{486, tlib.CallStateBusy},
		{480, tlib.CallStateNoAnswer},
		{603, tlib.CallStateRejected},
		{404, tlib.CallStateRejected},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			s := startServer(t, nil)
			agent := startAgent(t, s, phone.Config{DN: "7001"})
			desk := dialTLib(t, s, "desktop", "7001")
			cust := startCustomer(t, s, phone.Config{})
			done := make(chan error, 1)
			go func() {
				_, err := cust.Dial(ctxFor(t), "7001")
				done <- err
			}()
			// Refuse once the DN has seen the call ring (sipgo may handle a
			// 180 and a 486 sent back to back in either order).
			expectEvents(t, desk.Events(), tlib.EventRinging)
			select {
			case in := <-agent.Incoming():
				require.NoError(t, in.Reject(tc.code, ""))
			case <-time.After(waitFor):
				t.Fatal("no ring")
			}
			var ce *phone.CallError
			require.ErrorAs(t, <-done, &ce)
			assert.Equal(t, tc.code, ce.Code)
			rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
			assert.Equal(t, tc.callState, rel.CallState)
			assert.Contains(t, rel.Reasons["cause"], fmt.Sprint(tc.code))
			requireNoCalls(t, s)
		})
	}
}

// TestUnregisteredAndUnknownDN: 480 for a DN without a phone, 404 for a
// number that is no DN. An internal caller's DN sees EventDialing then
// EventReleased.
func TestUnregisteredAndUnknownDN(t *testing.T) {
	s := startServer(t, nil)
	desk := dialTLib(t, s, "desktop", "7002", "7001")
	caller := startAgent(t, s, phone.Config{DN: "7002"})
	ctx := ctxFor(t)

	_, err := caller.Dial(ctx, "7001")
	var ce *phone.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 480, ce.Code)
	evs := expectEvents(t, desk.Events(), tlib.EventDialing, tlib.EventReleased)
	for _, m := range evs {
		assert.Equal(t, "7002", m.ThisDN, "7001 never rang")
		assert.Equal(t, tlib.RoleOrigination, m.ThisDNRole)
		assert.Equal(t, "7001", m.OtherDN)
		assert.Equal(t, tlib.CallTypeInternal, m.CallType)
	}
	assert.Equal(t, tlib.CallStateNoAnswer, evs[1].CallState)

	_, err = caller.Dial(ctx, "9999")
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 404, ce.Code)
	noEvent(t, desk.Events(), 50*time.Millisecond)
	requireNoCalls(t, s)
}

// TestNoAnswerTimeout: an unanswered call is ended after no-answer-timeout.
func TestNoAnswerTimeout(t *testing.T) {
	s := startServer(t, func(c *Config) { c.NoAnswerTimeout = 150 * time.Millisecond })
	agent := startAgent(t, s, phone.Config{DN: "7001"})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})

	_, err := cust.Dial(ctxFor(t), "7001")
	var ce *phone.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 480, ce.Code)
	evs := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventReleased)
	assert.Equal(t, tlib.CallStateNoAnswer, evs[1].CallState)
	requireNoCalls(t, s)
	requirePhoneIdle(t, agent)
}

// TestHoldRetrieveRelayed: the agent's hold and retrieve re-INVITEs reach the
// customer with the SDP relayed; the DN sees EventHeld and EventRetrieved.
func TestHoldRetrieveRelayed(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
	agentCall := onlyCall(t, agent)
	require.NoError(t, agentCall.WaitState(ctx, phone.StateEstablished))
	require.Eventually(t, call.Media().Sending, waitFor, 10*time.Millisecond)

	reinvite(t, agentCall.Hold)
	held := expectEvents(t, desk.Events(), tlib.EventHeld)[0]
	assert.Equal(t, "7001", held.ThisDN)
	assert.False(t, call.Media().Sending(), "the customer is on hold: it stops sending")
	m, ok := call.Media().Remote().Audio()
	require.True(t, ok)
	assert.Equal(t, "sendonly", string(m.Direction), "the agent's hold offer reached the customer")
	legs := s.Calls()[0].Legs
	assert.True(t, legs[1].Held)
	assert.Contains(t, legs[0].LocalSDP, "a=sendonly")

	reinvite(t, agentCall.Resume)
	expectEvents(t, desk.Events(), tlib.EventRetrieved)
	require.Eventually(t, call.Media().Sending, waitFor, 10*time.Millisecond)

	// The customer can re-INVITE too (no event: not a DN).
	reinvite(t, call.Hold)
	reinvite(t, call.Resume)
	noEvent(t, desk.Events(), 50*time.Millisecond)

	require.NoError(t, agentCall.Hangup(ctx))
	expectEvents(t, desk.Events(), tlib.EventReleased)
	requireNoCalls(t, s)
	requirePhoneIdle(t, cust)
}

// reinvite runs a hold or resume, retrying on 491: pkg/phone answers 491
// while it is still finishing the previous exchange (its lock is held until
// its 200 is written), and RFC 3261 14.1 leaves the retry to the UA.
func reinvite(t *testing.T, op func(context.Context) error) {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = op(ctxFor(t))
		var ce *phone.CallError
		return !errors.As(err, &ce) || ce.Code != 491
	}, waitFor, 20*time.Millisecond)
	require.NoError(t, err)
}

// TestReleaseCallFromTLib: RequestReleaseCall ends an established call (BYE
// to both) and a ringing one (480 to the caller).
func TestReleaseCallFromTLib(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
	reply, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7001", ConnID: est.ConnID})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventReleased, reply.Name, "EventReleased is the reply")
	assert.Equal(t, est.ConnID, reply.ConnID)
	assert.Equal(t, tlib.CallStateOK, reply.CallState)
	assert.Equal(t, tlib.RequestReleaseCall, reply.Reasons["cause"])
	waitDone(t, call)
	assert.Equal(t, "remote bye", call.EndCause())
	requireNoCalls(t, s)
	requirePhoneIdle(t, agent)
	expectEvents(t, desk.Events(), tlib.EventReleased)

	// Unknown ConnID now.
	_, err = desk.Request(ctx, &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7001", ConnID: est.ConnID})
	require.ErrorIs(t, err, tlib.ErrInvalidConnID)
}

func TestReleaseRingingCallFromTLib(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001"})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	done := make(chan error, 1)
	go func() {
		_, err := cust.Dial(ctx, "7001")
		done <- err
	}()
	ring := expectEvents(t, desk.Events(), tlib.EventRinging)[0]
	var in *phone.Call
	select {
	case in = <-agent.Incoming():
	case <-time.After(waitFor):
		t.Fatal("no ring")
	}
	_, err := desk.Request(ctx, &tlib.Message{Name: tlib.RequestReleaseCall, ThisDN: "7001", ConnID: ring.ConnID})
	require.NoError(t, err)
	var ce *phone.CallError
	require.ErrorAs(t, <-done, &ce)
	assert.Equal(t, 480, ce.Code)
	waitDone(t, in)
	requireNoCalls(t, s)
}
