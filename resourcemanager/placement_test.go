package resourcemanager

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPolicySpread sends 30 recording INVITEs through the RM to three
// stand-in recorders under each policy and checks where they land.
func TestPolicySpread(t *testing.T) {
	for _, tc := range []struct {
		policy   string
		capacity []int
		weight   []int
		hashKey  string
		keys     int // distinct CallUUIDs (hash), 0 = none
		want     map[string]int
	}{
		{policy: PolicyRoundRobin, want: map[string]int{"rec1": 10, "rec2": 10, "rec3": 10}},
		// Sessions are held, so least-used fills by active/capacity: 1:2:3.
		{policy: PolicyLeastUsed, capacity: []int{10, 20, 30}, want: map[string]int{"rec1": 5, "rec2": 10, "rec3": 15}},
		{policy: PolicyWeighted, weight: []int{1, 2, 3}, want: map[string]int{"rec1": 5, "rec2": 10, "rec3": 15}},
		{policy: PolicyHunt, want: map[string]int{"rec1": 30}},
		{policy: PolicyHash, hashKey: HashCallUUID, keys: 6},
		{policy: PolicyHash, hashKey: HashCallID},
	} {
		t.Run(tc.policy+"-"+tc.hashKey, func(t *testing.T) {
			recs := []*standin{newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp"), newStandin(t, "rec3", "udp")}
			ms := members(recs...)
			for i := range ms {
				if tc.capacity != nil {
					ms[i].Capacity = tc.capacity[i]
				}
				if tc.weight != nil {
					ms[i].Weight = tc.weight[i]
				}
			}
			r := startRM(t, testConfig(GroupConfig{Name: "recorders", Kind: KindRecorder, Policy: tc.policy, HashKey: tc.hashKey, Members: ms}))
			u := newUAC(t, "udp")
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()

			got := map[string]int{}
			byKey := map[string]map[string]bool{}
			var dialogs []*sipgo.DialogClientSession
			for i := range 30 {
				var params []string
				key := ""
				if tc.keys > 0 {
					key = fmt.Sprintf("CU-%d", i%tc.keys)
					params = append(params, "calluuid="+key)
				}
				d, err := u.call(ctx, r.testURI(fmt.Sprintf("record=r%d", i), "udp", params...))
				require.NoError(t, err, "call %d", i)
				dialogs = append(dialogs, d)
				who := answeredBy(d)
				got[who]++
				if key != "" {
					if byKey[key] == nil {
						byKey[key] = map[string]bool{}
					}
					byKey[key][who] = true
				}
			}
			if tc.want != nil {
				assert.Equal(t, tc.want, got)
			}
			if tc.keys > 0 {
				for key, who := range byKey {
					assert.Len(t, who, 1, "key %s must stick to one member, went to %v", key, who)
				}
			}
			if tc.policy == PolicyHash {
				assert.GreaterOrEqual(t, len(got), 2, "hashing spreads keys: %v", got)
			}
			g := r.group(t, "recorders")
			assert.Equal(t, 30, g.Active)
			for _, m := range g.Members {
				assert.Equal(t, got[m.Name], m.Active, m.Name)
				assert.EqualValues(t, got[m.Name], m.Sessions, m.Name)
			}
			for _, d := range dialogs {
				require.NoError(t, d.Bye(ctx))
			}
			assert.Equal(t, 0, r.group(t, "recorders").Active)
		})
	}
}

// TestConferenceAffinity opens 50 conferences with two legs each: both legs of
// a conf-id land on the same media server, and the conferences spread.
func TestConferenceAffinity(t *testing.T) {
	mss := []*standin{newStandin(t, "ms1", "udp"), newStandin(t, "ms2", "udp"), newStandin(t, "ms3", "udp")}
	r := startRM(t, testConfig(
		GroupConfig{Name: "mediaservers", Kind: KindMediaServer, Members: members(mss...)},
		GroupConfig{Name: "recorders", Kind: KindRecorder, Members: members(newStandin(t, "rec1", "udp"))},
	))
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	perMS := map[string]int{}
	for i := range 50 {
		conf := fmt.Sprintf("conf-%d", i)
		a, err := u.call(ctx, r.testURI("msml="+conf, "udp", "dn=7001"))
		require.NoError(t, err)
		b, err := u.call(ctx, r.testURI("msml="+conf, "udp", "dn=7002"))
		require.NoError(t, err)
		require.Equal(t, answeredBy(a), answeredBy(b), "both legs of %s on one media server", conf)
		perMS[answeredBy(a)]++
		assert.Equal(t, 1, r.group(t, "mediaservers").Conferences)
		require.NoError(t, a.Bye(ctx))
		assert.Equal(t, 1, r.group(t, "mediaservers").Conferences, "one leg still up")
		require.NoError(t, b.Bye(ctx))
		assert.Equal(t, 0, r.group(t, "mediaservers").Conferences, "conference forgotten with its last leg")
	}
	assert.Equal(t, map[string]int{"ms1": 17, "ms2": 17, "ms3": 16}, perMS)
	assert.EqualValues(t, 0, r.group(t, "recorders").Members[0].Attempts, "msml= never goes to recorders")
}

// TestGroupMapping routes by group=, DN mapping and SIPREC's Require.
func TestGroupMapping(t *testing.T) {
	a, b, c := newStandin(t, "a1", "udp"), newStandin(t, "b1", "udp"), newStandin(t, "ms1", "udp")
	r := startRM(t, testConfig(
		GroupConfig{Name: "rec-a", Kind: KindRecorder, Members: members(a)},
		GroupConfig{Name: "rec-b", Kind: KindRecorder, Members: members(b), DNs: []string{"7005", "71*"}},
		GroupConfig{Name: "ms", Kind: KindMediaServer, Members: members(c)},
	))
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		ruri string
		hdrs []sip.Header
		want string
	}{
		{ruri: r.testURI("record=1", "udp"), want: "a1"},
		{ruri: r.testURI("record=1", "udp", "group=rec-b"), want: "b1"},
		{ruri: r.testURI("record=1", "udp", "dn=7005"), want: "b1"},
		{ruri: r.testURI("record=1", "udp", "dn=7001", "recordDN=7100"), want: "b1"},
		{ruri: r.testURI("record=1", "udp", "dn=7001"), want: "a1"},
		{ruri: r.testURI("srs", "udp"), hdrs: []sip.Header{sip.NewHeader("Require", "siprec")}, want: "a1"},
		{ruri: r.testURI("srs", "udp", "dn=7123"), hdrs: []sip.Header{sip.NewHeader("Require", "timer, siprec")}, want: "b1"},
		{ruri: r.testURI("msml=c9", "udp"), want: "ms1"},
		{ruri: r.testURI("anything", "udp", "group=ms"), want: "ms1"},
	} {
		d, err := u.call(ctx, tc.ruri, tc.hdrs...)
		require.NoError(t, err, tc.ruri)
		assert.Equal(t, tc.want, answeredBy(d), tc.ruri)
		require.NoError(t, d.Bye(ctx))
	}
	for _, tc := range []struct{ ruri, warning string }{
		{r.testURI("alice", "udp"), `no group for request-uri user 'alice'`},
		{r.testURI("record=1", "udp", "group=nope"), `no group 'nope'`},
		{r.testURI("msml=c1", "udp", "group=rec-a"), `it is a recorder group`},
	} {
		_, err := u.call(ctx, tc.ruri)
		res := failure(t, err)
		assert.Equal(t, 404, res.StatusCode, tc.ruri)
		require.NotNil(t, res.GetHeader("Warning"), tc.ruri)
		assert.Contains(t, res.GetHeader("Warning").Value(), tc.warning)
	}
}
