package resourcemanager

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/sipx"
)

// rawRequest builds a request as text, so tests can send what sipgo would
// never build.
func rawRequest(method, ruri, from string, extra ...string) string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "%s %s SIP/2.0\r\n", method, ruri)
	fmt.Fprintf(b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-%d\r\n", from, time.Now().UnixNano())
	hasMF := false
	for _, h := range extra {
		if strings.HasPrefix(h, "Max-Forwards:") {
			hasMF = true
		}
	}
	if !hasMF {
		b.WriteString("Max-Forwards: 70\r\n")
	}
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Content-Length: 0\r\n\r\n")
	return b.String()
}

func stdHeaders(method string, omit ...string) []string {
	all := map[string]string{
		"From":    "From: <sip:ms@127.0.0.1>;tag=a1",
		"To":      "To: <sip:record@rm>",
		"Call-ID": fmt.Sprintf("Call-ID: raw-%d", time.Now().UnixNano()),
		"CSeq":    "CSeq: 1 " + method,
		"Contact": "Contact: <sip:ms@127.0.0.1:9>",
	}
	var out []string
	for _, k := range []string{"From", "To", "Call-ID", "CSeq", "Contact"} {
		skip := false
		for _, o := range omit {
			skip = skip || o == k
		}
		if !skip {
			out = append(out, all[k])
		}
	}
	return out
}

func statusLine(msg string) string {
	line, _, _ := strings.Cut(msg, "\r\n")
	return line
}

func header(msg, name string) string {
	for _, l := range strings.Split(msg, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// TestBadRequests: malformed SIP, loops, unknown dialogs and methods get clear
// SIP errors, and the RM keeps serving.
func TestBadRequests(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
	addr := r.SIPAddr("udp")
	ruri := "sip:record=1@" + addr.String()
	c, err := net.Dial("udp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	from := "127.0.0.1:" + localPort(c)
	send := func(msg string) string {
		t.Helper()
		_, err := c.Write([]byte(msg))
		require.NoError(t, err)
		buf := make([]byte, 65535)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				return ""
			}
			if !strings.HasPrefix(string(buf[:n]), "SIP/2.0 100 ") {
				return string(buf[:n])
			}
		}
	}

	for _, tc := range []struct {
		name, msg, status, warning string
	}{
		{"max-forwards 0", rawRequest("INVITE", ruri, from, append(stdHeaders("INVITE"), "Max-Forwards: 0")...), "SIP/2.0 483 Too Many Hops", "Max-Forwards reached 0"},
		{"max-forwards 0 on BYE", rawRequest("BYE", ruri, from, append(stdHeaders("BYE"), "Max-Forwards: 0")...), "SIP/2.0 483 Too Many Hops", ""},
		{"no Call-ID", rawRequest("INVITE", ruri, from, stdHeaders("INVITE", "Call-ID")...), "SIP/2.0 400 Bad Request", "missing Call-ID header"},
		{"no From", rawRequest("INVITE", ruri, from, stdHeaders("INVITE", "From")...), "SIP/2.0 400 Bad Request", "missing From header"},
		{"no To", rawRequest("MESSAGE", ruri, from, stdHeaders("MESSAGE", "To")...), "SIP/2.0 400 Bad Request", "missing To header"},
		{"unknown user", rawRequest("INVITE", "sip:bob@"+addr.String(), from, stdHeaders("INVITE")...), "SIP/2.0 404 Not Found", "no group for request-uri user 'bob'"},
		{"unknown dialog", rawRequest("BYE", ruri, from, append(stdHeaders("BYE", "To"), "To: <sip:record@rm>;tag=zz")...), "SIP/2.0 481 Call/Transaction Does Not Exist", "no dialog"},
		{"lone CANCEL", rawRequest("CANCEL", ruri, from, stdHeaders("CANCEL")...), "SIP/2.0 481 Call/Transaction Does Not Exist", ""},
		{"REGISTER", rawRequest("REGISTER", "sip:"+addr.String(), from, stdHeaders("REGISTER")...), "SIP/2.0 405 Method Not Allowed", "not a registrar"},
		{"OPTIONS to the RM", rawRequest("OPTIONS", "sip:"+addr.String(), from, stdHeaders("OPTIONS")...), "SIP/2.0 200 OK", ""},
		{"OPTIONS to a group", rawRequest("OPTIONS", "sip:record@"+addr.String(), from, stdHeaders("OPTIONS")...), "SIP/2.0 200 OK", ""},
		{"OPTIONS to no group", rawRequest("OPTIONS", "sip:msml@"+addr.String(), from, stdHeaders("OPTIONS")...), "SIP/2.0 404 Not Found", "no mediaserver group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := send(tc.msg)
			assert.Equal(t, tc.status, statusLine(res))
			if tc.warning != "" {
				assert.Contains(t, header(res, "Warning"), tc.warning)
			}
		})
	}

	// Garbage never crashes the RM nor gets an answer; the next request does.
	for _, junk := range []string{
		"\x00\x01\x02garbage",
		"INVITE\r\n\r\n",
		"INVITE sip:x SIP/2.0\r\nVia: nonsense\r\nCSeq: x\r\n\r\n",
		"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKx\r\nCSeq: 1 INVITE\r\n\r\n",
		strings.Repeat("A", 70000),
	} {
		_, _ = c.Write([]byte(junk))
	}
	tcp, err := net.Dial("tcp", r.SIPAddr("tcp").String())
	require.NoError(t, err)
	_, _ = tcp.Write([]byte("INVITE sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\nxx"))
	_ = tcp.Close()
	assert.Equal(t, "SIP/2.0 200 OK", statusLine(send(rawRequest("OPTIONS", "sip:"+addr.String(), from, stdHeaders("OPTIONS")...))))
	assert.Zero(t, rec.invites.Load(), "nothing malformed was forwarded")
}

