package resourcemanager

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/arlab/arlab/pkg/sipx"
)

func TestMain(m *testing.M) {
	sipx.RaiseUDPLimit()
	// sipgo's connection code logs through its package default logger.
	sip.SetDefaultLogger(testLogger())
	// Stand-ins send only the responses a test asks for: no automatic
	// 100 Trying after 200 ms (the RM sends its own 100 explicitly).
	sip.Timer_1xx = time.Hour
	goleak.VerifyTestMain(m)
}

// testLogger is quiet unless ARLAB_TEST_LOG=debug.
func testLogger() *slog.Logger {
	if os.Getenv("ARLAB_TEST_LOG") == "debug" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const testSDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"

// Stand-in modes: how a member answers a new INVITE.
const (
	modeAnswer = iota // 200 with SDP
	modeSilent        // drops every packet (a hung process)
	modeRing          // 180, then nothing until CANCEL
	modeCode          // the final code in standin.code
	modeSlow          // 200 after standin.delay, whatever happened meanwhile
)

// standin is a recorder or media server stand-in: a small sipgo UAS that
// answers INVITE, ACK, BYE, INFO and OPTIONS, can be made silent, made to
// answer with a failure, or killed.
type standin struct {
	t       testing.TB
	name    string
	network string
	ua      *sipgo.UserAgent
	cli     *sipgo.Client
	sx      *sipx.Server
	addr    netip.AddrPort
	cancel  context.CancelFunc
	ready   chan struct{} // closed once addr is set; handlers wait for it
	closed  chan struct{}
	once    sync.Once

	mode  atomic.Int32
	code  atomic.Int32
	delay atomic.Int64 // modeSlow

	invites, dropped, acks, byes, infos, reinvites, cancels, options atomic.Int32

	mu       sync.Mutex
	dialogs  map[string]*sip.Request // Call-ID → INVITE as received
	answers  map[string]*sip.Response
	lastInv  *sip.Request
	inviteRx []time.Time
}

func newStandin(t testing.TB, name, network string, tlsConf ...*tls.Config) *standin {
	t.Helper()
	s := &standin{t: t, name: name, network: network, closed: make(chan struct{}), ready: make(chan struct{}),
		dialogs: map[string]*sip.Request{}, answers: map[string]*sip.Response{}}
	var serverTLS, clientTLS *tls.Config
	if len(tlsConf) == 2 {
		serverTLS, clientTLS = tlsConf[0], tlsConf[1]
	}
	filter := func(_ sip.TransportReadProps, data []byte) ([]byte, error) {
		if s.mode.Load() != modeSilent {
			return data, nil
		}
		if bytes.HasPrefix(data, []byte("INVITE ")) {
			s.dropped.Add(1)
		}
		return nil, nil
	}
	var err error
	s.ua, err = sipgo.NewUA(sipgo.WithUserAgent(name), sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(filter), sip.WithTransportLayerLogger(testLogger())),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger())))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(s.ua, sipgo.WithServerLogger(testLogger()))
	require.NoError(t, err)
	s.cli, err = sipgo.NewClient(s.ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(testLogger()))
	require.NoError(t, err)
	on := func(h sipgo.RequestHandler) sipgo.RequestHandler { return lateGuard(s.closed, h) }
	srv.OnInvite(on(s.onInvite))
	srv.OnAck(on(func(req *sip.Request, tx sip.ServerTransaction) { s.acks.Add(1) }))
	srv.OnBye(on(func(req *sip.Request, tx sip.ServerTransaction) {
		s.byes.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))
	srv.OnInfo(on(func(req *sip.Request, tx sip.ServerTransaction) {
		s.infos.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))
	srv.OnNoRoute(on(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil))
	}))
	srv.OnOptions(on(func(req *sip.Request, tx sip.ServerTransaction) {
		s.options.Add(1)
		code := 200
		if s.mode.Load() == modeCode && s.code.Load() == 503 {
			code = 503
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, sipx.DefaultReason(code), nil))
	}))
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.sx = sipx.NewServer(srv, testLogger())
	ln, err := s.sx.Listen(ctx, network, "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	s.addr = ln.Addr
	close(s.ready)
	t.Cleanup(s.kill)
	return s
}

// uri is the member URI the RM is configured with.
func (s *standin) uri() string {
	u := "sip:" + s.addr.String()
	if s.network != "udp" {
		u += ";transport=" + s.network
	}
	return u
}

func (s *standin) contact() sip.ContactHeader {
	<-s.ready
	u := sip.Uri{Scheme: "sip", User: s.name, Host: s.addr.Addr().String(), Port: int(s.addr.Port())}
	if s.network != "udp" {
		u.UriParams = sip.HeaderParams{{K: "transport", V: s.network}}
	}
	return sip.ContactHeader{Address: u}
}

