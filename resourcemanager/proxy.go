package resourcemanager

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sipx"
)

// allowHeader lists what the RM proxies (everything but REGISTER).
const allowHeader = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, MESSAGE, REFER, NOTIFY, SUBSCRIBE"

func (r *RM) registerHandlers(srv *sipgo.Server) {
	srv.OnInvite(r.guard(r.onInvite))
	srv.OnAck(r.guard(r.onAck))
	srv.OnCancel(r.guard(r.onCancel))
	srv.OnOptions(r.guard(r.onOptions))
	srv.OnRegister(r.guard(r.onRegister))
	srv.OnNoRoute(r.guard(r.onRequest)) // BYE, INFO, UPDATE, PRACK, MESSAGE, REFER, NOTIFY, SUBSCRIBE…
}

// guard admits a handler while the RM runs (503 while it stops), answers its
// error through sipx.Wrap, and turns a panic into a 500 instead of a crash.
func (r *RM) guard(h sipx.HandlerFunc) sipgo.RequestHandler {
	wrapped := sipx.Wrap(r.log, h)
	return func(req *sip.Request, tx sip.ServerTransaction) {
		<-r.ready
		if !r.enter() {
			if !req.IsAck() {
				_ = tx.Respond(sipx.ErrorResponse(req, statusError(503, "resource manager is stopping")))
			}
			closeLateConn(tx)
			return
		}
		defer r.leave()
		defer func() {
			if p := recover(); p != nil {
				r.log.Error("handler panic", "method", string(req.Method), "call_id", sipx.CallID(req), "panic", p)
				if !req.IsAck() {
					_ = tx.Respond(sipx.ErrorResponse(req, statusError(500, "internal error")))
				}
			}
		}()
		r.stats.requests.Add(1)
		wrapped(req, tx)
	}
}

func (r *RM) onInvite(req *sip.Request, tx sip.ServerTransaction) error {
	canceled := make(chan struct{})
	var once sync.Once
	if !tx.OnCancel(func(*sip.Request) { once.Do(func() { close(canceled) }) }) {
		return nil // cancelled or ended before we got here; sipgo answered it
	}
	in, err := r.prepareInbound(req)
	if err != nil {
		r.stats.rejected.Add(1)
		return err
	}
	// A stateful proxy answers 100 at once so the caller stops retransmitting.
	if err := tx.Respond(sip.NewResponseFromRequest(req, 100, "Trying", nil)); err != nil {
		return nil
	}
	if in.inDialog() || in.req.Route() != nil {
		r.stats.inDialog.Add(1)
		h, err := r.nextHop(in)
		if err != nil {
			r.stats.rejected.Add(1)
			return err
		}
		return r.forward(in, tx, h, canceled)
	}
	t := parseTarget(in.req)
	g, err := resolve(r.groups, t)
	if err != nil {
		r.stats.rejected.Add(1)
		return statusError(404, err.Error())
	}
	r.stats.invites.Add(1)
	return r.place(in, tx, g, t, canceled)
}

// tryKind is how one try of an INVITE on one member ended.
type tryKind int

const (
	trySuccess  tryKind = iota // 2xx relayed upstream
	tryFinal                   // a failure relayed upstream as is (no failover)
	tryFailover                // failed: try the next member
	tryCanceled                // the caller cancelled
	tryAborted                 // the RM is stopping
)

type tryResult struct {
	kind   tryKind
	res    *sip.Response // the 2xx or final response
	reason string        // for the Warning: "timeout", "503 Service Unavailable"
	dead   bool          // no answer at all: counts against the member's health
	busy   time.Duration // the member said it is busy (480/486/503) for this long
}

