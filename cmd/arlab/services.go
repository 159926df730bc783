package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/mediaserver"
	"github.com/arlab/arlab/pkg/config"
	"github.com/arlab/arlab/pkg/sipx"
	"github.com/arlab/arlab/recorder"
	"github.com/arlab/arlab/resourcemanager"
)

// service is what every lab service type offers.
type service interface {
	Start(ctx context.Context) error
	Close() error
}

// runService starts svc, prints where it listens, and runs until ctx ends
// (Ctrl-C or SIGTERM from the lab supervisor).
func runService(ctx context.Context, out io.Writer, role, name string, svc service, addrs func() map[string]netip.AddrPort) error {
	if err := svc.Start(ctx); err != nil {
		return fmt.Errorf("%s %s: %w", role, name, err)
	}
	var parts []string
	for _, k := range []string{"sip/udp", "sip/tcp", "sip/tls", "tlib", "http"} {
		if a := addrs()[k]; a.IsValid() {
			parts = append(parts, k+"="+a.String())
		}
	}
	fmt.Fprintf(out, "%s %s ready: %s\n", role, name, strings.Join(parts, " "))
	slog.Info("service ready", "role", role, "name", name)
	<-ctx.Done()
	slog.Info("service stopping", "role", role, "name", name)
	return svc.Close()
}

func sipAddrs(f func(network string) netip.AddrPort) map[string]netip.AddrPort {
	return map[string]netip.AddrPort{"sip/udp": f("udp"), "sip/tcp": f("tcp"), "sip/tls": f("tls")}
}

// labTLS returns the TLS material every service of a lab shares: the files
// named in lab.tls, or a self-signed CA made now (fine for one process).
func labTLS(cfg *config.Config) (server, client *tls.Config, err error) {
	t := cfg.Lab.TLS
	if t.Cert != "" {
		return sipx.LoadTLS(t.Cert, t.Key, t.CA)
	}
	return sipx.SelfSigned(cfg.Lab.Host)
}

func nameFlag() cli.Flag {
	return &cli.StringFlag{Name: "name", Usage: "which instance of the config's list to run (default: the first)"}
}

// runConfigured loads the lab config and its TLS material, builds one service
// with them, and runs it: the shared body of every service command.
func runConfigured(c *cli.Context, role string, build func(cfg *config.Config, srv, cli *tls.Config) (string, service, func() map[string]netip.AddrPort, error)) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	srv, cli, err := labTLS(cfg)
	if err != nil {
		return err
	}
	name, svc, addrs, err := build(cfg, srv, cli)
	if err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			return err
		}
		return &exitError{code: 2, err: err}
	}
	return runService(c.Context, c.App.Writer, role, name, svc, addrs)
}

func logger(name string) *slog.Logger { return slog.Default().With("svc", name) }

func resourceManagerCommand() *cli.Command {
	return &cli.Command{
		Name:  "resourcemanager",
		Usage: "run the Resource Manager: SIP proxy placing calls on media servers and recordings on recorders",
		Action: func(c *cli.Context) error {
			return runConfigured(c, "resourcemanager", func(cfg *config.Config, srv, cli *tls.Config) (string, service, func() map[string]netip.AddrPort, error) {
				r, err := resourcemanager.New(cfg.ResourceManager, resourcemanager.WithLogger(logger("resourcemanager")), resourcemanager.WithTLS(srv, cli))
				if err != nil {
					return "", nil, nil, err
				}
				return "resourcemanager", r, func() map[string]netip.AddrPort {
					m := sipAddrs(r.SIPAddr)
					m["http"] = r.HTTPAddr()
					return m
				}, nil
			})
		},
	}
}

func mediaServerCommand() *cli.Command {
	return &cli.Command{
		Name:  "mediaserver",
		Usage: "run a Media Server: anchors calls' RTP and replicates each party's stream to recorders",
		Flags: []cli.Flag{nameFlag()},
		Action: func(c *cli.Context) error {
			return runConfigured(c, "mediaserver", func(cfg *config.Config, srv, cli *tls.Config) (string, service, func() map[string]netip.AddrPort, error) {
				mc, err := pick(cfg.MediaServers, c.String("name"), func(m mediaserver.Config) string { return m.Name }, "mediaservers")
				if err != nil {
					return "", nil, nil, err
				}
				s, err := mediaserver.New(mc, mediaserver.WithLogger(logger(mc.Name)), mediaserver.WithTLS(srv, cli))
				if err != nil {
					return "", nil, nil, err
				}
				return mc.Name, s, func() map[string]netip.AddrPort {
					m := sipAddrs(s.SIPAddr)
					m["http"] = s.HTTPAddr()
					return m
				}, nil
			})
		},
	}
}

func recorderCommand() *cli.Command {
	return &cli.Command{
		Name:  "recorder",
		Usage: "run a SIPREC recorder: records sessions to WAV, indexes metadata, serves search and download",
		Flags: []cli.Flag{nameFlag()},
		Action: func(c *cli.Context) error {
			return runConfigured(c, "recorder", func(cfg *config.Config, srv, cli *tls.Config) (string, service, func() map[string]netip.AddrPort, error) {
				rc, err := pick(cfg.Recorders, c.String("name"), func(r recorder.Config) string { return r.Name }, "recorders")
				if err != nil {
					return "", nil, nil, err
				}
				if err := os.MkdirAll(rc.DataDir, 0o755); err != nil {
					return "", nil, nil, err
				}
				r, err := recorder.New(rc, recorder.WithLogger(logger(rc.Name)), recorder.WithTLS(srv, cli))
				if err != nil {
					return "", nil, nil, err
				}
				return rc.Name, r, func() map[string]netip.AddrPort {
					m := sipAddrs(r.SIPAddr)
					m["http"] = r.HTTPAddr()
					return m
				}, nil
			})
		},
	}
}

// pick returns the list entry named name, or the first when name is empty.
func pick[T any](list []T, name string, nameOf func(T) string, key string) (T, error) {
	var zero T
	if len(list) == 0 {
		return zero, &exitError{code: 2, err: fmt.Errorf("config has no %s", key)}
	}
	if name == "" {
		return list[0], nil
	}
	var names []string
	for _, e := range list {
		if nameOf(e) == name {
			return e, nil
		}
		names = append(names, nameOf(e))
	}
	return zero, &exitError{code: 2, err: fmt.Errorf("no %s entry named %q (have %s)", key, name, strings.Join(names, ", "))}
}
