package sipserver

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

// TestInternalCall: DN 7002 calls DN 7001; both see the call with their roles.
func TestInternalCall(t *testing.T) {
	s := startServer(t, nil)
	callee := startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	caller := startAgent(t, s, phone.Config{DN: "7002"})
	d1 := dialTLib(t, s, "desk-7001", "7001")
	d2 := dialTLib(t, s, "desk-7002", "7002")
	ctx := ctxFor(t)

	call, err := caller.Dial(ctx, "7001")
	require.NoError(t, err)
	out := expectEvents(t, d2.Events(), tlib.EventDialing, tlib.EventEstablished)
	in := expectEvents(t, d1.Events(), tlib.EventRinging, tlib.EventEstablished)
	for _, m := range out {
		assert.Equal(t, "7002", m.ThisDN)
		assert.Equal(t, tlib.RoleOrigination, m.ThisDNRole)
		assert.Equal(t, "7001", m.OtherDN)
		assert.Equal(t, tlib.RoleDestination, m.OtherDNRole)
	}
	for _, m := range append(out, in...) {
		assert.Equal(t, tlib.CallTypeInternal, m.CallType)
		assert.Equal(t, "7002", m.ANI)
		assert.Equal(t, "7001", m.DNIS)
		assert.Equal(t, out[0].ConnID, m.ConnID)
		assert.Equal(t, out[0].CallUUID, m.CallUUID)
	}
	for _, m := range in {
		assert.Equal(t, "7001", m.ThisDN)
		assert.Equal(t, tlib.RoleDestination, m.ThisDNRole)
		assert.Equal(t, "7002", m.OtherDN)
	}
	require.NoError(t, onlyCall(t, callee).Hangup(ctx))
	expectEvents(t, d1.Events(), tlib.EventReleased)
	expectEvents(t, d2.Events(), tlib.EventReleased)
	waitDone(t, call)
	requireNoCalls(t, s)
}

// TestTransports: calls across UDP, TCP and TLS legs, with audio.
func TestTransports(t *testing.T) {
	srvTLS, cliTLS, err := sipx.SelfSigned()
	require.NoError(t, err)
	for _, tc := range []struct{ customer, agent string }{
		{"tcp", "tls"},
		{"tls", "udp"},
		{"udp", "tcp"},
	} {
		t.Run(tc.customer+"-"+tc.agent, func(t *testing.T) {
			cfg := testConfig()
			cfg.SIP.TLS = "127.0.0.1:0"
			s, err := New(cfg, WithLogger(testLogger()), WithTLS(srvTLS, cliTLS))
			require.NoError(t, err)
			require.NoError(t, s.Start(context.Background()))
			t.Cleanup(func() { require.NoError(t, s.Close()) })

			opts := []phone.Option{phone.WithTLS(srvTLS, cliTLS)}
			agentCfg := phone.Config{DN: "7001", AutoAnswer: true, Transport: tc.agent, RecordAudio: true}
			var agent *phone.Phone
			if tc.agent == "udp" {
				agent = startAgent(t, s, agentCfg, opts...)
			} else {
				agent = startAgentStream(t, s, agentCfg, opts...)
			}
			cust := startCustomer(t, s, phone.Config{Transport: tc.customer, RecordAudio: true}, opts...)
			ctx := ctxFor(t)
			call, err := cust.Dial(ctx, "7001")
			require.NoError(t, err)
			agentCall := onlyCall(t, agent)
			require.Eventually(t, func() bool { return agentCall.Media().RecvStats().Packets > 20 }, waitFor, 10*time.Millisecond)
			f, ok := audio.DominantTone(agentCall.Media().Received(), []float64{cust.ToneHz(), agent.ToneHz()})
			require.True(t, ok)
			assert.Equal(t, cust.ToneHz(), f)
			legs := s.Calls()[0].Legs
			assert.Equal(t, tc.customer, legs[0].Transport)
			assert.Equal(t, tc.agent, legs[1].Transport)
			reinvite(t, agentCall.Hold) // in-dialog requests follow each leg's transport
			require.NoError(t, call.Hangup(ctx))
			requireNoCalls(t, s)
			requirePhoneIdle(t, agent)
		})
	}
}

// TestReferRefused: transfer is refused cleanly (501), the call goes on.
func TestReferRefused(t *testing.T) {
	s := startServer(t, nil)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	req := sip.NewRequest(sip.REFER, sip.Uri{Scheme: "sip", User: "7001", Host: "127.0.0.1", Port: int(s.SIPAddr("udp").Port())})
	req.AppendHeader(sip.NewHeader("Refer-To", "<sip:7002@127.0.0.1>"))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	res, err := cli.Do(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, 501, res.StatusCode)
	require.NotNil(t, res.GetHeader("Warning"))
	assert.Contains(t, res.GetHeader("Warning").Value(), "transfer")
}

// TestRegistrar: bindings, refresh, query, removal, refusals.
func TestRegistrar(t *testing.T) {
	s := startServer(t, nil)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	port := int(s.SIPAddr("udp").Port())
	seq := uint32(0)
	register := func(dn, contact string, expires int) *sip.Response {
		t.Helper()
		seq++
		req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: port})
		aor := sip.Uri{Scheme: "sip", User: dn, Host: "127.0.0.1"}
		from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
		from.Params.Add("tag", "t1")
		req.AppendHeader(from)
		req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
		cid := sip.CallIDHeader("reg-test-" + dn)
		req.AppendHeader(&cid)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
		if contact != "" {
			req.AppendHeader(sip.NewHeader("Contact", contact))
		}
		if expires >= 0 {
			req.AppendHeader(sip.NewHeader("Expires", fmt.Sprint(expires)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		res, err := cli.Do(ctx, req)
		require.NoError(t, err)
		return res
	}

	res := register("7001", "<sip:7001@127.0.0.1:5999>", 7200)
	require.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Contact().Value(), "expires=3600", "capped at register-max-expires")
	b, ok := s.reg.lookup("7001")
	require.True(t, ok)
	assert.Equal(t, "sip:7001@127.0.0.1:5999", b.Contact)
	assert.Equal(t, "udp", b.Transport)

	res = register("7001", "", -1) // query
	require.Equal(t, 200, res.StatusCode)
	require.NotNil(t, res.Contact())
	assert.Contains(t, res.Contact().Value(), "5999")

	res = register("7001", "<sip:7001@127.0.0.1:6001;transport=tcp>;expires=60", -1) // moves
	require.Equal(t, 200, res.StatusCode)
	b, _ = s.reg.lookup("7001")
	assert.Equal(t, "tcp", b.Transport)

	res = register("7001", "*", 0)
	require.Equal(t, 200, res.StatusCode)
	_, ok = s.reg.lookup("7001")
	assert.False(t, ok)

	assert.Equal(t, 404, register("9999", "<sip:9999@127.0.0.1:5999>", 60).StatusCode)
	assert.Equal(t, 403, register("5000", "<sip:5000@127.0.0.1:5999>", 60).StatusCode)
	assert.Equal(t, 400, register("7002", "*", 60).StatusCode)

	// Expiry is honoured at lookup.
	require.Equal(t, 200, register("7002", "<sip:7002@127.0.0.1:5999>", 60).StatusCode)
	_, ok = s.reg.lookup("7002")
	require.True(t, ok)
	s.reg.mu.Lock()
	s.reg.now = func() time.Time { return time.Now().Add(61 * time.Second) }
	s.reg.mu.Unlock()
	_, ok = s.reg.lookup("7002")
	assert.False(t, ok, "expired, seen a minute later")
	assert.Empty(t, s.reg.list())
}