// place puts a new session on a member of g: the plan's members are tried one
// after the other until one answers 2xx, a failure must not fail over, the
// caller cancels, or failover-timeout runs out.
func (r *RM) place(in *inbound, tx sip.ServerTransaction, g *group, t requestTarget, canceled <-chan struct{}) error {
	key := in.callID
	if g.hashKey == HashCallUUID && t.callUUID != "" {
		key = t.callUUID
	}
	confID := ""
	if g.kind == KindMediaServer {
		confID = t.confID
	}
	now := time.Now()
	var buf [16]*member
	plan, pinned := g.plan(now, key, confID, buf[:0])
	if len(plan) == 0 {
		g.reject()
		r.stats.rejected.Add(1)
		return r.unavailable(g, "no member available ("+g.unavailable(now)+")")
	}
	deadline := now.Add(r.cfg.FailoverTimeout)
	var tried []string
	for i, m := range plan {
		select {
		case <-canceled:
			return nil
		default:
		}
		left := time.Until(deadline)
		if left <= 0 {
			var rest []string
			for _, n := range plan[i:] {
				rest = append(rest, n.name)
			}
			tried = append(tried, strings.Join(rest, ", ")+" not tried (failover-timeout)")
			break
		}
		if !g.acquire(m, confID, pinned && i == 0, time.Now()) {
			g.mu.Lock()
			tried = append(tried, m.name+" "+m.unavailableReason(time.Now()))
			g.mu.Unlock()
			continue
		}
		res := r.try(in, tx, g, m, confID, canceled, min(r.cfg.InviteTimeout, left))
		switch res.kind {
		case trySuccess:
			return nil
		case tryFinal, tryCanceled:
			g.release(m, confID)
			return nil
		case tryAborted:
			g.release(m, confID)
			return statusError(503, "resource manager is stopping")
		}
		g.release(m, confID)
		r.memberFailed(g, m, res)
		tried = append(tried, m.name+" "+res.reason)
		r.log.Info("failing over", "group", g.name, "member", m.name, "reason", res.reason, "call_id", in.callID)
	}
	g.reject()
	r.stats.rejected.Add(1)
	return r.unavailable(g, strings.Join(tried, "; "))
}

// unavailable is the 503 the sender gets when no member took the session.
func (r *RM) unavailable(g *group, detail string) error {
	return &sipx.StatusError{
		Code:       503,
		Reason:     sipx.DefaultReason(503),
		Warning:    "group " + g.name + ": " + detail,
		RetryAfter: r.cfg.Health.Interval,
		Err:        fmt.Errorf("group %s: %s", g.name, detail),
	}
}

// try forwards the INVITE to one member and waits for the outcome. It relays
// provisional responses, and a 2xx or a final failure that must not fail over.
func (r *RM) try(in *inbound, tx sip.ServerTransaction, g *group, m *member, confID string, canceled <-chan struct{}, timeout time.Duration) tryResult {
	fwd := in.req.Clone()
	fwd.Recipient = retarget(in.req.Recipient, m)
	r.prepareOut(fwd, hop{dest: m.addr, transport: m.transport})
	r.recordRoute(fwd, in.transport, m.transport)
	ctx, cancel := context.WithTimeout(r.ctx, timeout)
	defer cancel()
	clTx, err := r.cli.TransactionRequest(ctx, fwd, noBuild)
	if err != nil {
		r.log.Debug("INVITE not sent", "member", m.name, "error", err)
		return tryResult{kind: tryFailover, reason: "transport error", dead: true}
	}
	// 2xx retransmissions reach the hook, not Responses(): relay them too,
	// but only once this try's 2xx went upstream.
	var relayed atomic.Bool
	clTx.OnRetransmission(func(res *sip.Response) {
		if relayed.Load() {
			r.relayResponse(tx, in, res)
		}
	})
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	provisional, ringing := false, false
	for {
		select {
		case res := <-clTx.Responses():
			if !provisional {
				g.mu.Lock()
				m.answered(time.Now())
				g.mu.Unlock()
			}
			switch {
			case res.IsProvisional():
				provisional = true
				if res.StatusCode == 100 {
					continue
				}
				r.relayResponse(tx, in, res)
				if !ringing {
					// The member is working on it; from now on RingTimeout
					// (Timer C) bounds the try, not InviteTimeout.
					ringing = true
					timer.Reset(r.cfg.RingTimeout)
				}
			case res.IsSuccess():
				select {
				case <-canceled:
					// Too late: the caller already has its 487.
					r.killStray(res)
					return tryResult{kind: tryCanceled}
				default:
				}
				// The session exists before the caller can see the 2xx, so
				// its BYE always finds it.
				r.addSession(in, g, m, confID, res)
				relayed.Store(true)
				r.relayResponse(tx, in, res)
				return tryResult{kind: trySuccess, res: res}
			default:
				code := res.StatusCode
				if g.noFailover[code] || !failsOver(code) {
					r.relayResponse(tx, in, res)
					return tryResult{kind: tryFinal, res: res}
				}
				out := tryResult{kind: tryFailover, reason: strconv.Itoa(code) + " " + res.Reason}
				if code == 480 || code == 486 || code == 503 {
					out.busy = retryAfter(res, r.cfg.Health.Interval)
				}
				return out
			}
		case <-clTx.Done():
			return tryResult{kind: tryFailover, reason: describeTxErr(clTx.Err()), dead: true}
		case <-timer.C:
			r.abandon(clTx, fwd, provisional)
			return tryResult{kind: tryFailover, reason: "timeout", dead: !provisional}
		case <-canceled:
			r.abandon(clTx, fwd, provisional)
			return tryResult{kind: tryCanceled}
		case <-r.ctx.Done():
			r.abandon(clTx, fwd, provisional)
			return tryResult{kind: tryAborted}
		}
	}
}

