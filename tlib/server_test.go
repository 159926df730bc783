package tlib

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenWrongPasswordIsRefusedAndClosed(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Password: "s3cret"}, newTestHandler())

	_, err := Dial(ctxT(t), addr, ClientConfig{AppName: "desk", Password: "wrong", Logger: testLogger()})
	require.ErrorIs(t, err, ErrUnauthorised)
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ErrUnauthorised, te.Code)

	r := dialRaw(t, addr)
	ev := r.open("wrong")
	assert.Equal(t, EventError, ev.Name)
	assert.Equal(t, ErrUnauthorised, ev.ErrorCode)
	assert.Equal(t, uint64(1), ev.ReferenceID)
	r.expectClosed()

	c := dial(t, addr, ClientConfig{AppName: "desk", Password: "s3cret"})
	info := c.ServerInfo()
	assert.Equal(t, EventServerInfo, info.Name)
	assert.Equal(t, "arlab", info.Server)
	assert.Equal(t, "desk", info.ApplicationName)
	assert.False(t, info.Time.IsZero())
}

func TestRequestsBeforeOpenAndReopen(t *testing.T) {
	_, addr := startServer(t, ServerConfig{ServerName: "sip1"}, newTestHandler("7001"))
	r := dialRaw(t, addr)

	r.sendMsg(&Message{Name: RequestRegisterAddress, ReferenceID: 5, ThisDN: "7001"})
	ev := r.read()
	assert.Equal(t, EventError, ev.Name)
	assert.Equal(t, ErrNotOpen, ev.ErrorCode)
	assert.Equal(t, uint64(5), ev.ReferenceID)
	assert.Equal(t, "7001", ev.ThisDN)
	assert.Equal(t, "sip1", ev.Server)

	info := r.open("")
	assert.Equal(t, EventServerInfo, info.Name)
	assert.Equal(t, "sip1", info.Server)

	r.sendMsg(&Message{Name: RequestOpen, ReferenceID: 6, ApplicationName: "again"})
	ev = r.read()
	assert.Equal(t, ErrInvalidState, ev.ErrorCode)
	assert.Equal(t, uint64(6), ev.ReferenceID)
}

func TestOpenTimeoutClosesIdleConnection(t *testing.T) {
	_, addr := startServer(t, ServerConfig{OpenTimeout: 100 * time.Millisecond}, newTestHandler())
	r := dialRaw(t, addr)
	r.expectClosed()
}

func TestRegistration(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("7001", "7002"))
	a := dial(t, addr, ClientConfig{AppName: "a"})
	b := dial(t, addr, ClientConfig{AppName: "b"})
	ctx := ctxT(t)

	err := a.Register(ctx, "9999")
	require.ErrorIs(t, err, ErrUnknownDN)
	assert.Empty(t, a.Registrations())

	rep, err := a.Request(ctx, &Message{Name: RequestRegisterAddress, ThisDN: "7001"})
	require.NoError(t, err)
	assert.Equal(t, EventRegistered, rep.Name)
	assert.Equal(t, "7001", rep.ThisDN)
	assert.Equal(t, ModeShare, rep.RegisterMode)
	require.NoError(t, a.Register(ctx, "7001"), "registering twice is idempotent")
	require.NoError(t, b.Register(ctx, "7001"))
	assert.Len(t, srv.Registered("7001"), 2)
	assert.Equal(t, map[string]string{"7001": ModeShare}, a.Registrations())

	// ModePrivate is exclusive in both directions.
	_, err = b.Request(ctx, &Message{Name: RequestRegisterAddress, ThisDN: "7002", RegisterMode: ModePrivate})
	require.NoError(t, err)
	require.ErrorIs(t, a.Register(ctx, "7002"), ErrDNInUse)
	_, err = a.Request(ctx, &Message{Name: RequestRegisterAddress, ThisDN: "7001", RegisterMode: ModePrivate})
	require.ErrorIs(t, err, ErrDNInUse)

	require.NoError(t, b.Unregister(ctx, "7001"))
	assert.Len(t, srv.Registered("7001"), 1)
	require.ErrorIs(t, b.Unregister(ctx, "7001"), ErrDNNotRegistered)
	assert.Equal(t, map[string]string{"7002": ModePrivate}, b.Registrations())

	require.NoError(t, a.MonitorAll(ctx))
	assert.Len(t, srv.MonitorAllClients(), 1)
	assert.Equal(t, ModeMonitorAll, a.Registrations()[MonitorAllDN])
	require.NoError(t, a.Unregister(ctx, MonitorAllDN))
	assert.Empty(t, srv.MonitorAllClients())
	require.ErrorIs(t, a.Unregister(ctx, MonitorAllDN), ErrDNNotRegistered)

	// Disconnecting drops every registration of the client.
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool { return len(srv.Registered("7001")) == 0 }, waitFor, 5*time.Millisecond)
}

