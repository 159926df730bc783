package resourcemanager

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testGroup(t testing.TB, policy string, n int, tweak ...func(i int, m *MemberConfig)) *group {
	t.Helper()
	gc := GroupConfig{Name: "g", Kind: KindRecorder, Policy: policy, HashKey: HashCallID}
	for i := range n {
		mc := MemberConfig{Name: fmt.Sprintf("m%d", i+1), URI: fmt.Sprintf("sip:10.0.0.%d:5060", i+1), Weight: 1}
		for _, f := range tweak {
			f(i, &mc)
		}
		gc.Members = append(gc.Members, mc)
	}
	g, err := newGroup(gc)
	require.NoError(t, err)
	return g
}

func names(ms []*member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.name
	}
	return out
}

// pick plans, takes a slot on the first member and returns its name.
func pick(g *group, key string) string {
	now := time.Now()
	plan, _ := g.plan(now, key, "", nil)
	if len(plan) == 0 {
		return ""
	}
	g.acquire(plan[0], "", false, now)
	return plan[0].name
}

func TestRoundRobinOrder(t *testing.T) {
	g := testGroup(t, PolicyRoundRobin, 3)
	now := time.Now()
	for _, want := range [][]string{{"m1", "m2", "m3"}, {"m2", "m3", "m1"}, {"m3", "m1", "m2"}, {"m1", "m2", "m3"}} {
		plan, _ := g.plan(now, "", "", nil)
		assert.Equal(t, want, names(plan))
	}
	// An unavailable member is skipped without breaking the rotation.
	g.members[1].draining = true
	var got []string
	for range 4 {
		plan, _ := g.plan(now, "", "", nil)
		got = append(got, plan[0].name)
	}
	assert.Equal(t, []string{"m3", "m1", "m3", "m1"}, got)
}

func TestLeastUsedOrder(t *testing.T) {
	g := testGroup(t, PolicyLeastUsed, 3, func(i int, m *MemberConfig) { m.Capacity = []int{10, 20, 30}[i] })
	count := map[string]int{}
	for range 30 {
		count[pick(g, "")]++
	}
	assert.Equal(t, map[string]int{"m1": 5, "m2": 10, "m3": 15}, count)
	// Freed capacity is refilled first.
	for range 3 {
		g.release(g.members[2], "")
	}
	assert.Equal(t, "m3", pick(g, ""))
	// Full members are not candidates.
	h := testGroup(t, PolicyLeastUsed, 2, func(i int, m *MemberConfig) { m.Capacity = 1 })
	assert.Equal(t, "m1", pick(h, ""))
	assert.Equal(t, "m2", pick(h, ""))
	assert.Equal(t, "", pick(h, ""))
	assert.Equal(t, "m1 full; m2 full", h.unavailable(time.Now()))
}

func TestWeightedOrder(t *testing.T) {
	g := testGroup(t, PolicyWeighted, 3, func(i int, m *MemberConfig) { m.Weight = []int{5, 1, 1}[i] })
	var seq []string
	for range 7 {
		seq = append(seq, pick(g, ""))
	}
	// Smooth weighted round-robin interleaves instead of bursting.
	assert.Equal(t, []string{"m1", "m1", "m2", "m1", "m3", "m1", "m1"}, seq)
	z := testGroup(t, PolicyWeighted, 2, func(i int, m *MemberConfig) { m.Weight = []int{0, 1}[i] })
	plan, _ := z.plan(time.Now(), "", "", nil)
	assert.Equal(t, []string{"m2", "m1"}, names(plan), "weight 0 is failover only")
}

func TestHashOrder(t *testing.T) {
	g := testGroup(t, PolicyHash, 5)
	first := map[string]string{}
	spread := map[string]int{}
	for i := range 500 {
		key := fmt.Sprintf("call-%d", i)
		first[key] = pick(g, key)
		spread[first[key]]++
	}
	assert.Len(t, spread, 5)
	for m, n := range spread {
		assert.Greater(t, n, 50, "member %s gets a fair share", m)
	}
	// Stable, and removing a member moves only that member's keys.
	g.members[2].state = stateDown
	moved := 0
	for key, was := range first {
		now := pick(g, key)
		if was == "m3" {
			assert.NotEqual(t, "m3", now)
			moved++
		} else {
			assert.Equal(t, was, now, key)
		}
	}
	assert.Equal(t, spread["m3"], moved)
}

