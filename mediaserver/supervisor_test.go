package mediaserver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/siprec"
)

// tonePower is the share of the last second's energy at freq.
func tonePower(samples []int16, freq float64) float64 {
	if len(samples) > audio.SampleRate {
		samples = samples[len(samples)-audio.SampleRate:]
	}
	rms := audio.RMS(samples)
	if rms == 0 {
		return 0
	}
	return audio.Goertzel(samples, freq) / (rms * rms)
}

// hearsMix reports whether the last second carries each of tones with a fair
// share of the energy and none of the others.
func hearsMix(samples []int16, tones ...float64) bool {
	if len(samples) < audio.SampleRate {
		return false
	}
	for _, f := range allTones {
		want := false
		for _, x := range tones {
			want = want || x == f
		}
		p := tonePower(samples, f)
		if want && p < 0.2 || !want && p > 0.05 {
			return false
		}
	}
	return true
}

// TestSupervisorMuteAndCoach: a monitoring supervisor hears the mix of both
// parties and nobody hears him; in coach mode the agent hears him (and the
// customer) while the customer still hears the agent alone. The recording
// gains the supervisor's stream with a partial-metadata re-INVITE, and loses
// it when he leaves.
func TestSupervisorMuteAndCoach(t *testing.T) {
	t.Parallel() // long: mostly waiting for audio
	b := newBridge(t, "c1", nil, nil)
	srs := newStubSRS(t)
	startRecording(t, b, "rec-1", msml.Record{Dests: []msml.Dest{{URI: srs.uri("srs")}}})
	ss := srs.waitSession(5 * time.Second)
	sup := newPhone(t, superDN, nil)
	sc := call(t, b.stub, sup, "c1")

	// Joined but not yet monitoring: a pending leg hears nothing.
	time.Sleep(300 * time.Millisecond) // a span in which nothing may reach him
	assert.True(t, audio.IsSilent(sc.Media().Received()))

	b.stub.do(agentDN, msml.NewJoin("c1", superDN, msml.JoinMute, ""))
	eventually(t, 5*time.Second, func() bool { return hearsMix(sc.Media().Received(), agentTone, customerTone) },
		"the supervisor hears both parties")
	assert.True(t, hearsMix(b.agentCall.Media().Received(), customerTone), "mute: the agent does not hear the supervisor")
	assert.True(t, hearsMix(b.customerCall.Media().Received(), agentTone), "mute: the customer does not hear the supervisor")

	// The recording gained a third m-line for the supervisor.
	eventually(t, 3*time.Second, func() bool { return ss.reinviteCount() == 1 }, "re-INVITE adding the supervisor")
	req, _ := ss.reinvite(0)
	body, err := siprec.ParseBody(req.ContentType().Value(), req.Body())
	require.NoError(t, err)
	md, err := siprec.ParseMetadata(body.Metadata)
	require.NoError(t, err)
	assert.Equal(t, siprec.DataModePartial, md.DataMode)
	require.Len(t, md.Participants, 1)
	assert.Equal(t, "sip:"+superDN+"@127.0.0.1", md.Participants[0].AOR)
	require.Len(t, md.Streams, 1)
	assert.Equal(t, superDN, md.Streams[0].Label)
	offer := ss.offer()
	require.Len(t, offer.Media, 3)
	assert.Equal(t, superDN, offer.Media[2].Label)
	eventually(t, 3*time.Second, func() bool {
		st := ss.stream(2)
		return st != nil && heardFor(st.audioSince(time.Time{}), 500*time.Millisecond, superTone)
	}, "the supervisor's stream is recorded")

	// Coach: switch by unjoin + join.
	b.stub.do(agentDN, msml.NewUnjoin("c1", superDN))
	eventually(t, 3*time.Second, func() bool { return ss.reinviteCount() == 2 }, "re-INVITE removing the supervisor")
	assert.Zero(t, ss.offer().Media[2].Port, "the departed supervisor's m-line is disabled")
	b.stub.do(agentDN, msml.NewJoin("c1", superDN, msml.JoinCoach, agentDN))
	eventually(t, 5*time.Second, func() bool {
		return hearsMix(b.agentCall.Media().Received(), customerTone, superTone)
	}, "coach: the agent hears the customer and the supervisor")
	assert.True(t, hearsMix(b.customerCall.Media().Received(), agentTone), "coach: the customer hears the agent only")
	eventually(t, 3*time.Second, func() bool { return hearsMix(sc.Media().Received(), agentTone, customerTone) },
		"coach: the supervisor hears both")
	// The agent's stream from the media server stayed one stream (same SSRC)
	// across the switch to the mix.
	assert.Zero(t, b.agentCall.Media().RecvStats().Lost)

	// The supervisor hangs up: everyone is back to the plain bridge.
	require.NoError(t, sc.Hangup(t.Context()))
	eventually(t, 5*time.Second, func() bool { return hearsMix(b.agentCall.Media().Received(), customerTone) },
		"the agent hears the customer alone again")
	info := b.ms.Conferences()[0]
	assert.Empty(t, info.Supervisor)
	assert.Len(t, info.Legs, 2)
}
