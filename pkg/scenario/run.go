package scenario

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/tlib"
)

// run is one execution of a scenario: its phones, T-lib clients, calls and
// variables. It owns every goroutine it starts (incoming-call pumps, dials
// running in the background, delayed answers, T-lib event readers); close
// ends them all.
type run struct {
	s      *Scenario
	lab    *Lab
	log    *slog.Logger
	out    io.Writer
	httpc  *http.Client
	vars   *vars
	ctx    context.Context // the scenario's; outlives steps (background dials)
	cancel context.CancelFunc
	wg     sync.WaitGroup

	parties map[string]*partyRT
	clients map[string]*clientRT
	mu      sync.Mutex
	calls   map[string]*callRT
}

func newRun(ctx context.Context, s *Scenario, lab *Lab, r *Runner) *run {
	rn := &run{s: s, lab: lab, log: r.log.With("scenario", s.Name), out: r.out, httpc: r.opts.HTTPClient,
		vars: newVars(), parties: map[string]*partyRT{}, clients: map[string]*clientRT{}, calls: map[string]*callRT{}}
	rn.ctx, rn.cancel = context.WithCancel(ctx)
	rn.vars.set("scenario", map[string]string{"name": s.Name})
	labVars := map[string]string{"host": lab.Host, "tlib": lab.TLib, "sip-udp": lab.SIP.UDP, "sip-tcp": lab.SIP.TCP,
		"sip-tls": lab.SIP.TLS, "data-dir": lab.DataDir}
	if len(lab.Recorders) > 0 {
		labVars["recorder"] = lab.Recorders[0]
	}
	rn.vars.set("lab", labVars)
	return rn
}

// partyRT is a party's phone and every call it received, in arrival order.
type partyRT struct {
	spec *Party
	ph   *phone.Phone
	mu   sync.Mutex
	in   []*inLeg
	// changed is closed (and replaced) whenever a call arrives.
	changed chan struct{}
}

type inLeg struct {
	c     *phone.Call
	bound bool
}

func (rn *run) setup(ctx context.Context) error {
	var srvTLS, cliTLS *tls.Config
	for _, p := range rn.s.Parties {
		if p.Transport == "tls" && srvTLS == nil {
			var err error
			if srvTLS, cliTLS, err = rn.lab.tlsConfigs(); err != nil {
				return fmt.Errorf("TLS for SIPS phones: %w", err)
			}
		}
	}
	for _, p := range rn.s.Parties {
		cfg := phone.Config{DN: p.DN, DisplayName: p.DisplayName, Host: rn.lab.Host, Transport: p.Transport,
			SRTP: p.SRTP, ToneHz: p.ToneHz, RecordAudio: true, Username: p.Username, Password: p.Password,
			UserAgent: "arlab-scenario"}
		if rn.s.Lab.Mode == ModeLab {
			addr := rn.lab.sipAddr(p.Transport)
			if addr == "" {
				return fmt.Errorf("party %s: the lab has no SIP %s address", p.Name, p.Transport)
			}
			cfg.Proxy = addr
			if p.Register {
				cfg.Registrar = "sip:" + addr
			}
		}
		var opts []phone.Option
		opts = append(opts, phone.WithLogger(rn.log.With("party", p.Name)))
		if p.Transport == "tls" {
			opts = append(opts, phone.WithTLS(srvTLS, cliTLS))
		}
		ph, err := phone.New(cfg, opts...)
		if err != nil {
			return fmt.Errorf("party %s: %w", p.Name, err)
		}
		if err := ph.Start(ctx); err != nil {
			return fmt.Errorf("party %s (%s): %w", p.Name, p.DN, err)
		}
		pr := &partyRT{spec: p, ph: ph, changed: make(chan struct{})}
		rn.parties[p.Name] = pr
		rn.vars.set(p.Name, map[string]string{"value": p.DN, "DN": p.DN, "Name": p.Name,
			"Addr": ph.Addr().String(), "Tone": strconv.FormatFloat(ph.ToneHz(), 'f', -1, 64)})
		rn.wg.Add(1)
		go rn.pump(pr)
	}
	for _, c := range rn.s.Clients {
		cr, err := rn.openClient(ctx, c)
		if err != nil {
			return fmt.Errorf("T-lib client %s: %w", c.Name, err)
		}
		rn.clients[c.Name] = cr
	}
	return nil
}

