package sipserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// TestRoutingPointWithRouter: a router registered on 5000 gets
// EventRouteRequest, attaches user data and routes to 7003 with extensions;
// 7003 sees the data on its events, the router gets EventRouteUsed.
func TestRoutingPointWithRouter(t *testing.T) {
	s := startServer(t, nil)
	agent := startAgent(t, s, phone.Config{DN: "7003", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7003")
	router := dialTLib(t, s, "router", "5000")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	type dialed struct {
		c   *phone.Call
		err error
	}
	done := make(chan dialed, 1)
	go func() {
		c, err := cust.Dial(ctx, "5000")
		done <- dialed{c, err}
	}()

	rr := expectEvents(t, router.Events(), tlib.EventRouteRequest)[0]
	assert.Equal(t, "5000", rr.ThisDN)
	assert.Equal(t, tlib.RoleRoutingPoint, rr.ThisDNRole)
	assert.Equal(t, "5000", rr.DNIS)
	assert.Equal(t, customerDN, rr.ANI)
	assert.Equal(t, customerDN, rr.OtherDN)
	assert.Equal(t, tlib.CallTypeInbound, rr.CallType)
	require.NotEmpty(t, rr.ConnID)

	// Errors leave the call waiting at the routing point.
	_, err := router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: "00000000deadbeef", OtherDN: "7003"})
	assert.True(t, errors.Is(err, tlib.ErrInvalidConnID), "%v", err)
	_, err = router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: rr.ConnID, OtherDN: "7001"})
	assert.True(t, errors.Is(err, tlib.ErrInvalidDestination), "7001 has no phone: %v", err)
	_, err = router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: rr.ConnID, OtherDN: "9999"})
	assert.True(t, errors.Is(err, tlib.ErrInvalidDestination), "%v", err)

	reply, err := router.Request(ctx, &tlib.Message{Name: tlib.RequestAttachUserData, ThisDN: "5000", ConnID: rr.ConnID,
		UserData: tlib.KVList{"segment": "gold", "queue": "sales"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventAttachedDataChanged, reply.Name)
	assert.Equal(t, "gold", reply.UserData["segment"])

	reply, err = router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: rr.ConnID, OtherDN: "7003",
		Extensions: tlib.KVList{"record": "destination", "id": "rec-1"}})
	require.NoError(t, err)
	assert.Equal(t, tlib.EventACK, reply.Name)
	// The replies of the attach is on Events() too, then EventRouteUsed.
	used := expectEvents(t, router.Events(), tlib.EventAttachedDataChanged, tlib.EventRouteUsed)[1]
	assert.Equal(t, "5000", used.ThisDN)
	assert.Equal(t, tlib.RoleRoutingPoint, used.ThisDNRole)
	assert.Equal(t, "7003", used.OtherDN)
	assert.Equal(t, "destination", used.Extensions["record"])

	// A second route for the same call is refused.
	_, err = router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: rr.ConnID, OtherDN: "7003"})
	assert.True(t, errors.Is(err, tlib.ErrInvalidState), "%v", err)

	d := <-done
	require.NoError(t, d.err)
	evs := expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
	for _, m := range evs {
		assert.Equal(t, rr.ConnID, m.ConnID)
		assert.Equal(t, rr.CallUUID, m.CallUUID)
		assert.Equal(t, "7003", m.ThisDN)
		assert.Equal(t, "5000", m.DNIS, "DNIS stays the dialled routing point")
		assert.Equal(t, customerDN, m.OtherDN)
		assert.Equal(t, "gold", m.UserData["segment"])
		assert.Equal(t, "sales", m.UserData["queue"])
	}
	calls := s.Calls()
	require.Len(t, calls, 1)
	require.NotNil(t, calls[0].Route)
	assert.Equal(t, "7003", calls[0].Route.Target)
	assert.Equal(t, map[string]string{"record": "destination", "id": "rec-1"}, calls[0].Route.Extensions)
	assert.Equal(t, "router", calls[0].Route.By)
	assert.Equal(t, "5000", calls[0].RoutingPoint)

	require.NoError(t, d.c.Hangup(ctx))
	expectEvents(t, desk.Events(), tlib.EventReleased)
	// After the route the routing point is done with the call.
	noEvent(t, router.Events(), 50*time.Millisecond)
	requireNoCalls(t, s)
	requirePhoneIdle(t, agent)
}

