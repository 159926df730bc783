package resourcemanager

import (
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	assert.Equal(t, string(want), string(got))
}

// TestHTTPAPI drives the API of a running RM: groups, drain/undrain (which
// must move new sessions and keep old ones), metrics and healthz.
func TestHTTPAPI(t *testing.T) {
	rec1, rec2 := newStandin(t, "rec1", "udp"), newStandin(t, "rec2", "udp")
	r := startRM(t, testConfig(recorders(PolicyRoundRobin, rec1, rec2)))
	base := "http://" + r.HTTPAddr().String()
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	held, err := u.call(ctx, r.testURI("record=held", "udp"))
	require.NoError(t, err)
	require.Equal(t, "rec1", answeredBy(held))

	var groups struct{ Groups []GroupStatus }
	require.Equal(t, 200, httpJSON(t, "GET", base+"/api/groups", &groups))
	require.Len(t, groups.Groups, 1)
	g := groups.Groups[0]
	assert.Equal(t, "recorders", g.Name)
	assert.Equal(t, KindRecorder, g.Kind)
	assert.Equal(t, PolicyRoundRobin, g.Policy)
	assert.Equal(t, 2, g.Available)
	assert.Equal(t, 1, g.Active)
	assert.Equal(t, "up", g.Members[0].State)
	assert.Equal(t, rec1.uri(), g.Members[0].URI)
	assert.Equal(t, 1, g.Members[0].Active)
	assert.False(t, g.Members[0].LastProbe.IsZero())

	var one GroupStatus
	require.Equal(t, 200, httpJSON(t, "GET", base+"/api/groups/recorders", &one))
	assert.Equal(t, "recorders", one.Name)
	var e struct{ Error string }
	require.Equal(t, 404, httpJSON(t, "GET", base+"/api/groups/nope", &e))
	assert.Contains(t, e.Error, `unknown group "nope"`)

	var ms MemberStatus
	require.Equal(t, 200, httpJSON(t, "POST", base+"/api/groups/recorders/members/rec1/drain", &ms))
	assert.True(t, ms.Draining)
	assert.False(t, ms.Available)
	for i := range 4 {
		d, err := u.call(ctx, r.testURI("record=x", "udp"))
		require.NoError(t, err, i)
		assert.Equal(t, "rec2", answeredBy(d), "a drained member gets no new session")
		require.NoError(t, d.Bye(ctx))
	}
	// The session on the drained member goes on and ends normally.
	require.NoError(t, held.Bye(ctx))
	assert.EqualValues(t, 1, rec1.byes.Load())
	require.Equal(t, 200, httpJSON(t, "POST", base+"/api/groups/recorders/members/rec1/undrain", &ms))
	assert.False(t, ms.Draining)
	seen := map[string]bool{}
	for range 2 {
		d, err := u.call(ctx, r.testURI("record=y", "udp"))
		require.NoError(t, err)
		seen[answeredBy(d)] = true
		require.NoError(t, d.Bye(ctx))
	}
	assert.True(t, seen["rec1"], "undrained member is used again")

	require.Equal(t, 404, httpJSON(t, "POST", base+"/api/groups/recorders/members/rec9/drain", &e))
	assert.Contains(t, e.Error, `unknown member "rec9"`)
	require.Equal(t, 404, httpJSON(t, "POST", base+"/api/groups/nope/members/rec1/drain", &e))
	assert.Equal(t, http.StatusMethodNotAllowed, httpJSON(t, "GET", base+"/api/groups/recorders/members/rec1/drain", nil))

	res, err := http.Get(base + "/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Equal(t, "ok\n", string(body))

	res, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, 200, res.StatusCode)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/plain")
	text := string(body)
	assert.Contains(t, text, "# TYPE arlab_rm_member_active_sessions gauge\n")
	assert.Contains(t, text, `arlab_rm_member_sessions_total{group="recorders",member="rec2"} 5`+"\n")
	assert.Contains(t, text, `arlab_rm_member_up{group="recorders",member="rec1"} 1`+"\n")
	assert.Contains(t, text, "arlab_rm_invites_total 7\n")
	assert.Contains(t, text, "arlab_rm_sessions 0\n")
}

// TestStatusGolden pins the JSON and Prometheus renderings of a known state.
func TestStatusGolden(t *testing.T) {
	r, err := New(testConfig(
		GroupConfig{Name: "mediaservers", Kind: KindMediaServer, Members: []MemberConfig{{Name: "ms1", URI: "sip:10.0.0.1:5070"}}},
		GroupConfig{Name: "recorders", Kind: KindRecorder, Policy: PolicyHash, HashKey: HashCallUUID, DNs: []string{"70*"},
			Members: []MemberConfig{
				{Name: "rec1", URI: "sip:10.0.0.2:5080;transport=tcp", Capacity: 10, Weight: 2},
				{Name: "rec2", URI: "sip:10.0.0.3:5080;transport=tcp", Capacity: 10},
				{Name: "rec3", URI: "sip:10.0.0.4:5080;transport=tcp"},
			}},
	), WithLogger(testLogger()))
	require.NoError(t, err)
	ms := r.byName["mediaservers"]
	ms.members[0].state, ms.members[0].active, ms.members[0].attempts, ms.members[0].placed = stateUp, 2, 2, 2
	ms.conf["c1"] = &confEntry{m: ms.members[0], refs: 2}
	recs := r.byName["recorders"]
	recs.rejected = 1
	rec1, rec2, rec3 := recs.members[0], recs.members[1], recs.members[2]
	rec1.state, rec1.active, rec1.attempts, rec1.placed = stateUp, 3, 5, 4
	rec1.failures, rec1.lastError = 1, "INVITE: 503 Service Unavailable"
	rec1.busyUntil = time.Now().Add(time.Hour)
	rec2.state, rec2.draining, rec2.active, rec2.attempts, rec2.placed = stateUp, true, 1, 1, 1
	rec3.state, rec3.fails, rec3.lastError = stateDown, 3, "OPTIONS: timeout"
	r.stats.requests.Store(12)
	r.stats.invites.Store(8)

	js, err := json.MarshalIndent(map[string]any{"groups": r.Groups()}, "", "  ")
	require.NoError(t, err)
	golden(t, "groups.golden.json", append(js, '\n'))
	golden(t, "metrics.golden", r.metrics())
	assert.True(t, strings.HasSuffix(string(r.metrics()), "arlab_rm_probe_failures_total 0\n"))
}