func TestCallRequestNeedsRegisteredDN(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, newTestHandler("7001", "7002"))
	c := dial(t, addr, ClientConfig{})
	rec := dial(t, addr, ClientConfig{AppName: "recorder"})
	ctx := ctxT(t)

	req := &Message{Name: RequestAttachUserData, ThisDN: "7001", ConnID: "c1", UserData: KVList{"k": "v"}}
	_, err := c.Request(ctx, req)
	require.ErrorIs(t, err, ErrDNNotRegistered)

	require.NoError(t, c.Register(ctx, "7001"))
	rep, err := c.Request(ctx, req)
	require.NoError(t, err)
	assert.Equal(t, EventACK, rep.Name)

	// ModeMonitorAll covers every DN.
	require.NoError(t, rec.MonitorAll(ctx))
	_, err = rec.Request(ctx, &Message{Name: RequestAttachUserData, ThisDN: "7002", ConnID: "c2", UserData: KVList{"k": "v"}})
	require.NoError(t, err)
}

func TestHandlerOutcomes(t *testing.T) {
	_, addr := startServer(t, ServerConfig{ServerName: "sip-a"}, newTestHandler("7001", "7002"))
	c := dial(t, addr, ClientConfig{})
	ctx := ctxT(t)
	require.NoError(t, c.Register(ctx, "7001"))

	// nil → EventACK echoing the request.
	rep, err := c.Request(ctx, &Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "abc"})
	require.NoError(t, err)
	assert.Equal(t, EventACK, rep.Name)
	assert.Equal(t, "7001", rep.ThisDN)
	assert.Equal(t, "abc", rep.ConnID)
	assert.Equal(t, "sip-a", rep.Server)
	assert.False(t, rep.Time.IsZero())

	// A reply event sent by the handler replaces the ACK.
	rep, err = c.Request(ctx, &Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"})
	require.NoError(t, err)
	assert.Equal(t, EventDialing, rep.Name)
	assert.NotEmpty(t, rep.ConnID)
	conn := rep.ConnID

	// *Error keeps its code and message.
	_, err = c.Request(ctx, &Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "8888"})
	var te *Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ErrInvalidDestination, te.Code)
	assert.Equal(t, "8888", te.Message)

	// A wrapped bare ErrorCode keeps the code.
	_, err = c.Request(ctx, &Message{Name: RequestReleaseCall, ThisDN: "7001", ConnID: "nope"})
	require.ErrorIs(t, err, ErrInvalidConnID)
	require.ErrorAs(t, err, &te)
	assert.Contains(t, te.Message, "release nope")

	_, err = c.Request(ctx, &Message{Name: RequestPrivateService, ThisDN: "7001", ConnID: conn, PrivateMsgID: 4242})
	require.ErrorIs(t, err, ErrInvalidPrivateMsgID)
	_, err = c.Request(ctx, &Message{Name: RequestPrivateService, ThisDN: "7001", ConnID: conn, PrivateMsgID: PrivateRecordStart})
	require.NoError(t, err)

	// Any other error, and a panic, become ErrInternal; the connection survives.
	_, err = c.Request(ctx, &Message{Name: RequestHoldCall, ThisDN: "7001", ConnID: conn})
	require.ErrorIs(t, err, ErrInternal)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, "media server unreachable", te.Message)
	_, err = c.Request(ctx, &Message{Name: RequestRetrieveCall, ThisDN: "7001", ConnID: conn})
	require.ErrorIs(t, err, ErrInternal)
	_, err = c.Request(ctx, &Message{Name: RequestReleaseCall, ThisDN: "7001", ConnID: conn})
	require.NoError(t, err)
}

