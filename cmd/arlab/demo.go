package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/demo"
)

func demoFlows() []demo.Flow {
	return demo.PhoneFlows()
}

func demoCommand() *cli.Command {
	names := make([]string, 0)
	for _, f := range demoFlows() {
		names = append(names, f.Name)
	}
	return &cli.Command{
		Name:      "demo",
		Usage:     "run the narrated demo flows, verify each, and print a summary table",
		ArgsUsage: "[FLOW...]",
		Description: "Flows: " + strings.Join(names, ", ") + ".\n" +
			"Exits non-zero if any flow fails. With no FLOW, runs them all.",
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "give up on the whole tour after this long"},
			&cli.BoolFlag{Name: "list", Usage: "list the flows and exit"},
		},
		Action: func(c *cli.Context) error {
			all := demoFlows()
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
			_, err = demo.Run(ctx, c.App.Writer, flows)
			if errors.Is(err, demo.ErrFailed) {
				return &exitError{code: 1, err: err}
			}
			return err
		},
	}
}
