package resourcemanager

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func recorders(policy string, ss ...*standin) GroupConfig {
	return GroupConfig{Name: "recorders", Kind: KindRecorder, Policy: policy, Members: members(ss...)}
}

// TestSilentMemberRetried is the case other proxies get wrong: the chosen
// member takes the INVITE and never answers. The RM must try the next member
// within invite-timeout, and the caller must get that member's 200.
func TestSilentMemberRetried(t *testing.T) {
	t.Parallel()
	rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
	cfg := testConfig(recorders(PolicyHunt, rec1, rec2))
	r := startRM(t, cfg)
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	rec1.mode.Store(modeSilent)
	start := time.Now()
	d, err := u.call(ctx, r.testURI("record=1", "udp"))
	took := time.Since(start)
	require.NoError(t, err)
	assert.Equal(t, "rec2", answeredBy(d))
	assert.GreaterOrEqual(t, rec1.dropped.Load(), int32(1), "rec1 got the INVITE first")
	assert.GreaterOrEqual(t, took, cfg.InviteTimeout)
	assert.Less(t, took, cfg.InviteTimeout+time.Second)
	m := r.member(t, "recorders", "rec1")
	assert.Equal(t, "suspect", m.State, "no answer makes a member suspect at once")
	assert.EqualValues(t, 1, m.Failures)
	assert.Contains(t, m.LastError, "timeout")
	assert.Equal(t, 0, m.Active, "the failed try gave its slot back")

	// Suspect members are last resort: the next INVITE goes straight to rec2.
	before := rec1.dropped.Load()
	start = time.Now()
	d2, err := u.call(ctx, r.testURI("record=2", "udp"))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), cfg.InviteTimeout)
	assert.Equal(t, "rec2", answeredBy(d2))
	assert.Equal(t, before, rec1.dropped.Load())
	require.NoError(t, d.Bye(ctx))
	require.NoError(t, d2.Bye(ctx))
}

// TestProvisionalThenSilent: a member that answers 100 or 180 and then hangs
// is cancelled (it had a provisional, so a CANCEL is allowed) and the INVITE
// moves on: after invite-timeout for a 100, after ring-timeout for a 180.
func TestProvisionalThenSilent(t *testing.T) {
	t.Parallel()
	for _, code := range []int{100, 180} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
			cfg := testConfig(recorders(PolicyHunt, rec1, rec2))
			cfg.RingTimeout = 700 * time.Millisecond
			r := startRM(t, cfg)
			u := newUAC(t, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rec1.mode.Store(modeRing)
			rec1.code.Store(int32(code))

			var provisional []int
			target := sip.Uri{}
			require.NoError(t, sip.ParseUri(r.testURI("record=1", "udp"), &target))
			start := time.Now()
			d, err := u.dua.Invite(ctx, target, []byte(testSDP), sip.NewHeader("Content-Type", "application/sdp"))
			require.NoError(t, err)
			defer d.Close()
			require.NoError(t, d.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
				if res.IsProvisional() {
					provisional = append(provisional, res.StatusCode)
				}
				return nil
			}}))
			took := time.Since(start)
			require.NoError(t, d.Ack(ctx))
			assert.Equal(t, "rec2", answeredBy(d))
			want := cfg.InviteTimeout
			if code == 180 {
				want = cfg.RingTimeout
				assert.Contains(t, provisional, 180, "the 180 was relayed to the caller")
			}
			assert.GreaterOrEqual(t, took, want)
			assert.Less(t, took, want+time.Second)
			require.Eventually(t, func() bool { return rec1.cancels.Load() == 1 }, 3*time.Second, 10*time.Millisecond, "rec1 got a CANCEL")
			require.NoError(t, d.Bye(ctx))
		})
	}
}

