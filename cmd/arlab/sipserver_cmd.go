package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/agent"
	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/sipserver"
)

func sipServerCommand() *cli.Command {
	return &cli.Command{
		Name:  "sipserver",
		Usage: "run the SIP Server: B2BUA for calls, DN registrar, routing points, T-lib server",
		Action: func(c *cli.Context) error {
			return runConfigured(c, "sipserver", func(cfg *config.Config, srv, cli *tls.Config) (string, service, func() map[string]netip.AddrPort, error) {
				s, err := sipserver.New(cfg.SIPServer, sipserver.WithLogger(logger("sipserver")), sipserver.WithTLS(srv, cli))
				if err != nil {
					return "", nil, nil, err
				}
				return "sipserver", s, func() map[string]netip.AddrPort {
					m := sipAddrs(s.SIPAddr)
					m["tlib"], m["http"] = s.TLibAddr(), s.HTTPAddr()
					return m
				}, nil
			})
		},
	}
}

func agentCommand() *cli.Command {
	tlibFlags := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "tlib", Usage: "T-lib server `ADDR` (default: the lab config's SIP Server)"},
			&cli.StringFlag{Name: "app", Usage: "ApplicationName for RequestOpen"},
			&cli.StringFlag{Name: "password", Usage: "T-lib password, when the server wants one"},
		}
	}
	agentCfg := func(c *cli.Context) (agent.Config, error) {
		a := agent.Config{Addr: c.String("tlib"), AppName: c.String("app"), Password: c.String("password"), DN: c.String("dn")}
		cfg, err := loadLabConfig(c)
		if err != nil {
			return a, err
		}
		if a.Addr == "" {
			a.Addr = cfg.SIPServer.TLib
		}
		if a.Password == "" {
			a.Password = cfg.SIPServer.TLibPassword
		}
		ids := cfg.SIPServer.PrivateMsgIDs
		a.RecordIDs = agent.RecordIDs{Start: ids.RecordStart, Stop: ids.RecordStop, Pause: ids.RecordPause, Resume: ids.RecordResume}
		return a, nil
	}
	return &cli.Command{
		Name:  "agent",
		Usage: "a T-lib agent desktop for a DN, a non-interactive release, or a rule-based router",
		Description: "With --dn, an interactive desktop: events as they arrive, commands typed at the prompt (type help).\n" +
			"With --router rules.yaml, a router answering EventRouteRequest on the rules' routing points.",
		Flags: append(tlibFlags(),
			&cli.StringFlag{Name: "dn", Usage: "the desktop's `DN`"},
			&cli.StringFlag{Name: "router", Usage: "run a rule-based router from `FILE`"},
		),
		Action: func(c *cli.Context) error {
			a, err := agentCfg(c)
			if err != nil {
				return err
			}
			switch {
			case c.String("router") != "":
				rules, err := agent.LoadRules(c.String("router"))
				if err != nil {
					return &exitError{code: 2, err: err}
				}
				return agent.RunRouter(c.Context, a, rules)
			case a.DN != "":
				return agent.RunDesktop(c.Context, a, os.Stdin, c.App.Writer)
			}
			return &exitError{code: 2, err: errors.New("agent: give --dn for a desktop or --router FILE for a router (see --help)")}
		},
		Subcommands: []*cli.Command{
			{
				Name:      "record",
				Usage:     "start, stop, pause or resume recording of a call (GSIP_RECORD_* private services) and exit",
				ArgsUsage: "start|stop|pause|resume [key=value...]",
				Description: "Extensions of a start: record=source|destination, id=<recording id>, dest=<sip: or file:>, dest2=...\n" +
					"The DN need not be on the call (a supervisor may record an agent's call).",
				Flags: append(tlibFlags(),
					&cli.StringFlag{Name: "dn", Required: true, Usage: "the DN the request is made as (ThisDN)"},
					&cli.StringFlag{Name: "conn", Required: true, Usage: "the call's ConnID"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return &exitError{code: 2, err: errors.New("agent record: name start, stop, pause or resume")}
					}
					ext := map[string]string{}
					for _, kv := range c.Args().Tail() {
						k, v, ok := strings.Cut(kv, "=")
						if !ok || k == "" {
							return &exitError{code: 2, err: fmt.Errorf("agent record: %q is not key=value", kv)}
						}
						ext[k] = v
					}
					a, err := agentCfg(c)
					if err != nil {
						return err
					}
					if err := agent.Record(c.Context, a, c.Args().First(), c.String("conn"), ext); err != nil {
						if errors.Is(err, agent.ErrBadAction) {
							return &exitError{code: 2, err: err}
						}
						return err
					}
					fmt.Fprintf(c.App.Writer, "record %s accepted (EventACK)\n", c.Args().First())
					return nil
				},
			},
			{
				Name:      "monitor",
				Usage:     "make a supervisor DN monitor an agent's next call (or all its calls), or cancel it",
				ArgsUsage: "AGENT-DN",
				Flags: append(tlibFlags(),
					&cli.StringFlag{Name: "dn", Required: true, Usage: "the supervisor's DN"},
					&cli.StringFlag{Name: "mode", Value: "mute", Usage: "mute or coach"},
					&cli.StringFlag{Name: "scope", Value: "call", Usage: "call (the next call) or agent (every call until cancelled)"},
					&cli.BoolFlag{Name: "cancel", Usage: "cancel the monitoring instead"},
				),
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return &exitError{code: 2, err: errors.New("agent monitor: name the agent's DN")}
					}
					a, err := agentCfg(c)
					if err != nil {
						return err
					}
					if c.Bool("cancel") {
						return agent.CancelMonitor(c.Context, a, c.Args().First())
					}
					if err := agent.Monitor(c.Context, a, c.Args().First(), c.String("mode"), c.String("scope")); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%s monitors %s (%s, %s)\n", a.DN, c.Args().First(), c.String("mode"), c.String("scope"))
					return nil
				},
			},
			{
				Name:  "release",
				Usage: "release a call on a DN and exit (for scripts)",
				Flags: append(tlibFlags(),
					&cli.StringFlag{Name: "dn", Required: true, Usage: "the DN whose call is released"},
					&cli.StringFlag{Name: "conn", Required: true, Usage: "the call's ConnID"},
				),
				Action: func(c *cli.Context) error {
					a, err := agentCfg(c)
					if err != nil {
						return err
					}
					return agent.Release(c.Context, a, c.String("conn"))
				},
			},
		},
	}
}
