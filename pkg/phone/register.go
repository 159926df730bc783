package phone

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// RegisterError is a REGISTER that the registrar refused.
type RegisterError struct {
	Code   int
	Reason string
}

func (e *RegisterError) Error() string {
	return fmt.Sprintf("register refused: %d %s", e.Code, e.Reason)
}

// Register sends one REGISTER (answering a digest challenge if credentials
// are set) and returns when the registrar accepted it.
func (p *Phone) Register(ctx context.Context) error {
	return p.register(ctx, p.cfg.Expires)
}

func (p *Phone) unregister(ctx context.Context) error {
	return p.register(ctx, 0)
}

func (p *Phone) isRegistered() bool {
	p.regMu.Lock()
	defer p.regMu.Unlock()
	return p.registered
}

func (p *Phone) register(ctx context.Context, expires time.Duration) error {
	if p.client == nil {
		return ErrNotStarted
	}
	reg, err := parseTarget(p.cfg.Registrar)
	if err != nil {
		return fmt.Errorf("phone: registrar: %w", err)
	}
	reg.User = ""
	reg = p.withTransport(reg)

	p.regMu.Lock()
	p.regCSeq++
	seq := p.regCSeq
	p.regMu.Unlock()

	req := p.newRequest(sip.REGISTER, reg)
	aor := p.aor()
	from := &sip.FromHeader{DisplayName: p.cfg.DisplayName, Address: aor, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(10))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	callID := sip.CallIDHeader("reg-" + p.cfg.DN + "-" + p.Addr().String())
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: sip.REGISTER})
	ct := p.contactHeader()
	req.AppendHeader(&ct)
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(int(expires.Seconds()))))
	req.SetBody(nil) // Content-Length: 0, required on stream transports

	res, err := p.client.Do(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return fmt.Errorf("phone %s: register: %w", p.cfg.DN, err)
	}
	if (res.StatusCode == 401 || res.StatusCode == 407) && p.cfg.Password != "" {
		res, err = p.client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.cfg.Username, Password: p.cfg.Password})
		if err != nil {
			return fmt.Errorf("phone %s: register: %w", p.cfg.DN, err)
		}
	}
	if !res.IsSuccess() {
		return &RegisterError{Code: res.StatusCode, Reason: res.Reason}
	}
	p.regMu.Lock()
	p.registered = expires > 0
	p.regMu.Unlock()
	p.log.Debug("registered", "registrar", reg.String(), "expires", expires)
	return nil
}

// refreshLoop re-registers at half the lifetime until the phone closes.
func (p *Phone) refreshLoop() {
	defer p.wg.Done()
	interval := p.cfg.Expires / 2
	if interval < time.Second {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
			if err := p.Register(ctx); err != nil {
				p.log.Warn("registration refresh failed", "error", err)
			}
			cancel()
		}
	}
}