// failsOver lists the failures that move an INVITE to the next member:
// 408, 480, 486 and every 5xx. Other 3xx-6xx go back to the caller.
func failsOver(code int) bool {
	return code == 408 || code == 480 || code == 486 || (code >= 500 && code < 600)
}

// retryAfter reads a response's Retry-After (seconds), bounded to 5 minutes,
// or returns def.
func retryAfter(res *sip.Response, def time.Duration) time.Duration {
	if h := res.GetHeader("Retry-After"); h != nil {
		v := strings.TrimSpace(h.Value())
		if i := strings.IndexAny(v, " ;("); i >= 0 {
			v = v[:i]
		}
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return min(time.Duration(n)*time.Second, 5*time.Minute)
		}
	}
	return def
}

// memberFailed records a failed try on the member's health: no answer counts
// like a failed probe (the member turns suspect at once, down after
// down-after), a busy answer keeps it out of placement for a while.
func (r *RM) memberFailed(g *group, m *member, res tryResult) {
	now := time.Now()
	g.mu.Lock()
	m.failures++
	m.lastError = "INVITE: " + res.reason
	wentDown := false
	if res.dead {
		wentDown = m.healthFail(now, r.cfg.Health.DownAfter, m.lastError)
	}
	if res.busy > 0 {
		m.markBusy(now.Add(res.busy), m.lastError)
	}
	g.mu.Unlock()
	if wentDown {
		r.memberDown(g, m)
	}
}

// memberDown forgets the sessions and conferences of a member that went
// down: their media is gone, and they must not hold its capacity.
func (r *RM) memberDown(g *group, m *member) {
	gone := r.sessions.removeIf(func(s *session) bool { return s.m == m })
	for _, s := range gone {
		g.release(m, s.confID)
		r.stats.expired.Add(1)
	}
	g.dropConferences(m)
	r.log.Warn("member down", "group", g.name, "member", m.name, "sessions_expired", len(gone))
}

func (r *RM) addSession(in *inbound, g *group, m *member, confID string, res *sip.Response) {
	s := &session{
		callID:          in.callID,
		callerTag:       in.fromTag,
		g:               g,
		m:               m,
		confID:          confID,
		callerTransport: in.transport,
		created:         time.Now(),
	}
	if to := res.To(); to != nil {
		s.calleeTag, _ = to.Params.Get("tag")
	}
	if old := r.sessions.add(s); old != nil {
		old.g.release(old.m, old.confID)
	}
	g.mu.Lock()
	m.placed++
	g.mu.Unlock()
}

