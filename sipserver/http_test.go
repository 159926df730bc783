package sipserver

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/tlib"
)

func httpGet(t *testing.T, s *Server, path string) (int, string) {
	t.Helper()
	res, err := http.Get("http://" + s.HTTPAddr().String() + path)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, string(b)
}

func TestHTTPEndpoints(t *testing.T) {
	s := startServer(t, nil)
	code, body := httpGet(t, s, "/healthz")
	assert.Equal(t, 200, code)
	assert.JSONEq(t, `{"status":"ok"}`, body)

	startAgent(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	desk := dialTLib(t, s, "desktop", "7001")
	cust := startCustomer(t, s, phone.Config{})
	call, err := cust.Dial(ctxFor(t), "7001")
	require.NoError(t, err)
	expectEvents(t, desk.Events(), tlib.EventRinging, tlib.EventEstablished)

	code, body = httpGet(t, s, "/api/registrations")
	assert.Equal(t, 200, code)
	var regs struct {
		Registrations []binding `json:"registrations"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &regs))
	require.Len(t, regs.Registrations, 1)
	assert.Equal(t, "7001", regs.Registrations[0].DN)

	code, body = httpGet(t, s, "/metrics")
	assert.Equal(t, 200, code)
	for _, want := range []string{
		"arlab_sipserver_calls 1\n",
		"arlab_sipserver_legs 2\n",
		"arlab_sipserver_registrations 1\n",
		"arlab_sipserver_calls_started_total 1\n",
		"arlab_sipserver_calls_answered_total 1\n",
		"arlab_sipserver_call_setup_seconds_count 1\n",
		"# TYPE arlab_sipserver_call_setup_seconds histogram\n",
		`arlab_sipserver_call_setup_seconds_bucket{le="+Inf"} 1` + "\n",
	} {
		assert.Contains(t, body, want)
	}
	require.NoError(t, call.Hangup(ctxFor(t)))
	requireNoCalls(t, s)
	_, body = httpGet(t, s, "/metrics")
	assert.Contains(t, body, "arlab_sipserver_calls 0\n")
	assert.Contains(t, body, "arlab_sipserver_legs 0\n")
	assert.Contains(t, body, "arlab_sipserver_calls_failed_total 0\n")

	code, _ = httpGet(t, s, "/nope")
	assert.Equal(t, 404, code)
}

// TestCloseHangsUpCalls: Close ends live calls with BYE and returns promptly.
func TestCloseHangsUpCalls(t *testing.T) {
	s, err := New(testConfig(), WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	// Bound without the phones registering themselves: they would try to
	// unregister from the closed server at cleanup and wait for a timeout.
	agent := startAgentStream(t, s, phone.Config{DN: "7001", AutoAnswer: true})
	ringing := startAgentStream(t, s, phone.Config{DN: "7003"})
	cust := startCustomer(t, s, phone.Config{})
	ctx := ctxFor(t)
	call, err := cust.Dial(ctx, "7001")
	require.NoError(t, err)
	go func() { _, _ = cust.Dial(ctx, "7003") }()
	<-ringing.Incoming()

	start := time.Now()
	require.NoError(t, s.Close())
	assert.Less(t, time.Since(start), 3*time.Second)
	waitDone(t, call)
	requirePhoneIdle(t, agent)
	requirePhoneIdle(t, ringing)
	assert.Empty(t, s.Calls())
	require.NoError(t, s.Close(), "idempotent")
	assert.ErrorIs(t, s.Start(context.Background()), ErrClosed)
}

func TestConfigValidate(t *testing.T) {
	ok := testConfig()
	ok.Defaults()
	require.NoError(t, ok.Validate())
	assert.Equal(t, 10000, ok.MaxCalls)
	assert.Equal(t, time.Hour, ok.RegisterMaxExpires)

	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"bad host", func(c *Config) { c.Host = "example" }, "sipserver.host:"},
		{"no sip", func(c *Config) { c.SIP = Listen{} }, "sipserver.sip:"},
		{"negative max calls", func(c *Config) { c.MaxCalls = -1 }, "sipserver.max-calls:"},
		{"negative no answer", func(c *Config) { c.NoAnswerTimeout = -time.Second }, "sipserver.no-answer-timeout:"},
		{"short expires", func(c *Config) { c.RegisterMaxExpires = time.Millisecond }, "sipserver.register-max-expires:"},
		{"default route on extension", func(c *Config) { c.DNs[0].DefaultRoute = "7002" }, "sipserver.dns[0].default-route:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testConfig()
			c.Defaults()
			tc.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.True(t, strings.Contains(err.Error(), tc.want), err.Error())
			_, err = New(c)
			require.Error(t, err)
		})
	}
}

// TestTLibTLSAndPassword: T-lib over TLS with a password.
func TestTLibTLSAndPassword(t *testing.T) {
	srvTLS, cliTLS, err := sipx.SelfSigned()
	require.NoError(t, err)
	cfg := testConfig()
	cfg.TLibTLS, cfg.TLibPassword = true, "s3cret"
	s, err := New(cfg, WithLogger(testLogger()), WithTLS(srvTLS, cliTLS))
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	defer s.Close()
	ctx := ctxFor(t)

	_, err = tlib.Dial(ctx, s.TLibAddr().String(), tlib.ClientConfig{AppName: "x", Password: "wrong", TLS: cliTLS, Logger: testLogger()})
	require.ErrorIs(t, err, tlib.ErrUnauthorised)
	c, err := tlib.Dial(ctx, s.TLibAddr().String(), tlib.ClientConfig{AppName: "x", Password: "s3cret", TLS: cliTLS, Logger: testLogger()})
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Register(ctx, "7001"))
	assert.Equal(t, "arlab-sipserver", c.ServerInfo().Server)
}
