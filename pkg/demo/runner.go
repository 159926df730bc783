package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ErrFailed is returned by Run when at least one flow failed.
var ErrFailed = errors.New("demo flow failed")

// Flow is one demonstrated behaviour.
type Flow struct {
	Name  string
	Title string
	// Story is the narration printed before the flow runs.
	Story string
	Run   func(ctx context.Context, r *Reporter) error
}

// Reporter lets a flow narrate its steps and record what it produced.
type Reporter struct {
	w         io.Writer
	start     time.Time
	artifacts []string
}

// Step prints one narrated step with the elapsed time.
func (r *Reporter) Step(format string, args ...any) {
	fmt.Fprintf(r.w, "    [%5.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// Artifact records a recording id or path the flow produced.
func (r *Reporter) Artifact(s string) { r.artifacts = append(r.artifacts, s) }

// Result is the outcome of one flow.
type Result struct {
	Flow      string
	Err       error
	Artifacts []string
	Duration  time.Duration
}

// Run runs the flows in order, narrating to w, and prints the summary table.
// It returns ErrFailed if any flow failed.
func Run(ctx context.Context, w io.Writer, flows []Flow) ([]Result, error) {
	var results []Result
	for i, f := range flows {
		fmt.Fprintf(w, "\n[%d/%d] %s\n", i+1, len(flows), f.Title)
		for _, line := range strings.Split(strings.TrimSpace(f.Story), "\n") {
			fmt.Fprintf(w, "    %s\n", strings.TrimSpace(line))
		}
		rep := &Reporter{w: w, start: time.Now()}
		err := f.Run(ctx, rep)
		res := Result{Flow: f.Name, Err: err, Artifacts: rep.artifacts, Duration: time.Since(rep.start)}
		if err != nil {
			fmt.Fprintf(w, "    FAIL: %v\n", err)
		} else {
			fmt.Fprintf(w, "    PASS (%.1fs)\n", res.Duration.Seconds())
		}
		results = append(results, res)
		if ctx.Err() != nil {
			break
		}
	}
	PrintSummary(w, results)
	for _, r := range results {
		if r.Err != nil {
			return results, ErrFailed
		}
	}
	if len(results) < len(flows) {
		return results, ctx.Err()
	}
	return results, nil
}

// PrintSummary prints one row per flow: verdict, time, what it produced.
func PrintSummary(w io.Writer, results []Result) {
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FLOW\tVERDICT\tTIME\tRECORDINGS / DETAIL")
	pass := 0
	for _, r := range results {
		verdict, detail := "PASS", strings.Join(r.Artifacts, ", ")
		if r.Err != nil {
			verdict, detail = "FAIL", r.Err.Error()
		} else {
			pass++
		}
		if detail == "" {
			detail = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.1fs\t%s\n", r.Flow, verdict, r.Duration.Seconds(), detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%d passed, %d failed\n", pass, len(results)-pass)
}

// Select returns the flows named (all when names is empty), or an error
// naming the unknown ones and listing the known.
func Select(all []Flow, names []string) ([]Flow, error) {
	if len(names) == 0 {
		return all, nil
	}
	byName := map[string]Flow{}
	var known []string
	for _, f := range all {
		byName[f.Name] = f
		known = append(known, f.Name)
	}
	var out []Flow
	var unknown []string
	for _, n := range names {
		f, ok := byName[n]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		out = append(out, f)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown flow %s (known: %s)", strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	return out, nil
}
