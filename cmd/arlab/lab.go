package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/lab"
	"github.com/arlab/arlab/pkg/sipx"
)

func labCommand() *cli.Command {
	return &cli.Command{
		Name:  "lab",
		Usage: "bring the whole lab up as separate processes, show its status, or take it down",
		Subcommands: []*cli.Command{
			{
				Name:  "up",
				Usage: "start SIP Server, Resource Manager, media servers, recorders and agent phones; Ctrl-C stops all",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "do not stream the services' logs"},
					&cli.BoolFlag{Name: "no-phones", Usage: "do not start the agents' phones"},
				},
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					logs := c.App.Writer
					if c.Bool("quiet") {
						logs = io.Discard
					}
					up, err := startLab(c.Context, cfg, labOptions{
						logs: logs, logLevel: c.String("log-level"), logFormat: c.String("log-format"), noPhones: c.Bool("no-phones"),
					})
					if err != nil {
						return err
					}
					defer up.stop(c.App.Writer)
					printLab(c.App.Writer, up.cfg, up.sup.Services(), nil)
					fmt.Fprintln(c.App.Writer, "lab is up; Ctrl-C stops it (or `arlab lab down` from another shell)")
					exited := up.sup.Exited()
					for {
						select {
						case <-c.Context.Done():
							return nil
						case name := <-exited:
							fmt.Fprintf(c.App.Writer, "service %s exited; the rest of the lab keeps running\n", name)
							exited = nil
						}
					}
				},
			},
			{
				Name:  "status",
				Usage: "show the running lab's services and their health",
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					if err := cfg.Absolutize(); err != nil {
						return err
					}
					st, statuses, err := lab.CheckStatus(c.Context, cfg.Lab.DataDir)
					if err != nil {
						return &exitError{code: 3, err: err}
					}
					fmt.Fprintf(c.App.Writer, "lab started %s (supervisor pid %d), data in %s\n",
						st.Started.Local().Format(time.RFC3339), st.PID, st.DataDir)
					printLab(c.App.Writer, cfg, st.Services, statuses)
					for _, s := range statuses {
						if !s.Healthy {
							return &exitError{code: 1, err: fmt.Errorf("%s is not healthy", s.Name)}
						}
					}
					return nil
				},
			},
			{
				Name:  "down",
				Usage: "stop the running lab",
				Action: func(c *cli.Context) error {
					cfg, err := loadConfig(c)
					if err != nil {
						return err
					}
					if err := cfg.Absolutize(); err != nil {
						return err
					}
					if err := lab.Down(cfg.Lab.DataDir, 5*time.Second); err != nil {
						return &exitError{code: 3, err: err}
					}
					fmt.Fprintln(c.App.Writer, "lab stopped")
					return nil
				},
			},
		},
	}
}

type labOptions struct {
	logs                io.Writer
	logLevel, logFormat string
	noPhones            bool
}

// runningLab is a lab this process started.
type runningLab struct {
	cfg *config.Config
	sup *lab.Supervisor
}

func (l *runningLab) stop(w io.Writer) {
	fmt.Fprintln(w, "stopping the lab...")
	l.sup.Stop()
	fmt.Fprintln(w, "lab stopped")
}

// startLab prepares the data directory (TLS material, the effective config)
// and starts every service, waiting for each to be healthy.
func startLab(ctx context.Context, cfg *config.Config, o labOptions) (*runningLab, error) {
	if err := cfg.Absolutize(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Lab.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("lab: data dir: %w", err)
	}
	if st, err := lab.ReadState(cfg.Lab.DataDir); err == nil {
		if _, statuses, err := lab.CheckStatus(ctx, cfg.Lab.DataDir); err == nil && len(statuses) > 0 && statuses[0].Alive {
			return nil, &exitError{code: 2, err: fmt.Errorf("a lab is already running from %s (started %s); `arlab lab down` first", st.DataDir, st.Started.Format(time.RFC3339))}
		}
	}
	if err := checkPortsFree(cfg); err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if cfg.Lab.TLS.Cert == "" {
		cert, key, ca, err := sipx.WriteSelfSigned(filepath.Join(cfg.Lab.DataDir, "tls"), cfg.Lab.Host)
		if err != nil {
			return nil, err
		}
		cfg.Lab.TLS = config.TLSFiles{Cert: cert, Key: key, CA: ca}
	}
	text, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(cfg.Lab.DataDir, "lab.yaml")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		return nil, err
	}
	sup := &lab.Supervisor{DataDir: cfg.Lab.DataDir, Out: o.logs}
	services := lab.Plan(cfg, path, lab.PlanOptions{LogLevel: o.logLevel, LogFormat: o.logFormat, NoPhones: o.noPhones})
	if err := sup.Start(ctx, services); err != nil {
		return nil, err
	}
	return &runningLab{cfg: cfg, sup: sup}, nil
}

// checkPortsFree binds each fixed port of the config briefly, so a port in
// use is reported by name before anything starts.
func checkPortsFree(cfg *config.Config) error {
	var busy []string
	seen := map[string]bool{}
	for _, ap := range lab.Ports(cfg) {
		for _, network := range []string{"tcp", "udp"} {
			key := network + "/" + ap.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			var err error
			if network == "tcp" {
				var l net.Listener
				if l, err = net.Listen("tcp", ap.String()); err == nil {
					l.Close()
				}
			} else {
				var pc net.PacketConn
				if pc, err = net.ListenPacket("udp", ap.String()); err == nil {
					pc.Close()
				}
			}
			if err != nil && !errors.Is(err, os.ErrPermission) {
				busy = append(busy, key)
			}
		}
	}
	if len(busy) > 0 {
		return fmt.Errorf("ports already in use: %s (another lab? try `arlab lab status`, or change them in your -c config)", strings.Join(busy, ", "))
	}
	return nil
}

func printLab(w io.Writer, cfg *config.Config, services []lab.Service, statuses []lab.Status) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ROLE\tNAME\tPID\tSIP\tHTTP\tT-LIB\tHEALTH")
	for i, s := range services {
		health := "healthy"
		if statuses != nil {
			switch {
			case !statuses[i].Alive:
				health = "DEAD"
			case !statuses[i].Healthy:
				health = "UNHEALTHY"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", s.Role, s.Name, s.PID, dash(s.Addrs["sip"]), dash(s.Addrs["http"]), dash(s.Addrs["tlib"]), health)
	}
	tw.Flush()
	fmt.Fprintf(w, "\ndata: %s\n", cfg.Lab.DataDir)
	for _, r := range cfg.Recorders {
		fmt.Fprintf(w, "recordings of %s: %s (API http://%s/api/v1/recordings)\n", r.Name, filepath.Join(r.DataDir, "recordings"), r.HTTP)
	}
	for _, m := range cfg.MediaServers {
		fmt.Fprintf(w, "local recordings of %s: %s\n", m.Name, m.LocalDir)
	}
}
