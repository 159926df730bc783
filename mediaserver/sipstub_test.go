package mediaserver

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/stretchr/testify/require"

	"github.com/arlab/arlab/pkg/msml"
	"github.com/arlab/arlab/pkg/sipx"
)

// sipStub plays the SIP Server towards the media server: a small B2BUA.
// A phone dials sip:msml=<conf>@stub;dn=<DN>; the stub opens the leg
// sip:msml=<conf>@ms;dn=<DN> with the phone's SDP and answers the phone with
// the media server's SDP (third-party call control). It sends MSML INFO on
// the media server legs and collects the event INFOs the media server sends.
type sipStub struct {
	t      *testing.T
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	lis    *sipx.Server
	ms     netip.AddrPort
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	legs   map[string]*stubLeg // by DN
	byCall map[string]*stubLeg // by either Call-ID
	events chan *msml.Event
}

type stubLeg struct {
	dn, conf string
	uac      *sipgo.DialogClientSession // towards the media server
	uas      *sipgo.DialogServerSession // towards the phone (nil for direct legs)
}

func newSIPStub(t *testing.T, ms netip.AddrPort) *sipStub {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("arlab-test-sipserver"), sipgo.WithUserAgentHostname("127.0.0.1"))
	require.NoError(t, err)
	srv, err := sipgo.NewServer(ua)
	require.NoError(t, err)
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	require.NoError(t, err)
	s := &sipStub{t: t, ua: ua, srv: srv, cli: cli, ms: ms,
		legs: map[string]*stubLeg{}, byCall: map[string]*stubLeg{}, events: make(chan *msml.Event, 64)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv.OnInvite(s.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		if l := s.leg(sipx.CallID(req)); l != nil && l.uas != nil {
			_ = l.uas.ReadAck(req, tx)
		}
	})
	srv.OnBye(s.onBye)
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		ev, err := msml.ParseEvent(req.Body())
		if err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
			return
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		select {
		case s.events <- ev:
		default:
		}
	})
	s.lis = sipx.NewServer(srv, testLogger())
	_, err = s.lis.Listen(s.ctx, "udp", "127.0.0.1:0", nil)
	require.NoError(t, err)
	t.Cleanup(s.close)
	return s
}

func (s *sipStub) addr() netip.AddrPort { return s.lis.Addr("udp") }

func (s *sipStub) contact() sip.ContactHeader {
	return sip.ContactHeader{Address: sip.Uri{User: "sipserver", Host: "127.0.0.1", Port: int(s.addr().Port())}}
}

// target is what a phone dials to be joined to conf.
func (s *sipStub) target(conf, dn string) string {
	return fmt.Sprintf("sip:msml=%s@%s;dn=%s", conf, s.addr(), dn)
}

func (s *sipStub) leg(callID string) *stubLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byCall[callID]
}

func (s *sipStub) legByDN(dn string) *stubLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.legs[dn]
}

// openLeg opens a media-server leg for dn in conf with body as the offer
// (nil: offer-less).
func (s *sipStub) openLeg(ctx context.Context, conf, dn string, body []byte) (*stubLeg, error) {
	uri := sip.Uri{User: "msml=" + conf, Host: s.ms.Addr().String(), Port: int(s.ms.Port()), UriParams: sip.NewParams()}
	uri.UriParams.Add("dn", dn)
	req := sip.NewRequest(sip.INVITE, uri)
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	dua := sipgo.DialogUA{Client: s.cli, ContactHDR: s.contact()}
	d, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := d.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		d.Close()
		return nil, err
	}
	l := &stubLeg{dn: dn, conf: conf, uac: d}
	s.mu.Lock()
	s.legs[dn] = l
	s.byCall[sipx.CallID(d.InviteRequest)] = l
	s.mu.Unlock()
	return l, nil
}

func (s *sipStub) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	conf, ok := strings.CutPrefix(req.Recipient.User, "msml=")
	dn, _ := req.Recipient.UriParams.Get("dn")
	if !ok || dn == "" {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 404, "Not Found", nil))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	l, err := s.openLeg(ctx, conf, dn, req.Body())
	if err != nil {
		code := 503
		if dr, ok := err.(*sipgo.ErrDialogResponse); ok {
			code = dr.Res.StatusCode
		}
		_ = tx.Respond(sip.NewResponseFromRequest(req, code, "Leg Failed", nil))
		return
	}
	if err := l.uac.Ack(ctx); err != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 500, "Server Internal Error", nil))
		return
	}
	dua := sipgo.DialogUA{Client: s.cli, ContactHDR: s.contact()}
	uas, err := dua.ReadInvite(req, tx)
	if err != nil {
		return
	}
	s.mu.Lock()
	l.uas = uas
	s.byCall[sipx.CallID(req)] = l
	s.mu.Unlock()
	_ = uas.RespondSDP(l.uac.InviteResponse.Body())
}

func (s *sipStub) onBye(req *sip.Request, tx sip.ServerTransaction) {
	l := s.leg(sipx.CallID(req))
	_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	if l == nil || l.uas == nil || sipx.CallID(req) != sipx.CallID(l.uas.InviteRequest) {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	_ = l.uac.Bye(ctx)
	s.forget(l)
}

func (s *sipStub) forget(l *stubLeg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.legs, l.dn)
	for k, v := range s.byCall {
		if v == l {
			delete(s.byCall, k)
		}
	}
}

// hangup ends a leg towards the media server (BYE).
func (s *sipStub) hangup(dn string) {
	l := s.legByDN(dn)
	require.NotNil(s.t, l, "no leg for %s", dn)
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
	defer cancel()
	require.NoError(s.t, l.uac.Bye(ctx))
	s.forget(l)
}

// info sends body as MSML INFO on dn's media-server leg.
func (s *sipStub) info(dn string, contentType string, body []byte) *sip.Response {
	s.t.Helper()
	l := s.legByDN(dn)
	require.NotNil(s.t, l, "no leg for %s", dn)
	req := sip.NewRequest(sip.INFO, l.uac.InviteResponse.Contact().Address)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	res, err := l.uac.Do(ctx, req)
	require.NoError(s.t, err)
	return res
}

// do sends an MSML request and requires it to succeed.
func (s *sipStub) do(dn string, r *msml.Request) *msml.Result {
	s.t.Helper()
	b, err := r.Marshal()
	require.NoError(s.t, err)
	res := s.info(dn, msml.ContentType, b)
	result, err := msml.ParseResult(res.Body())
	require.NoError(s.t, err, "INFO answered %d %s", res.StatusCode, res.Reason)
	require.Equal(s.t, 200, res.StatusCode, "MSML %d: %s", result.Code, result.Description)
	require.True(s.t, result.OK())
	return result
}

// waitEvent returns the next event called name (others are skipped).
func (s *sipStub) waitEvent(name string, within time.Duration) *msml.Event {
	s.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev := <-s.events:
			if ev.Name == name {
				return ev
			}
		case <-deadline:
			s.t.Fatalf("no %s event within %v", name, within)
			return nil
		}
	}
}

func (s *sipStub) close() {
	s.mu.Lock()
	legs := make([]*stubLeg, 0, len(s.legs))
	for _, l := range s.legs {
		legs = append(legs, l)
	}
	s.mu.Unlock()
	for _, l := range legs {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.uac.Bye(ctx)
		cancel()
		l.uac.Close()
	}
	s.cancel()
	_ = s.lis.Close()
	s.ua.Close()
}