func TestReferenceIDReachesOnlyTheRequester(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, newTestHandler("7001", "7002"))
	a := dial(t, addr, ClientConfig{AppName: "a"})
	b := dial(t, addr, ClientConfig{AppName: "b"})
	callee := dial(t, addr, ClientConfig{AppName: "callee"})
	ctx := ctxT(t)
	require.NoError(t, a.Register(ctx, "7001"))
	require.NoError(t, b.Register(ctx, "7001"))
	require.NoError(t, callee.Register(ctx, "7002"))

	rep, err := a.Request(ctx, &Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "7002", UserData: KVList{"case": "42"}})
	require.NoError(t, err)
	require.Equal(t, EventDialing, rep.Name)
	assert.NotZero(t, rep.ReferenceID)

	// The requester also sees the call event on its stream (not reply-only).
	ev := next(t, a.Events())
	assert.Equal(t, EventDialing, ev.Name)
	assert.Equal(t, rep.ReferenceID, ev.ReferenceID)

	ev = next(t, b.Events())
	assert.Equal(t, EventDialing, ev.Name)
	assert.Equal(t, rep.ConnID, ev.ConnID)
	assert.Zero(t, ev.ReferenceID, "another client's ReferenceID must not leak")
	assert.Equal(t, KVList{"case": "42"}, ev.UserData)

	ev = next(t, callee.Events())
	assert.Equal(t, EventRinging, ev.Name)
	assert.Equal(t, "7001", ev.OtherDN)
	assert.Equal(t, rep.ConnID, ev.ConnID)
}

func TestConcurrentRequestsCorrelateByReferenceID(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, newTestHandler("7001"))
	c := dial(t, addr, ClientConfig{})
	ctx := ctxT(t)
	require.NoError(t, c.Register(ctx, "7001"))

	const workers, perWorker = 20, 30
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				tag := fmt.Sprintf("w%d-%d", w, i)
				errs <- oneCorrelatedRequest(ctx, c, i%3, tag)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}

// oneCorrelatedRequest sends a request whose reply carries the tag in a way
// that depends on the request kind, and checks the reply is its own.
func oneCorrelatedRequest(ctx context.Context, c *Client, kind int, tag string) error {
	switch kind {
	case 0: // reply event built by the handler
		rep, err := c.Request(ctx, &Message{Name: RequestPrivateService, ThisDN: "7001",
			PrivateMsgID: echoPrivateMsgID, Extensions: KVList{"tag": tag}})
		if err != nil {
			return err
		}
		if rep.Name != EventPrivateInfo || rep.Extensions["tag"] != tag {
			return fmt.Errorf("%s: got %s %v", tag, rep.Name, rep.Extensions)
		}
	case 1: // EventACK echoing ConnID
		rep, err := c.Request(ctx, &Message{Name: RequestAttachUserData, ThisDN: "7001", ConnID: tag,
			UserData: KVList{"k": tag}})
		if err != nil {
			return err
		}
		if rep.Name != EventACK || rep.ConnID != tag {
			return fmt.Errorf("%s: got %s %s", tag, rep.Name, rep.ConnID)
		}
	default: // EventError naming the ConnID
		_, err := c.Request(ctx, &Message{Name: RequestReleaseCall, ThisDN: "7001", ConnID: tag})
		var te *Error
		if !errors.As(err, &te) || te.Code != ErrInvalidConnID || !strings.Contains(te.Message, tag) {
			return fmt.Errorf("%s: got %v", tag, err)
		}
	}
	return nil
}

