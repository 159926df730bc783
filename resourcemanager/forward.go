package resourcemanager

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// inbound is a received request prepared for forwarding: validated, cloned
// (the server transaction keeps reading the original), Max-Forwards
// decremented, and this RM's own Route entries removed.
type inbound struct {
	req       *sip.Request // the copy that is forwarded
	transport string       // UDP, TCP or TLS: how it reached us
	upstream  string       // host:port responses go back to (UDP)
	callID    string
	fromTag   string
	toTag     string
}

func (in *inbound) inDialog() bool { return in.toTag != "" }

// prepareInbound applies RFC 3261 §16.3-16.4 request validation and
// preprocessing. Its errors are *sipx.StatusError (400, 483).
func (r *RM) prepareInbound(req *sip.Request) (*inbound, error) {
	for _, h := range []struct {
		name string
		ok   bool
	}{
		{"Via", req.Via() != nil}, {"From", req.From() != nil}, {"To", req.To() != nil},
		{"Call-ID", req.CallID() != nil}, {"CSeq", req.CSeq() != nil},
	} {
		if !h.ok {
			return nil, statusError(400, "missing "+h.name+" header")
		}
	}
	if mf := req.MaxForwards(); mf != nil && mf.Val() <= 0 {
		return nil, statusError(483, "Max-Forwards reached 0: loop or too many hops")
	}
	in := &inbound{
		req:       req.Clone(),
		transport: strings.ToUpper(req.Transport()),
		callID:    req.CallID().Value(),
	}
	if in.transport == "" {
		in.transport = "UDP"
	}
	in.fromTag, _ = req.From().Params.Get("tag")
	in.toTag, _ = req.To().Params.Get("tag")
	// The clone shares the Max-Forwards header with the original (sipgo
	// clones it by pointer), so replace it rather than decrement in place.
	mf := sip.MaxForwardsHeader(r.cfg.MaxForwards)
	if h := req.MaxForwards(); h != nil {
		mf = sip.MaxForwardsHeader(h.Val() - 1)
	}
	if in.req.MaxForwards() != nil {
		in.req.ReplaceHeader(&mf)
	} else {
		in.req.AppendHeader(&mf)
	}
	for {
		rt := in.req.Route()
		if rt == nil || !r.isOwn(rt.Address) {
			break
		}
		in.req.RemoveHeader("Route")
	}
	// Where a response built for this request would go: source IP and Via
	// port, or the source port with rport (RFC 3261 §18.2.2, RFC 3581).
	in.upstream = sip.NewResponseFromRequest(req, 100, "Trying", nil).Destination()
	return in, nil
}

// isOwn reports whether a URI names this RM (host and a listening port).
func (r *RM) isOwn(u sip.Uri) bool {
	if !r.ownHosts[strings.Trim(u.Host, "[]")] {
		return false
	}
	p := u.Port
	if p == 0 {
		p = 5060
		if listenFor(u) == "tls" {
			p = 5061
		}
	}
	return r.ownPorts[p]
}

// hop is where a request is forwarded to.
type hop struct {
	dest      string // host:port
	transport string // UDP, TCP, TLS
}

// hopFor picks the address and transport for a next-hop URI: its transport
// parameter (or sips:); else the transport of the configured member at that
// address; else, for a request from a member back to its caller, how the
// caller reached us; else UDP.
func (r *RM) hopFor(u sip.Uri, s *session, fromCaller bool) hop {
	t := ""
	if v := uriParam(u, "transport"); v != "" || u.IsEncrypted() {
		t = strings.ToUpper(listenFor(u))
	}
	port := u.Port
	host := strings.Trim(u.Host, "[]")
	if t == "" {
		switch {
		case r.memberByAddr[memberHostPort(u)] != nil:
			t = r.memberByAddr[memberHostPort(u)].transport
		case s != nil && !fromCaller:
			t = s.callerTransport
		default:
			t = "UDP"
		}
	}
	if port == 0 {
		port = 5060
		if t == "TLS" {
			port = 5061
		}
	}
	return hop{dest: net.JoinHostPort(host, strconv.Itoa(port)), transport: t}
}

// prepareOut sets where a forwarded request goes and puts this RM's Via on
// top. UDP leaves from the UDP listener, so the Via port, the Record-Route
// port and the packets' source port are one port.
func (r *RM) prepareOut(fwd *sip.Request, h hop) {
	fwd.SetDestination(h.dest)
	fwd.SetTransport(h.transport)
	fwd.Laddr = sip.Addr{}
	if h.transport == "UDP" {
		fwd.Laddr = r.udpLaddr
	}
	via := &sip.ViaHeader{
		ProtocolName:    "SIP",
		ProtocolVersion: "2.0",
		Transport:       h.transport,
		Host:            r.host,
		Port:            r.listenPort(h.transport),
		Params:          sip.NewParams(),
	}
	via.Params.Add("branch", sip.GenerateBranch())
	fwd.PrependHeader(via)
}