// TestDeadMemberSkippedWithinInterval: a member that stops answering gets no
// INVITE once one health interval (plus the probe timeout) has passed.
func TestDeadMemberSkippedWithinInterval(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			recs := []*standin{newStandin(t, "rec1", network), newStandin(t, "rec2", network), newStandin(t, "rec3", network)}
			cfg := testConfig(recorders(PolicyRoundRobin, recs...))
			cfg.Health = HealthConfig{Interval: 300 * time.Millisecond, Timeout: 150 * time.Millisecond, DownAfter: 3, UpAfter: 1}
			r := startRM(t, cfg)
			u := newUAC(t, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			// UDP: the process hangs (socket open, nothing answered), so any
			// INVITE that still reaches it is counted. TCP: the process dies.
			killed := time.Now()
			if network == "udp" {
				recs[1].mode.Store(modeSilent)
			} else {
				recs[1].kill()
			}
			require.Eventually(t, func() bool { return !r.member(t, "recorders", "rec2").Available }, 2*time.Second, 5*time.Millisecond)
			detect := time.Since(killed)
			assert.Less(t, detect, cfg.Health.Interval+cfg.Health.Timeout+200*time.Millisecond, "out of placement within one health interval")

			got := map[string]int{}
			for i := range 30 {
				d, err := u.call(ctx, r.testURI(fmt.Sprintf("record=%d", i), "udp"))
				require.NoError(t, err, "call %d", i)
				got[answeredBy(d)]++
				require.NoError(t, d.Bye(ctx))
			}
			assert.Equal(t, map[string]int{"rec1": 15, "rec3": 15}, got)
			assert.Zero(t, recs[1].dropped.Load(), "no INVITE reached the dead member")
			assert.Zero(t, recs[1].invites.Load())

			// Down after down-after failed probes; back up after one good probe.
			require.Eventually(t, func() bool { return r.member(t, "recorders", "rec2").State == "down" }, 3*time.Second, 10*time.Millisecond)
			if network == "udp" {
				recs[1].mode.Store(modeAnswer)
				require.Eventually(t, func() bool { return r.member(t, "recorders", "rec2").State == "up" }, 3*time.Second, 10*time.Millisecond)
			}
		})
	}
}

