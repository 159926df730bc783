package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/lab"
	"github.com/arlab/arlab/pkg/sipx"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code through run.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

// run builds the CLI and runs it with args; it never calls os.Exit.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := newApp(stdout, stderr)
	return app.RunContext(ctx, args)
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "arlab",
		Usage: "Active Recording Lab: a contact-centre call-recording ecosystem over real SIP and RTP",
		Description: "arlab emulates a SIP Server with T-lib, a media server replicating RTP to recorders, a\n" +
			"resource manager choosing recorders, and a SIPREC recorder, each a service of this binary.",
		Version:              buildVersion(),
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "lab config `FILE` (YAML) overlaid on the embedded default", EnvVars: []string{"ARLAB_CONFIG"}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: debug, info, warn, error", EnvVars: []string{"ARLAB_LOG_LEVEL"}},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json", EnvVars: []string{"ARLAB_LOG_FORMAT"}},
		},
		Before: func(c *cli.Context) error {
			log, err := newLogger(stderr, c.String("log-level"), c.String("log-format"))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			slog.SetDefault(log)
			// sipgo's transport layer warns about its own connection
			// bookkeeping; show it only when debugging.
			sipLog := log
			if c.String("log-level") != "debug" {
				sipLog, _ = newLogger(stderr, "error", c.String("log-format"))
			}
			sipx.SetSIPLogger(sipLog)
			return nil
		},
		Commands: []*cli.Command{
			versionCommand(),
			configCommand(),
			phoneCommand(),
			demoCommand(),
			scenarioCommand(),
			sipServerCommand(),
			agentCommand(),
			resourceManagerCommand(),
			mediaServerCommand(),
			recorderCommand(),
			recordingsCommand(),
			labCommand(),
			loadCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // run returns errors; main decides the exit code
	}
	// The library's default version flag is -v, which reads as "verbose"; keep only --version.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	return app
}

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// loadConfig reads the global --config (defaults only when unset).
func loadConfig(c *cli.Context) (*config.Config, error) {
	cfg, err := config.Load(c.String("config"))
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	return cfg, nil
}

// loadLabConfig is loadConfig for commands that talk to a running lab: when a
// lab runs from the config's data dir, its effective config (with the TLS
// material it made and absolute paths) is what clients must use.
func loadLabConfig(c *cli.Context) (*config.Config, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	if running, ok := runningLabConfig(cfg); ok {
		return running, nil
	}
	return cfg, nil
}

// runningLabConfig returns the effective config of the lab running from
// cfg's data dir, if one does.
func runningLabConfig(cfg *config.Config) (*config.Config, bool) {
	probe := *cfg
	if err := probe.Absolutize(); err != nil {
		return nil, false
	}
	st, err := lab.ReadState(probe.Lab.DataDir)
	if err != nil {
		return nil, false
	}
	running, err := config.Load(filepath.Join(st.DataDir, "lab.yaml"))
	if err != nil {
		return nil, false
	}
	return running, true
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the arlab version",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "arlab %s\n", buildVersion())
			return nil
		},
	}
}

func configCommand() *cli.Command {
	return &cli.Command{
		Name:  "config",
		Usage: "show or check the lab configuration",
		Subcommands: []*cli.Command{
			{
				Name:  "print",
				Usage: "print the effective config (embedded default overlaid by --config)",
				Flags: []cli.Flag{&cli.BoolFlag{Name: "default", Usage: "print the embedded default with its comments instead"}},
				Action: func(c *cli.Context) error {
					if c.Bool("default") {
						_, err := c.App.Writer.Write(config.DefaultYAML())
						return err
					}
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					b, err := cfg.Marshal()
					if err != nil {
						return err
					}
					_, err = c.App.Writer.Write(b)
					return err
				},
			},
			{
				Name:      "validate",
				Usage:     "check a config file and report every problem with its key",
				ArgsUsage: "[FILE]",
				Action: func(c *cli.Context) error {
					path := c.Args().First()
					if path == "" {
						path = c.String("config")
					}
					if _, err := config.Load(path); err != nil {
						return &exitError{code: 2, err: err}
					}
					name := path
					if name == "" {
						name = "embedded default"
					}
					fmt.Fprintf(c.App.Writer, "%s: ok\n", name)
					return nil
				},
			},
		},
	}
}