// recordRoute adds this RM to the route set of the dialog. When the two legs
// use different transports it adds one entry per leg (RFC 5658), so each side
// reaches the RM over its own transport.
func (r *RM) recordRoute(fwd *sip.Request, inT, outT string) {
	fwd.PrependHeader(r.rrHeader(inT))
	if outT != inT {
		fwd.PrependHeader(r.rrHeader(outT))
	}
}

func (r *RM) rrHeader(transport string) *sip.RecordRouteHeader {
	return &sip.RecordRouteHeader{Address: sip.Uri{
		Scheme: "sip",
		Host:   r.host,
		Port:   r.listenPort(transport),
		UriParams: sip.HeaderParams{
			{K: "transport", V: strings.ToLower(transport)},
			{K: "lr"},
		},
	}}
}

func (r *RM) listenPort(transport string) int {
	return int(r.listeners[strings.ToLower(transport)].Port())
}

// retarget points a Request-URI at a member, keeping its user part and
// parameters (msml=<conf-id>, record=<id>;calluuid=…) for the member to read.
func retarget(ruri sip.Uri, m *member) sip.Uri {
	u := *ruri.Clone()
	u.Scheme = m.uri.Scheme
	if u.Scheme == "" {
		u.Scheme = "sip"
	}
	u.Host, u.Port = m.uri.Host, m.uri.Port
	u.UriParams.Remove("transport")
	u.UriParams.Remove("maddr")
	if t, ok := m.uri.UriParams.Get("transport"); ok {
		u.UriParams.Add("transport", t)
	}
	return u
}

// relayResponse sends a member's response upstream: our Via off the top, the
// rest untouched (Record-Route, Contact, body).
func (r *RM) relayResponse(tx sip.ServerTransaction, in *inbound, res *sip.Response) {
	out := res.Clone()
	out.RemoveHeader("Via")
	out.SetTransport(in.transport)
	out.SetDestination(in.upstream)
	if err := tx.Respond(out); err != nil {
		r.log.Debug("relay response failed", "call_id", in.callID, "status", res.StatusCode, "error", err)
	}
}

// noBuild is a sipgo request option that adds nothing: the proxy builds its
// requests fully, and any option stops sipgo filling headers in.
func noBuild(*sipgo.Client, *sip.Request) error { return nil }

// statusError is an RM-made final response with the detail in a Warning.
func statusError(code int, warning string) error {
	return &sipx.StatusError{Code: code, Reason: sipx.DefaultReason(code), Warning: warning, Err: errors.New(warning)}
}

// newCancel builds the CANCEL of a forwarded INVITE (RFC 3261 §9.1): same
// Request-URI, top Via (so the branch matches), Route, Call-ID, From, To and
// CSeq number.
func newCancel(inv *sip.Request) *sip.Request {
	c := sip.NewRequest(sip.CANCEL, *inv.Recipient.Clone())
	c.AppendHeader(inv.Via().Clone())
	sip.CopyHeaders("Route", inv, c)
	mf := sip.MaxForwardsHeader(70)
	c.AppendHeader(&mf)
	c.AppendHeader(sip.HeaderClone(inv.From()))
	c.AppendHeader(sip.HeaderClone(inv.To()))
	c.AppendHeader(sip.HeaderClone(inv.CallID()))
	c.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	c.SetBody(nil)
	c.SetTransport(inv.Transport())
	c.SetDestination(inv.Destination())
	c.Laddr = inv.Laddr
	return c
}

// sendCancel cancels a forwarded INVITE on its member and absorbs the answer.
func (r *RM) sendCancel(inv *sip.Request) {
	c := newCancel(inv)
	tx, err := r.cli.TransactionRequest(r.ctx, c, noBuild)
	if err != nil {
		r.log.Debug("CANCEL not sent", "call_id", sipx.CallID(inv), "dest", inv.Destination(), "error", err)
		return
	}
	if !r.goBG(func() { r.absorb(tx) }) {
		tx.Terminate()
	}
}

// absorb waits for the final response of a client transaction nobody relays
// (CANCEL, BYE of a stray dialog) and ends it.
func (r *RM) absorb(tx sip.ClientTransaction) *sip.Response {
	defer tx.Terminate()
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		select {
		case res := <-tx.Responses():
			if !res.IsProvisional() {
				return res
			}
		case <-tx.Done():
			return nil
		case <-deadline.C:
			return nil
		case <-r.ctx.Done():
			return nil
		}
	}
}

