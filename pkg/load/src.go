package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// src is the SIP side of the SIPREC client: one user agent, one listener on
// the target's transport (the recorder's BYE comes to our Contact), one
// dialog per call.
type src struct {
	log       *slog.Logger
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	lis       *sipx.Server
	dua       sipgo.DialogUA
	contact   sip.ContactHeader
	target    sip.Uri
	transport string
	local     netip.Addr
	cancel    context.CancelFunc

	mu   sync.Mutex
	byes map[string]chan struct{} // Call-ID -> closed when the far end sent BYE
}

func newSRC(target sip.Uri, transport string, local netip.Addr, tlsConf *tls.Config, log *slog.Logger) (*src, error) {
	if transport == "udp" {
		sipx.RaiseUDPLimit() // a SIPREC INVITE is larger than 1300 bytes
	}
	opts := []sipgo.UserAgentOption{sipgo.WithUserAgent("arlab-load"), sipgo.WithUserAgentHostname(local.String())}
	if tlsConf != nil {
		opts = append(opts, sipgo.WithUserAgenTLSConfig(tlsConf))
	}
	ua, err := sipgo.NewUA(opts...)
	if err != nil {
		return nil, fmt.Errorf("load: SIP user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(log))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("load: SIP server: %w", err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname(local.String()), sipgo.WithClientLogger(log))
	if err != nil {
		_ = ua.Close()
		return nil, fmt.Errorf("load: SIP client: %w", err)
	}
	s := &src{log: log, ua: ua, cli: cli, target: target, transport: transport, local: local, byes: map[string]chan struct{}{}}
	srv.OnBye(sipx.Wrap(log, s.onBye))
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	var ctx context.Context
	ctx, s.cancel = context.WithCancel(context.Background())
	s.lis = sipx.NewServer(srv, log)
	var serverTLS *tls.Config
	if transport == "tls" {
		if serverTLS, _, err = sipx.SelfSigned(local.String()); err != nil {
			s.close()
			return nil, err
		}
	}
	l, err := s.lis.Listen(ctx, transport, netip.AddrPortFrom(local, 0).String(), serverTLS)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("load: SIP listener: %w", err)
	}
	u := sip.Uri{Scheme: "sip", User: "arlab-load", Host: local.String(), Port: int(l.Addr.Port())}
	if transport == "tls" {
		u.Scheme = "sips"
	} else if transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", transport)
	}
	params := sip.NewParams()
	params.Add("+sip.src", "")
	s.contact = sip.ContactHeader{Address: u, Params: params}
	s.dua = sipgo.DialogUA{Client: cli, ContactHDR: s.contact}
	return s, nil
}

func (s *src) close() {
	s.cancel()
	if s.lis != nil {
		_ = s.lis.Close()
	}
	_ = s.ua.Close()
}

// watchBye returns a channel closed when the far end ends the dialog.
func (s *src) watchBye(callID string) <-chan struct{} {
	ch := make(chan struct{})
	s.mu.Lock()
	s.byes[callID] = ch
	s.mu.Unlock()
	return ch
}

func (s *src) unwatch(callID string) {
	s.mu.Lock()
	delete(s.byes, callID)
	s.mu.Unlock()
}

func (s *src) onBye(req *sip.Request, tx sip.ServerTransaction) error {
	id := sipx.CallID(req)
	s.mu.Lock()
	ch, ok := s.byes[id]
	delete(s.byes, id)
	s.mu.Unlock()
	if !ok {
		return sipx.Status(481, "Call/Transaction Does Not Exist", nil)
	}
	close(ch)
	return tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
}

// newInvite builds a recording-session INVITE to the target.
func (s *src) newInvite(contentType string, body []byte, callUUID string) *sip.Request {
	uri := *s.target.Clone()
	req := sip.NewRequest(sip.INVITE, uri)
	from := &sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "arlab-load", Host: s.local.String()}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: uri.Scheme, User: uri.User, Host: uri.Host, Port: uri.Port}, Params: sip.NewParams()})
	cid := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + s.local.String())
	req.AppendHeader(&cid)
	ct := s.contact
	req.AppendHeader(sip.HeaderClone(&ct))
	req.AppendHeader(sip.NewHeader("Require", "siprec"))
	req.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	req.AppendHeader(sip.NewHeader("X-Genesys-CallUUID", callUUID))
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody(body)
	req.SetTransport(sipx.ViaTransport(s.transport))
	return req
}

// failureKey classifies a failed setup for the report.
func failureKey(runCtx context.Context, err error) string {
	var dr *sipgo.ErrDialogResponse
	if errors.As(err, &dr) && dr.Res != nil {
		return fmt.Sprint(dr.Res.StatusCode)
	}
	var drv sipgo.ErrDialogResponse
	if errors.As(err, &drv) && drv.Res != nil {
		return fmt.Sprint(drv.Res.StatusCode)
	}
	if runCtx.Err() != nil {
		return "cancelled"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sip.ErrTransactionTimeout) {
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if strings.Contains(err.Error(), "timeout") {
		return "timeout"
	}
	return "transport"
}