func (s *standin) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.reinvites.Add(1)
		res := sip.NewResponseFromRequest(req, 200, "OK", []byte(testSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		c := s.contact()
		res.AppendHeader(&c)
		_ = tx.Respond(res)
		return
	}
	s.invites.Add(1)
	s.mu.Lock()
	s.lastInv = req
	s.inviteRx = append(s.inviteRx, time.Now())
	s.mu.Unlock()
	tag := "tag-" + s.name
	reply := func(code int, body []byte) *sip.Response {
		res := sip.NewResponseFromRequest(req, code, sipx.DefaultReason(code), body)
		res.To().Params.Add("tag", tag)
		res.AppendHeader(sip.NewHeader("X-Member", s.name))
		if code < 300 {
			c := s.contact()
			res.AppendHeader(&c)
		}
		return res
	}
	switch s.mode.Load() {
	case modeSlow:
		select {
		case <-time.After(time.Duration(s.delay.Load())):
		case <-s.closed:
			return
		}
		res := reply(200, []byte(testSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		_ = tx.Respond(res)
	case modeCode:
		_ = tx.Respond(reply(int(s.code.Load()), nil))
	case modeRing:
		tx.OnCancel(func(*sip.Request) { s.cancels.Add(1) })
		code := 180
		if c := int(s.code.Load()); c > 0 && c < 200 {
			code = c
		}
		_ = tx.Respond(reply(code, nil))
		select {
		case <-tx.Done():
		case <-s.closed:
		}
	default:
		res := reply(200, []byte(testSDP))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		s.mu.Lock()
		s.dialogs[req.CallID().Value()] = req
		s.answers[req.CallID().Value()] = res
		s.mu.Unlock()
		_ = tx.Respond(res)
	}
}

// bye sends a BYE on an answered dialog, as the UAS: to the caller's Contact
// through the Record-Route set in order.
func (s *standin) bye(ctx context.Context, callID string) (*sip.Response, error) {
	s.mu.Lock()
	inv, res := s.dialogs[callID], s.answers[callID]
	s.mu.Unlock()
	if inv == nil {
		return nil, fmt.Errorf("no dialog %s", callID)
	}
	req := sip.NewRequest(sip.BYE, inv.Contact().Address)
	for _, rr := range inv.GetHeaders("Record-Route") {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	req.AppendHeader(&sip.FromHeader{Address: res.To().Address, Params: res.To().Params.Clone()})
	req.AppendHeader(&sip.ToHeader{Address: inv.From().Address, Params: inv.From().Params.Clone()})
	req.AppendHeader(sip.HeaderClone(inv.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
	if rt := req.Route(); rt != nil {
		if v, ok := rt.Address.UriParams.Get("transport"); ok {
			req.SetTransport(sipx.ViaTransport(v))
		}
	}
	return s.cli.Do(ctx, req)
}

// kill closes the stand-in's sockets: a crashed process.
func (s *standin) kill() {
	s.once.Do(func() {
		close(s.closed)
		s.cancel()
		_ = s.sx.Close()
		_ = s.ua.Close()
	})
}

// lateGuard drops requests that reach a test UA after it closed, closing the
// connection sipgo made to answer them (see closeLateConn).
func lateGuard(closed <-chan struct{}, h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		select {
		case <-closed:
			closeLateConn(tx)
		default:
			h(req, tx)
		}
	}
}

// uac is a caller: the SIP Server or a Media Server sending INVITEs to the RM.
type uac struct {
	ua  *sipgo.UserAgent
	cli *sipgo.Client
	dua sipgo.DialogUA
	sx  *sipx.Server
	ctx context.Context

	byes atomic.Int32
}

func newUAC(t testing.TB, network string, tlsConf ...*tls.Config) *uac {
	t.Helper()
	var serverTLS, clientTLS *tls.Config
	if len(tlsConf) == 2 {
		serverTLS, clientTLS = tlsConf[0], tlsConf[1]
	}
	u := &uac{}
	var err error
	u.ua, err = sipgo.NewUA(sipgo.WithUserAgent("uac"), sipgo.WithUserAgenTLSConfig(clientTLS),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger())),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger())))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(u.ua, sipgo.WithServerLogger(testLogger()))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	u.ctx = ctx
	srv.OnBye(lateGuard(ctx.Done(), func(req *sip.Request, tx sip.ServerTransaction) {
		u.byes.Add(1)
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	}))
	srv.OnNoRoute(lateGuard(ctx.Done(), func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil))
	}))
	u.sx = sipx.NewServer(srv, testLogger())
	ln, err := u.sx.Listen(ctx, network, "127.0.0.1:0", serverTLS)
	require.NoError(t, err)
	opts := []sipgo.ClientOption{sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(testLogger())}
	if network == "udp" {
		opts = append(opts, sipgo.WithClientConnectionAddr(ln.Addr.String()))
	}
	u.cli, err = sipgo.NewClient(u.ua, opts...)
	require.NoError(t, err)
	contact := sip.Uri{Scheme: "sip", User: "uac", Host: "127.0.0.1", Port: int(ln.Addr.Port())}
	if network != "udp" {
		contact.UriParams = sip.HeaderParams{{K: "transport", V: network}}
	}
	u.dua = sipgo.DialogUA{Client: u.cli, ContactHDR: sip.ContactHeader{Address: contact}}
	t.Cleanup(func() {
		cancel()
		_ = u.sx.Close()
		_ = u.ua.Close()
	})
	return u
}

