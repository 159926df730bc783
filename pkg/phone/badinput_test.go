package phone

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func rawInvite(to string, port, from int, contentType, body string) string {
	return fmt.Sprintf("INVITE sip:%s@127.0.0.1:%d SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK-%d\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:x@127.0.0.1>;tag=t1\r\nTo: <sip:%s@127.0.0.1>\r\n"+
		"Call-ID: bad-%d@test\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:9>\r\n"+
		"Content-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
		to, port, from, time.Now().UnixNano(), to, time.Now().UnixNano(), contentType, len(body), body)
}

// exchange sends one datagram and returns the first response status line, or "".
func exchange(t *testing.T, conn net.PacketConn, to net.Addr, msg []byte) string {
	t.Helper()
	_, err := conn.WriteTo(msg, to)
	require.NoError(t, err)
	buf := make([]byte, 65535)
	deadline := time.Now().Add(2 * time.Second)
	for {
		require.NoError(t, conn.SetReadDeadline(deadline))
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			return ""
		}
		line, _, _ := bytes.Cut(buf[:n], []byte("\r\n"))
		if s := string(line); strings.HasPrefix(s, "SIP/2.0 ") && !strings.HasPrefix(s, "SIP/2.0 100") {
			return s
		}
	}
}

func TestBadInputNeverBreaksThePhone(t *testing.T) {
	callee := startPhone(t, Config{DN: agentDN, AutoAnswer: true})
	to := net.UDPAddrFromAddrPort(callee.Addr())
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer conn.Close()
	port := int(callee.Addr().Port())
	me := conn.LocalAddr().(*net.UDPAddr).Port

	assert.Contains(t, exchange(t, conn, to, []byte(rawInvite(agentDN, port, me, "application/sdp", "v=0\r\nthis is not sdp\r\n"))), "488")
	assert.Contains(t, exchange(t, conn, to, []byte(rawInvite(agentDN, port, me, "text/plain", "hello"))), "415")
	noAudio := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n"
	assert.Contains(t, exchange(t, conn, to, []byte(rawInvite(agentDN, port, me, "application/sdp", noAudio))), "488")
	onlyG729 := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 18\r\n"
	assert.Contains(t, exchange(t, conn, to, []byte(rawInvite(agentDN, port, me, "application/sdp", onlyG729))), "488")

	// Garbage and an oversized datagram: no answer expected, no crash.
	for _, junk := range [][]byte{[]byte("garbage\r\n\r\n"), bytes.Repeat([]byte("A"), 9000), {0, 1, 2, 3}} {
		_, err := conn.WriteTo(junk, to)
		require.NoError(t, err)
	}
	// A re-INVITE and a BYE for dialogs that do not exist.
	reinv := strings.Replace(rawInvite(agentDN, port, me, "application/sdp", noAudio), "To: <sip:7001@127.0.0.1>", "To: <sip:7001@127.0.0.1>;tag=nope", 1)
	assert.Contains(t, exchange(t, conn, to, []byte(reinv)), "481")

	// The phone still takes a normal call.
	caller := startPhone(t, Config{DN: callerDN})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := caller.Dial(ctx, target(callee))
	require.NoError(t, err)
	require.NoError(t, c.Hangup(ctx))
	assert.Empty(t, callee.Calls(), "refused INVITEs must leave no call behind")
}

func TestConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{DN: "a b"},
		{DN: "1", Host: "nowhere"},
		{DN: "1", Transport: "sctp"},
		{DN: "1", Registrar: "sip:"},
		{DN: "1", Proxy: "nohostport"},
		{DN: "1", ToneHz: 5000},
	} {
		_, err := New(cfg)
		assert.Error(t, err, "%+v", cfg)
	}
	p, err := New(Config{DN: "1"})
	require.NoError(t, err)
	_, err = p.Dial(context.Background(), "2")
	assert.ErrorIs(t, err, ErrNotStarted)
}

func TestRegisterRefusedIsClear(t *testing.T) {
	// A "registrar" that refuses everything: a phone answering REGISTER with 405.
	refuser := startPhone(t, Config{DN: "reg"})
	p, err := New(Config{DN: callerDN, Registrar: refuser.Addr().String()})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = p.Start(ctx)
	var re *RegisterError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 405, re.Code)
}
