package main

import (
	"crypto/tls"
	"errors"
	"net/netip"
	"os"

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
		if a.Addr == "" || a.Password == "" {
			cfg, err := loadConfig(c)
			if err != nil {
				return a, err
			}
			if a.Addr == "" {
				a.Addr = cfg.SIPServer.TLib
			}
			if a.Password == "" {
				a.Password = cfg.SIPServer.TLibPassword
			}
		}
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
