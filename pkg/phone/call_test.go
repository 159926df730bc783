package phone

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/sdp"
	"github.com/arlab/arlab/pkg/sipx"
)

const (
	callerDN = "+15551230001"
	agentDN  = "7001"
)

// pair starts a caller and an auto-answering callee on one transport.
func pair(t *testing.T, transport string, srtp bool) (caller, callee *Phone) {
	t.Helper()
	var opts []Option
	if transport == "tls" {
		srv, cli, err := sipx.SelfSigned()
		require.NoError(t, err)
		opts = append(opts, WithTLS(srv, cli))
	}
	caller = startPhone(t, Config{DN: callerDN, Transport: transport, SRTP: srtp, RecordAudio: true}, opts...)
	callee = startPhone(t, Config{DN: agentDN, Transport: transport, SRTP: srtp, RecordAudio: true, AutoAnswer: true}, opts...)
	return caller, callee
}

func startPhone(t *testing.T, cfg Config, opts ...Option) *Phone {
	t.Helper()
	p, err := New(cfg, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { p.Close() })
	return p
}

func target(p *Phone) string {
	u := fmt.Sprintf("sip:%s@%s", p.DN(), p.Addr())
	if p.cfg.Transport != "udp" {
		u += ";transport=" + p.cfg.Transport
	}
	return u
}

// onlyCall waits for p to have exactly one call and returns it.
func onlyCall(t *testing.T, p *Phone) *Call {
	t.Helper()
	var c *Call
	require.Eventually(t, func() bool {
		calls := p.Calls()
		if len(calls) == 1 {
			c = calls[0]
			return true
		}
		return false
	}, 5*time.Second, 5*time.Millisecond)
	return c
}

// waitPackets waits until the call has received at least n packets.
func waitPackets(t *testing.T, c *Call, n uint64, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return c.Media().RecvStats().Packets >= n }, within, 10*time.Millisecond,
		"%s received %d packets, want %d", c.p.DN(), c.Media().RecvStats().Packets, n)
}

// waitSent waits until the call has sent at least n more packets than from.
func waitSent(t *testing.T, c *Call, from, n uint64, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { s, _ := c.Media().Sent(); return s >= from+n }, within, 10*time.Millisecond)
}

type callAudio struct {
	callerHeard, calleeHeard []int16
}

// holdScenario: 2 s of tones both ways, the caller holds for 1 s, resumes,
// 2 s more, hangs up. It asserts signalling, loss and hold, and returns what
// each side heard.
func holdScenario(t *testing.T, transport string, srtp bool) callAudio {
	caller, callee := pair(t, transport, srtp)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	out, err := caller.Dial(ctx, target(callee))
	require.NoError(t, err)
	in := onlyCall(t, callee)
	require.NoError(t, in.WaitState(ctx, StateEstablished))
	assert.Equal(t, callerDN, in.From())
	assert.Equal(t, agentDN, in.To())
	if srtp {
		m, _ := out.Media().Remote().Audio()
		assert.Equal(t, "RTP/SAVP", m.Proto)
	}

	waitPackets(t, out, 100, 5*time.Second)
	waitPackets(t, in, 100, 5*time.Second)

	require.NoError(t, out.Hold(ctx))
	assert.False(t, in.Media().Sending(), "held party must stop sending")
	assert.True(t, out.Media().Sending(), "holding party keeps sending (sendonly)")
	held := out.Media().RecvStats().Packets
	sent, _ := out.Media().Sent()
	waitSent(t, out, sent, 50, 5*time.Second)
	assert.LessOrEqual(t, out.Media().RecvStats().Packets, held+2, "media must stop while held")

	require.NoError(t, out.Resume(ctx))
	assert.True(t, in.Media().Sending(), "resumed party sends again")
	waitPackets(t, out, out.Media().RecvStats().Packets+100, 5*time.Second)

	require.NoError(t, out.Hangup(ctx))
	require.NoError(t, in.WaitState(ctx, StateEnded))
	assert.Equal(t, "remote bye", in.EndCause())

	for _, c := range []*Call{out, in} {
		st := c.Media().RecvStats()
		assert.Zero(t, st.Lost, "%s lost packets", c.p.DN())
		assert.Zero(t, st.Duplicates, "%s duplicates", c.p.DN())
	}
	assert.Empty(t, caller.Calls())
	assert.Empty(t, callee.Calls())
	return callAudio{callerHeard: out.Media().Received(), calleeHeard: in.Media().Received()}
}

func candidates() []float64 {
	return []float64{audio.ToneForDN(callerDN), audio.ToneForDN(agentDN)}
}

// assertHeard checks that heard is want's tone, with a silent span of
// about gap (0 = none) in the middle.
func assertHeard(t *testing.T, heard []int16, want float64, gap time.Duration) {
	t.Helper()
	require.NotEmpty(t, heard)
	var toneTime, silentTime, otherTime time.Duration
	for _, s := range audio.Segments(heard, candidates()) {
		d := s.End - s.Start
		switch {
		case s.Silent:
			silentTime += d
		case s.Freq == want:
			toneTime += d
		default:
			otherTime += d
		}
	}
	assert.GreaterOrEqual(t, toneTime, 3*time.Second, "time the expected %.0f Hz tone was heard", want)
	assert.LessOrEqual(t, otherTime, 60*time.Millisecond, "time anything else was heard")
	if gap == 0 {
		assert.LessOrEqual(t, silentTime, 60*time.Millisecond, "unexpected silence")
	} else {
		assert.InDelta(t, gap.Seconds(), silentTime.Seconds(), 0.3, "silence while held")
	}
}

