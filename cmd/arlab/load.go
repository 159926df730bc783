package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/lab"
	"github.com/arlab/arlab/pkg/load"
)

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "drive many concurrent recorded calls and report latency, loss, verification and cost",
		Description: "Recorder mode (the default): arlab itself is the SIPREC client, sending --calls recording sessions\n" +
			"at --cps to the lab's Resource Manager (or --external-recorder), each with two streams for --hold,\n" +
			"then checks through the recorder API that every recording and packet arrived. Uses the lab running\n" +
			"with the config's data dir, or starts one for the run.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "calls", Value: 50, Usage: "calls in total"},
			&cli.Float64Flag{Name: "cps", Value: 10, Usage: "call setups per second (0: all at once)"},
			&cli.DurationFlag{Name: "hold", Value: 10e9, Usage: "how long each call streams RTP"},
			&cli.IntFlag{Name: "max-active", Usage: "cap on concurrent calls (0: no cap)"},
			&cli.StringFlag{Name: "external-recorder", Usage: "send the sessions to this SIPREC recorder `URI` instead of the lab's RM"},
			&cli.StringSliceFlag{Name: "recorders", Usage: "recorder API `URL`s to verify against (default: the lab config's; none with --external-recorder)"},
			&cli.IntFlag{Name: "verify-sample", Value: 5, Usage: "recordings whose audio is checked (-1: all)"},
			&cli.StringFlag{Name: "json", Usage: "also write the report as JSON to `FILE`"},
			&cli.BoolFlag{Name: "logs", Usage: "stream the logs of a lab this command starts"},
		},
		Action: func(c *cli.Context) error {
			cfg, err := loadConfig(c)
			if err != nil {
				return err
			}
			lc := load.Config{
				Calls: c.Int("calls"), CPS: c.Float64("cps"), Hold: c.Duration("hold"), MaxActive: c.Int("max-active"),
				VerifySample: c.Int("verify-sample"), Recorders: c.StringSlice("recorders"),
			}
			if ext := c.String("external-recorder"); ext != "" {
				lc.Target = ext
			} else {
				stopLab, err := ensureLab(c.Context, c, cfg, c.App.Writer, nil)
				if err != nil {
					return err
				}
				defer stopLab()
				lc.Target = "sip:record@" + cfg.ResourceManager.SIP.TCP + ";transport=tcp"
				if len(lc.Recorders) == 0 {
					for _, r := range cfg.Recorders {
						lc.Recorders = append(lc.Recorders, "http://"+r.HTTP)
						lc.Token = r.Token
					}
				}
				if err := cfg.Absolutize(); err == nil {
					if st, err := lab.ReadState(cfg.Lab.DataDir); err == nil {
						for _, s := range st.Services {
							if s.Role != "phone" {
								lc.Processes = append(lc.Processes, load.Process{Name: s.Name, PID: s.PID})
							}
						}
					}
				}
			}
			rep, err := load.Run(c.Context, lc, c.App.Writer)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			if err := rep.WriteText(c.App.Writer); err != nil {
				return err
			}
			if path := c.String("json"); path != "" {
				b, err := rep.JSON()
				if err != nil {
					return err
				}
				if err := os.WriteFile(path, b, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "report written to %s\n", path)
			}
			if rerr := rep.Err(); rerr != nil {
				return &exitError{code: 1, err: errors.Join(errors.New("load run failed its checks"), rerr)}
			}
			return nil
		},
	}
}