// TestDefaultRouteWithoutRouter: nobody is registered on 5000, so the call
// goes to its default route at once.
func TestDefaultRouteWithoutRouter(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RouteTimeout = time.Minute })
	agent := startAgent(t, s, phone.Config{DN: "7002", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7002")
	monitor := dialTLib(t, s, "monitor")
	require.NoError(t, monitor.MonitorAll(ctxFor(t)))
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	start := time.Now()
	call, err := cust.Dial(ctx, "5000")
	require.NoError(t, err)
	assert.Less(t, time.Since(start), 5*time.Second, "no wait for the route timeout")
	expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)
	mon := expectEvents(t, monitor.Events(), tlib.EventRouteRequest, tlib.EventRouteUsed, tlib.EventRinging, tlib.EventEstablished)
	assert.Equal(t, "5000", mon[1].ThisDN)
	assert.Equal(t, "7002", mon[1].OtherDN)
	assert.Equal(t, "no router registered", mon[1].Reasons["DefaultRoute"])
	calls := s.Calls()
	require.Len(t, calls, 1)
	require.NotNil(t, calls[0].Route)
	assert.True(t, calls[0].Route.Default)

	require.NoError(t, call.Hangup(ctx))
	expectEvents(t, desk.Events(), tlib.EventReleased)
	requireNoCalls(t, s)
	requirePhoneIdle(t, agent)
}

// TestDefaultRouteAfterTimeout: the router is registered but silent.
func TestDefaultRouteAfterTimeout(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RouteTimeout = 200 * time.Millisecond })
	startAgent(t, s, phone.Config{DN: "7002", AutoAnswer: true})
	router := dialTLib(t, s, "router", "5000")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	start := time.Now()
	call, err := cust.Dial(ctx, "5000")
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
	evs := expectEvents(t, router.Events(), tlib.EventRouteRequest, tlib.EventRouteUsed)
	assert.Equal(t, "7002", evs[1].OtherDN)
	assert.Equal(t, "route timeout", evs[1].Reasons["DefaultRoute"])

	// Too late now.
	_, err = router.Request(ctx, &tlib.Message{Name: tlib.RequestRouteCall, ThisDN: "5000", ConnID: evs[0].ConnID, OtherDN: "7002"})
	assert.True(t, errors.Is(err, tlib.ErrInvalidState), "%v", err)
	require.NoError(t, call.Hangup(ctx))
	requireNoCalls(t, s)
}

// TestNoRouteReleases: a routing point without default route and without a
// router refuses the call with 480; its clients see the call leave.
func TestNoRouteReleases(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RouteTimeout = 100 * time.Millisecond })
	router := dialTLib(t, s, "router", "5001")
	cust := startCustomer(t, s, phone.Config{})

	_, err := cust.Dial(ctxFor(t), "5001")
	var ce *phone.CallError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 480, ce.Code)
	evs := expectEvents(t, router.Events(), tlib.EventRouteRequest, tlib.EventReleased)
	assert.Equal(t, "5001", evs[1].ThisDN)
	assert.Equal(t, tlib.CallStateNoAnswer, evs[1].CallState)
	requireNoCalls(t, s)
}

// TestCallerAbandonsAtRoutingPoint: CANCEL while the router thinks.
func TestCallerAbandonsAtRoutingPoint(t *testing.T) {
	s := startServer(t, func(c *Config) { c.RouteTimeout = time.Minute })
	router := dialTLib(t, s, "router", "5000")
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)

	dctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cust.Dial(dctx, "5000")
		done <- err
	}()
	rr := expectEvents(t, router.Events(), tlib.EventRouteRequest)[0]
	cancel()
	require.Error(t, <-done)
	rel := expectEvents(t, router.Events(), tlib.EventReleased)[0]
	assert.Equal(t, rr.ConnID, rel.ConnID)
	assert.Equal(t, "5000", rel.ThisDN)
	requireNoCalls(t, s)
	requirePhoneIdle(t, cust)
}