func TestCallHoldResumeUDP(t *testing.T) {
	a := holdScenario(t, "udp", false)
	assertHeard(t, a.calleeHeard, audio.ToneForDN(callerDN), 0)
	assertHeard(t, a.callerHeard, audio.ToneForDN(agentDN), time.Second)
}

// TestCallTLSSRTPMatchesClear runs the same call over TLS with SRTP and checks
// the audio each side heard is the same, sample for sample, as in the clear.
func TestCallTLSSRTPMatchesClear(t *testing.T) {
	clear := holdScenario(t, "udp", false)
	secure := holdScenario(t, "tls", true)
	assertHeard(t, secure.calleeHeard, audio.ToneForDN(callerDN), 0)
	assertHeard(t, secure.callerHeard, audio.ToneForDN(agentDN), time.Second)
	// Both runs send the same deterministic tone from phase 0, so the first
	// 2 s (before the hold) must be bit-identical.
	const n = 2 * audio.SampleRate
	require.GreaterOrEqual(t, len(clear.calleeHeard), n)
	require.GreaterOrEqual(t, len(secure.calleeHeard), n)
	assert.Equal(t, clear.calleeHeard[:n], secure.calleeHeard[:n], "callee heard different audio over SRTP")
	assert.Equal(t, clear.callerHeard[:n], secure.callerHeard[:n], "caller heard different audio over SRTP")
}

// TestMediaMovedFollowsNewAddress: a re-INVITE that moves the far end's
// media to another address must make the phone send there.
func TestMediaMovedFollowsNewAddress(t *testing.T) {
	caller, callee := pair(t, "udp", false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := caller.Dial(ctx, target(callee))
	require.NoError(t, err)
	in := onlyCall(t, callee)
	require.NoError(t, in.WaitState(ctx, StateEstablished))

	moved, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer moved.Close()
	newAddr := netip.MustParseAddrPort(moved.LocalAddr().String())

	require.NoError(t, in.awaitConfirmed(ctx))
	offer := in.media.reoffer("")
	for i := range offer.Media {
		offer.Media[i].Port = int(newAddr.Port())
		offer.Media[i].Addr = newAddr.Addr()
	}
	answer, err := in.sendReinvite(ctx, offer)
	require.NoError(t, err)
	m, ok := answer.Audio()
	require.True(t, ok)
	assert.Equal(t, sdp.SendRecv, m.Direction)
	assert.Equal(t, newAddr, out.Media().RemoteAddr())

	buf := make([]byte, 1500)
	require.NoError(t, moved.SetReadDeadline(time.Now().Add(3*time.Second)))
	n, from, err := moved.ReadFrom(buf)
	require.NoError(t, err, "no RTP arrived at the new address")
	assert.Greater(t, n, 12)
	assert.Equal(t, out.Media().LocalAddr().String(), from.String())
	require.NoError(t, out.Hangup(ctx))
}

func TestCancelWhileRinging(t *testing.T) {
	caller := startPhone(t, Config{DN: callerDN})
	callee := startPhone(t, Config{DN: agentDN}) // no auto-answer: rings until told
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	dialCtx, stopDial := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := caller.Dial(dialCtx, target(callee)); errc <- err }()
	var in *Call
	select {
	case in = <-callee.Incoming():
	case <-ctx.Done():
		t.Fatal("no incoming call")
	}
	require.NoError(t, in.WaitState(ctx, StateRinging))
	stopDial()
	select {
	case err := <-errc:
		require.ErrorIs(t, err, context.Canceled)
	case <-ctx.Done():
		t.Fatal("Dial did not return after cancel")
	}
	require.NoError(t, in.WaitState(ctx, StateEnded))
	assert.Empty(t, caller.Calls())
	assert.Empty(t, callee.Calls())
}

func TestRejectAndBusy(t *testing.T) {
	caller := startPhone(t, Config{DN: callerDN})
	callee := startPhone(t, Config{DN: agentDN})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		c := <-callee.Incoming()
		_ = c.Reject(486, "")
	}()
	_, err := caller.Dial(ctx, target(callee))
	var ce *CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 486, ce.Code)
	assert.Empty(t, caller.Calls())
}

func TestDTMF(t *testing.T) {
	caller, callee := pair(t, "udp", false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := caller.Dial(ctx, target(callee))
	require.NoError(t, err)
	in := onlyCall(t, callee)
	require.NoError(t, in.WaitState(ctx, StateEstablished))
	waitPackets(t, in, 5, 3*time.Second)
	require.NoError(t, out.SendDTMF("1#9", 60*time.Millisecond))
	require.Eventually(t, func() bool { return in.Media().DTMF() == "1#9" }, 3*time.Second, 10*time.Millisecond,
		"callee got %q", in.Media().DTMF())
	require.NoError(t, out.Hangup(ctx))
}

func TestManyConcurrentCalls(t *testing.T) {
	caller, callee := pair(t, "udp", false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 20
	calls := make(chan *Call, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			c, err := caller.Dial(ctx, target(callee))
			if err != nil {
				errs <- err
				return
			}
			calls <- c
		}()
	}
	var got []*Call
	for len(got) < n {
		select {
		case c := <-calls:
			got = append(got, c)
		case err := <-errs:
			t.Fatal(err)
		case <-ctx.Done():
			t.Fatal("calls not set up")
		}
	}
	require.Len(t, callee.Calls(), n)
	for _, c := range got {
		waitPackets(t, c, 10, 5*time.Second)
	}
	for _, c := range got {
		require.NoError(t, c.Hangup(ctx))
	}
	require.Eventually(t, func() bool { return len(callee.Calls()) == 0 }, 5*time.Second, 10*time.Millisecond)
}