// TestAllMembersDown: the sender gets a 503 naming the group and the members
// tried, within failover-timeout, and nothing hangs.
func TestAllMembersDown(t *testing.T) {
	t.Parallel()
	t.Run("silent", func(t *testing.T) {
		t.Parallel()
		recs := []*standin{newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp"), newStandin(t, "rec3", "udp")}
		cfg := testConfig(recorders(PolicyHunt, recs...))
		cfg.InviteTimeout = 300 * time.Millisecond
		cfg.FailoverTimeout = 2 * time.Second
		cfg.Health.DownAfter = 1
		r := startRM(t, cfg)
		u := newUAC(t, "udp")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range recs {
			s.mode.Store(modeSilent)
		}
		start := time.Now()
		_, err := u.call(ctx, r.testURI("record=1", "udp"))
		took := time.Since(start)
		res := failure(t, err)
		assert.Equal(t, 503, res.StatusCode)
		assert.Equal(t, `399 arlab "group recorders: rec1 timeout; rec2 timeout; rec3 timeout"`, res.GetHeader("Warning").Value())
		assert.Less(t, took, cfg.FailoverTimeout)
		assert.NotNil(t, res.GetHeader("Retry-After"))

		// Each is down now (down-after 1): the next INVITE fails at once.
		start = time.Now()
		_, err = u.call(ctx, r.testURI("record=2", "udp"))
		res = failure(t, err)
		assert.Less(t, time.Since(start), 200*time.Millisecond)
		assert.Equal(t, 503, res.StatusCode)
		assert.Equal(t, `399 arlab "group recorders: no member available (rec1 down; rec2 down; rec3 down)"`, res.GetHeader("Warning").Value())
		assert.EqualValues(t, 2, r.group(t, "recorders").Rejected)
	})
	t.Run("killed", func(t *testing.T) {
		t.Parallel()
		recs := []*standin{newStandin(t, "rec1", "tcp"), newStandin(t, "rec2", "tcp")}
		cfg := testConfig(recorders(PolicyHunt, recs...))
		r := startRM(t, cfg)
		u := newUAC(t, "tcp")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, s := range recs {
			s.kill()
		}
		start := time.Now()
		_, err := u.call(ctx, r.testURI("record=1", "tcp"))
		res := failure(t, err)
		assert.Less(t, time.Since(start), cfg.InviteTimeout, "refused connections fail over at once")
		assert.Equal(t, 503, res.StatusCode)
		assert.Equal(t, `399 arlab "group recorders: rec1 transport error; rec2 transport error"`, res.GetHeader("Warning").Value())
	})
	t.Run("budget", func(t *testing.T) {
		t.Parallel()
		var recs []*standin
		for i := range 5 {
			s := newStandin(t, fmt.Sprintf("rec%d", i+1), "udp")
			s.mode.Store(modeSilent)
			recs = append(recs, s)
		}
		cfg := testConfig(recorders(PolicyHunt, recs...))
		cfg.InviteTimeout = 300 * time.Millisecond
		cfg.FailoverTimeout = 700 * time.Millisecond
		r := startRM(t, cfg)
		u := newUAC(t, "udp")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := u.call(ctx, r.testURI("record=1", "udp"))
		took := time.Since(start)
		res := failure(t, err)
		assert.Equal(t, 503, res.StatusCode)
		assert.Less(t, took, cfg.FailoverTimeout+300*time.Millisecond, "failover-timeout bounds all tries")
		w := res.GetHeader("Warning").Value()
		assert.Contains(t, w, "rec1 timeout; rec2 timeout; ")
		assert.True(t, strings.HasSuffix(w, `rec4, rec5 not tried (failover-timeout)"`) || strings.HasSuffix(w, `rec3, rec4, rec5 not tried (failover-timeout)"`), w)
	})
}

// TestBusyAndNoFailoverCodes: 503/486 fail over and keep the member out for a
// while; a code listed in no-failover, or one that never fails over (404),
// goes back to the caller as the member sent it.
func TestBusyAndNoFailoverCodes(t *testing.T) {
	for _, code := range []int{503, 486, 500, 408} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
			r := startRM(t, testConfig(recorders(PolicyHunt, rec1, rec2)))
			u := newUAC(t, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rec1.mode.Store(modeCode)
			rec1.code.Store(int32(code))
			d, err := u.call(ctx, r.testURI("record=1", "udp"))
			require.NoError(t, err)
			assert.Equal(t, "rec2", answeredBy(d))
			require.NoError(t, d.Bye(ctx))
			d, err = u.call(ctx, r.testURI("record=2", "udp"))
			require.NoError(t, err)
			require.NoError(t, d.Bye(ctx))
			m := r.member(t, "recorders", "rec1")
			if code == 503 || code == 486 {
				assert.True(t, m.Busy)
				assert.EqualValues(t, 1, rec1.invites.Load(), "a busy member is skipped")
			} else {
				assert.False(t, m.Busy)
				assert.EqualValues(t, 2, rec1.invites.Load(), "a 5xx/408 member is still tried")
			}
			assert.Equal(t, "up", m.State, "an answering member stays up")
		})
	}
	t.Run("no-failover", func(t *testing.T) {
		rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
		g := recorders(PolicyHunt, rec1, rec2)
		g.NoFailover = []int{503}
		r := startRM(t, testConfig(g))
		u := newUAC(t, "udp")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, code := range []int{503, 404, 488} {
			rec1.mode.Store(modeCode)
			rec1.code.Store(int32(code))
			_, err := u.call(ctx, r.testURI("record=1", "udp"))
			res := failure(t, err)
			assert.Equal(t, code, res.StatusCode)
			assert.Equal(t, "rec1", res.GetHeader("X-Member").Value(), "the member's own response")
		}
		assert.Zero(t, rec2.invites.Load())
	})
}

// TestCancelForwarded: the caller's CANCEL reaches the member, the caller gets
// 487, and the slot is free again.
func TestCancelForwarded(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
	u := newUAC(t, "udp")
	rec.mode.Store(modeRing)
	target := sip.Uri{}
	require.NoError(t, sip.ParseUri(r.testURI("record=1", "udp"), &target))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := u.dua.Invite(ctx, target, []byte(testSDP), sip.NewHeader("Content-Type", "application/sdp"))
	require.NoError(t, err)
	defer d.Close()
	waitCtx, stop := context.WithCancel(ctx)
	err = d.WaitAnswer(waitCtx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.StatusCode == 180 {
			stop() // sipgo sends the CANCEL
		}
		return nil
	}})
	require.Error(t, err)
	assert.Equal(t, 487, d.InviteResponse.StatusCode)
	require.Eventually(t, func() bool { return rec.cancels.Load() == 1 }, 3*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return r.member(t, "recorders", "rec1").Active == 0 }, 3*time.Second, 5*time.Millisecond)
	assert.Equal(t, 0, r.sessions.len())
}

