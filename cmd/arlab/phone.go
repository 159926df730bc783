package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/phone"
)

func phoneCommand() *cli.Command {
	return &cli.Command{
		Name:  "phone",
		Usage: "run a scriptable SIP phone: register a DN, answer calls, or place one",
		Description: "Without --call the phone waits for calls and answers them (unless --no-answer) until Ctrl-C.\n" +
			"With --call it places one call, keeps it up for --duration, hangs up and prints what it heard.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dn", Usage: "the phone's number", Required: true},
			&cli.StringFlag{Name: "register", Usage: "registrar `URI` (e.g. sip:127.0.0.1:5060); calls to bare numbers go there"},
			&cli.StringFlag{Name: "proxy", Usage: "send calls to bare numbers to `HOST:PORT` instead of the registrar"},
			&cli.StringFlag{Name: "transport", Value: "udp", Usage: "udp, tcp or tls"},
			&cli.StringFlag{Name: "listen", Usage: "SIP listen `ADDR` (default 127.0.0.1:0)"},
			&cli.StringFlag{Name: "host", Value: "127.0.0.1", Usage: "IP to bind and advertise"},
			&cli.BoolFlag{Name: "srtp", Usage: "offer and accept SRTP (SDES)"},
			&cli.StringFlag{Name: "password", Usage: "digest password for the registrar"},
			&cli.BoolFlag{Name: "no-answer", Usage: "do not answer incoming calls (they ring until the caller gives up)"},
			&cli.DurationFlag{Name: "answer-delay", Value: 500 * time.Millisecond, Usage: "ringing time before answering"},
			&cli.StringFlag{Name: "call", Usage: "place a call to `TARGET` (a number or a SIP URI) and exit when it ends"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "how long a --call stays up"},
			&cli.StringFlag{Name: "dtmf", Usage: "digits to send 1 s into a --call"},
		},
		Action: func(c *cli.Context) error {
			p, err := phone.New(phone.Config{
				DN: c.String("dn"), Registrar: c.String("register"), Proxy: c.String("proxy"),
				Transport: c.String("transport"), Listen: c.String("listen"), Host: c.String("host"),
				SRTP: c.Bool("srtp"), Password: c.String("password"), AutoAnswer: !c.Bool("no-answer"),
				AnswerDelay: c.Duration("answer-delay"), RecordAudio: c.String("call") != "",
			})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx := c.Context
			startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = p.Start(startCtx)
			cancel()
			if err != nil {
				return err
			}
			defer p.Close()
			out := c.App.Writer
			fmt.Fprintf(out, "phone %s listening on %s/%s, tone %.0f Hz\n", c.String("dn"), p.Addr(), c.String("transport"), p.ToneHz())
			if t := c.String("call"); t != "" {
				return placeCall(ctx, out, p, t, c.Duration("duration"), c.String("dtmf"))
			}
			return serveCalls(ctx, out, p)
		},
	}
}

func placeCall(ctx context.Context, out io.Writer, p *phone.Phone, target string, d time.Duration, dtmf string) error {
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	call, err := p.Dial(dialCtx, target)
	cancel()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "call %s to %s answered\n", call.ID(), target)
	timer := time.NewTimer(d)
	defer timer.Stop()
	if dtmf != "" {
		go func() {
			select {
			case <-time.After(time.Second):
				if err := call.SendDTMF(dtmf, 0); err != nil {
					fmt.Fprintf(out, "dtmf: %v\n", err)
				}
			case <-call.Done():
			}
		}()
	}
	select {
	case <-timer.C:
		if err := call.Hangup(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		fmt.Fprintln(out, "hung up")
	case <-call.Done():
		fmt.Fprintf(out, "call ended: %s\n", call.EndCause())
	case <-ctx.Done():
		_ = call.Hangup(context.WithoutCancel(ctx))
	}
	st := call.Media().RecvStats()
	sent, _ := call.Media().Sent()
	fmt.Fprintf(out, "rtp: sent %d packets, received %d, lost %d, duplicates %d, jitter %.2f ms\n",
		sent, st.Packets, st.Lost, st.Duplicates, st.Jitter)
	if digits := call.Media().DTMF(); digits != "" {
		fmt.Fprintf(out, "dtmf received: %s\n", digits)
	}
	return nil
}

func serveCalls(ctx context.Context, out io.Writer, p *phone.Phone) error {
	seen := map[string]bool{}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Fprintln(out, "stopping")
			return nil
		case call := <-p.Incoming():
			fmt.Fprintf(out, "incoming call %s from %s (not answering)\n", call.ID(), call.From())
		case <-tick.C:
			now := map[string]bool{}
			for _, call := range p.Calls() {
				now[call.ID()] = true
				if !seen[call.ID()] && call.State() == phone.StateEstablished {
					seen[call.ID()] = true
					fmt.Fprintf(out, "call %s from %s established\n", call.ID(), call.From())
				}
			}
			for id := range seen {
				if !now[id] {
					delete(seen, id)
					fmt.Fprintf(out, "call %s ended\n", id)
				}
			}
		}
	}
}