func TestHuntAndSuspects(t *testing.T) {
	g := testGroup(t, PolicyHunt, 4)
	now := time.Now()
	g.members[0].state = stateSuspect
	g.members[1].state = stateDown
	g.members[3].busyUntil = now.Add(time.Minute)
	plan, pinned := g.plan(now, "", "", nil)
	assert.False(t, pinned)
	assert.Equal(t, []string{"m3", "m1"}, names(plan), "available first, suspect last, down and busy never")
	assert.Equal(t, "m1 suspect; m2 down; m3 available; m4 busy", g.unavailable(now))
}

func TestConferencePinning(t *testing.T) {
	g := testGroup(t, PolicyRoundRobin, 3)
	g.kind = KindMediaServer
	now := time.Now()
	plan, pinned := g.plan(now, "", "c1", nil)
	require.False(t, pinned)
	require.True(t, g.acquire(plan[0], "c1", false, now))
	ms := plan[0]
	// Second leg: pinned even when the member is drained or full; the
	// round-robin cursor does not move for it.
	ms.draining = true
	plan, pinned = g.plan(now, "", "c1", nil)
	assert.True(t, pinned)
	assert.Equal(t, ms, plan[0])
	assert.True(t, g.acquire(ms, "c1", true, now))
	next, _ := g.plan(now, "", "", nil)
	assert.NotEqual(t, ms, next[0])
	assert.Equal(t, 2, g.conf["c1"].refs)
	g.release(ms, "c1")
	g.release(ms, "c1")
	assert.Nil(t, g.confMember("c1"))
	// A conference whose member went down is placed afresh.
	ms.draining = false
	require.True(t, g.acquire(ms, "c2", false, now))
	ms.state = stateDown
	plan, pinned = g.plan(now, "", "c2", nil)
	assert.False(t, pinned)
	assert.NotContains(t, plan, ms)
	assert.False(t, g.acquire(ms, "c2", true, now), "a down member takes nothing")
	g.dropConferences(ms)
	assert.Nil(t, g.confMember("c2"))
}

func TestMemberHealth(t *testing.T) {
	m := &member{}
	now := time.Now()
	assert.False(t, m.healthFail(now, 3, "x"))
	assert.Equal(t, stateSuspect, m.state)
	assert.False(t, m.healthFail(now, 3, "x"))
	assert.True(t, m.healthFail(now, 3, "x"), "down after 3")
	assert.False(t, m.healthFail(now, 3, "x"), "already down")
	m.healthOK(now, 2)
	assert.Equal(t, stateDown, m.state, "up-after 2 needs two")
	m.healthOK(now, 2)
	assert.Equal(t, stateUp, m.state)
	m.healthFail(now, 3, "x")
	m.healthOK(now, 2)
	assert.Equal(t, stateUp, m.state, "a suspect recovers on one success")
	// An answer to a forwarded INVITE clears a run of lost probes.
	m.healthFail(now, 3, "x")
	m.healthFail(now, 3, "x")
	m.answered(now)
	assert.Equal(t, stateUp, m.state)
	assert.False(t, m.healthFail(now, 3, "x"), "the run starts again")
	m.state = stateDown
	m.answered(now)
	assert.Equal(t, stateDown, m.state, "down needs probes to come back")
}

// confMember returns the member a conference is pinned to, or nil.
func (g *group) confMember(confID string) *member {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.conf[confID]; e != nil {
		return e.m
	}
	return nil
}

// BenchmarkPlan measures one placement decision per policy: it must not
// allocate.
func BenchmarkPlan(b *testing.B) {
	for _, policy := range []string{PolicyRoundRobin, PolicyLeastUsed, PolicyWeighted, PolicyHash, PolicyHunt} {
		b.Run(policy, func(b *testing.B) {
			g := testGroup(b, policy, 8, func(i int, m *MemberConfig) { m.Capacity = 1000; m.Weight = i + 1 })
			var buf [16]*member
			now := time.Now()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				plan, _ := g.plan(now, "5f0c2a8e-9b1d-4c5e-8f7a-1234567890ab", "", buf[:0])
				if len(plan) != 8 {
					b.Fatal(len(plan))
				}
			}
		})
	}
}
