package sipserver

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/agent"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

const routerRules = `routing-points: ["5000"]
rules:
  - name: every-second
    match: {ani: "+1555*"}
    every: 2
    target: "7003"
    attach: {route: second}
  - name: customers
    match: {ani: "+1555*", dnis: "5000"}
    target: "7002"
    attach: {segment: gold}
    extensions: {record: destination, id: rec-42}
`

// TestRuleRouter is the acceptance case: customer -> routing point 5000; the
// rule router (arlab agent --router) picks 7002 and attaches user data that
// 7002's desktop sees on EventEstablished; every second call goes to 7003.
func TestRuleRouter(t *testing.T) {
	s := startServer(t, nil)
	startAgent(t, s, phone.Config{DN: "7002", AutoAnswer: true})
	startAgent(t, s, phone.Config{DN: "7003", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7002", "7003")
	cust := startCustomer(t, s, phone.Config{})

	rules, err := agent.ParseRules([]byte(routerRules), "rules.yaml")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.RunRouter(ctx, agent.Config{Addr: s.TLibAddr().String(), Logger: testLogger()}, rules)
	}()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	require.Eventually(t, func() bool { return len(s.tsrv.Registered("5000")) == 1 }, waitFor, 5*time.Millisecond)

	call, err := cust.Dial(ctxFor(t), "5000")
	require.NoError(t, err)
	evs := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
	for _, m := range evs {
		assert.Equal(t, "7002", m.ThisDN)
		assert.Equal(t, "5000", m.DNIS)
		assert.Equal(t, "gold", m.UserData["segment"])
	}
	c := s.Calls()[0]
	require.NotNil(t, c.Route)
	assert.False(t, c.Route.Default)
	assert.Equal(t, map[string]string{"record": "destination", "id": "rec-42"}, c.Route.Extensions)
	require.NoError(t, call.Hangup(ctxFor(t)))
	expectEvents(t, desk.Events(), tlib.EventReleased)
	requireNoCalls(t, s)

	call, err = cust.Dial(ctxFor(t), "5000")
	require.NoError(t, err)
	est := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)[1]
	assert.Equal(t, "7003", est.ThisDN, "every second call")
	assert.Equal(t, "second", est.UserData["route"])
	require.NoError(t, call.Hangup(ctxFor(t)))
	requireNoCalls(t, s)
}