// TestLateAnswerEnded: a member that answers after the RM moved on gets an ACK
// and a BYE, so it does not keep a recording nobody sends media to.
func TestLateAnswerEnded(t *testing.T) {
	t.Parallel()
	rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
	cfg := testConfig(recorders(PolicyHunt, rec1, rec2))
	r := startRM(t, cfg)
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rec1.mode.Store(modeSlow)
	rec1.delay.Store(int64(cfg.InviteTimeout + 300*time.Millisecond))
	d, err := u.call(ctx, r.testURI("record=1", "udp"))
	require.NoError(t, err)
	assert.Equal(t, "rec2", answeredBy(d))
	require.Eventually(t, func() bool { return rec1.acks.Load() == 1 && rec1.byes.Load() == 1 }, 3*time.Second, 10*time.Millisecond,
		"the late 2xx was ACKed and BYEd")
	require.NoError(t, d.Bye(ctx))
	assert.EqualValues(t, 1, rec2.byes.Load())
}

// TestMemberHangsUp: a BYE from the member goes to the caller through the RM
// (route set from Record-Route) and frees the slot.
func TestMemberHangsUp(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			rec := newStandin(t, "rec1", network)
			r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
			u := newUAC(t, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			d, err := u.call(ctx, r.testURI("record=1", "udp"))
			require.NoError(t, err)
			defer d.Close()
			assert.Equal(t, 1, r.member(t, "recorders", "rec1").Active)
			res, err := rec.bye(ctx, d.InviteRequest.CallID().Value())
			require.NoError(t, err)
			assert.Equal(t, 200, res.StatusCode)
			assert.EqualValues(t, 1, u.byes.Load())
			assert.Equal(t, 0, r.member(t, "recorders", "rec1").Active)
		})
	}
}

// TestMemberDownExpiresSessions: sessions on a member that goes down stop
// counting against it.
func TestMemberDownExpiresSessions(t *testing.T) {
	t.Parallel()
	rec := newStandin(t, "rec1", "udp")
	cfg := testConfig(recorders(PolicyHunt, rec))
	cfg.Health = HealthConfig{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, DownAfter: 2, UpAfter: 1}
	r := startRM(t, cfg)
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 3 {
		d, err := u.call(ctx, r.testURI(fmt.Sprintf("record=%d", i), "udp"))
		require.NoError(t, err)
		defer d.Close()
	}
	assert.Equal(t, 3, r.member(t, "recorders", "rec1").Active)
	rec.mode.Store(modeSilent)
	require.Eventually(t, func() bool { return r.member(t, "recorders", "rec1").State == "down" }, 3*time.Second, 10*time.Millisecond)
	assert.Equal(t, 0, r.member(t, "recorders", "rec1").Active)
	assert.Equal(t, 0, r.sessions.len())
}

// TestCapacity: a full member is skipped, and the group answers 503 when all
// are full.
func TestCapacity(t *testing.T) {
	rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
	g := recorders(PolicyHunt, rec1, rec2)
	g.Members[0].Capacity, g.Members[1].Capacity = 2, 1
	r := startRM(t, testConfig(g))
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []string
	for i := range 3 {
		d, err := u.call(ctx, r.testURI(fmt.Sprintf("record=%d", i), "udp"))
		require.NoError(t, err)
		defer d.Close()
		got = append(got, answeredBy(d))
	}
	assert.Equal(t, []string{"rec1", "rec1", "rec2"}, got)
	_, err := u.call(ctx, r.testURI("record=x", "udp"))
	res := failure(t, err)
	assert.Equal(t, 503, res.StatusCode)
	assert.Contains(t, res.GetHeader("Warning").Value(), "rec1 full; rec2 full")
}