// abandon gives up on a forwarded INVITE: the member stopped answering, or the
// caller cancelled. A CANCEL goes once the member has sent a provisional
// response (RFC 3261 §9.1). A 2xx that still comes (within 64*T1, the
// member's whole 2xx retransmission window) is ACKed and, for a new session,
// BYEd, so the member does not keep a session nobody uses; a late 2xx to a
// re-INVITE is only ACKed, the dialog is the endpoints' business.
func (r *RM) abandon(tx sip.ClientTransaction, inv *sip.Request, provisional bool) {
	if !r.goBG(func() { r.reap(tx, inv, provisional) }) {
		tx.Terminate()
	}
}

func (r *RM) reap(tx sip.ClientTransaction, inv *sip.Request, provisional bool) {
	cancelled := false
	if provisional {
		r.sendCancel(inv)
		cancelled = true
	}
	reInvite := inv.To() != nil && inv.To().Params.Has("tag")
	deadline := time.NewTimer(64 * sip.T1)
	defer deadline.Stop()
	for {
		select {
		case res := <-tx.Responses():
			switch {
			case res.IsProvisional():
				if !cancelled {
					r.sendCancel(inv)
					cancelled = true
				}
			case res.IsSuccess():
				r.endLate(res, !reInvite)
				return
			default:
				// sipgo ACKs a failure itself and ends the transaction on Timer D.
				return
			}
		case <-tx.Done():
			return
		case <-deadline.C:
			tx.Terminate()
			return
		case <-r.ctx.Done():
			tx.Terminate()
			return
		}
	}
}

// killStray ends a session a member answered after the RM had given up on it
// (or after the caller cancelled): ACK the 2xx, then BYE it.
func (r *RM) killStray(res *sip.Response) { r.endLate(res, true) }

// endLate ACKs a late 2xx and, with bye, ends its dialog.
func (r *RM) endLate(res *sip.Response, bye bool) {
	if res.From() == nil || res.To() == nil || res.CallID() == nil || res.CSeq() == nil {
		return
	}
	target := sip.Uri{Scheme: "sip", Host: "invalid"}
	if c := res.Contact(); c != nil {
		target = *c.Address.Clone()
	}
	h := hop{dest: res.Source(), transport: strings.ToUpper(res.Transport())}
	if h.transport == "" {
		h.transport = "UDP"
	}
	build := func(method sip.RequestMethod, seq uint32) *sip.Request {
		req := sip.NewRequest(method, *target.Clone())
		mf := sip.MaxForwardsHeader(70)
		req.AppendHeader(&mf)
		req.AppendHeader(sip.HeaderClone(res.From()))
		req.AppendHeader(sip.HeaderClone(res.To()))
		req.AppendHeader(sip.HeaderClone(res.CallID()))
		req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
		req.SetBody(nil)
		r.prepareOut(req, h)
		return req
	}
	seq := res.CSeq().SeqNo
	log := r.log.With("call_id", sipx.CallID(res), "from", h.dest)
	if err := r.cli.WriteRequest(build(sip.ACK, seq), noBuild); err != nil {
		log.Debug("late 2xx: ACK failed", "error", err)
	}
	if !bye {
		log.Info("late 2xx to a re-INVITE acknowledged")
		return
	}
	r.stats.strays.Add(1)
	log.Info("ending a session answered after the proxy gave up on it")
	tx, err := r.cli.TransactionRequest(r.ctx, build(sip.BYE, seq+1), noBuild)
	if err != nil {
		log.Debug("late 2xx: BYE failed", "error", err)
		return
	}
	if !r.goBG(func() { r.absorb(tx) }) {
		tx.Terminate()
	}
}

// onStrayResponse gets responses no client transaction matches: late
// retransmissions, mostly of 2xx whose transaction ended on Timer M. They are
// dropped; a member that answers an abandoned INVITE within its 2xx
// retransmission window is handled by reap.
func (r *RM) onStrayResponse(res *sip.Response) {
	r.log.Debug("response matches no transaction", "status", res.StatusCode, "call_id", sipx.CallID(res))
}

func describeTxErr(err error) string {
	switch {
	case err == nil:
		return "no answer"
	case errors.Is(err, sip.ErrTransactionTimeout):
		return "timeout"
	case errors.Is(err, sip.ErrTransactionTransport):
		return "transport error"
	}
	return fmt.Sprintf("error (%v)", err)
}