// nextHop finds where an in-dialog (or pre-routed) request goes: the next
// Route entry, else the Request-URI; when the Request-URI names the RM itself
// (a UA that ignored Record-Route), the session's member.
func (r *RM) nextHop(in *inbound) (fwdHop, error) {
	s, fromCaller := r.sessions.find(in.callID, in.fromTag, in.toTag)
	if rt := in.req.Route(); rt != nil {
		return fwdHop{hop: r.hopFor(rt.Address, s, fromCaller), s: s}, nil
	}
	if !r.isOwn(in.req.Recipient) {
		return fwdHop{hop: r.hopFor(in.req.Recipient, s, fromCaller), s: s}, nil
	}
	if s != nil && fromCaller {
		u := retarget(in.req.Recipient, s.m)
		return fwdHop{hop: hop{dest: s.m.addr, transport: s.m.transport}, ruri: &u, s: s}, nil
	}
	return fwdHop{}, statusError(481, "no dialog for this request and no route beyond the resource manager")
}

// fwdHop is a next hop for forward, with an optional new Request-URI.
type fwdHop struct {
	hop
	ruri *sip.Uri
	s    *session
}

// forward relays a request to one next hop (no failover): in-dialog requests,
// pre-routed requests and initial non-INVITE requests. A BYE ends its session
// whatever the answer.
func (r *RM) forward(in *inbound, tx sip.ServerTransaction, h fwdHop, canceled <-chan struct{}) error {
	// A BYE ends its session whatever the answer; before the answer is
	// relayed, so the caller sees the slot free when its BYE returns.
	var ended sync.Once
	endSession := func() {
		if in.req.Method == sip.BYE {
			ended.Do(func() { r.endSession(in) })
		}
	}
	defer endSession()
	fwd := in.req.Clone()
	if h.ruri != nil {
		fwd.Recipient = *h.ruri
	}
	r.prepareOut(fwd, h.hop)
	isInvite := fwd.IsInvite()
	ctx, cancel := context.WithTimeout(r.ctx, r.cfg.InviteTimeout)
	defer cancel()
	clTx, err := r.cli.TransactionRequest(ctx, fwd, noBuild)
	if err != nil {
		return statusError(503, fmt.Sprintf("%s to %s: transport error", fwd.Method, h.dest))
	}
	var relayed atomic.Bool
	if isInvite {
		clTx.OnRetransmission(func(res *sip.Response) {
			if relayed.Load() {
				r.relayResponse(tx, in, res)
			}
		})
	} else {
		defer clTx.Terminate()
	}
	// A non-INVITE transaction ends by itself on Timer F; the timer is a
	// backstop so the handler can never hang.
	limit := 64*sip.T1 + time.Second
	if isInvite {
		limit = r.cfg.InviteTimeout
	}
	timer := time.NewTimer(limit)
	defer timer.Stop()
	provisional, ringing := false, false
	for {
		select {
		case res := <-clTx.Responses():
			if res.IsProvisional() {
				provisional = true
				if res.StatusCode == 100 {
					continue
				}
				r.relayResponse(tx, in, res)
				if isInvite && !ringing {
					ringing = true
					timer.Reset(r.cfg.RingTimeout)
				}
				continue
			}
			if isInvite && res.IsSuccess() {
				relayed.Store(true)
			}
			endSession()
			r.relayResponse(tx, in, res)
			return nil
		case <-clTx.Done():
			reason := describeTxErr(clTx.Err())
			code := 503
			if reason == "timeout" {
				code = 408
			}
			return statusError(code, fmt.Sprintf("%s to %s: %s", fwd.Method, h.dest, reason))
		case <-timer.C:
			if isInvite {
				r.abandon(clTx, fwd, provisional)
			}
			return statusError(408, fmt.Sprintf("%s to %s: no answer", fwd.Method, h.dest))
		case <-canceled:
			r.abandon(clTx, fwd, provisional)
			return nil
		case <-r.ctx.Done():
			if isInvite {
				r.abandon(clTx, fwd, provisional)
			}
			return statusError(503, "resource manager is stopping")
		}
	}
}

// endSession releases the slot of the session a BYE ends.
func (r *RM) endSession(in *inbound) {
	if s := r.sessions.remove(in.callID, in.fromTag, in.toTag); s != nil {
		s.g.release(s.m, s.confID)
	}
}

