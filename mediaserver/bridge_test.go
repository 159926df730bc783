package mediaserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBridgeTwoPhones: two phones joined through the media server by the SIP
// Server (3pcc) hear each other's tone, and the conference shows both legs.
func TestBridgeTwoPhones(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, nil)
	eventually(t, 5*time.Second, func() bool {
		return heardFor(b.agentCall.Media().Received(), time.Second, customerTone) &&
			heardFor(b.customerCall.Media().Received(), time.Second, agentTone)
	}, "each phone hears the other's tone")

	confs := b.ms.Conferences()
	require.Len(t, confs, 1)
	require.Len(t, confs[0].Legs, 2)
	for _, l := range confs[0].Legs {
		assert.Equal(t, roleParty, l.Role)
		assert.NotZero(t, l.RxPackets)
		assert.NotZero(t, l.TxPackets)
	}
	// The phones see one stream each with no loss: sequence continuity.
	st := b.agentCall.Media().RecvStats()
	assert.Zero(t, st.Lost)

	// The media server's SSRC, not the customer's, is what the agent sees.
	assert.Equal(t, confs[0].Legs[0].TxSSRC, b.customerCall.Media().RecvStats().SSRC)
}
