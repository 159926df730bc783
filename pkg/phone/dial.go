package phone

import (
	"context"
	"errors"
	"fmt"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/arlab/arlab/pkg/sdp"
)

// DialOption adjusts one outgoing INVITE.
type DialOption func(*dialOptions)

type dialOptions struct {
	headers []sip.Header
}

// WithHeader adds a header to the INVITE.
func WithHeader(name, value string) DialOption {
	return func(o *dialOptions) { o.headers = append(o.headers, sip.NewHeader(name, value)) }
}

// Dial calls target (a bare number goes through the proxy or registrar) and
// returns when the call is answered and acknowledged. Cancelling ctx before
// the answer sends CANCEL. A refusal returns *CallError.
func (p *Phone) Dial(ctx context.Context, target string, opts ...DialOption) (*Call, error) {
	if p.client == nil {
		return nil, ErrNotStarted
	}
	var o dialOptions
	for _, fn := range opts {
		fn(&o)
	}
	dest, err := p.destination(target)
	if err != nil {
		return nil, err
	}
	dest = p.withTransport(dest)

	c := newCall(p, true)
	c.to = dest.User
	c.from = p.cfg.DN
	c.media, err = newCallMedia(p, c)
	if err != nil {
		c.cancel()
		return nil, err
	}
	offer, err := c.media.initialOffer()
	if err != nil {
		c.media.stop()
		c.cancel()
		return nil, err
	}

	req := p.newRequest(sip.INVITE, dest)
	from := &sip.FromHeader{DisplayName: p.cfg.DisplayName, Address: p.aor(), Params: sip.NewParams()}
	localTag := sip.GenerateTagN(16)
	from.Params.Add("tag", localTag)
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{User: dest.User, Host: dest.Host, Port: dest.Port}, Params: sip.NewParams()})
	c.callID = sip.GenerateTagN(20) + "@" + p.cfg.Host
	cid := sip.CallIDHeader(c.callID)
	req.AppendHeader(&cid)
	ct := p.contactHeader()
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, NOTIFY"))
	for _, h := range o.headers {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offer.Marshal())

	c.key = callKey(c.callID, localTag)
	c.log = p.log.With("call_id", c.callID, "dir", "out", "to", target)
	if err := p.addCall(c); err != nil {
		c.media.stop()
		c.cancel()
		return nil, err
	}

	dialCtx, cancelDial := context.WithCancel(ctx)
	defer cancelDial()
	c.mu.Lock()
	c.cancelDial = cancelDial
	c.mu.Unlock()

	dua := sipgo.DialogUA{Client: p.client, ContactHDR: p.contactHeader()}
	d, err := dua.WriteInvite(dialCtx, req)
	if err != nil {
		c.end("invite failed", err)
		return nil, fmt.Errorf("phone %s: INVITE %s: %w", p.cfg.DN, target, err)
	}
	c.uac = d
	err = d.WaitAnswer(dialCtx, sipgo.AnswerOptions{
		Username: p.cfg.Username,
		Password: p.cfg.Password,
		OnResponse: func(res *sip.Response) error {
			if res.StatusCode == 180 || res.StatusCode == 183 {
				c.setState(StateRinging)
			}
			return nil
		},
	})
	if err != nil {
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			ce := &CallError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
			c.end("refused", ce)
			return nil, ce
		case dialCtx.Err() != nil:
			c.end("cancelled", dialCtx.Err())
			if ctx.Err() != nil {
				return nil, fmt.Errorf("phone %s: call to %s cancelled: %w", p.cfg.DN, target, ctx.Err())
			}
			return nil, fmt.Errorf("phone %s: call to %s: %w", p.cfg.DN, target, ErrCallEnded)
		default:
			c.end("invite failed", err)
			return nil, fmt.Errorf("phone %s: INVITE %s: %w", p.cfg.DN, target, err)
		}
	}

	res := d.InviteResponse
	c.mu.Lock()
	c.cancelDial = nil
	if ct := res.Contact(); ct != nil {
		c.remoteURI = ct.Address
	} else {
		c.remoteURI = dest
	}
	for _, name := range []string{"X-Genesys-CallUUID", "Server", "User-Agent"} {
		if h := res.GetHeader(name); h != nil {
			c.headers[name] = h.Value()
		}
	}
	c.mu.Unlock()

	// Acknowledge before anything can fail, so the far end's dialog is
	// confirmed; an unusable answer is then ended with BYE.
	ack := p.newRequest(sip.ACK, c.remoteTarget())
	if err := d.WriteAck(ctx, ack); err != nil {
		c.end("ack failed", err)
		return nil, fmt.Errorf("phone %s: ACK: %w", p.cfg.DN, err)
	}
	c.markConfirmed()
	answer, err := sdp.Parse(res.Body())
	if err == nil {
		err = c.media.applyAnswer(answer)
	}
	if err != nil {
		c.setState(StateEstablished)
		_ = c.Hangup(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("phone %s: answer SDP from %s: %w", p.cfg.DN, target, err)
	}
	c.setState(StateEstablished)
	c.log.Debug("call established")
	return c, nil
}