// onAck forwards an ACK statelessly (an ACK to a 2xx is its own transaction
// and has no response). An ACK for a failure the RM itself sent ends here.
func (r *RM) onAck(req *sip.Request, tx sip.ServerTransaction) error {
	in, err := r.prepareInbound(req)
	if err != nil {
		r.log.Debug("ACK dropped", "call_id", sipx.CallID(req), "error", err)
		return nil
	}
	h, err := r.nextHop(in)
	if err != nil {
		return nil // hop-by-hop ACK of a final response we generated
	}
	fwd := in.req.Clone()
	if h.ruri != nil {
		fwd.Recipient = *h.ruri
	}
	r.prepareOut(fwd, h.hop)
	if err := r.cli.WriteRequest(fwd, noBuild); err != nil {
		r.log.Debug("ACK not forwarded", "call_id", in.callID, "dest", h.dest, "error", err)
	}
	return nil
}

// onCancel gets only CANCELs matching no transaction (sipgo answers the
// others and fires the INVITE's OnCancel).
func (r *RM) onCancel(req *sip.Request, tx sip.ServerTransaction) error {
	return statusError(481, "no transaction to cancel")
}

// onOptions answers OPTIONS addressed to the RM itself: 200 for the RM, and
// for a resource URI (sip:record@rm, sip:msml@rm) 200 or 503 by whether its
// group can take a session now. In-dialog or routed OPTIONS are proxied.
func (r *RM) onOptions(req *sip.Request, tx sip.ServerTransaction) error {
	in, err := r.prepareInbound(req)
	if err != nil {
		return err
	}
	if in.inDialog() || in.req.Route() != nil {
		h, err := r.nextHop(in)
		if err != nil {
			return err
		}
		return r.forward(in, tx, h, nil)
	}
	if req.Recipient.User != "" {
		g, err := resolve(r.groups, parseTarget(in.req))
		if err != nil {
			return statusError(404, err.Error())
		}
		if now := time.Now(); !g.hasAvailable(now) {
			return r.unavailable(g, "no member available ("+g.unavailable(now)+")")
		}
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/msml+xml, multipart/mixed, application/rs-metadata+xml"))
	return tx.Respond(res)
}

func (r *RM) onRegister(req *sip.Request, tx sip.ServerTransaction) error {
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowHeader))
	res.AppendHeader(sip.NewHeader("Warning", `399 arlab "the resource manager is a proxy, not a registrar"`))
	return tx.Respond(res)
}

// onRequest handles every other method: in dialog (BYE, INFO, UPDATE…) it is
// routed; out of dialog it goes to the first member its group would pick.
func (r *RM) onRequest(req *sip.Request, tx sip.ServerTransaction) error {
	in, err := r.prepareInbound(req)
	if err != nil {
		r.stats.rejected.Add(1)
		return err
	}
	if in.inDialog() || in.req.Route() != nil {
		r.stats.inDialog.Add(1)
		h, err := r.nextHop(in)
		if err != nil {
			r.stats.rejected.Add(1)
			return err
		}
		return r.forward(in, tx, h, nil)
	}
	t := parseTarget(in.req)
	g, err := resolve(r.groups, t)
	if err != nil {
		r.stats.rejected.Add(1)
		return statusError(404, err.Error())
	}
	key := in.callID
	if g.hashKey == HashCallUUID && t.callUUID != "" {
		key = t.callUUID
	}
	now := time.Now()
	var buf [16]*member
	plan, _ := g.plan(now, key, t.confID, buf[:0])
	if len(plan) == 0 {
		r.stats.rejected.Add(1)
		return r.unavailable(g, "no member available ("+g.unavailable(now)+")")
	}
	m := plan[0]
	u := retarget(in.req.Recipient, m)
	return r.forward(in, tx, fwdHop{hop: hop{dest: m.addr, transport: m.transport}, ruri: &u}, nil)
}

// closeLateConn closes the connection sipgo made for a request that reached
// the RM while it stops. sipgo dispatches each message on its own goroutine;
// one read just before the listener closed can run after the SIP stack
// cleared its connection pool, and the connection it then creates to answer
// would outlive the RM. Listener sockets are left to their owner.
func closeLateConn(tx sip.ServerTransaction) {
	st, ok := tx.(interface{ Connection() sip.Connection })
	if !ok {
		return
	}
	c := st.Connection()
	if c == nil {
		return
	}
	if u, ok := c.(*sip.UDPConnection); ok && u.Listener {
		return
	}
	_ = c.Close()
}
