package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/scenario"
)

func scenarioCommand() *cli.Command {
	return &cli.Command{
		Name:  "scenario",
		Usage: "run YAML recording test scenarios (docs/scenarios.md) and write a JUnit report",
		Subcommands: []*cli.Command{
			{
				Name:      "run",
				Usage:     "run scenario files; exit 1 if any scenario fails",
				ArgsUsage: "FILE...",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report to `FILE`"},
					&cli.StringSliceFlag{Name: "only", Usage: "run only the scenarios with these names"},
					&cli.StringSliceFlag{Name: "recorder", Usage: "recorder API base `URL` (repeatable); default: the lab config's recorders"},
				},
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return &exitError{code: 2, err: errors.New("scenario run: name at least one FILE")}
					}
					cfg, err := loadLabConfig(c)
					if err != nil {
						return err
					}
					lab := scenario.LabFromConfig(cfg)
					if rs := c.StringSlice("recorder"); len(rs) > 0 {
						lab.Recorders = rs
					}
					rep, runErr := scenario.Run(c.Context, c.Args().Slice(), scenario.Options{
						Lab: lab, Out: c.App.Writer, Only: c.StringSlice("only"),
					})
					if path := c.String("junit"); path != "" && rep != nil {
						f, err := os.Create(path)
						if err != nil {
							return err
						}
						werr := rep.WriteJUnit(f)
						if cerr := f.Close(); werr == nil {
							werr = cerr
						}
						if werr != nil {
							return fmt.Errorf("junit report: %w", werr)
						}
					}
					if rep != nil {
						total, failed, errored, skipped := rep.Counts()
						fmt.Fprintf(c.App.Writer, "\nscenarios: %d passed, %d failed, %d errors, %d skipped\n",
							total-failed-errored-skipped, failed, errored, skipped)
					}
					if errors.Is(runErr, scenario.ErrInvalid) {
						return &exitError{code: 2, err: runErr}
					}
					if runErr != nil {
						return &exitError{code: 1, err: runErr}
					}
					return nil
				},
			},
			{
				Name:      "validate",
				Usage:     "check scenario files without running them; errors name file:line:column",
				ArgsUsage: "FILE...",
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return &exitError{code: 2, err: errors.New("scenario validate: name at least one FILE")}
					}
					var errs []error
					for _, p := range c.Args().Slice() {
						if _, err := scenario.ParseFile(p); err != nil {
							errs = append(errs, err)
							continue
						}
						fmt.Fprintf(c.App.Writer, "%s: ok\n", p)
					}
					if len(errs) > 0 {
						return &exitError{code: 2, err: errors.Join(errs...)}
					}
					return nil
				},
			},
		},
	}
}
