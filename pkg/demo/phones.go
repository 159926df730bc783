package demo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/arlab/arlab/pkg/audio"
	"github.com/arlab/arlab/pkg/phone"
	"github.com/arlab/arlab/pkg/sipx"
)

// PhoneFlows are the flows that need nothing but two phones: they show the
// media toolkit every recording flow stands on.
func PhoneFlows() []Flow {
	return []Flow{
		{
			Name:  "phone-call",
			Title: "Customer calls agent directly over UDP: tones both ways, hold, resume",
			Story: `A customer phone (+15551230001) calls agent phone 7001. Each sends its own tone,
so every second of audio says who it came from. The customer holds the agent for 1 s
(re-INVITE a=sendonly), then resumes. Both sides check what they heard.`,
			Run: func(ctx context.Context, r *Reporter) error { return phoneCall(ctx, r, "udp", false) },
		},
		{
			Name:  "phone-call-sips",
			Title: "The same call over SIPS (TLS) with SRTP",
			Story: `Same flow with SIP over TLS and SDES-keyed SRTP (AES_CM_128_HMAC_SHA1_80).
What each side hears must be the same as in the clear.`,
			Run: func(ctx context.Context, r *Reporter) error { return phoneCall(ctx, r, "tls", true) },
		},
	}
}

func phoneCall(ctx context.Context, r *Reporter, transport string, srtp bool) error {
	const customer, agent = "+15551230001", "7001"
	var opts []phone.Option
	if transport == "tls" {
		srv, cli, err := sipx.SelfSigned()
		if err != nil {
			return err
		}
		opts = append(opts, phone.WithTLS(srv, cli))
	}
	a, err := startPhone(ctx, phone.Config{DN: customer, Transport: transport, SRTP: srtp, RecordAudio: true}, opts...)
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := startPhone(ctx, phone.Config{DN: agent, Transport: transport, SRTP: srtp, RecordAudio: true, AutoAnswer: true}, opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	r.Step("phones up: customer %s on %s, agent %s on %s (%s%s)", customer, a.Addr(), agent, b.Addr(), transport, map[bool]string{true: "+SRTP"}[srtp])

	dest := fmt.Sprintf("sip:%s@%s", agent, b.Addr())
	if transport != "udp" {
		dest += ";transport=" + transport
	}
	out, err := a.Dial(ctx, dest)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer out.Hangup(context.WithoutCancel(ctx))
	r.Step("call %s answered; tones flowing (customer %.0f Hz, agent %.0f Hz)", out.ID(), a.ToneHz(), b.ToneHz())
	if err := wait(ctx, 2*time.Second); err != nil {
		return err
	}
	if err := out.Hold(ctx); err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	r.Step("customer put the agent on hold")
	if err := wait(ctx, time.Second); err != nil {
		return err
	}
	if err := out.Resume(ctx); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	r.Step("resumed")
	if err := wait(ctx, 2*time.Second); err != nil {
		return err
	}
	var in *phone.Call
	if calls := b.Calls(); len(calls) == 1 {
		in = calls[0]
	}
	if err := out.Hangup(ctx); err != nil {
		return fmt.Errorf("hang up: %w", err)
	}
	r.Step("customer hung up")
	if in == nil {
		return errors.New("the agent phone has no call")
	}
	if err := in.WaitState(ctx, phone.StateEnded); err != nil {
		return err
	}
	cands := []float64{a.ToneHz(), b.ToneHz()}
	agentHeard, err := Verify(in.Media().Received(), cands, a.ToneHz())
	if err != nil {
		return fmt.Errorf("agent's audio: %w", err)
	}
	customerHeard, err := Verify(out.Media().Received(), cands, b.ToneHz())
	if err != nil {
		return fmt.Errorf("customer's audio: %w", err)
	}
	if agentHeard.Silence > 100*time.Millisecond {
		return fmt.Errorf("agent heard %v of silence; the customer never stopped sending", agentHeard.Silence)
	}
	if customerHeard.Silence < 700*time.Millisecond || customerHeard.Silence > 1300*time.Millisecond {
		return fmt.Errorf("customer heard %v of silence, want about 1 s of hold", customerHeard.Silence)
	}
	for _, c := range []*phone.Call{out, in} {
		if st := c.Media().RecvStats(); st.Lost != 0 {
			return fmt.Errorf("%d packets lost", st.Lost)
		}
	}
	r.Step("agent heard the customer's tone for %v; customer heard the agent's for %v with %v of hold silence; 0 packets lost",
		agentHeard.Tone.Round(10*time.Millisecond), customerHeard.Tone.Round(10*time.Millisecond), customerHeard.Silence.Round(10*time.Millisecond))
	r.Artifact(fmt.Sprintf("call %s", out.ID()))
	return nil
}

func startPhone(ctx context.Context, cfg phone.Config, opts ...phone.Option) (*phone.Phone, error) {
	p, err := phone.New(cfg, opts...)
	if err != nil {
		return nil, err
	}
	if err := p.Start(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

// wait lets a flow's audio run for d, or returns early when ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Heard sums what a stretch of audio contained.
type Heard struct {
	Tone, Silence, Other time.Duration
}

// Verify classifies received audio against the candidate tones and fails if
// the wanted tone is missing or anything else was heard for more than 60 ms.
func Verify(samples []int16, candidates []float64, want float64) (Heard, error) {
	var h Heard
	if len(samples) == 0 {
		return h, errors.New("no audio received")
	}
	for _, s := range audio.Segments(samples, candidates) {
		d := s.End - s.Start
		switch {
		case s.Silent:
			h.Silence += d
		case s.Freq == want:
			h.Tone += d
		default:
			h.Other += d
		}
	}
	if h.Tone < time.Second {
		return h, fmt.Errorf("the %.0f Hz tone was heard for only %v", want, h.Tone)
	}
	if h.Other > 60*time.Millisecond {
		return h, fmt.Errorf("%v of audio that is not the %.0f Hz tone", h.Other, want)
	}
	return h, nil
}
