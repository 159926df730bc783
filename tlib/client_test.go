package tlib

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReconnectAfterServerRestartReRegisters(t *testing.T) {
	h1 := newTestHandler("7001", "7002")
	srv1 := NewServer(ServerConfig{}, h1, WithLogger(testLogger()))
	h1.srv = srv1
	require.NoError(t, srv1.Start(context.Background()))
	addr := srv1.Addr().String()

	c := dial(t, addr, ClientConfig{AppName: "recorder", Reconnect: true,
		ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
	ctx := ctxT(t)
	require.NoError(t, c.Register(ctx, "7001"))
	require.NoError(t, c.Register(ctx, "7002"))
	require.NoError(t, c.MonitorAll(ctx))

	require.NoError(t, srv1.Close())
	ev := next(t, c.Events())
	require.Equal(t, EventLinkDisconnected, ev.Name)
	_, err := c.Request(ctx, &Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"})
	require.ErrorIs(t, err, ErrDisconnected)

	// Same port, new server; 7002 no longer exists there.
	h2 := newTestHandler("7001")
	ln, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv2 := NewServer(ServerConfig{ServerName: "restarted"}, h2, WithLogger(testLogger()), WithListener(ln))
	h2.srv = srv2
	require.NoError(t, srv2.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, srv2.Close()) })

	// The refusal for 7002 and the reconnection are both announced.
	var refused, connected *Message
	for refused == nil || connected == nil {
		ev := next(t, c.Events())
		switch ev.Name {
		case EventError:
			refused = ev
		case EventLinkConnected:
			connected = ev
		default:
			t.Fatalf("unexpected %s", ev.Name)
		}
	}
	assert.Equal(t, "7002", refused.ThisDN)
	assert.Equal(t, ErrUnknownDN, refused.ErrorCode)
	assert.Equal(t, "restarted", connected.Server)
	assert.Equal(t, "restarted", c.ServerInfo().Server)
	assert.Equal(t, map[string]string{"7001": ModeShare, MonitorAllDN: ModeMonitorAll}, c.Registrations())
	assert.Len(t, srv2.Registered("7001"), 1)
	assert.Len(t, srv2.MonitorAllClients(), 1)

	// Events resume, and requests work again.
	srv2.Publish(&Message{Name: EventRinging, ThisDN: "7001", ConnID: "after-restart"})
	ev = next(t, c.Events())
	assert.Equal(t, EventRinging, ev.Name)
	assert.Equal(t, "after-restart", ev.ConnID)
	_, err = c.Request(ctx, &Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "after-restart"})
	require.NoError(t, err)
}

func TestReconnectGivesUpOnClose(t *testing.T) {
	h := newTestHandler("7001")
	srv := NewServer(ServerConfig{}, h, WithLogger(testLogger()))
	h.srv = srv
	require.NoError(t, srv.Start(context.Background()))
	c, err := Dial(ctxT(t), srv.Addr().String(), ClientConfig{Reconnect: true, ReconnectMin: time.Millisecond,
		ReconnectMax: 5 * time.Millisecond, Logger: testLogger()})
	require.NoError(t, err)
	require.NoError(t, srv.Close())
	require.Equal(t, EventLinkDisconnected, next(t, c.Events()).Name)
	// Nothing listens now: the client keeps redialling until Close, which
	// must stop the loop (goleak checks it did).
	require.NoError(t, c.Close())
	_, ok := <-c.Events()
	assert.False(t, ok, "Events is closed by Close")
	_, err = c.Request(ctxT(t), &Message{Name: RequestRegisterAddress, ThisDN: "7001"})
	require.ErrorIs(t, err, ErrClientClosed)
	require.NoError(t, c.Close(), "Close is idempotent")
}

