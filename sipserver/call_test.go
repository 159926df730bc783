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

// checkInboundEvent checks the attributes every call event of the inbound test
// call carries.
func checkInboundEvent(t *testing.T, m *tlib.Message, dn string) {
	t.Helper()
	assert.Equal(t, dn, m.ThisDN, m.Name)
	assert.Equal(t, tlib.RoleDestination, m.ThisDNRole, m.Name)
	assert.Equal(t, customerDN, m.OtherDN, m.Name)
	assert.Equal(t, tlib.RoleOrigination, m.OtherDNRole, m.Name)
	assert.Equal(t, customerDN, m.ANI, m.Name)
	assert.Equal(t, tlib.CallTypeInbound, m.CallType, m.Name)
	assert.Len(t, m.ConnID, 16, m.Name)
	assert.Len(t, m.CallUUID, 32, m.Name)
	assert.NotEmpty(t, m.CallID, m.Name)
	assert.False(t, m.Time.IsZero(), m.Name)
}

func TestInboundCallToDN(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true, RecordAudio: true})
	desk := dialTLib(t, s, "desktop-7001", "7001")
	other := dialTLib(t, s, "desktop-7002", "7002")
	cust := startCustomer(t, s, phone.Config{RecordAudio: true})
	ctx := ctxFor(t)

	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	evs := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
	for _, m := range evs {
		checkInboundEvent(t, m, "7001")
		assert.Equal(t, "7001", m.DNIS)
		assert.Equal(t, tlib.CallStateOK, m.CallState)
		assert.Equal(t, evs[0].ConnID, m.ConnID)
		assert.Equal(t, evs[0].CallUUID, m.CallUUID)
	}
	// The caller's 200 and the agent's INVITE carry the CallUUID.
	assert.Equal(t, evs[0].CallUUID, call.Header(headerCallUUID))
	agentCall := onlyCall(t, agent)
	assert.Equal(t, evs[0].CallUUID, agentCall.Header(headerCallUUID))
	assert.Equal(t, customerDN, agentCall.From())
	assert.Equal(t, "7001", agentCall.To())
	assert.NotEqual(t, call.ID(), agentCall.ID(), "each leg has its own Call-ID")

	// Audio flows both ways, end to end: each side hears the other's tone.
	require.Eventually(t, func() bool {
		return agentCall.Media().RecvStats().Packets > 30 && call.Media().RecvStats().Packets > 30
	}, waitFor, 10*time.Millisecond)
	f, ok := audio.DominantTone(agentCall.Media().Received(), []float64{cust.ToneHz(), agent.ToneHz()})
	require.True(t, ok)
	assert.Equal(t, cust.ToneHz(), f, "the agent hears the customer")
	f, ok = audio.DominantTone(call.Media().Received(), []float64{cust.ToneHz(), agent.ToneHz()})
	require.True(t, ok)
	assert.Equal(t, agent.ToneHz(), f, "the customer hears the agent")

	calls := apiCalls(t, s)
	require.Len(t, calls, 1)
	c := calls[0]
	assert.Equal(t, evs[0].ConnID, c.ConnID)
	assert.Equal(t, "established", c.State)
	assert.Equal(t, tlib.CallTypeInbound, c.Type)
	require.Len(t, c.Legs, 2)
	assert.Equal(t, "in", c.Legs[0].Direction)
	assert.Equal(t, "out", c.Legs[1].Direction)
	for _, l := range c.Legs {
		assert.Equal(t, "confirmed", l.State)
		assert.NotEmpty(t, l.LocalSDP)
		assert.NotEmpty(t, l.RemoteSDP)
	}
	assert.Equal(t, call.ID(), c.Legs[0].SIPCallID)
	assert.Equal(t, agentCall.ID(), c.Legs[1].SIPCallID)

	require.NoError(t, call.Hangup(ctx))
	rel := expectEvents(t, desk.Events(), tlib.EventReleased)[0]
	checkInboundEvent(t, rel, "7001")
	assert.Equal(t, tlib.CallStateRemoteRelease, rel.CallState, "the customer hung up")
	assert.Equal(t, "BYE", rel.Reasons["cause"])
	waitDone(t, agentCall)
	assert.Equal(t, "remote bye", agentCall.EndCause())
	requireNoCalls(t, s)
	noEvent(t, other.Events(), 50*time.Millisecond)
}