// pump takes the party's incoming calls: it keeps each for the steps that
// will act on it, and answers it when the party auto-answers. Auto-answer
// is done here rather than by the phone so every call is seen and bound.
func (rn *run) pump(pr *partyRT) {
	defer rn.wg.Done()
	for {
		select {
		case <-rn.ctx.Done():
			return
		case c := <-pr.ph.Incoming():
			pr.mu.Lock()
			pr.in = append(pr.in, &inLeg{c: c})
			close(pr.changed)
			pr.changed = make(chan struct{})
			pr.mu.Unlock()
			if pr.spec.AutoAnswer {
				rn.answerLater(c, pr.spec.AnswerDelay)
			}
		}
	}
}

func (rn *run) answerLater(c *phone.Call, delay time.Duration) {
	if delay <= 0 {
		if err := c.Answer(); err != nil {
			rn.log.Warn("auto-answer failed", "err", err)
		}
		return
	}
	rn.wg.Add(1)
	go func() {
		defer rn.wg.Done()
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			if err := c.Answer(); err != nil {
				rn.log.Warn("auto-answer failed", "err", err)
			}
		case <-c.Done():
		case <-rn.ctx.Done():
		}
	}()
}

// bindIncoming waits for the oldest incoming call of the party that no call
// has claimed yet and whose caller is from (any caller when from is "").
func (pr *partyRT) bindIncoming(ctx context.Context, from string) (*phone.Call, error) {
	for {
		pr.mu.Lock()
		for _, l := range pr.in {
			if !l.bound && (from == "" || l.c.From() == from) {
				l.bound = true
				pr.mu.Unlock()
				return l.c, nil
			}
		}
		ch := pr.changed
		seen := len(pr.in)
		pr.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			who := "any caller"
			if from != "" {
				who = "caller " + from
			}
			return nil, fmt.Errorf("party %s received no call from %s (%d calls received in all): %w",
				pr.spec.Name, who, seen, ctx.Err())
		}
	}
}

func (rn *run) close() error {
	rn.cancel()
	var errs []error
	for _, c := range rn.clients {
		if err := c.c.Close(); err != nil && !errors.Is(err, tlib.ErrClientClosed) {
			errs = append(errs, fmt.Errorf("T-lib client %s: %w", c.spec.Name, err))
		}
	}
	for _, p := range rn.parties {
		if err := p.ph.Close(); err != nil && !errors.Is(err, phone.ErrClosed) {
			rn.log.Debug("phone close", "party", p.spec.Name, "err", err)
		}
	}
	rn.wg.Wait()
	return errors.Join(errs...)
}

// toneHz resolves a tone reference.
func (rn *run) toneHz(t toneRef) float64 {
	switch {
	case t.party != "":
		if p := rn.parties[t.party]; p != nil {
			return p.ph.ToneHz()
		}
	case t.dn != "":
		return audio.ToneForDN(t.dn)
	}
	return t.hz
}

// candidates are the tones the analyser chooses among: every party's, the
// ones a check names, and the whole lab tone grid, so that a wrong tone is
// reported by its frequency rather than as unknown audio.
func (rn *run) candidates(extra ...float64) []float64 {
	seen := map[float64]bool{}
	var out []float64
	add := func(f float64) {
		if f > 0 && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, p := range rn.s.Parties {
		add(rn.parties[p.Name].ph.ToneHz())
	}
	for _, f := range extra {
		add(f)
	}
	for i := 0; i < toneGrid; i++ {
		add(audio.ToneForIndex(i))
	}
	return out
}

// toneGrid is the number of tones audio.ToneForIndex spreads over 400-3000 Hz.
const toneGrid = 27

func (rn *run) call(id string) (*callRT, error) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	c := rn.calls[id]
	if c == nil {
		return nil, fmt.Errorf("call %s has not been made", id)
	}
	return c, nil
}

func (rn *run) addCall(c *callRT) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.calls[c.id] = c
}