// call sends an INVITE, waits for the answer and ACKs it. The dialog is the
// caller's to end (Bye) or close.
func (u *uac) call(ctx context.Context, ruri string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	var target sip.Uri
	if err := sip.ParseUri(ruri, &target); err != nil {
		return nil, err
	}
	hdrs = append(hdrs, sip.NewHeader("Content-Type", "application/sdp"))
	d, err := u.dua.Invite(ctx, target, []byte(testSDP), hdrs...)
	if err != nil {
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		d.Close()
		return nil, err
	}
	if err := d.Ack(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// answeredBy names the stand-in that answered a dialog.
func answeredBy(d *sipgo.DialogClientSession) string {
	if h := d.InviteResponse.GetHeader("X-Member"); h != nil {
		return h.Value()
	}
	return ""
}

// failure returns the final response of a failed call, or fails the test.
func failure(t *testing.T, err error) *sip.Response {
	t.Helper()
	require.Error(t, err)
	var de *sipgo.ErrDialogResponse
	require.ErrorAs(t, err, &de, "want a SIP failure response, got %v", err)
	return de.Res
}

// testConfig is a fast-timer RM config on loopback port 0.
func testConfig(groups ...GroupConfig) Config {
	return Config{
		SIP:             Listen{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0"},
		HTTP:            "127.0.0.1:0",
		Groups:          groups,
		Health:          HealthConfig{Interval: 10 * time.Second, Timeout: 300 * time.Millisecond, DownAfter: 3, UpAfter: 1},
		InviteTimeout:   time.Second,
		RingTimeout:     2 * time.Second,
		FailoverTimeout: 4 * time.Second,
	}
}

func members(ss ...*standin) []MemberConfig {
	out := make([]MemberConfig, len(ss))
	for i, s := range ss {
		out[i] = MemberConfig{Name: s.name, URI: s.uri()}
	}
	return out
}

// startRM starts an RM and waits until every member was probed once.
func startRM(t testing.TB, cfg Config, opts ...Option) *RM {
	t.Helper()
	r, err := New(cfg, append([]Option{WithLogger(testLogger())}, opts...)...)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	require.Eventually(t, func() bool {
		for _, g := range r.Groups() {
			for _, m := range g.Members {
				if m.LastProbe.IsZero() {
					return false
				}
			}
		}
		return true
	}, 5*time.Second, 10*time.Millisecond, "first health checks")
	return r
}

func (r *RM) testURI(user, network string, params ...string) string {
	ap := r.SIPAddr(network)
	u := "sip:" + user + "@" + ap.String()
	if network != "udp" {
		u += ";transport=" + network
	}
	for _, p := range params {
		u += ";" + p
	}
	return u
}

func (r *RM) member(t testing.TB, group, name string) MemberStatus {
	t.Helper()
	for _, g := range r.Groups() {
		if g.Name != group {
			continue
		}
		for _, m := range g.Members {
			if m.Name == name {
				return m
			}
		}
	}
	t.Fatalf("no member %s/%s", group, name)
	return MemberStatus{}
}

func (r *RM) group(t testing.TB, name string) GroupStatus {
	t.Helper()
	for _, g := range r.Groups() {
		if g.Name == name {
			return g
		}
	}
	t.Fatalf("no group %s", name)
	return GroupStatus{}
}

func httpJSON(t *testing.T, method, url string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	if out != nil {
		require.NoError(t, json.NewDecoder(res.Body).Decode(out))
	}
	return res.StatusCode
}

// rawSIP sends one datagram built by msg (given the local address to put in
// Via) to addr and returns the first final reply, or "" when none comes
// within wait.
func rawSIP(t *testing.T, addr netip.AddrPort, msg func(from string) string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write([]byte(msg("127.0.0.1:" + localPort(c))))
	require.NoError(t, err)
	buf := make([]byte, 65535)
	_ = c.SetReadDeadline(time.Now().Add(wait))
	for {
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		if s := string(buf[:n]); !bytes.HasPrefix(buf[:n], []byte("SIP/2.0 100 ")) {
			return s
		}
	}
}

func localPort(c net.Conn) string {
	return strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}
