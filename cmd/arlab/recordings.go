package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/arlab/arlab/pkg/recclient"
	"github.com/arlab/arlab/pkg/wav"
)

func recordingsCommand() *cli.Command {
	recorderFlag := &cli.StringSliceFlag{Name: "recorder", Usage: "recorder API `URL` (repeatable); default: every recorder of the lab config"}
	tokenFlag := &cli.StringFlag{Name: "token", Usage: "bearer token of the recorder API (default: the lab config's)"}
	return &cli.Command{
		Name:  "recordings",
		Usage: "search, show, download and verify recordings across the recorder cluster",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "search every recorder and print one merged table, newest first",
				Flags: []cli.Flag{recorderFlag, tokenFlag,
					&cli.StringFlag{Name: "call-uuid"}, &cli.StringFlag{Name: "conn-id"}, &cli.StringFlag{Name: "dn", Usage: "any DN of the call"},
					&cli.StringFlag{Name: "agent"}, &cli.StringFlag{Name: "ani"}, &cli.StringFlag{Name: "dnis"},
					&cli.StringSliceFlag{Name: "state", Usage: "recording, paused, complete, tentative, recovered, failed"},
					&cli.DurationFlag{Name: "since", Usage: "only recordings of the last `DURATION`"},
					&cli.IntFlag{Name: "limit", Value: 50},
					&cli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"},
				},
				Action: func(c *cli.Context) error {
					cl, err := cluster(c)
					if err != nil {
						return err
					}
					q := recclient.Query{
						CallUUID: c.String("call-uuid"), ConnID: c.String("conn-id"), DN: c.String("dn"), Agent: c.String("agent"),
						ANI: c.String("ani"), DNIS: c.String("dnis"), States: c.StringSlice("state"), Limit: c.Int("limit"),
					}
					if d := c.Duration("since"); d > 0 {
						q.From = time.Now().Add(-d)
					}
					found, err := cl.Search(c.Context, q)
					if len(found) == 0 && err != nil {
						return err
					}
					if err != nil {
						fmt.Fprintf(c.App.ErrWriter, "warning: %v\n", err)
					}
					if c.Bool("json") {
						return json.NewEncoder(c.App.Writer).Encode(found)
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tSTATE\tSTART\tDURATION\tCHANNELS\tCALLUUID\tDN\tRECORDER")
					for _, f := range found {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%d\t%s\t%s\t%s\n", f.ID, f.State, f.StartTime.Local().Format("2006-01-02 15:04:05"),
							float64(f.DurationMs)/1000, f.Audio.Channels, dash(f.CallUUID), dash(f.RecordDN), f.Recorder)
					}
					tw.Flush()
					fmt.Fprintf(c.App.Writer, "%d recording(s)\n", len(found))
					return nil
				},
			},
			{
				Name:      "show",
				Usage:     "print one recording as JSON (stats, pauses, participants, analysis)",
				ArgsUsage: "ID",
				Flags:     []cli.Flag{recorderFlag, tokenFlag},
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "ID")
					if err != nil {
						return err
					}
					cl, err := cluster(c)
					if err != nil {
						return err
					}
					_, rec, err := cl.Find(c.Context, id)
					if err != nil {
						return err
					}
					enc := json.NewEncoder(c.App.Writer)
					enc.SetIndent("", "  ")
					return enc.Encode(rec)
				},
			},
			{
				Name:      "get",
				Usage:     "download a recording's audio (and with --metadata its RFC 7865 XML)",
				ArgsUsage: "ID",
				Flags: []cli.Flag{recorderFlag, tokenFlag,
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "`FILE` to write (default <ID>.wav)"},
					&cli.IntFlag{Name: "channel", Value: -1, Usage: "download one party's file instead (needs per-party files)"},
					&cli.BoolFlag{Name: "metadata", Usage: "download the metadata XML instead of audio"},
				},
				Action: func(c *cli.Context) error {
					id, err := oneArg(c, "ID")
					if err != nil {
						return err
					}
					cl, err := cluster(c)
					if err != nil {
						return err
					}
					client, _, err := cl.Find(c.Context, id)
					if err != nil {
						return err
					}
					out := c.String("output")
					var body io.Reader
					if c.Bool("metadata") {
						if out == "" {
							out = id + ".xml"
						}
						b, err := client.Metadata(c.Context, id)
						if err != nil {
							return err
						}
						body = strings.NewReader(string(b))
					} else {
						if out == "" {
							out = id + ".wav"
						}
						rc, err := client.Audio(c.Context, id, c.Int("channel"))
						if err != nil {
							return err
						}
						defer rc.Close()
						body = rc
					}
					f, err := os.Create(out)
					if err != nil {
						return err
					}
					n, err := io.Copy(f, body)
					if cerr := f.Close(); err == nil {
						err = cerr
					}
					if err != nil {
						os.Remove(out)
						return err
					}
					abs, _ := filepath.Abs(out)
					fmt.Fprintf(c.App.Writer, "wrote %s (%d bytes)\n", abs, n)
					return nil
				},
			},
			{
				Name:      "verify",
				Usage:     "check a lab recording: each channel carries its party's tone, pauses are silent",
				ArgsUsage: "ID...",
				Flags:     []cli.Flag{recorderFlag, tokenFlag},
				Action: func(c *cli.Context) error {
					if c.NArg() == 0 {
						return &exitError{code: 2, err: errors.New("recordings verify: name at least one recording ID")}
					}
					cl, err := cluster(c)
					if err != nil {
						return err
					}
					failed := 0
					for _, id := range c.Args().Slice() {
						client, rec, err := cl.Find(c.Context, id)
						if err != nil {
							return err
						}
						rc, err := client.Audio(c.Context, id, -1)
						if err != nil {
							return err
						}
						f, err := wav.Read(rc)
						rc.Close()
						if err != nil {
							return fmt.Errorf("%s: audio: %w", id, err)
						}
						v := recclient.VerifyTones(*rec, f)
						verdict := "PASS"
						if !v.OK() {
							verdict, failed = "FAIL", failed+1
						}
						fmt.Fprintf(c.App.Writer, "%s %s: %d channel(s), %.2fs, %d pause(s)\n", verdict, id, len(v.Channels), v.Duration.Seconds(), len(rec.Pauses))
						for _, ch := range v.Channels {
							fmt.Fprintf(c.App.Writer, "  channel %d %-14s tone %4.0f Hz %6.2fs  silence %5.2fs  other %5.2fs  audio in pauses %5.2fs\n",
								ch.Index, ch.Party, ch.WantHz, ch.ToneTime.Seconds(), ch.Silence.Seconds(), ch.OtherTime.Seconds(), ch.PausedAudio.Seconds())
						}
						for _, p := range v.Problems() {
							fmt.Fprintf(c.App.Writer, "  problem: %s\n", p)
						}
					}
					if failed > 0 {
						return &exitError{code: 1, err: fmt.Errorf("%d recording(s) failed verification", failed)}
					}
					return nil
				},
			},
		},
	}
}

// cluster is the recorders named with --recorder, or every recorder of the
// lab config.
func cluster(c *cli.Context) (recclient.Cluster, error) {
	urls := c.StringSlice("recorder")
	token := c.String("token")
	if len(urls) == 0 {
		cfg, err := loadLabConfig(c)
		if err != nil {
			return nil, err
		}
		for _, r := range cfg.Recorders {
			if r.HTTP != "" {
				urls = append(urls, r.HTTP)
			}
			if token == "" {
				token = r.Token
			}
		}
	}
	if len(urls) == 0 {
		return nil, &exitError{code: 2, err: errors.New("no recorder: name one with --recorder or list recorders in the lab config")}
	}
	var cl recclient.Cluster
	for _, u := range urls {
		cl = append(cl, recclient.New(u, token))
	}
	return cl, nil
}

func oneArg(c *cli.Context, name string) (string, error) {
	if c.NArg() != 1 {
		return "", &exitError{code: 2, err: fmt.Errorf("%s %s: want exactly one %s", c.Command.FullName(), c.Command.ArgsUsage, name)}
	}
	return c.Args().First(), nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