func TestFanOutOnlyToDNClientsAndMonitorAll(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("7001", "7002"))
	ctx := ctxT(t)
	a := dial(t, addr, ClientConfig{AppName: "a"})     // 7001
	b := dial(t, addr, ClientConfig{AppName: "b"})     // 7002
	m := dial(t, addr, ClientConfig{AppName: "m"})     // monitor-all
	both := dial(t, addr, ClientConfig{AppName: "ab"}) // 7001 and monitor-all
	dial(t, addr, ClientConfig{AppName: "idle"})       // opened, registered nowhere
	require.NoError(t, a.Register(ctx, "7001"))
	require.NoError(t, b.Register(ctx, "7002"))
	require.NoError(t, m.MonitorAll(ctx))
	require.NoError(t, both.Register(ctx, "7001"))
	require.NoError(t, both.MonitorAll(ctx))

	srv.Publish(&Message{Name: EventRinging, ThisDN: "7001", ConnID: "c1", ReferenceID: 77})
	srv.Publish(&Message{Name: EventRinging, ThisDN: "7002", ConnID: "c2"})
	srv.Publish(&Message{Name: EventLinkDisconnected}) // no ThisDN: monitor-all only
	srv.Publish(&Message{Name: EventReleased, ThisDN: "7001", ConnID: "c1"})

	got := func(c *Client, n int) []string {
		var out []string
		for range n {
			ev := next(t, c.Events())
			assert.Zero(t, ev.ReferenceID)
			out = append(out, ev.Name+"/"+ev.ConnID)
		}
		return out
	}
	// Per-client order is publish order, so an event that should not have
	// been delivered would show up before the later, expected ones.
	assert.Equal(t, []string{"EventRinging/c1", "EventReleased/c1"}, got(a, 2))
	assert.Equal(t, []string{"EventRinging/c2"}, got(b, 1))
	all := []string{"EventRinging/c1", "EventRinging/c2", "EventLinkDisconnected/", "EventReleased/c1"}
	assert.Equal(t, all, got(m, 4))
	assert.Equal(t, all, got(both, 4), "a client registered twice gets each event once")

	// Barrier: a reply arrives after anything published before it.
	for _, c := range []*Client{a, b} {
		_, err := c.Request(ctx, &Message{Name: RequestRegisterAddress, ThisDN: "7002"})
		require.NoError(t, err)
		select {
		case ev := <-c.Events():
			t.Fatalf("unexpected extra event %s/%s", ev.Name, ev.ConnID)
		default:
		}
	}
}

func TestMalformedOversizeAndUnknownKeepConnection(t *testing.T) {
	_, addr := startServer(t, ServerConfig{MaxLine: 512}, newTestHandler("7001"))
	r := dialRaw(t, addr)
	require.Equal(t, EventServerInfo, r.open("").Name)

	for _, tc := range []struct {
		line string
		code ErrorCode
		ref  uint64
	}{
		{"not json", ErrMalformed, 0},
		{`{"message":`, ErrMalformed, 0},
		{`["RequestOpen"]`, ErrMalformed, 0},
		{`{"ReferenceID":3}`, ErrMalformed, 0},
		{`{"message":"RequestRegisterAddress","ReferenceID":-1}`, ErrMalformed, 0},
		{`{"message":"RequestAttachUserData","ThisDN":"7001","ConnID":"c","UserData":{"k":true}}`, ErrMalformed, 0},
		{`{"message":"RequestTeleport","ReferenceID":7}`, ErrUnknownRequest, 7},
		{`{"message":"EventRinging","ReferenceID":8}`, ErrUnknownRequest, 8},
		{`{"message":"RequestMakeCall","ReferenceID":9,"ThisDN":"7001"}`, ErrMissingAttribute, 9},
		{`{"message":"RequestRegisterAddress","ReferenceID":10,"ThisDN":"7001","RegisterMode":"ModeWhatever"}`, ErrInvalidAttribute, 10},
		{`{"message":"RequestAttachUserData","ReferenceID":11,"ThisDN":"7001","ConnID":"c","UserData":{"k":"` +
			strings.Repeat("x", 600) + `"}}`, ErrTooLarge, 0},
	} {
		r.send(tc.line)
		ev := r.read()
		assert.Equal(t, EventError, ev.Name, tc.line)
		assert.Equal(t, tc.code, ev.ErrorCode, tc.line)
		assert.Equal(t, tc.ref, ev.ReferenceID, tc.line)
		assert.NotEmpty(t, ev.ErrorMessage)
	}
	// Blank and CRLF-terminated lines are fine; the connection still works.
	r.send("")
	r.send(`{"message":"RequestRegisterAddress","ReferenceID":12,"ThisDN":"7001"}` + "\r")
	ev := r.read()
	assert.Equal(t, EventRegistered, ev.Name)
	assert.Equal(t, uint64(12), ev.ReferenceID)
}