// TestOptionsReportsGroupHealth: OPTIONS sip:record@rm answers 503 when the
// group has no member to take a session.
func TestOptionsReportsGroupHealth(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
	_, err := r.Drain("recorders", "rec1", true)
	require.NoError(t, err)
	res := rawSIP(t, r.SIPAddr("udp"), func(from string) string {
		return rawRequest("OPTIONS", "sip:record@"+r.SIPAddr("udp").String(), from, stdHeaders("OPTIONS")...)
	}, 2*time.Second)
	assert.Equal(t, "SIP/2.0 503 Service Unavailable", statusLine(res))
	assert.Equal(t, `399 arlab "group recorders: no member available (rec1 draining)"`, header(res, "Warning"))
}

// TestTLS runs a dialog over TLS on both legs.
func TestTLS(t *testing.T) {
	serverTLS, clientTLS, err := sipx.SelfSigned()
	require.NoError(t, err)
	rec := newStandin(t, "rec1", "tls", serverTLS, clientTLS)
	cfg := testConfig(recorders(PolicyHunt, rec))
	cfg.SIP.TLS = "127.0.0.1:0"
	r := startRM(t, cfg, WithTLS(serverTLS, clientTLS))
	u := newUAC(t, "tls", serverTLS, clientTLS)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := u.call(ctx, r.testURI("record=1", "tls"))
	require.NoError(t, err)
	assert.Equal(t, "rec1", answeredBy(d))
	rrs := d.InviteResponse.GetHeaders("Record-Route")
	require.Len(t, rrs, 1)
	assert.Contains(t, rrs[0].Value(), "transport=tls")
	require.NoError(t, d.Bye(ctx))
	assert.EqualValues(t, 1, rec.byes.Load())
	assert.Equal(t, 0, r.member(t, "recorders", "rec1").Active)
}

// TestCloseAnswersPending: closing the RM answers an INVITE in progress with
// 503 and returns promptly.
func TestCloseAnswersPending(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	rec.mode.Store(modeRing)
	r, err := New(testConfig(recorders(PolicyHunt, rec)), WithLogger(testLogger()))
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	u := newUAC(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := u.call(ctx, r.testURI("record=1", "udp"))
		got <- err
	}()
	require.Eventually(t, func() bool { return rec.invites.Load() == 1 }, 3*time.Second, 5*time.Millisecond)
	start := time.Now()
	require.NoError(t, r.Close())
	assert.Less(t, time.Since(start), 2*time.Second)
	select {
	case err := <-got:
		res := failure(t, err)
		assert.Equal(t, 503, res.StatusCode)
	case <-time.After(5 * time.Second):
		t.Fatal("caller got no answer")
	}
	require.NoError(t, r.Close(), "Close is idempotent")
	assert.ErrorIs(t, r.Start(context.Background()), ErrClosed)
}

// TestStartErrors: a second Start, a busy port and a bad config fail cleanly.
func TestStartErrors(t *testing.T) {
	rec := newStandin(t, "rec1", "udp")
	r := startRM(t, testConfig(recorders(PolicyHunt, rec)))
	assert.ErrorIs(t, r.Start(context.Background()), ErrStarted)

	cfg := testConfig(recorders(PolicyHunt, rec))
	cfg.SIP.UDP = r.SIPAddr("udp").String()
	r2, err := New(cfg, WithLogger(testLogger()))
	require.NoError(t, err)
	assert.False(t, r2.SIPAddr("udp").IsValid(), "no address before Start")
	err = r2.Start(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "resourcemanager.sip.udp")
	require.NoError(t, r2.Close())

	// Start's ctx ending stops the RM.
	cfg = testConfig(recorders(PolicyHunt, rec))
	r3, err := New(cfg, WithLogger(testLogger()))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, r3.Start(ctx))
	base := "http://" + r3.HTTPAddr().String() + "/healthz"
	res, err := http.Get(base)
	require.NoError(t, err)
	res.Body.Close()
	cancel()
	require.Eventually(t, func() bool {
		res, err := http.Get(base)
		if err == nil {
			res.Body.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, r3.Close())

	_, err = New(Config{})
	require.Error(t, err)
	cfg = testConfig(recorders(PolicyHunt, rec))
	cfg.SIP.TLS = "127.0.0.1:0"
	_, err = New(cfg)
	assert.ErrorContains(t, err, "needs a TLS server configuration")
}
