package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/demo"
	"github.com/arlab/arlab/pkg/lab"
)

// demoPrerecordGrace is the recorders' pre-recording grace in a lab the
// demo starts itself, so the "discarded" flow does not wait a minute.
const demoPrerecordGrace = 3 * time.Second

func demoFlows(env func() *demo.LabEnv) []demo.Flow {
	flows := append(demo.PhoneFlows(), demo.LabFlows(env)...)
	return append(flows, demo.MoreLabFlows(env)...)
}

func demoCommand() *cli.Command {
	var names []string
	for _, f := range demoFlows(nil) {
		names = append(names, f.Name)
	}
	return &cli.Command{
		Name:      "demo",
		Usage:     "tour every recording flow on a lab, verify each recording, and print a summary table",
		ArgsUsage: "[FLOW...]",
		Description: "Flows: " + strings.Join(names, ", ") + ".\n" +
			"Brings up a lab (as `arlab lab up` would) unless one is already running with the same config,\n" +
			"runs the flows, and exits non-zero if any fails. With no FLOW, runs them all.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 3 * time.Minute, Usage: "give up on the whole tour after this long"},
			&cli.BoolFlag{Name: "list", Usage: "list the flows and exit"},
			&cli.BoolFlag{Name: "logs", Usage: "stream the lab's logs (they go to <data>/demo-lab.log otherwise)"},
		},
		Action: func(c *cli.Context) error {
			var env *demo.LabEnv
			all := demoFlows(func() *demo.LabEnv { return env })
			if c.Bool("list") {
				for _, f := range all {
					fmt.Fprintf(c.App.Writer, "%-20s %s\n", f.Name, f.Title)
				}
				return nil
			}
			flows, err := demo.Select(all, c.Args().Slice())
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			out := c.App.Writer
			if needsLab(flows) {
				cfg, err := loadConfig(c)
				if err != nil {
					return err
				}
				stopLab, err := ensureLab(ctx, c, cfg, out, func(cfg *config.Config) {
					for i := range cfg.Recorders {
						cfg.Recorders[i].PrerecordGrace = demoPrerecordGrace
					}
				})
				if err != nil {
					return err
				}
				defer stopLab()
				env, err = demo.OpenLab(ctx, cfg)
				if err != nil {
					return err
				}
				defer env.Close()
				env.Kill = func(name string) error { return killService(cfg, name) }
			}
			_, err = demo.Run(ctx, out, flows)
			if errors.Is(err, demo.ErrFailed) {
				return &exitError{code: 1, err: err}
			}
			return err
		},
	}
}

func needsLab(flows []demo.Flow) bool {
	phone := map[string]bool{}
	for _, f := range demo.PhoneFlows() {
		phone[f.Name] = true
	}
	for _, f := range flows {
		if !phone[f.Name] {
			return true
		}
	}
	return false
}

// ensureLab uses the lab already running with cfg's data dir, or starts one
// (after tune adjusts its config) and returns how to stop it.
func ensureLab(ctx context.Context, c *cli.Context, cfg *config.Config, out io.Writer, tune func(*config.Config)) (stop func(), err error) {
	if err := cfg.Absolutize(); err != nil {
		return nil, err
	}
	if _, statuses, err := lab.CheckStatus(ctx, cfg.Lab.DataDir); err == nil && allHealthy(statuses) {
		fmt.Fprintf(out, "using the lab running from %s\n", cfg.Lab.DataDir)
		if running, ok := runningLabConfig(cfg); ok {
			*cfg = *running
		}
		return func() {}, nil
	}
	if tune != nil {
		tune(cfg)
	}
	logs := io.Writer(io.Discard)
	var logFile *os.File
	if c.Bool("logs") {
		logs = out
	} else if err := os.MkdirAll(cfg.Lab.DataDir, 0o755); err == nil {
		if logFile, err = os.Create(filepath.Join(cfg.Lab.DataDir, c.Command.Name+"-lab.log")); err == nil {
			logs = logFile
		}
	}
	fmt.Fprintf(out, "starting a lab in %s ...\n", cfg.Lab.DataDir)
	start := time.Now()
	up, err := startLab(ctx, cfg, labOptions{logs: logs, logLevel: "info", logFormat: "text"})
	if err != nil {
		if logFile != nil {
			logFile.Close()
		}
		return nil, err
	}
	fmt.Fprintf(out, "lab up in %.1fs: %d services (logs: %s)\n", time.Since(start).Seconds(), len(up.sup.Services()), logName(logFile))
	return func() {
		up.stop(io.Discard)
		if logFile != nil {
			logFile.Close()
		}
	}, nil
}

func logName(f *os.File) string {
	if f == nil {
		return "streamed"
	}
	return f.Name()
}

func allHealthy(st []lab.Status) bool {
	for _, s := range st {
		if !s.Healthy {
			return false
		}
	}
	return len(st) > 0
}

// killService SIGKILLs one service of the running lab (fault injection).
func killService(cfg *config.Config, name string) error {
	st, err := lab.ReadState(cfg.Lab.DataDir)
	if err != nil {
		return err
	}
	for _, s := range st.Services {
		if s.Name == name {
			return syscall.Kill(-s.PID, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no service %q in the lab", name)
}