func TestClientValidatesLocally(t *testing.T) {
	_, addr := startServer(t, ServerConfig{}, newTestHandler("7001"))
	c := dial(t, addr, ClientConfig{})
	_, err := c.Request(ctxT(t), &Message{Name: RequestRouteCall, ThisDN: "5000", ConnID: "c"})
	require.ErrorIs(t, err, ErrMissingAttribute)
	assert.Contains(t, err.Error(), "OtherDN")
}

func TestSendToRouter(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("5000"))
	router := dial(t, addr, ClientConfig{AppName: "router"})
	require.NoError(t, router.Register(ctxT(t), "5000"))

	ids := srv.Registered("5000")
	require.Len(t, ids, 1)
	assert.True(t, srv.SendTo(ids[0], &Message{Name: EventRouteRequest, ThisDN: "5000", ConnID: "c9", ANI: "+15551230000"}))
	ev := next(t, router.Events())
	assert.Equal(t, EventRouteRequest, ev.Name)
	assert.Equal(t, "c9", ev.ConnID)
	assert.Equal(t, "+15551230000", ev.ANI)
	assert.False(t, ev.Time.IsZero(), "server stamps Time")

	assert.False(t, srv.SendTo(ids[0]+1000, &Message{Name: EventRouteRequest}))
	assert.Empty(t, srv.Registered("5001"))
}

func TestServerCloseAndStartContext(t *testing.T) {
	h := newTestHandler("7001")
	srv := NewServer(ServerConfig{}, h, WithLogger(testLogger()))
	h.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, srv.Start(ctx))
	c := dial(t, srv.Addr().String(), ClientConfig{})
	require.NoError(t, c.Register(ctxT(t), "7001"))

	cancel() // ending Start's context closes the server
	ev := next(t, c.Events())
	assert.Equal(t, EventLinkDisconnected, ev.Name)
	_, err := c.Request(ctxT(t), &Message{Name: RequestRegisterAddress, ThisDN: "7001"})
	require.ErrorIs(t, err, ErrDisconnected)
	require.NoError(t, srv.Close(), "Close after ctx cancel is a no-op")
	require.ErrorIs(t, srv.Start(context.Background()), ErrServerClosed)
}

func TestClientObserverSeesOpenedClientsLeave(t *testing.T) {
	h := newTestHandler("7001")
	h.closed = make(chan string, 4)
	srv, addr := startServer(t, ServerConfig{}, h)
	c := dial(t, addr, ClientConfig{AppName: "router"})
	require.NoError(t, c.Register(ctxT(t), "7001"))
	r := dialRaw(t, addr) // never opened: not reported
	require.NoError(t, r.nc.Close())
	require.NoError(t, c.Close())
	select {
	case app := <-h.closed:
		assert.Equal(t, "router", app)
	case <-time.After(waitFor):
		t.Fatal("ClientClosed not called")
	}
	assert.Empty(t, srv.Registered("7001"), "registrations are gone before ClientClosed")
	require.NoError(t, srv.Close())
	assert.Empty(t, h.closed, "unopened connections are not reported")
}
