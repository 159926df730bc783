package sipserver

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

const (
	customerDN = "+15551230000"
	waitFor    = 5 * time.Second
)

func TestMain(m *testing.M) {
	// Short SIP timers keep failure cases fast; they are globals, set once.
	sip.SetTimers(50*time.Millisecond, 400*time.Millisecond, 500*time.Millisecond)
	if os.Getenv("ARLAB_TEST_LOG") == "" {
		sip.SetDefaultLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	goleak.VerifyTestMain(m)
}

func testLogger() *slog.Logger {
	if os.Getenv("ARLAB_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testConfig is a small lab: agents 7001-7003, a supervisor, routing point
// 5000 with default route 7002, routing point 5001 without one.
func testConfig() Config {
	return Config{
		SIP:          Listen{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"},
		TLib:         "127.0.0.1:0",
		HTTP:         "127.0.0.1:0",
		RouteTimeout: 2 * time.Second,
		DNs: []DN{
			{Number: "7001", Type: Extension, AutoAnswer: true},
			{Number: "7002", Type: Extension, AutoAnswer: true},
			{Number: "7003", Type: ACDPosition},
			{Number: "7100", Type: Supervisor},
			{Number: "5000", Type: RoutingPoint, DefaultRoute: "7002"},
			{Number: "5001", Type: RoutingPoint},
		},
	}
}

func startServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg, WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s
}

// startAgent starts a phone registered on dn.
func startAgent(t *testing.T, s *Server, cfg phone.Config, opts ...phone.Option) *phone.Phone {
	t.Helper()
	transport := cfg.Transport
	if transport == "" {
		transport = "udp"
	}
	cfg.Registrar = s.SIPAddr(transport).String()
	return startPhone(t, cfg, opts...)
}

// startAgentStream starts a phone for dn and binds it with a REGISTER sent
// for it over UDP. Needed on TCP and TLS: pkg/phone's own REGISTER lacks
// Content-Length, which stream transports require (sipgo rejects it).
func startAgentStream(t *testing.T, s *Server, cfg phone.Config, opts ...phone.Option) *phone.Phone {
	t.Helper()
	p := startPhone(t, cfg, opts...)
	u := p.Contact()
	registerContact(t, s, cfg.DN, u.String())
	return p
}

// registerContact binds dn to contact with a REGISTER over UDP.
func registerContact(t testing.TB, s *Server, dn, contact string) {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(s.SIPAddr("udp").Port())})
	aor := sip.Uri{Scheme: "sip", User: dn, Host: "127.0.0.1"}
	from := &sip.FromHeader{Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(8))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Contact", "<"+contact+">"))
	req.AppendHeader(sip.NewHeader("Expires", "300"))
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	res, err := cli.Do(ctx, req)
	require.NoError(t, err)
	require.Equal(t, 200, res.StatusCode)
}

// startCustomer starts an unregistered phone that calls through the server.
func startCustomer(t *testing.T, s *Server, cfg phone.Config, opts ...phone.Option) *phone.Phone {
	t.Helper()
	if cfg.DN == "" {
		cfg.DN = customerDN
	}
	transport := cfg.Transport
	if transport == "" {
		transport = "udp"
	}
	cfg.Proxy = s.SIPAddr(transport).String()
	return startPhone(t, cfg, opts...)
}

func startPhone(t *testing.T, cfg phone.Config, opts ...phone.Option) *phone.Phone {
	t.Helper()
	p, err := phone.New(cfg, append([]phone.Option{phone.WithLogger(testLogger())}, opts...)...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	t.Cleanup(func() { p.Close() })
	return p
}

// dialTLib opens a T-lib client registered on dns.
func dialTLib(t *testing.T, s *Server, app string, dns ...string) *tlib.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := tlib.Dial(ctx, s.TLibAddr().String(), tlib.ClientConfig{AppName: app, Logger: testLogger()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	for _, dn := range dns {
		require.NoError(t, c.Register(ctx, dn))
	}
	return c
}

// nextEvent returns the next event on ch.
func nextEvent(t *testing.T, ch <-chan *tlib.Message) *tlib.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		require.True(t, ok, "event channel closed")
		return m
	case <-time.After(waitFor):
		t.Fatalf("no event within %s", waitFor)
		return nil
	}
}

// expectEvents reads events from ch and checks their names, in order.
func expectEvents(t *testing.T, ch <-chan *tlib.Message, names ...string) []*tlib.Message {
	t.Helper()
	out := make([]*tlib.Message, 0, len(names))
	for _, n := range names {
		m := nextEvent(t, ch)
		require.Equal(t, n, m.Name, "after %d events: %+v", len(out), m)
		out = append(out, m)
	}
	return out
}

// noEvent checks that nothing arrives on ch for d.
func noEvent(t *testing.T, ch <-chan *tlib.Message, d time.Duration) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected event %s %+v", m.Name, m)
	case <-time.After(d):
	}
}

// apiCalls reads /api/calls.
func apiCalls(t *testing.T, s *Server) []CallInfo {
	t.Helper()
	res, err := http.Get("http://" + s.HTTPAddr().String() + "/api/calls")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var body struct {
		Calls []CallInfo `json:"calls"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return body.Calls
}

// requireNoCalls waits until /api/calls is empty and no dialog is tracked.
func requireNoCalls(t *testing.T, s *Server) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		legs := len(s.legs)
		s.mu.Unlock()
		return len(apiCalls(t, s)) == 0 && legs == 0
	}, waitFor, 10*time.Millisecond, "calls left: %+v", s.Calls())
}

// requirePhoneIdle waits until p has no call.
func requirePhoneIdle(t *testing.T, p *phone.Phone) {
	t.Helper()
	require.Eventually(t, func() bool { return len(p.Calls()) == 0 }, waitFor, 10*time.Millisecond,
		"phone %s still has %d calls", p.DN(), len(p.Calls()))
}

// onlyCall waits for p to have exactly one call and returns it.
func onlyCall(t *testing.T, p *phone.Phone) *phone.Call {
	t.Helper()
	var c *phone.Call
	require.Eventually(t, func() bool {
		calls := p.Calls()
		if len(calls) == 1 {
			c = calls[0]
			return true
		}
		return false
	}, waitFor, 5*time.Millisecond)
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitFor)
	t.Cleanup(cancel)
	return ctx
}

// waitDone waits for a phone call to end.
func waitDone(t *testing.T, c *phone.Call) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(waitFor):
		t.Fatalf("call %s did not end", c.ID())
	}
}