func TestTLS(t *testing.T) {
	serverTLS, clientTLS := testTLS(t)
	srv, addr := startServer(t, ServerConfig{TLS: serverTLS, Password: "pw"}, newTestHandler("7001", "7002"))

	// A client without TLS cannot open.
	_, err := Dial(ctxT(t), addr, ClientConfig{Password: "pw", Logger: testLogger()})
	require.Error(t, err)
	// Nor can a client that does not trust the certificate.
	untrusted := clientTLS.Clone()
	untrusted.RootCAs = nil
	_, err = Dial(ctxT(t), addr, ClientConfig{Password: "pw", TLS: untrusted, Logger: testLogger()})
	require.Error(t, err)

	a := dial(t, addr, ClientConfig{Password: "pw", TLS: clientTLS})
	b := dial(t, addr, ClientConfig{Password: "pw", TLS: clientTLS})
	ctx := ctxT(t)
	require.NoError(t, a.Register(ctx, "7001"))
	require.NoError(t, b.Register(ctx, "7002"))
	rep, err := a.Request(ctx, &Message{Name: RequestMakeCall, ThisDN: "7001", OtherDN: "7002"})
	require.NoError(t, err)
	ev := next(t, b.Events())
	assert.Equal(t, EventRinging, ev.Name)
	assert.Equal(t, rep.ConnID, ev.ConnID)
	assert.Len(t, srv.Registered("7002"), 1)
}

func TestEventsDropNewestWhenFull(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("7001"))
	c := dial(t, addr, ClientConfig{EventBuffer: 4})
	ctx := ctxT(t)
	require.NoError(t, c.Register(ctx, "7001"))
	for i := range 20 {
		srv.Publish(&Message{Name: EventRinging, ThisDN: "7001", ConnID: strconv.Itoa(i)})
	}
	// The reply is queued after the 20 events, so once it is back every
	// event has been read: the reader never blocked on the full channel.
	_, err := c.Request(ctx, &Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "x"})
	require.NoError(t, err)
	assert.Equal(t, uint64(16), c.Dropped())
	for i := range 4 {
		assert.Equal(t, strconv.Itoa(i), next(t, c.Events()).ConnID, "the oldest events are kept")
	}
	srv.Publish(&Message{Name: EventReleased, ThisDN: "7001", ConnID: "later"})
	assert.Equal(t, "later", next(t, c.Events()).ConnID, "delivery resumes once there is room")
}

func TestSubscribe(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{}, newTestHandler("7001"))
	c := dial(t, addr, ClientConfig{})
	require.NoError(t, c.Register(ctxT(t), "7001"))
	released, cancelReleased := c.Subscribe(func(m *Message) bool { return m.Name == EventReleased })
	all, cancelAll := c.Subscribe(nil)

	srv.Publish(&Message{Name: EventRinging, ThisDN: "7001", ConnID: "1"})
	srv.Publish(&Message{Name: EventReleased, ThisDN: "7001", ConnID: "1"})
	ev := next(t, released)
	assert.Equal(t, EventReleased, ev.Name)
	assert.Equal(t, EventRinging, next(t, all).Name)
	assert.Equal(t, EventReleased, next(t, all).Name)
	assert.Equal(t, EventRinging, next(t, c.Events()).Name, "Events still gets everything")

	cancelReleased()
	cancelReleased() // idempotent
	_, ok := <-released
	assert.False(t, ok)

	require.NoError(t, c.Close())
	_, ok = <-all
	assert.False(t, ok, "Close closes subscriptions")
	cancelAll()
	after, cancelAfter := c.Subscribe(nil)
	_, ok = <-after
	assert.False(t, ok, "subscribing after Close yields a closed channel")
	cancelAfter()
}

func TestRequestContextEndsLateReplyGoesToEvents(t *testing.T) {
	h := newTestHandler("7001")
	h.block = make(chan struct{})
	_, addr := startServer(t, ServerConfig{}, h)
	c := dial(t, addr, ClientConfig{})
	require.NoError(t, c.Register(ctxT(t), "7001"))

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, &Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "slow"})
	require.ErrorIs(t, err, context.DeadlineExceeded)

	close(h.block)
	ev := next(t, c.Events())
	assert.Equal(t, EventACK, ev.Name)
	assert.Equal(t, "slow", ev.ConnID)
}

func TestPendingRequestFailsOnDisconnect(t *testing.T) {
	h := newTestHandler("7001")
	h.block = make(chan struct{}) // never released: the handler ends with ctx
	srv, addr := startServer(t, ServerConfig{}, h)
	c := dial(t, addr, ClientConfig{})
	require.NoError(t, c.Register(ctxT(t), "7001"))

	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(ctxT(t), &Message{Name: RequestAnswerCall, ThisDN: "7001", ConnID: "c"})
		errc <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.pending) == 1
	}, waitFor, time.Millisecond)
	require.NoError(t, srv.Close())
	select {
	case err := <-errc:
		require.ErrorIs(t, err, ErrDisconnected)
	case <-time.After(waitFor):
		t.Fatal("pending request not failed")
	}
}
